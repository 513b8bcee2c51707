"""Selecting elements by index or mask: ``index_select``, ``masked_select``,
``take_along_dim``, ``repeat_interleave``, ``narrow`` and ``nonzero``.

Systems view: ``narrow`` is a slice, so a view (O(1), zero bytes), whose backward writes the
gradient into a zero array. The others copy the selected elements (one pass over the output,
``numel(out) * itemsize`` bytes). Their backward sends each output gradient back to the element
it came from; where one element may be picked several times (``index_select``,
``take_along_dim``, ``repeat_interleave``), the gradients must be *added*, which is
``np.add.at`` (unbuffered, slower than assignment, but exact with repeats). A mask or a
permutation cannot repeat an element, so ``masked_select``, and ``take_along_dim`` with
``unique=True`` (used by ``sort`` and ``topk``), keep the plain assignment.

``repeat_interleave`` is ``index_select`` with the index ``[0, 0, 1, 1, 1, ...]``; ``nonzero``
returns indices only, so it records nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, overload

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.function import Function, is_tensor, unwrap, wrap
from tinytorch.core.ops.dims import normalize_dim
from tinytorch.core.ops.indexing import getitem
from tinytorch.core.ops.shape import reshape

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tinytorch.core.tensor import Tensor


def _int_index(name: str, index: Tensor | np.ndarray | Sequence[int]) -> np.ndarray:
    idx = np.asarray(unwrap(index))
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"{name}(): Expected dtype int32 or int64 for index, got {idx.dtype}")
    return idx.astype(np.intp, copy=False)


# ---------------------------------------------------------------------------- index_select
class IndexSelect(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, index: np.ndarray, axis: int) -> np.ndarray:
        # a: (..., n, ...), index: (k,) -> (..., k, ...)
        ctx.save_for_backward(index)
        ctx.shape, ctx.axis = a.shape, axis
        return np.take(a, index, axis=axis)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (index,) = ctx.saved_tensors
        g = np.zeros(ctx.shape, grad.dtype)
        np.add.at(g, (slice(None),) * ctx.axis + (index,), grad)    # an index may repeat
        return g


def index_select(input: Tensor, dim: int, index: Tensor | np.ndarray) -> Tensor:
    """The slices of ``input`` at positions ``index`` (1-D, int) along ``dim``, in that order."""
    idx = _int_index("index_select", index)
    if idx.ndim > 1:
        raise IndexError(f"index_select(): Index is supposed to be a vector, got shape "
                         f"{tuple(idx.shape)}")
    idx = idx.reshape(-1)
    if input.ndim == 0:
        if idx.size != 1:
            raise RuntimeError(f"index_select(): Index to scalar can have only 1 value, got "
                               f"{idx.size} value(s)")
        normalize_dim(dim, 0)
        return reshape(index_select(reshape(input, 1), 0, idx), ())
    axis = normalize_dim(dim, input.ndim)
    n = input.shape[axis]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"index out of range in self: index_select() got index "
                         f"{int(idx.min() if idx.min() < 0 else idx.max())} for dimension {axis} "
                         f"of size {n} (input shape {tuple(input.shape)})")
    return IndexSelect.apply(input, index=idx, axis=axis)


# ---------------------------------------------------------------------------- masked_select
class MaskedSelect(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, mask: np.ndarray) -> np.ndarray:
        # a, mask: broadcastable -> (number of True in the broadcast mask,)
        shape = np.broadcast_shapes(a.shape, mask.shape)
        mask = np.broadcast_to(mask, shape)
        ctx.save_for_backward(mask)
        return np.broadcast_to(a, shape)[mask]

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (mask,) = ctx.saved_tensors
        g = np.zeros(mask.shape, grad.dtype)       # the broadcast shape: the engine sums it back
        g[mask] = grad
        return g


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The elements of ``input`` where the bool ``mask`` (broadcast with it) is True, as 1-D."""
    m = np.asarray(unwrap(mask))
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_select: expected BoolTensor for mask, got "
                           f"{dtypes.dtype_name(m.dtype)}")
    try:
        np.broadcast_shapes(input.shape, m.shape)
    except ValueError:
        raise RuntimeError(f"masked_select: the mask of shape {tuple(m.shape)} does not "
                           f"broadcast with the input of shape {tuple(input.shape)}") from None
    return MaskedSelect.apply(input, mask=m)


# ---------------------------------------------------------------------------- take_along_dim
class TakeAlongDim(Function):
    """``out[..., j, ...] = a[..., index[..., j, ...], ...]`` along one axis."""

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, index: np.ndarray, axis: int,
                unique: bool = False) -> np.ndarray:
        # a: broadcastable to index's shape except along axis -> index's (broadcast) shape
        shape = list(np.broadcast_shapes(a.shape[:axis] + (1,) + a.shape[axis + 1:],
                                         index.shape))
        src_shape = tuple(shape[:axis] + [a.shape[axis]] + shape[axis + 1:])
        index = np.broadcast_to(index, tuple(shape))
        ctx.save_for_backward(index)
        ctx.shape, ctx.axis, ctx.unique = src_shape, axis, unique
        return np.take_along_axis(np.broadcast_to(a, src_shape), index, axis)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (index,) = ctx.saved_tensors
        g = np.zeros(ctx.shape, grad.dtype)        # the broadcast shape: the engine sums it back
        if ctx.unique:                             # a permutation or a top-k: no repeats
            np.put_along_axis(g, index, grad, ctx.axis)
        else:
            grid = list(np.ogrid[tuple(slice(n) for n in index.shape)])
            grid[ctx.axis] = index
            np.add.at(g, tuple(grid), grad)
        return g


