"""The convolution kernel: ``conv.py``'s reference with other column layouts, a fused col2im
and the batch cut into chunks across threads.

What it does differently from the reference (``Conv2dReference`` in ``conv.py``), and why:

- **Columns with the batch inside each channel: one large GEMM per group.** The reference's
  columns (N, G, K, P) keep the batch outermost, so its product is N·G GEMMs of (O/G, K) by
  (K, P), one per sample and group, and its weight gradient N more plus a sum. Here one
  transposing copy pads the input straight into a channels-first layout, the columns are
  (G, K, P·N), and each product is G GEMMs of (O/G, K) by (K, P·N): BLAS gets one large
  matrix instead of N small ones, for one transpose back to NCHW. Two column orders:
  - batch-last (C, Hp, Wp, N) when the input needs a gradient: one row of one channel,
    ``(W_out, N)``, is one contiguous run at stride 1, so the im2col copy and the col2im
    adds move long runs instead of short rows, and the output transpose is a 2-D one;
  - batch-major (C, N, Hp, Wp) when it does not (the first layer, inference): there is no
    col2im, and the output transpose becomes a copy of whole (H_out·W_out) planes.
- **The weight gradient's orientation.** ``dW = dY @ colsᵀ`` is computed as
  ``(cols @ dYᵀ)ᵀ``, the orientation multi-threaded OpenBLAS handles well.
- **Fused col2im.** The reference materialises ``dcols = Wᵀ @ dY`` (N, G, K, P), as large as
  the columns, and then adds it back window by window. Here the product is taken one kernel
  row at a time: kH GEMMs of (kW·C/G, O/G) by (O/G, P·N) into one reused scratch, each of
  whose kW offsets is added into a strided window of the padded gradient. The full
  ``dcols`` is never allocated.
- **Batch chunks across threads.** With several ``tinytorch.set_num_threads`` threads, the
  batch is cut into chunks of ``BATCH_CHUNK`` samples, each a whole convolution as above,
  and the chunks run in parallel with BLAS held at one thread (``parallel.blas_threads``):
  the im2col copies, col2im adds and layout transposes then use every core too, not only the
  GEMMs, and no BLAS worker spins on a core one of our threads needs. The weight gradient
  sums the chunks in chunk order, so a run is deterministic for a given thread count (it can
  differ from a one-thread run in the last bits). On one thread the batch stays whole: a
  chain of smaller GEMMs would only cost.

Cost, for ``K = (C/G)·kH·kW`` and ``P = H_out·W_out``: ``2·N·O·K·P`` FLOPs forward, twice that
backward; extra memory: the columns, ``N·C·kH·kW·P`` elements, kept for the weight gradient.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from tinytorch.arch import _spatial as sp
from tinytorch.core.function import Function
from tinytorch.core.parallel import blas_threads, get_num_threads, parallel_rows


class Geometry(NamedTuple):
    """What backward needs to know about a convolution besides its arrays."""

    chw: tuple[int, int, int]           # the input's (C, H, W)
    padded: tuple[int, int, int]        # (C, Hp, Wp)
    out_hw: tuple[int, int]
    stride: tuple[int, int]
    pads: sp.Pads
    dilation: tuple[int, int]
    groups: int
    padding_mode: str
    batch_last: bool


class Conv2dKernel(Function):
    """The fused convolution op: padding, im2col, GEMM and bias in one graph node, chunked."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, *,
                stride: tuple[int, int], pads: sp.Pads, dilation: tuple[int, int],
                groups: int, padding_mode: str, batch_last: bool) -> np.ndarray:
        # x: (N, C, H, W) or (C, H, W); weight: (O, C/G, kH, kW) -> (N, O, H_out, W_out)
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        _, c, h, w = x.shape
        kh, kw = weight.shape[2:]
        out_hw = (sp.out_size(h, kh, stride[0], pads[0] + pads[1], dilation[0]),
                  sp.out_size(w, kw, stride[1], pads[2] + pads[3], dilation[1]))
        geom = Geometry((c, h, w), (c, h + pads[0] + pads[1], w + pads[2] + pads[3]), out_hw,
                        stride, pads, dilation, groups, padding_mode, batch_last)
        spans = _chunk_spans(x.shape[0])
        outs: list[Any] = [None] * len(spans)
        cols: list[Any] = [None] * len(spans)

        def run(ids: slice) -> None:
            for i in range(ids.start, ids.stop):
                outs[i], cols[i] = _forward_chunk(x[spans[i]], weight, geom)

        _run_chunks(len(spans), run)
        out = outs[0] if len(outs) == 1 else np.concatenate(outs)
        if bias is not None:
            out += bias[:, None, None]
        ctx.save_for_backward(weight, *cols)
        ctx.spans, ctx.geom, ctx.unbatched = spans, geom, unbatched
        return out[0] if unbatched else out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any, Any]:
        # grad: (N, O, Ho, Wo) -> dx (N, C, H, W), dweight (O, C/G, kH, kW), dbias (O,)
        weight, *cols = ctx.saved_tensors
        spans, geom = ctx.spans, ctx.geom
        if ctx.unbatched:
            grad = grad[None]
        need_x, need_w, need_b = ctx.needs_input_grad
        w3 = weight.reshape(geom.groups, weight.shape[0] // geom.groups, -1)   # (G, O/G, K)
        parts: list[Any] = [None] * len(spans)

        def run(ids: slice) -> None:
            for i in range(ids.start, ids.stop):
                parts[i] = _backward_chunk(grad[spans[i]], cols[i], w3, weight.shape, geom,
                                           need_x, need_w)

        _run_chunks(len(spans), run)
        gb = grad.sum(axis=(0, 2, 3)) if need_b else None
        gw = None
        if need_w:
            gw = parts[0][1]
            for _, part_w in parts[1:]:          # in chunk order, whichever thread ran them
                gw = gw + part_w
            gw = gw.reshape(weight.shape)
        gx = None
        if need_x:
            gx = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
            if ctx.unbatched:
                gx = gx[0]
        return gx, gw, gb


BATCH_CHUNK = 32  # samples per chunk when the batch is split among threads


def _chunk_spans(n: int) -> list[slice]:
    """The batch cut into runs of ``BATCH_CHUNK`` samples; one run on one thread."""
    if get_num_threads() == 1:
        return [slice(0, n)]
    return [slice(i, min(i + BATCH_CHUNK, n)) for i in range(0, max(n, 1), BATCH_CHUNK)]


def _run_chunks(count: int, run: Any) -> None:
    """``run(slice of chunk numbers)`` over every chunk: in parallel when there are threads,
    each chunk's GEMMs on one BLAS thread."""
    if count == 1:
        run(slice(0, count))
        return
    with blas_threads(1):
        parallel_rows(count, run)


def _forward_chunk(x: np.ndarray, weight: np.ndarray,
                   geom: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """One chunk (N, C, H, W) -> (output (N, O, H_out, W_out), columns (G, K, P·N))."""
    n = x.shape[0]
    o, cg, kh, kw = weight.shape
    xp = _pad(x, geom.pads, geom.padding_mode, geom.batch_last)   # (C, Hp, Wp, N) / (C, N, ..)
    k, pn = cg * kh * kw, geom.out_hw[0] * geom.out_hw[1] * n
    cols = sp.windows(xp, (kh, kw), geom.stride, geom.dilation, geom.out_hw, geom.batch_last)
    cols = cols.reshape(geom.groups, k, pn)                # im2col: the one big copy
    w3 = weight.reshape(geom.groups, o // geom.groups, k)               # (G, O/G, K)
    out = _to_nchw(np.matmul(w3, cols), n, geom.batch_last).reshape(n, o, *geom.out_hw)
    return out, cols


def _backward_chunk(grad: np.ndarray, cols: np.ndarray, w3: np.ndarray,
                    w_shape: tuple[int, ...], geom: Geometry, need_x: bool,
                    need_w: bool) -> tuple[Any, Any]:
    """One chunk's ``(dx, dweight as (G, O/G, K))`` from its grad (N, O, H_out, W_out)."""
    groups, og, _ = w3.shape
    n = grad.shape[0]
    g3 = _from_nchw(grad, geom.batch_last).reshape(groups, og, -1)      # (G, O/G, P·N)
    gw = None
    if need_w:
        # (K, P·N) @ (P·N, O/G) and a transpose of the tiny result: the same GEMM as
        # dY @ colsᵀ, in the orientation multi-threaded OpenBLAS handles far better
        gw = np.matmul(cols, g3.transpose(0, 2, 1)).transpose(0, 2, 1)
    gx = None
    if need_x:  # the input needed a gradient, so forward used the batch-last layout
        # col2im fused with the dcols GEMM, one kernel row at a time: dcols for row i is
        # W_iᵀ (G, kW·C/G, O/G) @ dY (G, O/G, P·N), written into one reused scratch, and
        # each of its kW offsets is added into the strided window of the padded gradient.
        c, kh, kw = geom.padded[0], w_shape[2], w_shape[3]
        cg = c // groups
        xp_shape = (*geom.padded, n)                                     # (C, Hp, Wp, N)
        w_rows = np.ascontiguousarray(                                   # (kH,G,kW·C/G,O/G)
            w3.reshape(groups, og, cg, kh, kw).transpose(3, 0, 4, 2, 1)
        ).reshape(kh, groups, kw * cg, og)
        scratch = np.empty((groups, kw * cg, g3.shape[2]), dtype=grad.dtype)
        windows = scratch.reshape(groups, kw, cg, *geom.out_hw, n)  # (G,kW,C/G,Ho,Wo,N)
        dxp = np.zeros(xp_shape, dtype=grad.dtype)
        dxp_groups = dxp.reshape(groups, cg, *xp_shape[1:])
        for i in range(kh):
            np.matmul(w_rows[i], g3, out=scratch)
            for j in range(kw):
                _, _, rows, cols_ = sp.window_slice(i, j, geom.stride, geom.dilation,
                                                    geom.out_hw)
                dxp_groups[:, :, rows, cols_] += windows[:, j]
        dpad = np.ascontiguousarray(dxp.reshape(-1, n).T).reshape(n, *xp_shape[:3])
        pads, (_, h, w) = geom.pads, geom.chw                            # (N, C, Hp, Wp)
        if geom.padding_mode == "zeros":
            gx = dpad[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w]
        else:
            gx = sp.pad_gather_backward(dpad, pads, geom.padding_mode)
    return gx, gw


def _pad(x: np.ndarray, pads: sp.Pads, mode: str, batch_last: bool) -> np.ndarray:
    """(N, C, H, W) -> padded (C, Hp, Wp, N) or (C, N, Hp, Wp): one transposing copy."""
    order = (1, 2, 3, 0) if batch_last else (1, 0, 2, 3)
    if mode != "zeros":
        return np.ascontiguousarray(sp.pad_gather(x, pads, mode).transpose(order))
    n, c, h, w = x.shape
    hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
    xp = np.zeros((c, hp, wp, n) if batch_last else (c, n, hp, wp), dtype=x.dtype)
    inner = (slice(pads[0], pads[0] + h), slice(pads[2], pads[2] + w))
    xp[(slice(None), *inner) if batch_last else (slice(None), slice(None), *inner)] = \
        x.transpose(order)
    return xp


def _to_nchw(prod: np.ndarray, n: int, batch_last: bool) -> np.ndarray:
    """GEMM output (G, O/G, P·N) in the layout's column order -> contiguous (N, O·P)."""
    if batch_last:  # columns (P, N): a 2-D transpose, cheaper than the 4-D one
        return np.ascontiguousarray(prod.reshape(-1, n).T)
    return np.ascontiguousarray(prod.reshape(-1, n, prod.shape[2] // n).transpose(1, 0, 2))


def _from_nchw(grad: np.ndarray, batch_last: bool) -> np.ndarray:
    """(N, O, Ho, Wo) -> (O, P·N) with columns in the layout's order (inverse of _to_nchw)."""
    n = grad.shape[0]
    if batch_last:
        return np.ascontiguousarray(grad.reshape(n, -1).T)
    return np.ascontiguousarray(grad.reshape(n, grad.shape[1], -1).transpose(1, 0, 2))
