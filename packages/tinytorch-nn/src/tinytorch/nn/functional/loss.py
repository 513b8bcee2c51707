"""Elementwise losses: ``mse_loss``, ``l1_loss``, ``huber_loss``, ``smooth_l1_loss``,
``kl_div``, ``binary_cross_entropy``, ``binary_cross_entropy_with_logits``. Class-index losses
live in ``cross_entropy.py``.

Systems view (``n`` = number of elements): each loss is one fused op of a few O(n) passes
with a hand-written backward, differentiable in both input and target. Saved for backward:
one ``n``-element array (the difference, or the clamped logs) — never the graph of 4-6 small
ops the formula would otherwise record. ``mse_loss`` with mean/sum reduction computes
``sum(d²)`` as one BLAS dot product, without a squared temporary.

Numerics: ``binary_cross_entropy`` clamps each log at -100 (as PyTorch does) so a
probability of exactly 0 or 1 gives a finite loss; ``binary_cross_entropy_with_logits``
uses ``max(x, 0) - x·y + log1p(exp(-|x|))``, exact for any finite logit, never overflowing.
"""

from __future__ import annotations

import warnings

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.tensor import Tensor
from tinytorch.core.types import Grad
from tinytorch.nn.functional._reduction import grad_scale, legacy_reduction
from tinytorch.nn.functional._reduction import reduce as reduce_loss

_BCE_EPS = 1e-12   # PyTorch's floor on x·(1-x) in the BCE gradient


def _difference_grads(ctx: Function, grad: np.ndarray, slope: np.ndarray) -> tuple[Grad, Grad]:
    """Backward of a loss of ``d = x - y`` whose derivative ``dloss/dd`` is ``slope``.

    slope: broadcast shape -> (slope·scale for x, -slope·scale for y), scale from the reduction.
    """
    g = slope * grad_scale(grad, ctx.reduction, slope.size)
    return (g if ctx.needs_input_grad[0] else None), (-g if ctx.needs_input_grad[1] else None)


class MSELoss(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, y: np.ndarray, *, reduction: str) -> np.ndarray:
        # x, y: broadcastable -> () or broadcast shape
        d = np.subtract(x, y)
        ctx.save_for_backward(d)
        ctx.reduction = reduction
        if reduction == "none":
            return d * d
        flat = d.reshape(-1)
        s = np.asarray(np.dot(flat, flat), dtype=d.dtype)
        return s if reduction == "sum" else np.asarray(s / d.size, dtype=d.dtype)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        (d,) = ctx.saved_tensors
        g = d * (2 * grad_scale(grad, ctx.reduction, d.size))
        return (g if ctx.needs_input_grad[0] else None), (-g if ctx.needs_input_grad[1] else None)


class L1Loss(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, y: np.ndarray, *, reduction: str) -> np.ndarray:
        # x, y: broadcastable -> () or broadcast shape
        d = np.subtract(x, y)
        ctx.save_for_backward(np.sign(d))
        ctx.reduction = reduction
        return reduce_loss(np.abs(d, out=d), reduction)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        (sign,) = ctx.saved_tensors
        return _difference_grads(ctx, grad, sign)


class HuberLoss(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, y: np.ndarray, *, reduction: str,
                delta: float) -> np.ndarray:
        # x, y: broadcastable -> () or broadcast shape
        d = np.subtract(x, y)
        ad = np.abs(d)
        loss = np.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta)).astype(d.dtype)
        ctx.save_for_backward(np.clip(d, -delta, delta))            # dloss/dd
        ctx.reduction = reduction
        return reduce_loss(loss, reduction)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        (slope,) = ctx.saved_tensors
        return _difference_grads(ctx, grad, slope)


class BinaryCrossEntropy(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, y: np.ndarray, *, weight: np.ndarray | None,
                reduction: str) -> np.ndarray:
        # x: probabilities (*), y: targets (*) -> () or (*)
        if x.size and (x.min() < 0 or x.max() > 1):
            raise RuntimeError("all elements of input should be between 0 and 1")
        with np.errstate(divide="ignore"):
            log_x = np.maximum(np.log(x), -100)
            log_1mx = np.maximum(np.log1p(-x), -100)
        loss = -(y * log_x + (1 - y) * log_1mx)
        if weight is not None:
            loss = loss * weight
        ctx.save_for_backward(x, y, log_x, log_1mx, weight)
        ctx.reduction, ctx.shape = reduction, loss.shape
        return reduce_loss(loss, reduction)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        x, y, log_x, log_1mx, weight = ctx.saved_tensors
        scale = grad_scale(grad, ctx.reduction, int(np.prod(ctx.shape)))
        if weight is not None:
            scale = scale * weight
        dx = dy = None
        if ctx.needs_input_grad[0]:
            dx = (x - y) / np.maximum(x * (1 - x), _BCE_EPS) * scale
        if ctx.needs_input_grad[1]:
            dy = (log_1mx - log_x) * scale
        return dx, dy


