"""``cross_entropy`` (log-softmax + NLL as one op) and ``nll_loss``, over a class dimension.

Inputs are ``(N, C)``, ``(N, C, d1, ...)`` or unbatched ``(C,)``; the class axis is 1 (0 when
unbatched). Targets are class indices ``(N, d1, ...)`` (with ``ignore_index``, class
``weight`` and ``label_smoothing``) or, for ``cross_entropy``, class probabilities shaped
like the input.

Systems view, ``R`` = number of rows (N·d1·...), ``C`` classes. With ``log p = x - max -
log Σ exp(x - max)`` (the row max first, so any finite logits are safe from overflow), the
loss of a row is ``-(1-ε)·w_t·log p_t - (ε/C)·Σ_c w_c log p_c`` and its gradient
``(1-ε)·w_t·(p - onehot) + (ε/C)·(p·Σ_c w_c - w)``: one op with a hand-written backward,
about ``4·R·C`` FLOPs and ``R·C`` exps each way, instead of a graph of log-softmax, gather and
reduction. ``CrossEntropy`` below is that formula on whole arrays (the reference; it saves
``log p``, ``R·C`` elements). By default ``cross_entropy`` runs the kernel in
``nn/_kernels/cross_entropy.py`` instead, which never materialises ``log p``, saves the
softmax part of the gradient and runs on cache-sized row blocks on the intra-op threads;
``tinytorch.use_reference_kernels(True)`` runs the reference.
"""

from __future__ import annotations

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.reference import reference_kernels_enabled
from tinytorch.core.tensor import Tensor
from tinytorch.core.types import Grad
from tinytorch.nn._kernels.cross_entropy import CrossEntropyKernel
from tinytorch.nn.functional._reduction import grad_scale, legacy_reduction
from tinytorch.nn.functional._reduction import reduce as reduce_loss
from tinytorch.nn.functional._targets import (
    class_axis_view,
    prepare_targets,
    subtract_at_targets,
)


class CrossEntropy(Function):
    """Reference: log-softmax over the classes, then the (smoothed, weighted) NLL."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, target: np.ndarray, weight: np.ndarray | None,
                ignore_index: int, reduction: str, smoothing: float) -> np.ndarray:
        # x: (N, C, d...) logits or (C,); target: (N, d...) or () -> () or (N, d...)
        unbatched = x.ndim == 1
        if unbatched:
            x, target = x[None], target[None]
        n_cls = x.shape[1]
        tix, valid, w_t, total = prepare_targets(x, target, weight, ignore_index)
        valid = np.ones(tix.shape, x.dtype) if valid is None else np.expand_dims(valid, 1)
        w_t = valid if w_t is None else np.expand_dims(w_t, 1)     # (N, 1, d...)
        w_c = np.ones(n_cls, x.dtype) if weight is None else weight
        w_c = class_axis_view(w_c, x.ndim)                          # (1, C, 1...)
        logp = x - x.max(axis=1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))    # log p, (N, C, d...)
        loss = (1.0 - smoothing) * w_t * -np.take_along_axis(logp, tix, axis=1)
        if smoothing:                                               # the uniform part
            loss += (smoothing / n_cls) * valid * -(w_c * logp).sum(axis=1, keepdims=True)
        ctx.save_for_backward(logp, tix, w_t, valid, w_c)
        ctx.smoothing, ctx.reduction, ctx.total, ctx.unbatched = (
            smoothing, reduction, total, unbatched)
        out = reduce_loss(loss[:, 0], reduction, total)              # loss: (N, 1, d...)
        return out[0] if unbatched and reduction == "none" else out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: () or (N, d...) -> dx: (N, C, d...)
        logp, tix, w_t, valid, w_c = ctx.saved_tensors
        eps = ctx.smoothing
        if ctx.unbatched and ctx.reduction == "none":
            grad = grad[None]
        scale = grad_scale(grad, ctx.reduction, ctx.total)
        scale = np.expand_dims(scale, 1) if np.ndim(scale) else scale   # () or (N, 1, d...)
        p = np.exp(logp)                                             # softmax
        onehot = np.zeros_like(p)
        np.put_along_axis(onehot, tix, 1.0, axis=1)
        dx = (1.0 - eps) * w_t * (p - onehot)
        if eps:
            dx += (eps / p.shape[1]) * valid * (p * w_c.sum() - w_c)
        dx *= scale
        return dx[0] if ctx.unbatched else dx


class CrossEntropyProbs(Function):
    """Cross-entropy against class probabilities (soft labels); differentiable in both."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, y: np.ndarray, *, weight: np.ndarray | None,
                reduction: str, smoothing: float) -> np.ndarray:
        # x: (N, C, d...) logits, y: same shape, probabilities -> () or (N, d...)
        unbatched = x.ndim == 1
        if unbatched:
            x, y = x[None], y[None]
        n_cls = x.shape[1]
        wb = 1.0 if weight is None else class_axis_view(weight, x.ndim)
        wy = (y * (1.0 - smoothing) + smoothing / n_cls) * wb     # (N, C, d...)
        logp = x - x.max(axis=1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))   # log-softmax
        loss = -np.einsum("nc...,nc...->n...", wy, logp)          # (N, d...)
        ctx.save_for_backward(logp, wy, None if weight is None else wb)
        ctx.reduction, ctx.smoothing, ctx.unbatched = reduction, smoothing, unbatched
        out = reduce_loss(loss, reduction)
        return out[0] if unbatched and reduction == "none" else out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        logp, wy, wb = ctx.saved_tensors
        wb = 1.0 if wb is None else wb
        eps, unbatched = ctx.smoothing, ctx.unbatched
        if unbatched and ctx.reduction == "none":
            grad = grad[None]
        rows = logp.size // logp.shape[1]
        scale = grad_scale(grad, ctx.reduction, rows)
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
    def forward(ctx: Function, x: np.ndarray, *, target: np.ndarray, weight: np.ndarray | None,
                ignore_index: int, reduction: str) -> np.ndarray:
        # x: (N, C, d...) log-probabilities or (C,); target: (N, d...) -> () or (N, d...)
        unbatched = x.ndim == 1
        if unbatched:
            x, target = x[None], target[None]
        tix, valid, w_t, total = prepare_targets(x, target, weight, ignore_index)
        loss = -np.take_along_axis(x, tix, axis=1)[:, 0]
        if w_t is not None:
            loss *= w_t
        ctx.save_for_backward(tix, w_t)
        ctx.shape, ctx.dtype, ctx.total, ctx.reduction, ctx.unbatched = (
            x.shape, x.dtype, total, reduction, unbatched)
        out = reduce_loss(loss, reduction, total)
        return out[0] if unbatched and reduction == "none" else out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: () or (N, d...) -> dx: (N, C, d...), nonzero only at the targets
        tix, w_t = ctx.saved_tensors
        if ctx.unbatched and ctx.reduction == "none":
            grad = grad[None]
        scale = grad_scale(grad, ctx.reduction, ctx.total)
        dx = np.zeros(ctx.shape, dtype=ctx.dtype)
        subtract_at_targets(dx, tix, scale * (1.0 if w_t is None else w_t))
        return dx[0] if ctx.unbatched else dx


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
    op = CrossEntropy if reference_kernels_enabled() else CrossEntropyKernel
    return op.apply(input, target=target.array, weight=w,
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
