"""Elementwise losses: ``mse_loss``, ``l1_loss``, ``huber_loss``, ``binary_cross_entropy``,
``binary_cross_entropy_with_logits``. Class-index losses live in ``cross_entropy.py``.

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
from typing import Any

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.tensor import Tensor
from tinytorch.nn.functional._reduction import grad_scale, legacy_reduction
from tinytorch.nn.functional._reduction import reduce as reduce_loss

_BCE_EPS = 1e-12   # PyTorch's floor on x·(1-x) in the BCE gradient


class MSELoss(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, y: np.ndarray, *, reduction: str) -> np.ndarray:
        # x, y: broadcastable -> () or broadcast shape
        d = np.subtract(x, y)
        ctx.saved_tensors = (d, reduction)
        if reduction == "none":
            return d * d
        flat = d.reshape(-1)
        s = np.asarray(np.dot(flat, flat), dtype=d.dtype)
        return s if reduction == "sum" else np.asarray(s / d.size, dtype=d.dtype)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any]:
        d, reduction = ctx.saved_tensors
        g = d * (2 * grad_scale(grad, reduction, d.size))
        return (g if ctx.needs_input_grad[0] else None), (-g if ctx.needs_input_grad[1] else None)


class L1Loss(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, y: np.ndarray, *, reduction: str) -> np.ndarray:
        # x, y: broadcastable -> () or broadcast shape
        d = np.subtract(x, y)
        ctx.saved_tensors = (np.sign(d), reduction)
        return reduce_loss(np.abs(d, out=d), reduction)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any]:
        sign, reduction = ctx.saved_tensors
        g = sign * grad_scale(grad, reduction, sign.size)
        return (g if ctx.needs_input_grad[0] else None), (-g if ctx.needs_input_grad[1] else None)


class HuberLoss(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, y: np.ndarray, *, reduction: str,
                delta: float) -> np.ndarray:
        # x, y: broadcastable -> () or broadcast shape
        d = np.subtract(x, y)
        ad = np.abs(d)
        loss = np.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta)).astype(d.dtype)
        ctx.saved_tensors = (np.clip(d, -delta, delta), reduction)   # dloss/dd
        return reduce_loss(loss, reduction)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any]:
        slope, reduction = ctx.saved_tensors
        g = slope * grad_scale(grad, reduction, slope.size)
        return (g if ctx.needs_input_grad[0] else None), (-g if ctx.needs_input_grad[1] else None)


class BinaryCrossEntropy(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, y: np.ndarray, *, weight: Any,
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
        ctx.saved_tensors = (x, y, log_x, log_1mx, weight, reduction, loss.shape)
        return reduce_loss(loss, reduction)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any]:
        x, y, log_x, log_1mx, weight, reduction, shape = ctx.saved_tensors
        scale = grad_scale(grad, reduction, int(np.prod(shape)))
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
    def forward(ctx: Function, x: np.ndarray, y: np.ndarray, *, weight: Any, pos_weight: Any,
                reduction: str) -> np.ndarray:
        # x: logits (*), y: targets (*) -> () or (*)
        softplus_neg = np.log1p(np.exp(-np.abs(x)))
        softplus_neg += np.maximum(-x, 0)                        # log(1 + exp(-x)), stable
        if pos_weight is None:
            loss = (1 - y) * x + softplus_neg
        else:
            loss = (1 - y) * x + (1 + (pos_weight - 1) * y) * softplus_neg
        if weight is not None:
            loss = loss * weight
        ctx.saved_tensors = (x, y, softplus_neg, weight, pos_weight, reduction, loss.shape)
        return reduce_loss(loss.astype(x.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any]:
        x, y, softplus_neg, weight, pos_weight, reduction, shape = ctx.saved_tensors
        scale = grad_scale(grad, reduction, int(np.prod(shape)))
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
