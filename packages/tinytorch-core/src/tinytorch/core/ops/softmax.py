"""The softmax family: ``softmax``, ``log_softmax`` and ``logsumexp``, each one fused op.

Systems view: each is numerically stable by subtracting the max along ``dim`` before ``exp``,
so large logits never overflow. Forward: about 4 passes over the ``N`` input elements (max,
subtract+exp, sum, divide or subtract), one ``exp`` per element, one output array. Each saves
one array of N elements (``softmax`` its output, ``log_softmax`` the softmax it computed on the
way, ``logsumexp`` its input), and the hand-written backward is two passes, with no ``exp`` for
``softmax`` and ``log_softmax``:

    softmax:      dx = y * (g - sum(g * y))
    log_softmax:  dx = g - softmax(x) * sum(g)
    logsumexp:    dx = g * exp(x - y)

Composing these from ``exp``/``sum``/``div`` would record 4-5 graph nodes and keep 3-4 arrays
of N elements alive until backward; the fused versions keep one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.function import Function
from tinytorch.core.ops.dims import normalize_dim, reduce_axes

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import Dims, DTypeLike


class Softmax(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, axis: int) -> np.ndarray:
        # a: (..., n, ...) -> same shape, each slice along `axis` sums to 1
        with np.errstate(invalid="ignore"):              # a slice of all -inf gives nan
            e = np.subtract(a, a.max(axis=axis, keepdims=True, initial=-np.inf),
                            out=np.empty_like(a))
            np.exp(e, out=e)
            e /= e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(e)
        ctx.axis = axis
        return e

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (y,) = ctx.saved_tensors
        axis = ctx.axis
        gy = grad * y
        gy -= y * gy.sum(axis=axis, keepdims=True)
        return gy


class LogSoftmax(Function):
    """Saves the softmax ``exp(y)`` (computed anyway on the way) instead of ``y``, so backward
    needs no second ``exp``; the output itself is not kept alive by the graph."""

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, axis: int) -> np.ndarray:
        # a: (..., n, ...) -> same shape, log-probabilities along `axis`
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.subtract(a, a.max(axis=axis, keepdims=True, initial=-np.inf),
                              out=np.empty_like(a))
            e = np.exp(out)
            total = e.sum(axis=axis, keepdims=True)
            out -= np.log(total)
            e /= total                                   # softmax(a)
        ctx.save_for_backward(e)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (p,) = ctx.saved_tensors
        axis = ctx.axis
        return grad - p * grad.sum(axis=axis, keepdims=True)


class LogSumExp(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, axes: tuple[int, ...],
                keepdim: bool) -> np.ndarray:
        # a: (...) -> `axes` reduced; the max is kept finite so all -inf slices give -inf
        m = a.max(axis=axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0).astype(a.dtype, copy=False)
        with np.errstate(divide="ignore"):
            out = np.log(np.exp(a - m).sum(axis=axes, keepdims=True)) + m
        ctx.save_for_backward(a, out)
        ctx.axes = axes
        return out if keepdim else out.squeeze(axes)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        a, out = ctx.saved_tensors
        axes = ctx.axes
        g = grad if grad.ndim == out.ndim else np.expand_dims(grad, axes)
        return g * np.exp(a - out)


def _float_input(input: Tensor, dtype: DTypeLike) -> Tensor:
    if dtype is not None:
        return input.to(dtype)
    if input.array.dtype.kind != "f":
        return input.to(dtypes.get_default_dtype())
    return input


def softmax(input: Tensor, dim: int, dtype: DTypeLike = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``; same shape as ``input``."""
    input = _float_input(input, dtype)
    return Softmax.apply(input, axis=normalize_dim(dim, input.ndim) if input.ndim else None)


def log_softmax(input: Tensor, dim: int, dtype: DTypeLike = None) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``; same shape as ``input``."""
    input = _float_input(input, dtype)
    return LogSoftmax.apply(input, axis=normalize_dim(dim, input.ndim) if input.ndim else None)


def logsumexp(input: Tensor, dim: Dims, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` over ``dim``, without overflow."""
    input = _float_input(input, None)
    return LogSumExp.apply(input, axes=reduce_axes(dim, input.ndim), keepdim=keepdim)
