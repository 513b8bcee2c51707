"""Kernel for ``cross_entropy`` with class indices: one blocked pass that saves the gradient.

What differs from the reference in ``nn/functional/cross_entropy.py``, and why (``R`` rows,
``C`` classes):

- **No log-probabilities.** The reference builds ``log p = x - max - log Σ exp`` over all
  ``R·C`` logits. The loss only needs ``log Σ exp`` per row (``R`` logs) minus the target's
  shifted logit, so forward is 5 passes — max, subtract, exp (in place), sum, scale — plus a
  gather of the ``R`` target logits, with no ``log`` of a full array.
- **Saves the gradient, not log p.** The one ``R·C`` array kept is already the softmax part
  of the gradient, ``q = exp(x - max) · k`` with ``k = a / Σ exp`` per row, where ``a`` folds
  in the reduction (``1/total`` for ``mean``), class weights, ignored rows and label
  smoothing. Backward is ``dx = q·g - b·onehot(target) [- c·w]`` for an upstream gradient
  ``g``; no ``exp`` and no one-hot array.
- **Last-use reuse.** For ``loss.backward()`` on a ``mean`` or ``sum`` loss ``g`` is 1:
  backward takes ``q`` over as ``dx`` (``ctx.last_use``) and only touches the ``R`` target
  entries, instead of another pass over ``R·C`` floats.
- **Row blocks on threads.** The forward passes run on blocks of rows that fit in cache
  (``core.blocks.map_row_blocks``), so the logits cross the memory bus once and ``q`` once.
  Each block costs about seven NumPy calls, and with two threads each call also waits for
  the GIL, so blocks are large (``BLOCK`` elements). Every block's rows are independent:
  results do not depend on the thread count.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.core.blocks import map_row_blocks, rows_per_block
from tinytorch.core.function import Function
from tinytorch.core.parallel import parallel_rows
from tinytorch.nn.functional._reduction import reduce as reduce_loss
from tinytorch.nn.functional._targets import (
    class_axis_view,
    prepare_targets,
    subtract_at_targets,
)

BLOCK = 1 << 18   # elements per row block (1 MB of float32): see the module docstring


def softmax_parts(x: np.ndarray, tix: np.ndarray, a: Any, weight: np.ndarray | None,
                  smoothing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Row-blocked forward over axis 1: ``(q, s, shifted_t, shifted_sum)`` with
    ``q = exp(x - max) · a / s`` (``a``: a scalar or per-row factors), ``s = sum(exp(x - max))``,
    the target's shifted logit ``x_t - max`` and, with label smoothing,
    ``sum_c w_c (x_c - max)``.
    """
    rows = x.shape[:1] + x.shape[2:]
    q = np.empty_like(x)                                                # (N, C, d...)
    m = np.empty(x.shape[:1] + (1,) + x.shape[2:], dtype=x.dtype)     # row maxima
    s = np.empty(rows, dtype=x.dtype)                                   # (N, d...)
    shifted_sum = np.empty(rows, dtype=x.dtype) if smoothing else None
    wb = None if weight is None else class_axis_view(weight, x.ndim)

    def block(b: slice, group: int, scratch: None) -> None:
        xb, qb = x[b], q[b]
        np.max(xb, axis=1, keepdims=True, out=m[b])
        np.subtract(xb, m[b], out=qb)
        if shifted_sum is not None:
            shifted_sum[b] = (qb * wb).sum(axis=1) if wb is not None else qb.sum(axis=1)
        np.exp(qb, out=qb)
        np.einsum("ic...->i...", qb, out=s[b])    # row sums; faster than np.sum here
        k = (a if np.ndim(a) == 0 else a[b]) / s[b]
        qb *= np.expand_dims(k, 1)

    map_row_blocks(x.shape[0], rows_per_block(int(np.prod(x.shape[1:])), BLOCK), block)
    shifted_t = (np.take_along_axis(x, tix, axis=1) - m)[:, 0]
    return q, s, shifted_t, shifted_sum


class CrossEntropyKernel(Function):
    """Log-softmax and negative log-likelihood of class indices, fused and blocked."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, target: np.ndarray, weight: np.ndarray | None,
                ignore_index: int, reduction: str, smoothing: float) -> np.ndarray:
        # x: (N, C, d...) logits or (C,); target: (N, d...) or () -> () or (N, d...)
        unbatched = x.ndim == 1
        if unbatched:
            x, target = x[None], target[None]
        n_cls = x.shape[1]
        tix, valid, w_t, total = prepare_targets(x, target, weight, ignore_index)
        # r: the reduction's factor on every row's gradient; w_row: each row's weight.
        r = (1.0 / total if total else 0.0) if reduction == "mean" else 1.0
        w_row = 1.0 if w_t is None else w_t
        w_sum = float(n_cls if weight is None else weight.sum())
        a = w_row                                       # d loss_row / d logit = a·softmax - ...
        if smoothing:
            a = (1.0 - smoothing) * w_row + (smoothing / n_cls) * w_sum * (
                1.0 if valid is None else valid)
        a = np.asarray(a * r, dtype=x.dtype)
        q, s, shifted_t, shifted_sum = softmax_parts(x, tix, a, weight, smoothing)
        log_s = np.log(s)
        loss = np.subtract(log_s, shifted_t, out=shifted_t)      # -log p_target, (N, d...)
        if w_t is not None:
            loss *= w_t
        if smoothing:
            smooth = log_s * w_sum - shifted_sum                  # -sum_c w_c log p_c
            if valid is not None:
                smooth *= valid
            loss *= 1.0 - smoothing
            loss += (smoothing / n_cls) * smooth
        ctx.save_for_backward(q, tix, valid, w_t, weight)
        ctx.reduction_factor, ctx.smoothing, ctx.unbatched = r, smoothing, unbatched
        out = reduce_loss(loss, reduction, total)
        return out[0] if unbatched and reduction == "none" else out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: () or (N, d...) -> dx: (N, C, d...)
        q, tix, valid, w_t, weight = ctx.saved_tensors
        eps = ctx.smoothing
        n_cls = q.shape[1]
        g = grad if grad.ndim == 0 else np.expand_dims(grad, 1)   # () or (N, 1, d...)
        if g.ndim == 0 and g == 1.0 and ctx.last_use:
            dx = q                                  # q · 1 is q: take it over, no pass at all
        else:
            dx = q if ctx.last_use else np.empty_like(q)
            parallel_rows(q.shape[0], lambda b: np.multiply(
                q[b], g if g.ndim == 0 else g[b], out=dx[b]),
                min_rows=rows_per_block(q[0].size, BLOCK))
        scale = grad * ctx.reduction_factor                       # () or (N, d...)
        if eps:
            c = scale * (eps / n_cls) * (1.0 if valid is None else valid)
            c = np.expand_dims(c, 1) if np.ndim(c) else c
            dx -= c if weight is None else c * class_axis_view(weight, q.ndim)
        subtract_at_targets(dx, tix, scale * (1.0 - eps) * (1.0 if w_t is None else w_t))
        return dx[0] if ctx.unbatched else dx
