"""Writing by index along one dim: ``scatter`` and ``scatter_add`` (and their in-place forms).

``scatter`` is the mirror of ``gather``: for ``dim=1``,
``out[i][index[i][j]] = src[i][j]`` (``src`` may be a Python number instead), everything else
a copy of ``input``. ``scatter_add`` adds instead of overwriting, so repeated indices sum (the
building block of a histogram, or of an embedding's backward). ``index`` has as many dims as
``input``; only its own extent of ``src`` is read.

Systems view: the forward copies ``input`` (``numel * itemsize`` bytes) and writes
``numel(index)`` elements: ``scatter`` by fancy assignment, ``scatter_add`` by ``np.add.at``
(unbuffered, so repeats add up; slower than assignment). The backward is a ``gather`` for
``src`` (``numel(index)`` reads) and, for ``input``, the gradient itself (``scatter_add``) or
with the overwritten positions zeroed (``scatter``).

As in PyTorch: when an index repeats in ``scatter``, which ``src`` value lands is unspecified
(NumPy keeps the last), yet every one of them receives the gradient of that position; and the
``reduce='add'|'multiply'`` forms have no gradient (their backward raises).

The in-place forms ``scatter_``/``scatter_add_`` go through ``_in_place``, the same path as the
other in-place updates: the leaf check, then the op recorded out of place and written back into
the tensor's memory with ``inplace.write_inplace`` (which bumps the version and updates views).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.function import Function, is_tensor, unwrap
from tinytorch.core.inplace import check_inplace, write_inplace
from tinytorch.core.ops.dims import normalize_dim

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import Grad, TensorLike

_REDUCERS = {"add": np.add, "multiply": np.multiply}


def _positions(index: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    """The full NumPy index that ``index`` names along ``axis`` (open grids elsewhere)."""
    grid = list(np.ogrid[tuple(slice(n) for n in index.shape)])
    grid[axis] = index
    return tuple(grid)


class Scatter(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, src: np.ndarray | float, *, index: np.ndarray,
                axis: int, reduce: str | None, accumulate: bool) -> np.ndarray:
        # a: (...), index: same ndim, each dim <= a's (but along axis); src: a number or an
        # array with each dim >= index's -> a's shape and dtype
        pos = _positions(index, axis)
        region = tuple(slice(n) for n in index.shape)
        values = src[region] if isinstance(src, np.ndarray) else src
        out = a.copy()
        if accumulate:
            np.add.at(out, pos, values)                     # repeated positions add up
        elif reduce is not None:
            _REDUCERS[reduce].at(out, pos, np.broadcast_to(values, index.shape).astype(a.dtype))
        else:
            out[pos] = values
        ctx.save_for_backward(index)
        ctx.axis, ctx.reduce, ctx.accumulate = axis, reduce, accumulate
        ctx.src_shape = src.shape if isinstance(src, np.ndarray) else None
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        if ctx.reduce is not None:
            raise RuntimeError(f"the derivative of scatter with reduce={ctx.reduce!r} is not "
                               "implemented (as in PyTorch); use scatter_add for a "
                               "differentiable sum")
        (index,) = ctx.saved_tensors
        pos = _positions(index, ctx.axis)
        need_a, need_src = ctx.needs_input_grad
        ga = gs = None
        if need_a:
            if ctx.accumulate:
                ga = grad                                   # every input value stays in the sum
            else:
                ga = np.array(grad, copy=True)
                ga[pos] = 0                                 # overwritten values get nothing
        if need_src:
            gs = np.zeros(ctx.src_shape, grad.dtype)
            gs[tuple(slice(n) for n in index.shape)] = grad[pos]    # a gather of the gradient
        return ga, gs


def _check(name: str, input: Tensor, dim: int, index: Tensor | np.ndarray,
           src: Any) -> tuple[np.ndarray, int]:
    idx = np.asarray(unwrap(index))
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"{name}(): Expected dtype int64 for index, got {idx.dtype}")
    shape = input.shape
    axis = normalize_dim(dim, len(shape))
    if idx.ndim != len(shape):
        raise RuntimeError(f"{name}(): Index tensor must have the same number of dimensions as "
                           f"self tensor (index {tuple(idx.shape)}, self {tuple(shape)})")
    src_shape = src.shape if is_tensor(src) else None
    if src_shape is not None:
        if src.array.dtype != input.array.dtype:
            raise RuntimeError(f"{name}(): Expected self.dtype to be equal to src.dtype, got "
                               f"{dtypes.dtype_name(input.array.dtype)} and "
                               f"{dtypes.dtype_name(src.array.dtype)}")
        if len(src_shape) != idx.ndim:
            raise RuntimeError(f"{name}(): Index tensor must have the same number of dimensions "
                               f"as src tensor (index {tuple(idx.shape)}, src {tuple(src_shape)})")
    for d, k in enumerate(idx.shape):
        if (d != axis and k > shape[d]) or (src_shape is not None and k > src_shape[d]):
            raise RuntimeError(f"{name}(): Expected index {list(idx.shape)} to be no larger than "
                               f"self {list(shape)} apart from dimension {axis} and to be no "
                               f"larger size than src {list(src_shape or ())}")
    n = shape[axis]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx.min() if idx.min() < 0 else idx.max())
        raise RuntimeError(f"{name}(): index {bad} is out of bounds for dimension {axis} with "
                           f"size {n}")
    return idx.astype(np.intp, copy=False), axis


def _apply(name: str, input: Tensor, dim: int, index: Tensor | np.ndarray,
           src: TensorLike | None, reduce: str | None, accumulate: bool) -> Tensor:
    if reduce is not None and reduce not in _REDUCERS:
        raise RuntimeError(f"{name}(): reduce argument must be either add or multiply, got "
                           f"{reduce!r}")
    if input.ndim == 0:                             # as a 1-element 1-D tensor
        normalize_dim(dim, 0)
        src = src.reshape(1) if is_tensor(src) else src
        index = np.asarray(unwrap(index)).reshape(-1)
        return _apply(name, input.reshape(1), 0, index, src, reduce, accumulate).reshape(())
    if is_tensor(src) and src.ndim == 0 and not accumulate:
        src = src.item()                            # a 0-d tensor is a value, as in PyTorch
    idx, axis = _check(name, input, dim, index, src)
    return Scatter.apply(input, src, index=idx, axis=axis, reduce=reduce,
                         accumulate=accumulate)


def scatter(input: Tensor, dim: int, index: Tensor, src: TensorLike | None = None, *,
            value: float | None = None, reduce: str | None = None) -> Tensor:
    """A copy of ``input`` with ``src[i][j]`` (or the number ``value``) written at
    ``index[i][j]`` along ``dim``; ``reduce='add'|'multiply'`` combines instead (no gradient)."""
    if (src is None) == (value is None):
        raise TypeError("scatter() expected exactly one of src (a Tensor or a number) or value")
    return _apply("scatter", input, dim, index, value if src is None else src, reduce, False)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``src[i][j]`` added at ``index[i][j]`` along ``dim``; repeated
    indices add up."""
    if not is_tensor(src):
        raise TypeError(f"scatter_add(): argument 'src' must be Tensor, not "
                        f"{type(src).__name__}")
    return _apply("scatter_add", input, dim, index, src, None, True)


def _in_place(input: Tensor, compute: Callable[[Tensor], Tensor]) -> Tensor:
    """Make ``input`` the result of ``compute`` on its current values, in its own memory: the
    one in-place path (leaf check, op recorded out of place, ``write_inplace``)."""
    check_inplace(input)
    return write_inplace(input, compute(input._alias()))


def scatter_(input: Tensor, dim: int, index: Tensor, src: TensorLike | None = None, *,
             value: float | None = None, reduce: str | None = None) -> Tensor:
    """In-place ``scatter``: returns ``input``."""
    return _in_place(input, lambda t: scatter(t, dim, index, src, value=value, reduce=reduce))


def scatter_add_(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """In-place ``scatter_add``: returns ``input``."""
    return _in_place(input, lambda t: scatter_add(t, dim, index, src))
