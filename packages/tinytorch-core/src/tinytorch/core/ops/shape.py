"""Shape ops: ``reshape``/``view``, ``flatten``, ``squeeze``, ``unsqueeze``, ``transpose``,
``permute``, ``expand``, ``repeat``, ``cat``, ``stack``, ``split``, ``chunk``, ``unbind``,
``tril``/``triu``, ``gather`` and ``pad``.

Systems view: ``reshape``, ``squeeze``, ``transpose``, ``permute``, ``expand``, ``split`` and
``unbind`` return NumPy *views* (O(1), zero bytes) whenever NumPy can express the result with
strides; their backward is the inverse view. ``expand`` is a zero-stride view whose backward
sum is done by the engine's ``unbroadcast``. ``cat``, ``stack``, ``repeat``, ``tril``,
``gather`` and ``pad`` copy (one pass, ``numel(out) * itemsize`` bytes). ``gather``
accumulates gradients with ``np.add.at`` since indices repeat; ``pad`` runs on
``core/padding.py``, the one implementation of the padding modes (convolution uses it too).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch.core import padding
from tinytorch.core.function import Function, is_tensor, to_tensor
from tinytorch.core.ops.dims import normalize_dim
from tinytorch.core.ops.elementwise import cast, result_type
from tinytorch.core.ops.indexing import Index

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import Dims, SizeArg


def _sizes(args: Sequence[Any]) -> tuple[int, ...]:  # ints, 0-d tensors, or one sequence
    """Accept ``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])``; tensors count as ints."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    return tuple(int(s) for s in args)


# ---------------------------------------------------------------------------- views
class View(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, shape: tuple[int, ...],
                strict: bool) -> np.ndarray:
        # a: (...) -> shape (same numel); a view whenever the strides allow one
        ctx.shape = a.shape
        try:
            return a.reshape(shape, copy=False if strict else None)
        except ValueError:                  # sizes were checked: only the strides can fail
            raise RuntimeError(
                "view size is not compatible with input tensor's size and stride (at least one "
                "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
            ) from None

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        shape = ctx.shape
        return grad.reshape(shape)


def _view(input: Tensor, shape: tuple[int, ...], strict: bool = False) -> Tensor:
    n = input.array.size
    known = math.prod(s for s in shape if s != -1)
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if any(s < -1 for s in shape) or (
        n != known if -1 not in shape else (known == 0 or n % known)
    ):
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {n}")
    return View.apply(input, shape=shape, strict=strict)


def reshape(input: Tensor, *shape: SizeArg) -> Tensor:
    """``input`` with a new shape of the same numel (one dim may be -1); a view if possible."""
    return _view(input, _sizes(shape))


def view(input: Tensor, *shape: SizeArg) -> Tensor:
    """Like ``reshape`` but always a view; raises if the strides do not allow one."""
    return _view(input, _sizes(shape), strict=True)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one: (2, 3, 4) with 1, 2 -> (2, 12)."""
    shape = input.shape
    if not shape:
        return _view(input, (1,))
    s, e = normalize_dim(start_dim, len(shape)), normalize_dim(end_dim, len(shape))
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    return _view(input, shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])


def squeeze(input: Tensor, dim: Dims = None) -> Tensor:
    """Drop size-1 dims (all of them, or those of ``dim`` that have size 1)."""
    shape = input.shape
    if dim is None:
        drop = {i for i, n in enumerate(shape) if n == 1}
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        drop = {d for d in (normalize_dim(d, len(shape)) for d in dims) if shape and shape[d] == 1}
    return _view(input, tuple(n for i, n in enumerate(shape) if i not in drop))


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dim at ``dim`` (in ``[-ndim-1, ndim]``)."""
    shape = input.shape
    d = normalize_dim(dim, len(shape) + 1)
    return _view(input, shape[:d] + (1,) + shape[d:])


class Permute(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, dims: tuple[int, ...]) -> np.ndarray:
        # a: (d0, d1, ...) -> (d_dims[0], d_dims[1], ...), a view
        ctx.dims = dims
        return a.transpose(dims)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        dims = ctx.dims
        return grad.transpose(np.argsort(dims))


