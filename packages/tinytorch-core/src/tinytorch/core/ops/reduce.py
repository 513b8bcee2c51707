"""Reductions: ``sum``, ``mean``, ``var``, ``std``, ``max``/``min``, ``amax``/``amin``, ``prod``,
``norm``, ``argmax``/``argmin``, ``all``/``any`` (the softmax family is in ``ops/softmax.py``).

Systems view: a reduction reads its ``N`` input elements once (about N FLOPs; ``var`` about 3N)
and writes ``N / n`` outputs, where ``n`` is the size of the reduced dims. Backward broadcasts
the small gradient back to the input's shape: ``sum``/``mean`` return a *broadcast view*
(``np.broadcast_to``, zero bytes), which the engine only copies if a leaf keeps it. ``max``
with a dim sends the gradient to the selected index only; ``max``/``amax`` over all elements
share it evenly between ties, as PyTorch does.

``dim`` may be an int, a negative int, a tuple of ints or None (all dims).
"""

from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING, NamedTuple, overload

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.function import Function, is_tensor, wrap
from tinytorch.core.ops.dims import normalize_dim, reduce_axes
from tinytorch.core.ops.elementwise import maximum, minimum
from tinytorch.core.ops.softmax import log_softmax, logsumexp, softmax  # noqa: F401

if TYPE_CHECKING:
    from collections.abc import Callable

    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import Dims, DTypeLike

# named "max" and "min" like torch.return_types.max / .min (the functional form sets the name)
max_return = NamedTuple(  # type: ignore[name-match]  # noqa: UP014
    "max", [("values", "Tensor"), ("indices", "Tensor")])
min_return = NamedTuple(  # type: ignore[name-match]  # noqa: UP014
    "min", [("values", "Tensor"), ("indices", "Tensor")])


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    return math.prod(shape[a] for a in axes)


def _expand(grad: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
    """Give a reduced gradient back its reduced axes (size 1) so it broadcasts to the input."""
    return grad if keepdim or not axes else np.expand_dims(grad, axes)


# ---------------------------------------------------------------------------- sum / mean / var
class Sum(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, axes: tuple[int, ...], keepdim: bool,
                dtype: np.dtype) -> np.ndarray:
        # a: (...) -> a without `axes` (or with them as size 1 when keepdim)
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return np.asarray(a.sum(axis=axes, keepdims=keepdim, dtype=dtype))

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        shape, axes, keepdim = ctx.shape, ctx.axes, ctx.keepdim
        return np.broadcast_to(_expand(grad, axes, keepdim), shape)


class Mean(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, axes: tuple[int, ...],
                keepdim: bool) -> np.ndarray:
        n = _count(a.shape, axes)
        ctx.shape, ctx.axes, ctx.keepdim, ctx.n = a.shape, axes, keepdim, n
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(a.sum(axis=axes, keepdims=keepdim) / n)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        shape, axes, keepdim, n = ctx.shape, ctx.axes, ctx.keepdim, ctx.n
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.broadcast_to(_expand(grad, axes, keepdim) / n, shape)


class Var(Function):
    """``sum((x - mean)^2) / (n - correction)``; with ``sqrt=True`` the standard deviation."""

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, axes: tuple[int, ...], keepdim: bool,
                correction: float, sqrt: bool) -> np.ndarray:
        denom = builtins.max(_count(a.shape, axes) - correction, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = a - a.mean(axis=axes, keepdims=True)                 # (...) centred
            out = np.asarray((d * d).sum(axis=axes, keepdims=keepdim) / denom)
            if sqrt:
                out = np.sqrt(out)
        ctx.save_for_backward(d, out)
        ctx.axes, ctx.keepdim, ctx.denom, ctx.sqrt = axes, keepdim, denom, sqrt
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        d, out = ctx.saved_tensors
        axes, keepdim, denom, sqrt = ctx.axes, ctx.keepdim, ctx.denom, ctx.sqrt
        g = _expand(grad, axes, keepdim)
        with np.errstate(invalid="ignore", divide="ignore"):
            if sqrt:                                   # d std = d var / (2 std)
                return g / (_expand(out, axes, keepdim) * denom) * d
            return g * d * (2 / denom) if denom else g * d / denom


# ---------------------------------------------------------------------------- max / min
class Select(Function):
    """Values at given indices along one axis (``max(dim)``): the gradient goes to them only."""

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, idx: np.ndarray, *, axis: int,
                keepdim: bool) -> np.ndarray:
        # a: (..., n, ...), idx: (..., 1, ...) -> (..., [1,] ...)
        ctx.save_for_backward(idx)
        ctx.shape, ctx.axis, ctx.keepdim = a.shape, axis, keepdim
        out = np.take_along_axis(a, idx, axis)
        return out if keepdim else out.squeeze(axis)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray, None]:
        (idx,) = ctx.saved_tensors
        shape, axis, keepdim = ctx.shape, ctx.axis, ctx.keepdim
        g = np.zeros(shape, grad.dtype)
        np.put_along_axis(g, idx, grad if keepdim else np.expand_dims(grad, axis), axis)
        return g, None


