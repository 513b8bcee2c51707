"""Kernel for LayerNorm and RMSNorm: row blocks in cache, statistics-only saving, threads.

What differs from the references in ``nn/functional/normalization.py``, and why:

- **Saves statistics, not x̂.** The reference keeps ``x̂`` (``R·D`` elements) for backward.
  Like PyTorch, the kernel keeps only ``1/σ`` and the row means (``2·R`` numbers) besides the
  input, which is alive anyway, and recomputes ``x - mean`` in backward (one cheap pass, two
  when ``dw`` needs ``x̂``).
- **Row blocks in cache.** The reference makes each pass (mean, centre, square, scale, ...)
  over the whole array, streaming it from memory every time. Here both directions run over
  blocks of about ``BLOCK`` elements (``core.blocks.map_row_blocks``), so memory traffic is
  one read of ``x`` and one write of ``y`` forward, and reads of ``g`` and ``x`` plus one
  write of ``dx`` backward; the 4 forward and 7 backward intermediate passes stay in cache.
  Row sums use ``einsum`` and row dot products a batched ``matmul`` into preallocated
  outputs, both faster than ``sum(axis=1)`` and free of temporaries.
- **Threads, bit-identical.** Blocks go to ``parallel_rows``'s threads. ``dw`` and ``db`` are
  summed per fixed group of blocks (``GROUPS``) and the groups added at the end, so no two
  threads write one element and the result does not depend on the thread count. Large
  blocks mean fewer NumPy calls, which wait less for the GIL when two threads run.
- **Outputs own their memory.** ``y`` and ``dx`` are allocated in the input's shape (not
  reshaped views), so a leaf keeps ``dx`` as its gradient without a copy.

Statistics are in the input's dtype (float32 on the hot path), as PyTorch does on CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.core.blocks import group_count, map_row_blocks, rows_per_block
from tinytorch.core.function import Function
from tinytorch.core.types import Grad

BLOCK = 1 << 18   # elements per row block (1 MB of float32): see the module docstring
GROUPS = 16       # backward's partial sums of dw, db: a fixed count, whatever the threads


def _row_dots(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[r] = a[r] · b[r]`` for (rows, D) arrays: a batched dot product, no temporary."""
    target = out.view()
    target.shape = (-1, 1, 1)              # raises rather than silently writing into a copy
    np.matmul(a[:, None, :], b[:, :, None], out=target)
    return out


