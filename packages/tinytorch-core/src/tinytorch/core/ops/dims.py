"""Dimension arguments: turn PyTorch's ``dim`` (int, negative int, tuple or None) into numpy axes.

Shared by the reduction, softmax and shape ops so that every op accepts the same forms and
raises the same ``IndexError`` as PyTorch for a dimension out of range.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tinytorch.core.types import Dims


def normalize_dim(dim: int, ndim: int) -> int:
    """``dim`` in ``[-ndim, ndim)`` as a non-negative axis (a 0-d tensor accepts 0 and -1)."""
    lo, hi = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if not lo <= dim <= hi:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})"
        )
    return int(dim) % ndim if ndim else 0


def reduce_axes(dim: Dims, ndim: int) -> tuple[int, ...]:
    """The numpy axes that ``dim`` names (None or an empty tuple mean every axis)."""
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    axes = tuple(normalize_dim(d, ndim) for d in dims)
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"dim {tuple(dims)} names the same dimension more than once")
    return axes if ndim else ()