class Extreme(Function):
    """``amax``/``amin``: ties share the gradient evenly."""

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, axes: tuple[int, ...], keepdim: bool,
                largest: bool) -> np.ndarray:
        out = (a.max if largest else a.min)(axis=axes, keepdims=True)
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out if keepdim else out.squeeze(axes)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        a, out = ctx.saved_tensors
        axes, keepdim = ctx.axes, ctx.keepdim
        hit = a == out
        count = hit.sum(axis=axes, keepdims=True).astype(grad.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):     # a nan max matches nothing
            return hit * (_expand(grad, axes, keepdim) / count)


def _check_nonempty(name: str, a: np.ndarray, axes: tuple[int, ...], full: bool) -> None:
    if a.size:
        return
    if full:
        raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() "
                           "== 0. Specify the reduction dim with the 'dim' argument.")
    for ax in axes:
        if a.shape[ax] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {ax} to have non-zero size "
                             f"(input shape {tuple(a.shape)}).")


def _max_min(input: Tensor, dim: int | None, keepdim: bool,
             largest: bool) -> Tensor | tuple[Tensor, Tensor]:
    name = "max" if largest else "min"
    a = input.array
    if dim is None:
        _check_nonempty(name, a, (), True)
        return Extreme.apply(input, axes=tuple(range(a.ndim)), keepdim=False, largest=largest)
    axis = normalize_dim(dim, a.ndim)
    if a.ndim == 0:
        return (max_return if largest else min_return)(input, wrap(np.zeros((), np.int64)))
    _check_nonempty(name, a, (axis,), False)
    idx = (np.argmax if largest else np.argmin)(a, axis=axis, keepdims=True)
    values = Select.apply(input, idx, axis=axis, keepdim=keepdim)
    indices = wrap(idx if keepdim else idx.squeeze(axis))
    return (max_return if largest else min_return)(values, indices)


@overload
def max(input: Tensor, dim: None = None, keepdim: bool = False) -> Tensor: ...


@overload
def max(input: Tensor, dim: Tensor) -> Tensor: ...


@overload
def max(input: Tensor, dim: int, keepdim: bool = False) -> max_return: ...