def permute(input: Tensor, *dims: SizeArg) -> Tensor:
    """Reorder the dims: ``permute(x, (2, 0, 1))`` or ``x.permute(2, 0, 1)``."""
    order = _sizes(dims)
    n = input.ndim
    if len(order) != n:
        raise RuntimeError(f"permute: number of dims don't match: input.dim() = {n} is not "
                           f"equal to len(dims) = {len(order)}")
    order = tuple(normalize_dim(d, n) for d in order)
    if len(set(order)) != n:
        raise RuntimeError(f"permute: repeated dim in {order}")
    return Permute.apply(input, dims=order)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims (a view)."""
    n = input.ndim
    d0, d1 = normalize_dim(dim0, n), normalize_dim(dim1, n)    # a 0-d tensor allows 0 and -1
    if n == 0:
        return _view(input, ())
    order = list(range(n))
    order[d0], order[d1] = order[d1], order[d0]
    return Permute.apply(input, dims=tuple(order))


def t(input: Tensor) -> Tensor:
    """Transpose of a matrix; 0-d and 1-D tensors come back unchanged."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return transpose(input, 0, 1) if input.ndim == 2 else _view(input, input.shape)


class Expand(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
        # a: (...) -> shape, a read-only zero-stride view; the engine sums the gradient back
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        return grad


def expand(input: Tensor, *sizes: SizeArg) -> Tensor:
    """Broadcast size-1 dims to ``sizes`` (-1 keeps a dim) without copying."""
    want = _sizes(sizes)
    shape = input.shape
    lead = len(want) - len(shape)
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(want)}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({len(shape)})")
    out = list(want)
    for i, n in enumerate(shape):
        w = want[lead + i]
        if w == -1:
            out[lead + i] = n
        elif n != w and n != 1:
            raise RuntimeError(f"The expanded size of the tensor ({w}) must match the existing "
                               f"size ({n}) at non-singleton dimension {lead + i}.  Target "
                               f"sizes: {list(want)}.  Tensor sizes: {list(shape)}")
    if any(w < 0 for w in out):
        raise RuntimeError(f"expand: -1 is not allowed in a leading, non-existing dimension "
                           f"(sizes {list(want)})")
    return Expand.apply(input, shape=tuple(out))


class Repeat(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, reps: tuple[int, ...]) -> np.ndarray:
        # a: (s0, s1, ...) padded with leading 1s -> (r0*s0, r1*s1, ...)
        ctx.shape, ctx.reps = a.shape, reps
        return np.tile(a, reps)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        shape, reps = ctx.shape, ctx.reps
        full = (1,) * (len(reps) - len(shape)) + shape
        split = [n for pair in zip(reps, full) for n in pair]      # (r0, s0, r1, s1, ...)
        return grad.reshape(split).sum(axis=tuple(range(0, 2 * len(reps), 2))).reshape(shape)


def repeat(input: Tensor, *sizes: SizeArg) -> Tensor:
    """Tile ``input``: dim ``i`` repeated ``sizes[i]`` times (a copy)."""
    reps = _sizes(sizes)
    if len(reps) < input.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                           f"of dimensions of tensor ({len(reps)} < {input.ndim})")
    return Repeat.apply(input, reps=reps)


# ---------------------------------------------------------------------------- joining
class Cat(Function):
    @staticmethod
    def forward(ctx: Function, *arrays: np.ndarray, axis: int) -> np.ndarray:
        # arrays: (..., n_i, ...) -> (..., sum n_i, ...)
        ctx.bounds = list(itertools.accumulate(a.shape[axis] for a in arrays))[:-1]
        ctx.axis = axis
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray, ...]:
        bounds, axis = ctx.bounds, ctx.axis
        return tuple(np.split(grad, bounds, axis=axis))


