"""Moving elements without changing them: ``flip`` (reverse along dims) and ``roll`` (a cyclic
shift along dims).

Systems view: both are permutations of the elements, so each is one copy pass
(``numel * itemsize`` bytes, no FLOPs), and the backward is the inverse permutation of the
gradient: ``flip`` again along the same dims, ``roll`` by the negated shifts. NumPy could return
``flip`` as a view with negative strides; like PyTorch it is returned as a new tensor, so an
in-place change of the result never reaches the input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.ops.dims import normalize_dim

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import Dims, SizeArg


def _dims(args: tuple[Any, ...]) -> tuple[int, ...]:
    """Accept ``f(x, (0, 1))``, ``f(x, [0, 1])`` and the method form ``x.f(0, 1)``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return tuple(int(d) for d in args)


class Flip(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, axes: tuple[int, ...]) -> np.ndarray:
        # a: (...) -> same shape, reversed along `axes`
        ctx.axes = axes
        return np.flip(a, axes).copy()

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        return np.flip(grad, ctx.axes)


def flip(input: Tensor, *dims: SizeArg) -> Tensor:
    """Reverse the order of elements along each of ``dims``: ``flip(x, (0,))``."""
    n = input.ndim
    axes = tuple(normalize_dim(d, n) for d in _dims(dims))
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"dims {_dims(dims)} has a dim that appears multiple times in the "
                           f"list of dims")
    if n == 0:
        return Flip.apply(input, axes=())
    return Flip.apply(input, axes=axes)


class Roll(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, shifts: tuple[int, ...],
                axes: tuple[int, ...] | None) -> np.ndarray:
        # a: (...) -> same shape; element i moves to (i + shift) mod n along each axis
        ctx.shifts, ctx.axes = shifts, axes
        return np.roll(a, shifts, axes)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        return np.roll(grad, tuple(-s for s in ctx.shifts), ctx.axes)


def roll(input: Tensor, shifts: SizeArg, dims: Dims = None) -> Tensor:
    """Shift elements cyclically by ``shifts`` along ``dims`` (over the flattened tensor when
    ``dims`` is None): ``roll([1, 2, 3], 1) -> [3, 1, 2]``."""
    shift = _dims((shifts,))
    if dims is None:
        if len(shift) != 1:
            raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shift)}, "
                               f"dims: 0")
        return Roll.apply(input, shifts=shift, axes=None)
    axes = tuple(normalize_dim(d, input.ndim) for d in _dims((dims,)))
    if len(shift) != len(axes):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shift)}, "
                           f"dims: {len(axes)}")
    if input.ndim == 0:
        return Roll.apply(input, shifts=(0,), axes=None)
    return Roll.apply(input, shifts=shift, axes=axes)