def max(input: Tensor, dim: Tensor | int | None = None,
        keepdim: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Max of all elements (0-d), or ``(values, indices)`` along ``dim``; ``max(a, b)`` is
    ``maximum``."""
    if is_tensor(dim):
        return maximum(input, dim)
    return _max_min(input, dim, keepdim, True)


@overload
def min(input: Tensor, dim: None = None, keepdim: bool = False) -> Tensor: ...


@overload
def min(input: Tensor, dim: Tensor) -> Tensor: ...


@overload
def min(input: Tensor, dim: int, keepdim: bool = False) -> min_return: ...


def min(input: Tensor, dim: Tensor | int | None = None,
        keepdim: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Min of all elements (0-d), or ``(values, indices)`` along ``dim``; ``min(a, b)`` is
    ``minimum``."""
    if is_tensor(dim):
        return minimum(input, dim)
    return _max_min(input, dim, keepdim, False)


def amax(input: Tensor, dim: Dims = (), keepdim: bool = False) -> Tensor:
    """Max over ``dim`` (all dims by default); ties share the gradient evenly."""
    axes = reduce_axes(dim, input.ndim)
    _check_nonempty("amax", input.array, axes, dim in ((), None))
    return Extreme.apply(input, axes=axes, keepdim=keepdim, largest=True)


def amin(input: Tensor, dim: Dims = (), keepdim: bool = False) -> Tensor:
    """Min over ``dim`` (all dims by default); ties share the gradient evenly."""
    axes = reduce_axes(dim, input.ndim)
    _check_nonempty("amin", input.array, axes, dim in ((), None))
    return Extreme.apply(input, axes=axes, keepdim=keepdim, largest=False)


def _arg(name: str, fn: Callable[..., np.ndarray], input: Tensor, dim: int | None,
         keepdim: bool) -> Tensor:
    a = input.array
    if dim is None:
        _check_nonempty(name, a, (), True)
        flat = np.asarray(fn(a), dtype=np.int64)
        return wrap(flat.reshape((1,) * a.ndim) if keepdim else flat)
    axis = normalize_dim(dim, a.ndim)
    if a.ndim == 0:
        return wrap(np.zeros((), np.int64))
    _check_nonempty(name, a, (axis,), False)
    return wrap(np.asarray(fn(a, axis=axis, keepdims=keepdim), dtype=np.int64))


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index (int64) of the max, over the flattened tensor when ``dim`` is None."""
    return _arg("argmax", np.argmax, input, dim, keepdim)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index (int64) of the min, over the flattened tensor when ``dim`` is None."""
    return _arg("argmin", np.argmin, input, dim, keepdim)


# ---------------------------------------------------------------------------- wrappers
def _sum_dtype(a: np.ndarray, dtype: DTypeLike) -> np.dtype:
    if dtype is not None:
        return dtypes.as_dtype(dtype)
    return dtypes.int64 if a.dtype.kind in "biu" else a.dtype


def sum(input: Tensor, dim: Dims = None, keepdim: bool = False, *,
        dtype: DTypeLike = None) -> Tensor:
    """Sum over ``dim`` (all dims when None); int and bool inputs sum to int64."""
    a = input.array
    return Sum.apply(input, axes=reduce_axes(dim, a.ndim), keepdim=keepdim,
                     dtype=_sum_dtype(a, dtype))


def mean(input: Tensor, dim: Dims = None, keepdim: bool = False, *,
         dtype: DTypeLike = None) -> Tensor:
    """Mean over ``dim``; needs a floating-point input (or ``dtype``), as in PyTorch."""
    if dtype is not None:
        input = input.to(dtype)
    if input.array.dtype.kind != "f":
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {dtypes.dtype_name(input.array.dtype)}"
        )
    return Mean.apply(input, axes=reduce_axes(dim, input.ndim), keepdim=keepdim)


def _correction(dim: Dims, unbiased: bool | None,
                correction: float | None) -> tuple[Dims, float]:
    if isinstance(dim, bool):            # legacy var(input, unbiased)
        dim, unbiased = None, dim
    if correction is not None and unbiased is not None:
        raise RuntimeError("var/std: cannot specify both unbiased and correction")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return dim, correction


def _var(name: str, input: Tensor, dim: Dims, unbiased: bool | None, keepdim: bool,
         correction: float | None, sqrt: bool) -> Tensor:
    if input.array.dtype.kind != "f":
        raise RuntimeError(f"{name}(): input dtype should be floating point, got "
                           f"{dtypes.dtype_name(input.array.dtype)}")
    dim, c = _correction(dim, unbiased, correction)
    return Var.apply(input, axes=reduce_axes(dim, input.ndim), keepdim=keepdim, correction=c,
                     sqrt=sqrt)


def var(input: Tensor, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False,
        *, correction: float | None = None) -> Tensor:
    """Variance over ``dim`` with Bessel's correction by default (``correction=1``)."""
    return _var("var", input, dim, unbiased, keepdim, correction, False)


def std(input: Tensor, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False,
        *, correction: float | None = None) -> Tensor:
    """Standard deviation over ``dim`` (``correction=1`` by default)."""
    return _var("std", input, dim, unbiased, keepdim, correction, True)