def take_along_dim(input: Tensor, indices: Tensor | np.ndarray,
                   dim: int | None = None) -> Tensor:
    """Values of ``input`` at ``indices`` along ``dim`` (the other dims broadcast), as
    returned by ``argsort``/``argmax(keepdim=True)``; with ``dim=None`` both are flattened."""
    idx = _int_index("take_along_dim", indices)
    if dim is None:
        return take_along_dim(reshape(input, -1), idx.reshape(-1), 0)
    if idx.ndim != input.ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same "
                           f"number of dimensions, but got {input.ndim} dimensions for input, "
                           f"and {idx.ndim} dimensions for indices")
    axis = normalize_dim(dim, input.ndim)
    n = input.shape[axis] if input.ndim else 1
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = int(idx.min() if idx.min() < -n else idx.max())
        raise IndexError(f"take_along_dim(): index {bad} is out of bounds for dimension {axis} "
                         f"with size {n}")
    try:
        np.broadcast_shapes(input.shape[:axis] + input.shape[axis + 1:],
                            idx.shape[:axis] + idx.shape[axis + 1:])
    except ValueError:
        raise RuntimeError(f"take_along_dim(): input of shape {tuple(input.shape)} and indices "
                           f"of shape {tuple(idx.shape)} do not broadcast outside dimension "
                           f"{axis}") from None
    if input.ndim == 0:
        return reshape(take_along_dim(reshape(input, 1), idx.reshape(-1), 0), ())
    return TakeAlongDim.apply(input, index=np.where(idx < 0, idx + n, idx), axis=axis)


# ---------------------------------------------------------------------------- repeat_interleave
def repeat_interleave(input: Tensor, repeats: Tensor | int | None = None, dim: int | None = None,
                      *, output_size: int | None = None) -> Tensor:
    """Repeat each element (or each slice along ``dim``) ``repeats`` times in place:
    ``[1, 2] -> [1, 1, 2, 2]``. ``repeats`` is an int or one count per slice; with
    ``dim=None`` the input is flattened. ``repeat_interleave(counts)`` alone gives
    ``[0]*counts[0] + [1]*counts[1] + ...``."""
    if repeats is None:                     # the index form: the input holds the counts
        counts = _int_index("repeat_interleave", input)
        if counts.ndim > 1 or (counts.size and counts.min() < 0):
            raise RuntimeError("repeat_interleave: repeats must be a 1-D tensor of "
                               f"non-negative counts, got shape {tuple(counts.shape)}")
        return wrap(np.repeat(np.arange(counts.size), counts.reshape(-1)).astype(np.int64))
    if dim is None:
        input, dim = reshape(input, -1), 0
    axis = normalize_dim(dim, input.ndim)
    n = input.shape[axis] if input.ndim else 1
    if is_tensor(repeats) or isinstance(repeats, (list, tuple, np.ndarray)):
        reps = _int_index("repeat_interleave", repeats).reshape(-1)
        if reps.size == 1:
            reps = np.full(n, reps[0])
        elif reps.size != n:
            raise RuntimeError(f"repeats must have the same size as input along dim, but got "
                               f"repeats.size(0) = {reps.size} and input.size({axis}) = {n}")
    else:
        reps = np.full(n, int(repeats))
    if reps.size and reps.min() < 0:
        raise RuntimeError(f"repeat_interleave: repeats can not be negative, got "
                           f"{int(reps.min())}")
    index = np.repeat(np.arange(n), reps)
    if output_size is not None and output_size != index.size:
        raise RuntimeError(f"repeat_interleave: output_size={output_size} but the repeats add "
                           f"up to {index.size}")
    if input.ndim == 0:
        input = reshape(input, 1)
    return IndexSelect.apply(input, index=index, axis=axis)


# ---------------------------------------------------------------------------- narrow / nonzero
def narrow(input: Tensor, dim: int, start: Tensor | int, length: int) -> Tensor:
    """The view ``input[..., start:start + length, ...]`` along ``dim`` (``start`` may be
    negative or a 0-d tensor)."""
    if input.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    axis = normalize_dim(dim, input.ndim)
    n = input.shape[axis]
    start, length = int(unwrap(start)), int(length)
    if not -n <= start <= n:
        raise IndexError(f"start out of range (expected to be in range of [{-n}, {n}], but got "
                         f"{start})")
    if length < 0:
        raise RuntimeError(f"narrow(): length must be non-negative, got {length}")
    if start < 0:
        start += n
    if start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return getitem(input, (slice(None),) * axis + (slice(start, start + length),))


@overload
def nonzero(input: Tensor, *, as_tuple: Literal[False] = False) -> Tensor: ...


@overload
def nonzero(input: Tensor, *, as_tuple: Literal[True]) -> tuple[Tensor, ...]: ...


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Tensor | tuple[Tensor, ...]:
    """Indices of the non-zero elements: an (n, ndim) int64 tensor in row-major order, or with
    ``as_tuple=True`` one 1-D tensor per dim (a 0-d input counts as 1-D)."""
    a = input.array
    if as_tuple:
        return tuple(wrap(i.astype(np.int64)) for i in np.nonzero(a.reshape(-1) if a.ndim == 0
                                                                 else a))
    return wrap(np.argwhere(a).astype(np.int64))
