"""Scans (running reductions along one dim): ``cumsum`` and ``cumprod``.

Systems view: a scan reads and writes ``N`` elements once (N FLOPs) and cannot be split into
independent halves as a plain reduction can, but NumPy runs it as one C loop per slice, and so
does each backward here:

    cumsum:   dx_i = sum_{j >= i} g_j                  (a scan of g from the far end)
    cumprod:  dx_i = sum_{j >= i} g_j * y_j / x_i      (y = cumprod(x); a scan of g * y)

The textbook ``cumprod`` gradient divides by ``x_i``, which breaks at zeros. The one here is
exact with zeros, at the price of one more scan: in a slice whose first zero is at ``z``,
positions before ``z`` use the formula above (their ``x_i`` are not zero, and every term with
``j >= z`` is zero anyway), positions after ``z`` get 0 (every product through them contains
``x_z``), and position ``z`` gets ``sum_{j >= z} g_j * cumprod(x with x_z := 1)_j``. Cost:
about 4 scans over ``N`` elements and two arrays of ``N`` elements, never a loop in Python.

Dtypes follow PyTorch: integer and bool inputs scan in int64, and ``dtype=`` casts the input
first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.function import Function
from tinytorch.core.ops.dims import normalize_dim
from tinytorch.core.ops.elementwise import cast

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import DTypeLike


def _reverse_cumsum(g: np.ndarray, axis: int) -> np.ndarray:
    """``out_i = sum_{j >= i} g_j`` along ``axis``."""
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


class CumSum(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, axis: int) -> np.ndarray:
        # a: (..., n, ...) -> same shape, out_i = a_0 + ... + a_i along `axis`
        ctx.axis = axis
        return np.cumsum(a, axis=axis)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        return _reverse_cumsum(grad, ctx.axis)


class CumProd(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, axis: int) -> np.ndarray:
        # a: (..., n, ...) -> same shape, out_i = a_0 * ... * a_i along `axis`
        out = np.cumprod(a, axis=axis)
        ctx.save_for_backward(a, out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        a, out = ctx.saved_tensors
        axis = ctx.axis
        n = a.shape[axis]
        if n == 0:
            return np.zeros_like(a)
        is_zero = a == 0
        pos = np.arange(n).reshape((n,) + (1,) * (a.ndim - axis - 1))   # i along `axis`
        first = np.where(is_zero.any(axis=axis, keepdims=True),
                         is_zero.argmax(axis=axis, keepdims=True), n)    # z per slice (n: none)
        before = pos < first
        at = pos == first
        one = a.dtype.type(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(before, _reverse_cumsum(grad * out, axis) / np.where(before, a, one), 0)
        if at.any():
            skip_zero = np.cumprod(np.where(at, one, a), axis=axis)     # x_z counted as 1
            g = g + np.where(at, _reverse_cumsum(grad * skip_zero, axis), 0)
        return g.astype(grad.dtype, copy=False)


def _prepare(name: str, input: Tensor, dim: int | None, dtype: DTypeLike) -> tuple[Tensor, int]:
    if dtype is not None:
        input = cast(input, dtype)
    elif input.array.dtype.kind in "biu" and input.array.dtype != dtypes.int64:
        input = cast(input, dtypes.int64)
    if dim is None:
        raise TypeError(f"{name}() missing required argument 'dim' (int)")
    return input, normalize_dim(dim, input.ndim)


def cumsum(input: Tensor, dim: int, *, dtype: DTypeLike = None) -> Tensor:
    """Running sum along ``dim``: ``[1, 2, 3] -> [1, 3, 6]``; same shape as ``input``."""
    input, axis = _prepare("cumsum", input, dim, dtype)
    if input.ndim == 0:
        return CumSum.apply(input.reshape(1), axis=0).reshape(())
    return CumSum.apply(input, axis=axis)


def cumprod(input: Tensor, dim: int, *, dtype: DTypeLike = None) -> Tensor:
    """Running product along ``dim``: ``[1, 2, 3] -> [1, 2, 6]``; its gradient is exact where
    the input has zeros."""
    input, axis = _prepare("cumprod", input, dim, dtype)
    if input.ndim == 0:
        return CumProd.apply(input.reshape(1), axis=0).reshape(())
    return CumProd.apply(input, axis=axis)