class BinaryCrossEntropyWithLogits(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, y: np.ndarray, *, weight: np.ndarray | None,
                pos_weight: np.ndarray | None, reduction: str) -> np.ndarray:
        # x: logits (*), y: targets (*) -> () or (*)
        softplus_neg = np.log1p(np.exp(-np.abs(x)))
        softplus_neg += np.maximum(-x, 0)                        # log(1 + exp(-x)), stable
        if pos_weight is None:
            loss = (1 - y) * x + softplus_neg
        else:
            loss = (1 - y) * x + (1 + (pos_weight - 1) * y) * softplus_neg
        if weight is not None:
            loss = loss * weight
        ctx.save_for_backward(x, y, softplus_neg, weight, pos_weight)
        ctx.reduction, ctx.shape = reduction, loss.shape
        return reduce_loss(loss.astype(x.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        x, y, softplus_neg, weight, pos_weight = ctx.saved_tensors
        scale = grad_scale(grad, ctx.reduction, int(np.prod(ctx.shape)))
        if weight is not None:
            scale = scale * weight
        sig = np.exp(-softplus_neg)                              # sigmoid(x)
        dx = dy = None
        if pos_weight is None:
            if ctx.needs_input_grad[0]:
                dx = (sig - y) * scale
            if ctx.needs_input_grad[1]:
                dy = -x * scale
        else:
            if ctx.needs_input_grad[0]:
                dx = ((1 + (pos_weight - 1) * y) * sig - pos_weight * y) * scale
            if ctx.needs_input_grad[1]:
                dy = ((pos_weight - 1) * softplus_neg - x) * scale
        return dx, dy


def _float_pair(name: str, input: Tensor, target: Tensor) -> Tensor:
    """Check both are floating Tensors; return ``target`` in ``input``'s dtype."""
    for what, t in (("input", input), ("target", target)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}(): {what} must be a Tensor, got {type(t).__name__}")
        if t.array.dtype.kind != "f":
            raise RuntimeError(f"{name}(): expected a floating-point {what}, got {t.dtype}")
    return target.to(input.dtype) if target.dtype != input.dtype else target


def _warn_broadcast(input: Tensor, target: Tensor) -> None:
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(
            f"Using a target size ({tuple(target.shape)}) that is different to the input size "
            f"({tuple(input.shape)}). This will likely lead to incorrect results due to "
            "broadcasting. Please ensure they have the same size.", stacklevel=3)


def _optional_array(t: Tensor | None, input: Tensor) -> np.ndarray | None:
    return None if t is None else t.array.astype(input.array.dtype, copy=False)


def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
             reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Mean squared error ``(input - target)²``; (*) and (*) -> () or (*)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    target = _float_pair("mse_loss", input, target)
    _warn_broadcast(input, target)
    return MSELoss.apply(input, target, reduction=reduction)


def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
            reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Mean absolute error ``|input - target|``; (*) and (*) -> () or (*)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    target = _float_pair("l1_loss", input, target)
    _warn_broadcast(input, target)
    return L1Loss.apply(input, target, reduction=reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",
               delta: float = 1.0) -> Tensor:
    """Squared error below ``delta``, linear above it; (*) and (*) -> () or (*)."""
    reduction = legacy_reduction(None, None, reduction)
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta, "
                           f"got {delta}")
    target = _float_pair("huber_loss", input, target)
    _warn_broadcast(input, target)
    return HuberLoss.apply(input, target, reduction=reduction, delta=float(delta))


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """BCE between probabilities ``input`` in [0, 1] and ``target``; (*) -> () or (*)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    target = _float_pair("binary_cross_entropy", input, target)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({tuple(target.shape)}) that is different to the input size "
            f"({tuple(input.shape)}) is deprecated. Please ensure they have the same size.")
    return BinaryCrossEntropy.apply(input, target, weight=_optional_array(weight, input),
                                    reduction=reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None,
                                     size_average: bool | None = None,
                                     reduce: bool | None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """BCE on logits (sigmoid fused in, numerically stable); (*) -> () or (*).

    ``pos_weight`` (broadcast along the last dimension, one per class) weighs positive targets.
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    target = _float_pair("binary_cross_entropy_with_logits", input, target)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({tuple(target.shape)}) must be the same as input size "
                         f"({tuple(input.shape)})")
    return BinaryCrossEntropyWithLogits.apply(
        input, target, weight=_optional_array(weight, input),
        pos_weight=_optional_array(pos_weight, input), reduction=reduction)


