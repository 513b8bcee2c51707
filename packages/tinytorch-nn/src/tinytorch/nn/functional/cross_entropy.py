"""``cross_entropy`` (fused log-softmax + NLL) and ``nll_loss``, over a class dimension.

Inputs are ``(N, C)``, ``(N, C, d1, ...)`` or unbatched ``(C,)``; the class axis is 1 (0 when
unbatched). Targets are class indices ``(N, d1, ...)`` (with ``ignore_index``, class
``weight`` and ``label_smoothing``) or, for ``cross_entropy``, class probabilities shaped
like the input.

Systems view, ``R`` = number of rows (N·d1·...), ``C`` classes:
forward is 5 passes over the ``R·C`` logits — max, subtract, exp (in place), sum, scale — plus
a gather of the ``R`` target logits, with no ``log`` of a full array: the loss only needs
``log(sum(exp))`` per row (``R`` logs) minus the target's shifted logit. The passes run on
blocks of rows that fit in cache (a loop over ~256K-element blocks, not over rows), so the
logits cross the memory bus once and the result once. Subtracting the row max first makes any
finite logits safe from overflow. The one ``R·C`` array saved is already the softmax part of
the gradient,

    q = exp(x - max) · k,   k = a / sum   (per row),

with ``a`` folding in the reduction (``1/total`` for ``mean``), class weights, ignored rows and
label smoothing, so backward is

    dx = q · g - b·onehot(target) [- c·w]

for an upstream gradient ``g``. For ``loss.backward()`` on a ``mean`` or ``sum`` loss ``g`` is
1: backward takes ``q`` over as ``dx`` (``ctx.last_use``) and only touches the ``R`` target
entries, instead of another pass over ``R·C`` floats. Compared with
``nll_loss(log_softmax(x))`` this never materialises log-probabilities, and it keeps one array
instead of two.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.parallel import parallel_rows
from tinytorch.core.tensor import Tensor
from tinytorch.nn.functional._reduction import grad_scale, legacy_reduction
from tinytorch.nn.functional._reduction import reduce as reduce_loss

# Elements per row block in the forward pass (1 MB of float32, within L2 + L3). Each block
# costs about seven NumPy calls of Python overhead, and with two threads each call also
# waits for the GIL, so small blocks lose: measured here, 32K-element blocks ran the (4096,
# 1000) forward 50% slower on two threads than 256K-element blocks.
_BLOCK = 1 << 18


def _prepare_targets(x: np.ndarray, target: np.ndarray, weight: np.ndarray | None,
                     ignore_index: int) -> tuple[Any, ...]:
    """Validate class indices and build the per-row weights.

    Returns ``(tix, valid, w_t, total)``: targets with a class axis ``(N, 1, d...)`` (ignored
    rows pointed at class 0), 1.0/0.0 for rows that count/are ignored (None when all count),
    the per-row weight (None when every row has weight 1) and the weight total a ``mean``
    divides by.
    """
    n_cls = x.shape[1]
    valid = target != ignore_index
    if valid.all():
        t, valid = target, None
    else:
        t = np.where(valid, target, 0)
        valid = valid.astype(x.dtype)                            # 1.0 / 0.0 per row
    if t.size and (t.min() < 0 or t.max() >= n_cls):
        bad = t[(t < 0) | (t >= n_cls)].flat[0]
        raise IndexError(f"Target {bad} is out of bounds for {n_cls} classes "
                         f"(input shape {tuple(x.shape)}).")
    if weight is not None:
        w_t = weight[t] if valid is None else weight[t] * valid
    else:
        w_t = valid
    total = float(t.size) if w_t is None else float(w_t.sum())
    return np.expand_dims(t, 1), valid, w_t, total


def _class_axis_view(a: np.ndarray, ndim: int) -> np.ndarray:
    """A (C,) array shaped to broadcast along axis 1 of an ``ndim``-d array."""
    return a.reshape((1, -1) + (1,) * (ndim - 2))


def _subtract_at_targets(dx: np.ndarray, tix: np.ndarray, b: Any) -> None:
    """``dx[row, target[row]] -= b[row]`` for every row, in place."""
    if dx.ndim == 2:
        dx[np.arange(dx.shape[0]), tix[:, 0]] -= b
    else:
        b = np.broadcast_to(b, tix.shape[:1] + tix.shape[2:])
        picked = np.take_along_axis(dx, tix, axis=1)
        np.put_along_axis(dx, tix, picked - np.expand_dims(b, 1), axis=1)


def _softmax_parts(x: np.ndarray, tix: np.ndarray, a: Any, weight: Any,
                   smoothing: float) -> tuple[Any, ...]:
    """Row-blocked forward over axis 1: ``(q, s, shifted_t, shifted_sum)`` with
    ``q = exp(x - max) · a / s`` (``a``: a scalar or per-row factors), ``s = sum(exp(x - max))``,
    the target's shifted logit ``x_t - max`` and, with label smoothing,
    ``sum_c w_c (x_c - max)``.

    Blocks of about ``_BLOCK`` elements along axis 0 stay in cache from the max to the
    scaling, so the logits are read from memory once and ``q`` written once.
    """
    rows = x.shape[:1] + x.shape[2:]
    q = np.empty_like(x)
    m = np.empty(x.shape[:1] + (1,) + x.shape[2:], dtype=x.dtype)     # row maxima
    s = np.empty(rows, dtype=x.dtype)
    shifted_sum = np.empty(rows, dtype=x.dtype) if smoothing else None
    wb = None if weight is None else _class_axis_view(weight, x.ndim)
    step = max(1, _BLOCK // max(1, int(np.prod(x.shape[1:]))))

    def blocks(rows: slice) -> None:
        for i in range(rows.start, rows.stop, step):
            b = slice(i, min(i + step, rows.stop))
            xb, qb = x[b], q[b]
            np.max(xb, axis=1, keepdims=True, out=m[b])
            np.subtract(xb, m[b], out=qb)
            if shifted_sum is not None:
                shifted_sum[b] = (qb * wb).sum(axis=1) if wb is not None else qb.sum(axis=1)
            np.exp(qb, out=qb)
            np.einsum("ic...->i...", qb, out=s[b])    # row sums; 2.5x faster than np.sum here
            k = (a if np.ndim(a) == 0 else a[b]) / s[b]
            qb *= np.expand_dims(k, 1)

    parallel_rows(x.shape[0], blocks, min_rows=step)
    shifted_t = (np.take_along_axis(x, tix, axis=1) - m)[:, 0]
    return q, s, shifted_t, shifted_sum


class CrossEntropy(Function):
    """Log-softmax and negative log-likelihood of class indices, as one op."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, target: np.ndarray, weight: Any,
                ignore_index: int, reduction: str, smoothing: float) -> np.ndarray:
        # x: (N, C, d...) logits or (C,); target: (N, d...) or () -> () or (N, d...)
        unbatched = x.ndim == 1
        if unbatched:
            x, target = x[None], target[None]
        n_cls = x.shape[1]
        tix, valid, w_t, total = _prepare_targets(x, target, weight, ignore_index)
        # r: the reduction's factor on every row's gradient; w_row: each row's weight.
        r = (1.0 / total if total else 0.0) if reduction == "mean" else 1.0
        w_row = 1.0 if w_t is None else w_t
        w_sum = float(n_cls if weight is None else weight.sum())
        a = w_row                                       # d loss_row / d logit = a·softmax - ...
        if smoothing:
            a = (1.0 - smoothing) * w_row + (smoothing / n_cls) * w_sum * (
                1.0 if valid is None else valid)
        a = np.asarray(a * r, dtype=x.dtype)
        q, s, shifted_t, shifted_sum = _softmax_parts(x, tix, a, weight, smoothing)
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
        ctx.saved_tensors = (q, tix, valid, w_row, r, weight, smoothing, unbatched)
        out = reduce_loss(loss, reduction, total)
        return out[0] if unbatched and reduction == "none" else out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: () or (N, d...) -> dx: (N, C, d...)
        q, tix, valid, w_row, r, weight, eps, unbatched = ctx.saved_tensors
        n_cls = q.shape[1]
        g = grad if grad.ndim == 0 else np.expand_dims(grad, 1)   # () or (N, 1, d...)
        if g.ndim == 0 and g == 1.0 and ctx.last_use:
            dx = q                                  # q · 1 is q: take it over, no pass at all
        else:
            dx = q if ctx.last_use else np.empty_like(q)
            parallel_rows(q.shape[0], lambda b: np.multiply(
                q[b], g if g.ndim == 0 else g[b], out=dx[b]),
                min_rows=max(1, _BLOCK // max(1, q[0].size)))
        scale = grad * r                                          # () or (N, d...)
        if eps:
            c = scale * (eps / n_cls) * (1.0 if valid is None else valid)
            c = np.expand_dims(c, 1) if np.ndim(c) else c
            dx -= c if weight is None else c * _class_axis_view(weight, q.ndim)
        _subtract_at_targets(dx, tix, scale * (1.0 - eps) * w_row)
        return dx[0] if unbatched else dx


class CrossEntropyProbs(Function):
    """Cross-entropy against class probabilities (soft labels); differentiable in both."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, y: np.ndarray, *, weight: Any, reduction: str,
                smoothing: float) -> np.ndarray:
        # x: (N, C, d...) logits, y: same shape, probabilities -> () or (N, d...)
        unbatched = x.ndim == 1
        if unbatched:
            x, y = x[None], y[None]
        n_cls = x.shape[1]
        wb = 1.0 if weight is None else _class_axis_view(weight, x.ndim)
        wy = (y * (1.0 - smoothing) + smoothing / n_cls) * wb     # (N, C, d...)
        logp = x - x.max(axis=1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))   # log-softmax
        loss = -np.einsum("nc...,nc...->n...", wy, logp)          # (N, d...)
        ctx.saved_tensors = (logp, wy, wb, reduction, smoothing, unbatched)
        out = reduce_loss(loss, reduction)
        return out[0] if unbatched and reduction == "none" else out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any]:
        logp, wy, wb, reduction, eps, unbatched = ctx.saved_tensors
        if unbatched and reduction == "none":
            grad = grad[None]
        rows = logp.size // logp.shape[1]
        scale = grad_scale(grad, reduction, rows)
        scale = np.expand_dims(scale, 1) if np.ndim(scale) else scale
        dx = dy = None
        if ctx.needs_input_grad[0]:
            dx = (np.exp(logp) * wy.sum(axis=1, keepdims=True) - wy) * scale
        if ctx.needs_input_grad[1]:
            dy = -(1.0 - eps) * logp * wb * scale
        if unbatched:
            dx = None if dx is None else dx[0]
            dy = None if dy is None else dy[0]
        return dx, dy


class NLLLoss(Function):
    """Negative log-likelihood of class indices, given log-probabilities."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, target: np.ndarray, weight: Any,
                ignore_index: int, reduction: str) -> np.ndarray:
        # x: (N, C, d...) log-probabilities or (C,); target: (N, d...) -> () or (N, d...)
        unbatched = x.ndim == 1
        if unbatched:
            x, target = x[None], target[None]
        tix, valid, w_t, total = _prepare_targets(x, target, weight, ignore_index)
        loss = -np.take_along_axis(x, tix, axis=1)[:, 0]
        if w_t is not None:
            loss *= w_t
        ctx.saved_tensors = (x.shape, x.dtype, tix, w_t, total, reduction, unbatched)
        out = reduce_loss(loss, reduction, total)
        return out[0] if unbatched and reduction == "none" else out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: () or (N, d...) -> dx: (N, C, d...), nonzero only at the targets
        shape, dtype, tix, w_t, total, reduction, unbatched = ctx.saved_tensors
        if unbatched and reduction == "none":
            grad = grad[None]
        scale = grad_scale(grad, reduction, total)
        dx = np.zeros(shape, dtype=dtype)
        _subtract_at_targets(dx, tix, scale * (1.0 if w_t is None else w_t))
        return dx[0] if unbatched else dx


def _class_weight(weight: Tensor | None, input: Tensor) -> np.ndarray | None:
    if weight is None:
        return None
    n_cls = input.shape[0] if input.ndim == 1 else input.shape[1]
    if tuple(weight.shape) != (n_cls,):
        raise RuntimeError(f"weight tensor should be defined either for all {n_cls} classes or "
                           f"no classes but got weight tensor of shape: {list(weight.shape)}")
    return weight.array.astype(input.array.dtype, copy=False)


def _check_index_target(name: str, input: Tensor, target: Tensor) -> None:
    """PyTorch's shape and dtype rules for class-index targets."""
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"{name}(): input and target must be Tensors, got "
                        f"{type(input).__name__} and {type(target).__name__}")
    if input.ndim == 0:
        raise ValueError(f"{name}(): expected input of 1 or more dimensions (got 0)")
    if input.array.dtype.kind != "f":
        raise RuntimeError(f"{name}(): expected a floating-point input, got {input.dtype}")
    if target.array.dtype.kind not in "iu":
        raise RuntimeError(f"{name}(): expected target of class indices (int64) with shape "
                           f"{list(input.shape[:1] + input.shape[2:])}, got dtype "
                           f"{target.dtype} with shape {list(target.shape)}")
    if input.ndim == 1:
        if target.ndim != 0:
            raise RuntimeError(f"{name}(): an unbatched input of shape {list(input.shape)} "
                               f"needs a 0-d target, got shape {list(target.shape)}")
        return
    if target.ndim == 0 or target.shape[0] != input.shape[0]:
        got = target.shape[0] if target.ndim else 0
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target "
                         f"batch_size ({got}).")
    expected = tuple(input.shape[:1] + input.shape[2:])
    if tuple(target.shape) != expected:
        raise RuntimeError(f"Expected target size {list(expected)}, got {list(target.shape)}")


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average: bool | None = None, ignore_index: int = -100,
                  reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits and targets, fused with the log-softmax.

    input: (N, C), (N, C, d1, ...) or (C,). target: class indices (N,), (N, d1, ...) or (),
    or class probabilities shaped like input. Returns () or, for ``reduction='none'``, (N, ...).
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    w = _class_weight(weight, input)
    if (isinstance(target, Tensor) and target.array.dtype.kind == "f"
            and tuple(target.shape) == tuple(input.shape)):
        if input.array.dtype.kind != "f":
            raise RuntimeError(f"cross_entropy(): expected a floating-point input, "
                               f"got {input.dtype}")
        y = target.to(input.dtype) if target.dtype != input.dtype else target
        return CrossEntropyProbs.apply(input, y, weight=w, reduction=reduction,
                                       smoothing=float(label_smoothing))
    _check_index_target("cross_entropy", input, target)
    return CrossEntropy.apply(input, target=target.array, weight=w,
                              ignore_index=int(ignore_index), reduction=reduction,
                              smoothing=float(label_smoothing))


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             size_average: bool | None = None, ignore_index: int = -100,
             reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: ``-input[n, target[n]]``, weighted and reduced.

    input: log-probabilities (N, C), (N, C, d1, ...) or (C,); target: (N,), (N, d1, ...), ().
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_index_target("nll_loss", input, target)
    return NLLLoss.apply(input, target=target.array, weight=_class_weight(weight, input),
                         ignore_index=int(ignore_index), reduction=reduction)