def all(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """True where every element along ``dim`` is non-zero (bool)."""
    a = input.array
    return wrap(np.asarray(a.all(axis=reduce_axes(dim, a.ndim), keepdims=keepdim)))


def any(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:
    """True where some element along ``dim`` is non-zero (bool)."""
    a = input.array
    return wrap(np.asarray(a.any(axis=reduce_axes(dim, a.ndim), keepdims=keepdim)))


# ---------------------------------------------------------------------------- prod / norm
class Prod(Function):
    """Product along one axis. Backward uses exclusive cumulative products from both sides,
    so zeros in the input are handled exactly (no division by x)."""

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, axis: int | None, keepdim: bool,
                dtype: np.dtype) -> np.ndarray:
        ctx.save_for_backward(a)
        ctx.axis, ctx.keepdim = axis, keepdim
        return np.asarray(a.prod(axis=axis, keepdims=keepdim, dtype=dtype))

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (a,) = ctx.saved_tensors
        axis, keepdim = ctx.axis, ctx.keepdim
        x = a.reshape(-1) if axis is None else a
        ax = 0 if axis is None else axis
        if x.shape[ax] == 0:
            return np.zeros_like(a)
        left = _exclusive_cumprod(x, ax)                              # prod of x[:i]
        right = np.flip(_exclusive_cumprod(np.flip(x, ax), ax), ax)   # prod of x[i+1:]
        if axis is None:
            return (left * right).reshape(a.shape) * grad
        return left * right * (grad if keepdim else np.expand_dims(grad, axis))


def _exclusive_cumprod(x: np.ndarray, ax: int) -> np.ndarray:
    """``out[i] = prod(x[:i])`` along ``ax`` (1 at i = 0)."""
    head = (slice(None),) * ax
    out = np.ones_like(x)
    np.cumprod(x[head + (slice(0, -1),)], axis=ax, out=out[head + (slice(1, None),)])
    return out


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *,
         dtype: DTypeLike = None) -> Tensor:
    """Product of all elements, or along one ``dim``; int and bool inputs give int64."""
    a = input.array
    axis = None if dim is None else normalize_dim(dim, a.ndim)
    if a.ndim == 0:
        axis = None
    return Prod.apply(input, axis=axis, keepdim=keepdim, dtype=_sum_dtype(a, dtype))


def _vector_norm(a: np.ndarray, p: float, axes: tuple[int, ...]) -> np.ndarray:
    """The p-norm over ``axes``, keeping them as size-1 dims."""
    if p == 2:
        return np.sqrt((a * a).sum(axis=axes, keepdims=True))
    if p == 0:
        return (a != 0).sum(axis=axes, keepdims=True)
    absa = np.abs(a)
    if p == 1:
        return absa.sum(axis=axes, keepdims=True)
    if p == np.inf:
        return absa.max(axis=axes, keepdims=True, initial=0)
    if p == -np.inf:
        return absa.min(axis=axes, keepdims=True, initial=np.inf)
    return (absa ** p).sum(axis=axes, keepdims=True) ** (1 / p)


class Norm(Function):
    """Vector p-norm over ``axes``: ``(sum |x|^p)^(1/p)``, with 2, 1, inf, -inf and 0 special."""

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, p: float, axes: tuple[int, ...],
                keepdim: bool) -> np.ndarray:
        # a: (...) -> reduced; `out` keeps the reduced axes for the backward broadcast
        with np.errstate(divide="ignore", over="ignore"):
            out = _vector_norm(a, p, axes).astype(a.dtype, copy=False)
        ctx.save_for_backward(a, out)
        ctx.p, ctx.axes, ctx.keepdim = p, axes, keepdim
        return out if keepdim else out.squeeze(axes)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        a, out = ctx.saved_tensors
        p, axes, keepdim = ctx.p, ctx.axes, ctx.keepdim
        g = _expand(grad, axes, keepdim)
        zero = grad.dtype.type(0)
        if p == 0:
            return np.zeros_like(a)
        if p == 1:
            return g * np.sign(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            if p in (np.inf, -np.inf):
                hit = np.abs(a) == out
                count = hit.sum(axis=axes, keepdims=True).astype(grad.dtype)
                return np.sign(a) * hit * (g / count)
            if p == 2:
                scale = np.where(out == 0, zero, g / out)
                return a * scale
            scale = np.where(out == 0, zero, g / out ** (p - 1))
            return np.sign(a) * np.abs(a) ** (p - 1) * scale


def norm(input: Tensor, p: float | str | None = "fro", dim: Dims = None, keepdim: bool = False,
         dtype: DTypeLike = None) -> Tensor:
    """Vector p-norm over ``dim`` (all elements when None); ``'fro'`` is the 2-norm."""
    if dtype is not None:
        input = input.to(dtype)
    if input.array.dtype.kind != "f":
        raise RuntimeError("linalg.vector_norm: Expected a floating point tensor as input. "
                           f"Got {dtypes.dtype_name(input.array.dtype)}")
    if p == "fro" or p is None:
        p = 2
    elif isinstance(p, str):
        raise RuntimeError(f"norm: p={p!r} is not supported; use a number, inf or 'fro'")
    return Norm.apply(input, p=builtins.float(p), axes=reduce_axes(dim, input.ndim),
                      keepdim=keepdim)
