"""Ordering by value: ``sort``, ``argsort`` and ``topk``.

Systems view: ``sort`` is NumPy's stable sort (a radix sort for small integer types, timsort
otherwise): ``O(n log n)`` comparisons per slice of ``n`` and one index array of int64 (8 bytes
per element). ``topk`` does not sort everything: ``argpartition`` finds the ``k`` winners in
``O(n)``, and only those are sorted, ``O(n + k log k)``. The values are then gathered with the
indices, so the gradient is a scatter of the output gradient back to the chosen positions; the
positions of one slice are distinct, so it is a plain assignment, not an accumulation.

Order, as in PyTorch: NaN sorts as the largest value (last ascending, first descending). Every
sort here is stable, descending ones included (equal values keep their input order), so
``stable=True`` and ``stable=False`` give the same result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from tinytorch.core.function import wrap
from tinytorch.core.ops.dims import normalize_dim
from tinytorch.core.ops.select import TakeAlongDim

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor

# named "sort" and "topk" like torch.return_types.sort / .topk
sort_return = NamedTuple(  # type: ignore[name-match]  # noqa: UP014
    "sort", [("values", "Tensor"), ("indices", "Tensor")])
topk_return = NamedTuple(  # type: ignore[name-match]  # noqa: UP014
    "topk", [("values", "Tensor"), ("indices", "Tensor")])


def _argsort(a: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """Stable argsort; descending reverses the ascending stable sort of the reversed slice, so
    equal values still come out in their input order."""
    if not descending:
        return np.argsort(a, axis=axis, kind="stable")
    n = a.shape[axis]
    return (n - 1) - np.flip(np.argsort(np.flip(a, axis), axis=axis, kind="stable"), axis)


def _axis(input: Tensor, dim: int) -> int:
    return normalize_dim(dim, input.ndim)


def sort(input: Tensor, dim: int = -1, descending: bool = False, *,
         stable: bool = False) -> sort_return:
    """``(values, indices)`` of ``input`` sorted along ``dim``; ties keep their input order
    (``stable`` is accepted for PyTorch's signature: every sort here is stable)."""
    axis = _axis(input, dim)
    if input.ndim == 0:
        return sort_return(input.clone(), wrap(np.zeros((), np.int64)))
    idx = _argsort(input.array, axis, descending)
    values = TakeAlongDim.apply(input, index=idx, axis=axis, unique=True)
    return sort_return(values, wrap(idx.astype(np.int64, copy=False)))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, *,
            stable: bool = False) -> Tensor:
    """The int64 indices that sort ``input`` along ``dim`` (``sort(...).indices``)."""
    axis = _axis(input, dim)
    if input.ndim == 0:
        return wrap(np.zeros((), np.int64))
    return wrap(_argsort(input.array, axis, descending).astype(np.int64, copy=False))


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True,
         sorted: bool = True) -> topk_return:
    """``(values, indices)`` of the ``k`` largest (or smallest) elements along ``dim``, in order
    of value when ``sorted``."""
    axis = _axis(input, dim)
    n = input.shape[axis] if input.ndim else 1
    k = int(k)
    if not 0 <= k <= n:
        raise RuntimeError(f"selected index k out of range: k={k} for dimension {axis} of size "
                           f"{n} (input shape {tuple(input.shape)})")
    if input.ndim == 0:
        return topk_return(input.clone(), wrap(np.zeros((), np.int64)))
    a = input.array
    if k == 0:
        idx = np.zeros(a.shape[:axis] + (0,) + a.shape[axis + 1:], np.intp)
    else:
        kth = n - k if largest else k - 1            # winners end up on one side of kth
        part = np.argpartition(a, kth, axis=axis)
        keep = slice(n - k, n) if largest else slice(0, k)
        idx = part[(slice(None),) * axis + (keep,)]
        if sorted:
            order = _argsort(np.take_along_axis(a, idx, axis), axis, descending=largest)
            idx = np.take_along_axis(idx, order, axis)
    values = TakeAlongDim.apply(input, index=idx, axis=axis, unique=True)
    return topk_return(values, wrap(idx.astype(np.int64, copy=False)))