def _promote_all(tensors: Sequence[Tensor]) -> list[Tensor]:
    ts = [to_tensor(t) for t in tensors]
    first = ts[0].array.dtype
    if all(x.array.dtype == first for x in ts):
        return ts
    d = result_type(*ts)
    return [x if x.dtype == d else cast(x, d) for x in ts]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing ``dim``; other dims must match."""
    tensors = list(tensors)
    if len(tensors) == 0:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    ts = _promote_all(tensors)
    ts = [x for x in ts if x.shape != (0,)] or ts[:1]      # legacy: 1-D empty tensors are skipped
    ref = ts[0].shape
    if not ref:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    axis = normalize_dim(dim, len(ref))
    for i, x in enumerate(ts):
        s = x.shape
        if len(s) != len(ref) or s[:axis] + s[axis + 1:] != ref[:axis] + ref[axis + 1:]:
            raise RuntimeError(f"Sizes of tensors must match except in dimension {axis}. "
                               f"Expected {tuple(ref)} but got {tuple(s)} for tensor number {i} "
                               "in the list.")
    return Cat.apply(*ts, axis=axis)


concat = concatenate = cat


class Stack(Function):
    @staticmethod
    def forward(ctx: Function, *arrays: np.ndarray, axis: int) -> np.ndarray:
        # k arrays of shape S -> S with a new dim of size k at `axis`
        ctx.k, ctx.axis = len(arrays), axis
        return np.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray, ...]:
        k, axis = ctx.k, ctx.axis
        head = (slice(None),) * axis
        return tuple(grad[head + (i,)] for i in range(k))


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new ``dim``."""
    tensors = list(tensors)
    if len(tensors) == 0:
        raise RuntimeError("stack expects a non-empty TensorList")
    ts = _promote_all(tensors)
    for i, x in enumerate(ts):
        if x.shape != ts[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{tuple(ts[0].shape)} at entry 0 and {tuple(x.shape)} at entry {i}")
    return Stack.apply(*ts, axis=normalize_dim(dim, ts[0].ndim + 1))


# ---------------------------------------------------------------------------- splitting
def _slices(input: Tensor, dim: int, bounds: Sequence[int]) -> tuple[Tensor, ...]:
    axis = normalize_dim(dim, input.ndim)
    head = (slice(None),) * axis
    return tuple(
        Index.apply(input, index=head + (slice(lo, hi),), accumulate=False)
        for lo, hi in zip(bounds[:-1], bounds[1:])
    )


def split(tensor: Tensor, split_size_or_sections: int | list[int] | tuple[int, ...],
          dim: int = 0) -> tuple[Tensor, ...]:
    """Views of consecutive pieces along ``dim``: of equal size (the last may be smaller), or of
    the listed sizes."""
    n = tensor.shape[normalize_dim(dim, tensor.ndim)]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                               f"(input tensor's size at dimension {dim}), but got "
                               f"split_sizes={sizes}")
        bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    else:
        size = int(split_size_or_sections)
        if size <= 0 and n:
            raise RuntimeError(f"split expects split_size be non-negative, but got {size}")
        bounds = list(range(0, n, size)) + [n] if n else [0, 0]
    return _slices(tensor, dim, bounds)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most ``chunks`` pieces of size ``ceil(n / chunks)`` along ``dim``."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = input.shape[normalize_dim(dim, input.ndim)]
    return split(input, max(-(-n // chunks), 1), dim)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, each without that dim (views)."""
    axis = normalize_dim(dim, input.ndim)
    head = (slice(None),) * axis
    return tuple(Index.apply(input, index=head + (i, Ellipsis), accumulate=False)
                 for i in range(input.shape[axis]))


# ---------------------------------------------------------------------------- masks and gather
class Tri(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, k: int, lower: bool) -> np.ndarray:
        # a: (..., M, N) -> same shape, entries above (below) diagonal k zeroed
        ctx.k, ctx.lower = k, lower
        return np.tril(a, k) if lower else np.triu(a, k)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        k, lower = ctx.k, ctx.lower
        return np.tril(grad, k) if lower else np.triu(grad, k)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """Lower triangle of the last two dims (entries with ``j - i <= diagonal``)."""
    if input.ndim < 2:
        raise RuntimeError(f"tril: input tensor must have at least 2 dimensions, got {input.ndim}")
    return Tri.apply(input, k=int(diagonal), lower=True)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """Upper triangle of the last two dims (entries with ``j - i >= diagonal``)."""
    if input.ndim < 2:
        raise RuntimeError(f"triu: input tensor must have at least 2 dimensions, got {input.ndim}")
    return Tri.apply(input, k=int(diagonal), lower=False)


class Gather(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, index: tuple[np.ndarray, ...]) -> np.ndarray:
        # a: (...), index: one broadcast int array per dim -> index's shape
        ctx.shape, ctx.index = a.shape, index
        return a[index]

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        shape, index = ctx.shape, ctx.index
        g = np.zeros(shape, grad.dtype)
        np.add.at(g, index, grad)
        return g


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """``out[i][j][k] = input[i][index[i][j][k]][k]`` (for dim=1); ``out`` has index's shape."""
    idx = index.array if is_tensor(index) else np.asarray(index)
    a = input.array
    axis = normalize_dim(dim, a.ndim)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"gather(): Expected dtype int64 for index, got {idx.dtype}")
    if idx.ndim != a.ndim or a.ndim == 0:
        raise RuntimeError(f"Index tensor must have the same number of dimensions as input "
                           f"tensor, at least 1 (index {tuple(idx.shape)}, input "
                           f"{tuple(a.shape)})")
    for d in range(a.ndim):
        if d != axis and idx.shape[d] > a.shape[d]:
            raise RuntimeError(f"Size does not match at dimension {d} expected index "
                               f"{tuple(idx.shape)} to be no larger than self {tuple(a.shape)} "
                               f"apart from dimension {axis}")
    if idx.size and (idx.min() < 0 or idx.max() >= a.shape[axis]):
        bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
        raise RuntimeError(f"index {bad} is out of bounds for dimension {axis} with size "
                           f"{a.shape[axis]}")
    grid = list(np.ogrid[tuple(slice(n) for n in idx.shape)])
    grid[axis] = idx
    return Gather.apply(input, index=tuple(grid))



# ---------------------------------------------------------------------------- padding
class Pad(Function):
    """Constant, reflect, replicate or circular padding; negative widths crop."""

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, widths: tuple[tuple[int, int], ...],
                mode: str, value: float) -> np.ndarray:
        # a: (..., n_i, ...) -> (..., n_i + before_i + after_i, ...)
        crop = tuple(slice(max(-b, 0), n - max(-e, 0)) for (b, e), n in zip(widths, a.shape))
        grow = tuple((max(b, 0), max(e, 0)) for b, e in widths)
        ctx.shape, ctx.crop, ctx.grow, ctx.mode = a.shape, crop, grow, mode
        cropped = a[crop]
        out = padding.pad(cropped, grow, mode, value)
        return cropped.copy() if out is cropped else out                 # never a view of a

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: padded (..., m_i, ...) -> (..., n_i, ...), zeros where forward cropped
        g = padding.pad_backward(grad, ctx.grow, ctx.mode)
        if g.shape == ctx.shape:
            return g
        full = np.zeros(ctx.shape, grad.dtype)
        full[ctx.crop] = g
        return full


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant",
        value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims; ``pad = (left, right, top, bottom, ...)`` starts at the
    last dim, as in ``torch.nn.functional.pad``. Modes: constant, reflect, replicate, circular."""
    pad = [int(p) for p in pad]
    n = input.ndim
    if len(pad) % 2 or len(pad) // 2 > n:
        raise RuntimeError(f"Padding length must be divisible by 2 and at most twice the number "
                           f"of dimensions of the input; got {len(pad)} for a {n}-D input")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: unsupported padding mode {mode!r}; expected one of "
                                  "'constant', 'reflect', 'replicate', 'circular'")
    if mode != "constant" and value:
        raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument")
    widths = [(0, 0)] * n
    for i in range(len(pad) // 2):
        widths[n - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    shape = input.shape
    for ax, (b, e) in enumerate(widths):
        size = shape[ax] + min(b, 0) + min(e, 0)
        if mode != "constant" and (b < 0 or e < 0):
            raise RuntimeError(f"pad: negative padding {(b, e)} needs mode='constant'")
        if mode == "reflect" and (b or e) and max(b, e) >= shape[ax]:
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding "
                               f"input dimension, but got: padding ({b}, {e}) at dimension {ax} "
                               f"of input {list(shape)}")
        if mode in ("replicate", "circular") and (b or e) and (shape[ax] == 0 or (
                mode == "circular" and max(b, e) > shape[ax])):
            raise RuntimeError(f"pad: padding ({b}, {e}) is too large for dimension {ax} of "
                               f"size {shape[ax]} in mode {mode!r}")
        if size + max(b, 0) + max(e, 0) < 0:
            raise RuntimeError(f"The input size {shape[ax]}, plus negative padding {b} and {e} "
                               f"resulted in a negative output size")
    return Pad.apply(input, widths=tuple(widths), mode=mode, value=0 if value is None else value)
