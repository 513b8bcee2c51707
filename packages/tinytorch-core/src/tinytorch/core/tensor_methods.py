"""``TensorMethods``: the operators and methods of ``Tensor`` (``a + b``, ``x.sum()``, ``x[i]``).

``Tensor`` (``tensor.py``) inherits this class, which holds its op surface: arithmetic
operators, elementwise maths, reductions, shape ops, comparisons and logic, indexing, then
contractions and scans, ordering, selection and scatter, rounding and non-finite values. Every
method is a one-line delegation to an op module in ``ops/``, so ``x.exp()`` and
``torch.exp(x)`` run the same code; the forward and backward of each op live side by side in
that module, as a ``Function``. This file only gives them ``torch.Tensor``'s names and argument
order.

Systems view: a method costs one Python call on top of its op, which runs one ``Function``
(one forward, plus one graph node when grad is recorded; comparisons record none). Nothing here
allocates or copies; the op decides that. The class has no state: ``__slots__ = ()`` keeps
``Tensor`` free of a per-instance ``__dict__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from tinytorch.core import ops

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import Dims, DTypeLike, Number, SizeArg, TensorLike


class TensorMethods:
    """The op methods of ``Tensor``; each one calls the op of the same name in ``ops/``."""

    __slots__ = ()
    array: np.ndarray  # the slot itself is declared by Tensor

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.Add.apply(self, other)

    def __radd__(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.Add.apply(other, self)

    def __sub__(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.Sub.apply(self, other)

    def __rsub__(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.Sub.apply(other, self)

    def __mul__(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.Mul.apply(self, other)

    def __rmul__(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.Mul.apply(other, self)

    def __truediv__(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.div(self, other)

    def __rtruediv__(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.div(other, self)

    def __pow__(self, exponent: TensorLike) -> Tensor:
        return ops.arithmetic.pow(self, exponent)

    def __rpow__(self, base: TensorLike) -> Tensor:
        return ops.arithmetic.pow(base, self)

    def __neg__(self) -> Tensor:
        return ops.arithmetic.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return ops.elementwise.abs(self)

    def __matmul__(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.matmul(self, other)

    def __rmatmul__(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.matmul(other, self)

    def __floordiv__(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.floor_divide(self, other)

    def __mod__(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.remainder(self, other)

    def add(self, other: TensorLike, alpha: Number = 1) -> Tensor:
        return ops.arithmetic.add(self, other, alpha=alpha)

    def sub(self, other: TensorLike, alpha: Number = 1) -> Tensor:
        return ops.arithmetic.sub(self, other, alpha=alpha)

    def mul(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.Mul.apply(self, other)

    def div(self, other: TensorLike, rounding_mode: str | None = None) -> Tensor:
        return ops.arithmetic.div(self, other, rounding_mode=rounding_mode)

    def pow(self, exponent: TensorLike) -> Tensor:
        return ops.arithmetic.pow(self, exponent)

    def neg(self) -> Tensor:
        return ops.arithmetic.Neg.apply(self)

    def matmul(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.matmul(self, other)

    def mm(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.matmul(self, other)

    def bmm(self, other: TensorLike) -> Tensor:
        return ops.arithmetic.matmul(self, other)

    # ------------------------------------------------------------------ elementwise
    def abs(self) -> Tensor:
        return ops.elementwise.abs(self)

    def exp(self) -> Tensor:
        return ops.elementwise.exp(self)

    def log(self) -> Tensor:
        return ops.elementwise.log(self)

    def sqrt(self) -> Tensor:
        return ops.elementwise.sqrt(self)

    def rsqrt(self) -> Tensor:
        return ops.elementwise.rsqrt(self)

    def sin(self) -> Tensor:
        return ops.elementwise.sin(self)

    def cos(self) -> Tensor:
        return ops.elementwise.cos(self)

    def tanh(self) -> Tensor:
        return ops.elementwise.tanh(self)

    def sigmoid(self) -> Tensor:
        return ops.elementwise.sigmoid(self)

    def relu(self) -> Tensor:
        return ops.elementwise.relu(self)

    def clamp(self, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:
        return ops.elementwise.clamp(self, min, max)

    clip = clamp

    def maximum(self, other: TensorLike) -> Tensor:
        return ops.elementwise.maximum(self, other)

    def minimum(self, other: TensorLike) -> Tensor:
        return ops.elementwise.minimum(self, other)

    def masked_fill(self, mask: Tensor, value: TensorLike) -> Tensor:
        return ops.elementwise.masked_fill(self, mask, value)

    def where(self, condition: Tensor, other: TensorLike) -> Tensor:
        return ops.elementwise.where(condition, self, other)

    def sign(self) -> Tensor:
        return ops.elementwise.sign(self)

    # ------------------------------------------------------------------ reductions
    def sum(self, dim: Dims = None, keepdim: bool = False, *, dtype: DTypeLike = None) -> Tensor:
        return ops.reduce.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim: Dims = None, keepdim: bool = False, *, dtype: DTypeLike = None) -> Tensor:
        return ops.reduce.mean(self, dim, keepdim, dtype=dtype)

    def var(self, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Tensor:
        return ops.reduce.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Tensor:
        return ops.reduce.std(self, dim, unbiased, keepdim, correction=correction)

    @overload
    def max(self, dim: None = None, keepdim: bool = False) -> Tensor: ...

    @overload
    def max(self, dim: Tensor) -> Tensor: ...

    @overload
    def max(self, dim: int, keepdim: bool = False) -> ops.reduce.max_return: ...

    def max(self, dim: Tensor | int | None = None,
            keepdim: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        return ops.reduce.max(self, dim, keepdim)

    @overload
    def min(self, dim: None = None, keepdim: bool = False) -> Tensor: ...

    @overload
    def min(self, dim: Tensor) -> Tensor: ...

    @overload
    def min(self, dim: int, keepdim: bool = False) -> ops.reduce.min_return: ...

    def min(self, dim: Tensor | int | None = None,
            keepdim: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        return ops.reduce.min(self, dim, keepdim)

    def amax(self, dim: Dims = (), keepdim: bool = False) -> Tensor:
        return ops.reduce.amax(self, dim, keepdim)

    def amin(self, dim: Dims = (), keepdim: bool = False) -> Tensor:
        return ops.reduce.amin(self, dim, keepdim)

    def logsumexp(self, dim: Dims, keepdim: bool = False) -> Tensor:
        return ops.reduce.logsumexp(self, dim, keepdim)

    def softmax(self, dim: int, dtype: DTypeLike = None) -> Tensor:
        return ops.reduce.softmax(self, dim, dtype=dtype)

    def log_softmax(self, dim: int, dtype: DTypeLike = None) -> Tensor:
        return ops.reduce.log_softmax(self, dim, dtype=dtype)

    def norm(self, p: float | str | None = "fro", dim: Dims = None,
             keepdim: bool = False) -> Tensor:
        return ops.reduce.norm(self, p, dim, keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return ops.reduce.argmax(self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return ops.reduce.argmin(self, dim, keepdim)

    def all(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        return ops.reduce.all(self, dim, keepdim)

    def any(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        return ops.reduce.any(self, dim, keepdim)

    def prod(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return ops.reduce.prod(self, dim, keepdim)

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape: SizeArg) -> Tensor:
        return ops.shape.reshape(self, *shape)

    def view(self, *shape: SizeArg) -> Tensor:
        return ops.shape.view(self, *shape)

    def view_as(self, other: Tensor) -> Tensor:
        return ops.shape.view(self, other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return ops.shape.reshape(self, other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return ops.shape.flatten(self, start_dim, end_dim)

    def squeeze(self, dim: Dims = None) -> Tensor:
        return ops.shape.squeeze(self, dim)

    def unsqueeze(self, dim: int) -> Tensor:
        return ops.shape.unsqueeze(self, dim)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return ops.shape.transpose(self, dim0, dim1)

    def t(self) -> Tensor:
        return ops.shape.t(self)

    def permute(self, *dims: SizeArg) -> Tensor:
        return ops.shape.permute(self, *dims)

    @property
    def T(self) -> Tensor:
        return ops.shape.permute(self, tuple(range(self.array.ndim - 1, -1, -1)))

    @property
    def mT(self) -> Tensor:
        return ops.shape.transpose(self, -2, -1)

    def expand(self, *sizes: SizeArg) -> Tensor:
        return ops.shape.expand(self, *sizes)

    def expand_as(self, other: Tensor) -> Tensor:
        return ops.shape.expand(self, other.shape)

    def repeat(self, *sizes: SizeArg) -> Tensor:
        return ops.shape.repeat(self, *sizes)

    def split(self, split_size_or_sections: int | list[int] | tuple[int, ...],
              dim: int = 0) -> tuple[Tensor, ...]:
        return ops.shape.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return ops.shape.chunk(self, chunks, dim)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        return ops.shape.unbind(self, dim)

    def tril(self, diagonal: int = 0) -> Tensor:
        return ops.shape.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return ops.shape.triu(self, diagonal)

    def gather(self, dim: int, index: Tensor) -> Tensor:
        return ops.shape.gather(self, dim, index)

    # ------------------------------------------------------------------ comparison
    def __eq__(self, other: TensorLike) -> Tensor:  # type: ignore[override]
        return ops.compare.eq(self, other)

    def __ne__(self, other: TensorLike) -> Tensor:  # type: ignore[override]
        return ops.compare.ne(self, other)

    def __lt__(self, other: TensorLike) -> Tensor:
        return ops.compare.lt(self, other)

    def __le__(self, other: TensorLike) -> Tensor:
        return ops.compare.le(self, other)

    def __gt__(self, other: TensorLike) -> Tensor:
        return ops.compare.gt(self, other)

    def __ge__(self, other: TensorLike) -> Tensor:
        return ops.compare.ge(self, other)

    __hash__ = object.__hash__  # defining __eq__ would otherwise make tensors unhashable

    def eq(self, other: TensorLike) -> Tensor:
        return ops.compare.eq(self, other)

    def ne(self, other: TensorLike) -> Tensor:
        return ops.compare.ne(self, other)

    def lt(self, other: TensorLike) -> Tensor:
        return ops.compare.lt(self, other)

    def le(self, other: TensorLike) -> Tensor:
        return ops.compare.le(self, other)

    def gt(self, other: TensorLike) -> Tensor:
        return ops.compare.gt(self, other)

    def ge(self, other: TensorLike) -> Tensor:
        return ops.compare.ge(self, other)

    def isclose(self, other: TensorLike, rtol: float = 1e-05, atol: float = 1e-08,
                equal_nan: bool = False) -> Tensor:
        return ops.compare.isclose(self, other, rtol, atol, equal_nan)

    def allclose(self, other: TensorLike, rtol: float = 1e-05, atol: float = 1e-08,
                 equal_nan: bool = False) -> bool:
        return ops.compare.allclose(self, other, rtol, atol, equal_nan)

    def equal(self, other: Tensor) -> bool:
        return ops.compare.equal(self, other)

    def logical_not(self) -> Tensor:
        return ops.compare.logical_not(self)

    def logical_and(self, other: TensorLike) -> Tensor:
        return ops.compare.logical_and(self, other)

    def logical_or(self, other: TensorLike) -> Tensor:
        return ops.compare.logical_or(self, other)

    def logical_xor(self, other: TensorLike) -> Tensor:
        return ops.compare.logical_xor(self, other)

    def __invert__(self) -> Tensor:
        return ops.compare.bitwise_not(self)

    def __and__(self, other: TensorLike) -> Tensor:
        return ops.compare.bitwise_and(self, other)

    def __or__(self, other: TensorLike) -> Tensor:
        return ops.compare.bitwise_or(self, other)

    def __xor__(self, other: TensorLike) -> Tensor:
        return ops.compare.bitwise_xor(self, other)

    def __rand__(self, other: TensorLike) -> Tensor:
        return ops.compare.bitwise_and(other, self)

    def __ror__(self, other: TensorLike) -> Tensor:
        return ops.compare.bitwise_or(other, self)

    def __rxor__(self, other: TensorLike) -> Tensor:
        return ops.compare.bitwise_xor(other, self)

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, index: Any) -> Tensor:
        return ops.indexing.getitem(self, index)

    # ------------------------------------------------------------------ contractions and scans
    def addmm(self, mat1: Tensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
        return ops.linalg.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def baddbmm(self, batch1: Tensor, batch2: Tensor, *, beta: float = 1,
                alpha: float = 1) -> Tensor:
        return ops.linalg.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def cumsum(self, dim: int, *, dtype: DTypeLike = None) -> Tensor:
        return ops.scan.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim: int, *, dtype: DTypeLike = None) -> Tensor:
        return ops.scan.cumprod(self, dim, dtype=dtype)

    # ------------------------------------------------------------------ ordering
    def flip(self, *dims: SizeArg) -> Tensor:
        return ops.reorder.flip(self, *dims)

    def roll(self, shifts: SizeArg, dims: Dims = None) -> Tensor:
        return ops.reorder.roll(self, shifts, dims)

    def sort(self, dim: int = -1, descending: bool = False, *,
             stable: bool = False) -> ops.sorting.sort_return:
        return ops.sorting.sort(self, dim, descending, stable=stable)

    def argsort(self, dim: int = -1, descending: bool = False, *,
                stable: bool = False) -> Tensor:
        return ops.sorting.argsort(self, dim, descending, stable=stable)

    def topk(self, k: int, dim: int = -1, largest: bool = True,
             sorted: bool = True) -> ops.sorting.topk_return:
        return ops.sorting.topk(self, k, dim, largest, sorted)

    # ------------------------------------------------------------------ selection and scatter
    def index_select(self, dim: int, index: Tensor) -> Tensor:
        return ops.select.index_select(self, dim, index)

    def masked_select(self, mask: Tensor) -> Tensor:
        return ops.select.masked_select(self, mask)

    def take_along_dim(self, indices: Tensor, dim: int | None = None) -> Tensor:
        return ops.select.take_along_dim(self, indices, dim)

    def repeat_interleave(self, repeats: Tensor | int, dim: int | None = None, *,
                          output_size: int | None = None) -> Tensor:
        return ops.select.repeat_interleave(self, repeats, dim, output_size=output_size)

    def narrow(self, dim: int, start: Tensor | int, length: int) -> Tensor:
        return ops.select.narrow(self, dim, start, length)

    @overload
    def nonzero(self, *, as_tuple: Literal[False] = False) -> Tensor: ...

    @overload
    def nonzero(self, *, as_tuple: Literal[True]) -> tuple[Tensor, ...]: ...

    def nonzero(self, *, as_tuple: bool = False) -> Tensor | tuple[Tensor, ...]:
        return ops.select.nonzero(self, as_tuple=as_tuple)

    def scatter(self, dim: int, index: Tensor, src: TensorLike | None = None, *,
                value: float | None = None, reduce: str | None = None) -> Tensor:
        return ops.scatter.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_(self, dim: int, index: Tensor, src: TensorLike | None = None, *,
                 value: float | None = None, reduce: str | None = None) -> Tensor:
        return ops.scatter.scatter_(self, dim, index, src, value=value, reduce=reduce)

    def scatter_add(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        return ops.scatter.scatter_add(self, dim, index, src)

    def scatter_add_(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        return ops.scatter.scatter_add_(self, dim, index, src)

    # ------------------------------------------------------------------ rounding and accuracy
    def floor(self) -> Tensor:
        return ops.rounding.floor(self)

    def ceil(self) -> Tensor:
        return ops.rounding.ceil(self)

    def round(self, *, decimals: int = 0) -> Tensor:
        return ops.rounding.round(self, decimals=decimals)

    def trunc(self) -> Tensor:
        return ops.rounding.trunc(self)

    def log1p(self) -> Tensor:
        return ops.transcendental.log1p(self)

    def expm1(self) -> Tensor:
        return ops.transcendental.expm1(self)

    def atan2(self, other: Tensor) -> Tensor:
        return ops.transcendental.atan2(self, other)

    def isnan(self) -> Tensor:
        return ops.nonfinite.isnan(self)

    def isinf(self) -> Tensor:
        return ops.nonfinite.isinf(self)

    def isfinite(self) -> Tensor:
        return ops.nonfinite.isfinite(self)

    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None,
                   neginf: float | None = None) -> Tensor:
        return ops.nonfinite.nan_to_num(self, nan, posinf, neginf)