class SmoothL1Loss(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, y: np.ndarray, *, reduction: str,
                beta: float) -> np.ndarray:
        # x, y: broadcastable -> () or broadcast shape; Huber's loss divided by beta
        d = np.subtract(x, y)
        ad = np.abs(d)
        if beta == 0:                                               # plain L1
            loss, slope = ad, np.sign(d)
        else:
            loss = np.where(ad < beta, 0.5 * d * d / beta, ad - 0.5 * beta).astype(d.dtype)
            slope = np.clip(d / beta, -1.0, 1.0).astype(d.dtype)    # dloss/dd
        ctx.save_for_backward(slope)
        ctx.reduction = reduction
        return reduce_loss(loss, reduction)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        (slope,) = ctx.saved_tensors
        return _difference_grads(ctx, grad, slope)


class KLDiv(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, y: np.ndarray, *, reduction: str, total: float,
                log_target: bool) -> np.ndarray:
        # x: log-probabilities, y: probabilities (or log-probabilities): broadcastable
        #   -> () or broadcast shape
        if log_target:
            loss = np.exp(y) * (y - x)                              # p·(log p - x)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                y_log_y = np.where(y == 0, 0, y * np.log(y))        # 0·log 0 = 0
            loss = (y_log_y - y * x).astype(x.dtype, copy=False)
        ctx.save_for_backward(x, y)
        ctx.reduction, ctx.total, ctx.log_target = reduction, total, log_target
        return reduce_loss(loss, reduction, total)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        x, y = ctx.saved_tensors
        scale = grad_scale(grad, ctx.reduction, ctx.total)
        p = np.exp(y) if ctx.log_target else y
        dx = dy = None
        if ctx.needs_input_grad[0]:
            dx = -p * scale                                         # d/dx = -p
        if ctx.needs_input_grad[1]:
            if ctx.log_target:
                dy = p * (y - x + 1) * scale                        # d/dy e^y(y - x)
            else:
                with np.errstate(divide="ignore"):
                    dy = (np.log(y) + 1 - x) * scale                # -inf at y = 0
        return dx, dy


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
                   reduce: bool | None = None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """``0.5·d²/beta`` where ``|d| < beta``, else ``|d| - 0.5·beta``, with ``d = input -
    target`` (``huber_loss / beta``; L1 for ``beta = 0``); (*) and (*) -> () or (*)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta, "
                           f"got {beta}")
    target = _float_pair("smooth_l1_loss", input, target)
    _warn_broadcast(input, target)
    return SmoothL1Loss.apply(input, target, reduction=reduction, beta=float(beta))


def kl_div(input: Tensor, target: Tensor, size_average: bool | None = None,
           reduce: bool | None = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence ``KL(target || exp(input))`` summed pointwise.

    ``input`` holds log-probabilities; ``target`` probabilities, or log-probabilities with
    ``log_target=True`` (exact for tiny probabilities). Pointwise loss
    ``target·(log target - input)``, with ``0·log 0 = 0``; (*) and (*) -> () or (*).
    ``reduction='batchmean'`` divides the sum by ``input.shape[0]`` and is the true KL
    divergence per sample; ``'mean'`` divides by every element and warns, as PyTorch does.
    """
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size. 'batchmean' divides only by the batch size, and aligns "
                      "with the KL div math definition. 'mean' will be changed to behave the "
                      "same as 'batchmean' in the next major release.", stacklevel=2)
    elif reduction != "batchmean":
        reduction = legacy_reduction(None, None, reduction)
    target = _float_pair("kl_div", input, target)
    n = int(np.prod(np.broadcast_shapes(tuple(input.shape), tuple(target.shape))))
    if reduction == "batchmean":
        reduction, n = ("mean", input.shape[0]) if input.ndim else ("sum", n)
    return KLDiv.apply(input, target, reduction=reduction, total=float(n),
                       log_target=bool(log_target))