def normalize(x2: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, eps: float, center: bool,
              shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Forward on (R, D): ``y`` in ``shape``, ``1/σ`` (R, 1) and the means (R, 1) or None."""
    r, d = x2.shape
    y = np.empty(shape, dtype=x2.dtype)
    y2 = y.reshape(r, d)
    rstd = np.empty((r, 1), dtype=x2.dtype)
    mean = np.empty((r, 1), dtype=x2.dtype) if center else None

    def block(blk: slice, group: int, scratch: None) -> None:
        # x rows (rows, D) -> y rows (rows, D); 1/σ, mean: (rows, 1)
        xb, yb, sb = x2[blk], y2[blk], rstd[blk]
        if mean is not None:
            mb = mean[blk]
            np.einsum("rd->r", xb, out=mb[:, 0])        # row sums
            mb *= 1.0 / d
            np.subtract(xb, mb, out=yb)                  # centred, (rows, D)
            _row_dots(yb, yb, sb)
        else:
            _row_dots(xb, xb, sb)
        sb *= 1.0 / d                                    # variance or mean square
        sb += eps
        np.sqrt(sb, out=sb)
        np.divide(1.0, sb, out=sb)                       # 1/σ
        np.multiply(yb if mean is not None else xb, sb, out=yb)   # x̂
        if w is not None:
            yb *= w
        if b is not None:
            yb += b

    map_row_blocks(r, rows_per_block(d, BLOCK), block)
    return y, rstd, mean


def normalize_backward(g2: np.ndarray, x2: np.ndarray, w: np.ndarray | None, rstd: np.ndarray,
                       mean: np.ndarray | None, needs: tuple[bool, ...],
                       shape: tuple[int, ...]) -> list[np.ndarray | None]:
    """Backward on (R, D): ``[dx, dw, db]`` (None where not needed), ``dx`` in ``shape``.

    With ``ĝ = g·w``: ``dx = (ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)) / σ`` (no ``mean(ĝ)`` term for
    RMSNorm), ``dw = Σ g·x̂``, ``db = Σ g``, the sums over rows taken per group of blocks.
    """
    r, d = x2.shape
    need_x, need_w, need_b = needs
    step = rows_per_block(d, BLOCK)
    dx = np.empty(shape, dtype=x2.dtype) if need_x else None
    dx2 = None if dx is None else dx.reshape(r, d)
    groups = group_count(r, step, GROUPS)
    dw_parts = np.zeros((groups, d), dtype=x2.dtype) if need_w else None
    db_parts = np.zeros((groups, d), dtype=x2.dtype) if need_b else None

    def scratch() -> tuple[np.ndarray, np.ndarray | None]:
        rows = min(r, step)                  # x̂ or x - mean, and ĝ, for one block
        return (np.empty((rows, d), dtype=x2.dtype),
                np.empty((rows, d), dtype=x2.dtype) if w is not None else None)

    def block(blk: slice, group: int, tmp: tuple[np.ndarray, Any]) -> None:
        # g, x: (rows, D); 1/σ, mean: (rows, 1) -> dx rows (rows, D), dw, db terms (D,)
        xb, gb, sb = x2[blk], g2[blk], rstd[blk]
        n = xb.shape[0]
        if db_parts is not None:
            db_parts[group] += gb.sum(axis=0)
        if dw_parts is None and dx2 is None:
            return
        # x̂ = basis · f: x̂ itself when dw needs it, else x - mean (or x) with f = 1/σ
        basis: np.ndarray = xb
        f: np.ndarray | float = sb                               # (rows, 1), or 1.0
        if mean is not None:
            basis = np.subtract(xb, mean[blk], out=tmp[0][:n])
        if dw_parts is not None:
            basis, f = np.multiply(basis, sb, out=tmp[0][:n]), 1.0
            dw_parts[group] += np.einsum("rd,rd->d", gb, basis)
        if dx2 is None:
            return
        gh = np.multiply(gb, w, out=tmp[1][:n]) if w is not None else gb      # ĝ
        p = _row_dots(gh, basis, np.empty(n, dtype=x2.dtype))[:, None]
        p *= f * f * (1.0 / d)                                   # f · mean(ĝ·x̂)
        dxb = np.multiply(basis, p, out=dx2[blk])                # x̂ · mean(ĝ·x̂)
        if mean is not None:
            dxb += np.einsum("rd->r", gh)[:, None] * (1.0 / d)   # + mean(ĝ)
        np.subtract(gh, dxb, out=dxb)
        dxb *= sb

    map_row_blocks(r, step, block, groups=GROUPS, scratch=scratch)
    return [dx, None if dw_parts is None else dw_parts.sum(axis=0),
            None if db_parts is None else db_parts.sum(axis=0)]


class LayerNormKernel(Function):
    """LayerNorm over the trailing ``shape`` dims, blocked and threaded."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, *,
                shape: tuple[int, ...], eps: float) -> np.ndarray:
        # x: (*, D...) viewed as (R, D); w, b: (D...) or None -> (*, D...)
        x2 = x.reshape(-1, int(np.prod(shape)))
        wf = None if w is None else w.reshape(-1)
        bf = None if b is None else b.reshape(-1)
        y, rstd, mean = normalize(x2, wf, bf, eps, True, x.shape)
        ctx.save_for_backward(x2, wf, rstd, mean)        # x, w as (R, D), (D,)
        ctx.shape = shape
        return y

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad, Grad]:
        # grad: (*, D...) -> dx: like x, dw, db: (D...)
        x2, wf, rstd, mean = ctx.saved_tensors
        dx, dw, db = normalize_backward(grad.reshape(x2.shape), x2, wf, rstd, mean,
                                        ctx.needs_input_grad, grad.shape)
        return (dx, None if dw is None else dw.reshape(ctx.shape),
                None if db is None else db.reshape(ctx.shape))


class RMSNormKernel(Function):
    """RMSNorm over the trailing ``shape`` dims, blocked and threaded."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, w: np.ndarray | None, *, shape: tuple[int, ...],
                eps: float) -> np.ndarray:
        # x: (*, D...) viewed as (R, D); w: (D...) or None -> (*, D...)
        x2 = x.reshape(-1, int(np.prod(shape)))
        wf = None if w is None else w.reshape(-1)
        y, rrms, _ = normalize(x2, wf, None, eps, False, x.shape)
        ctx.save_for_backward(x2, wf, rrms)              # x, w as (R, D), (D,)
        ctx.shape = shape
        return y

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        # grad: (*, D...) -> dx: like x, dw: (D...)
        x2, wf, rrms = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad
        dx, dw, _ = normalize_backward(grad.reshape(x2.shape), x2, wf, rrms, None,
                                       (need_x, need_w, False), grad.shape)
        return dx, None if dw is None else dw.reshape(ctx.shape)
