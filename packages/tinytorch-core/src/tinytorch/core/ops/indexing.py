"""Indexing: ``x[index]`` and ``x[index] = value`` with PyTorch's (= NumPy's) index forms.

Systems view: basic indexing (ints, slices, ``None``, ``...``) returns a *view*: no copy, O(1).
Its backward allocates one zero array of the input's shape and assigns the gradient into the
indexed region (one pass over the output). Advanced indexing (integer tensors or lists, bool
masks) copies the selected elements; its backward must *accumulate*, because integer indices can
repeat, so it uses ``np.add.at``, which is several times slower than assignment. Bool masks
cannot repeat, so they keep the fast assignment.

Assignment always writes into the tensor's memory (``Tensor.__setitem__``). When the graph is
recorded, the new values come from an ``IndexPut`` node computed out of place, which becomes the
tensor's ``grad_fn``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch.core.function import Function, is_tensor, unwrap

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import Grad, TensorLike


def _convert_item(item: Any) -> Any:
    """One index element as NumPy understands it (Tensors and lists become arrays)."""
    if is_tensor(item):
        item = item.array
    elif isinstance(item, list):
        item = np.asarray([i.array if is_tensor(i) else i for i in item])
    if isinstance(item, np.ndarray):
        if item.dtype.kind in "iu":
            return item.astype(np.intp, copy=False)
        if item.dtype.kind != "b":
            raise IndexError(
                f"tensors used as indices must be long, int or bool tensors, got {item.dtype}"
            )
    return item


def convert_index(index: Any) -> tuple[Any, bool]:
    """``(numpy_index, accumulate)``: ``accumulate`` is True when positions may repeat."""
    items = index if isinstance(index, tuple) else (index,)
    converted = tuple(_convert_item(i) for i in items)
    arrays = [i for i in converted if isinstance(i, np.ndarray)]
    if not arrays and not any(i is Ellipsis for i in converted):
        converted += (Ellipsis,)       # all-int indexing then yields a 0-d view, not a scalar
    return converted, any(i.dtype.kind != "b" for i in arrays)


class Index(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, index: Any, accumulate: bool) -> np.ndarray:
        # a: (...) -> a[index]: a view for basic indexing, a copy for advanced indexing
        ctx.shape, ctx.index, ctx.accumulate = a.shape, index, accumulate
        return np.asarray(a[index])

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        shape, index, accumulate = ctx.shape, ctx.index, ctx.accumulate
        g = np.zeros(shape, grad.dtype)
        if accumulate:
            np.add.at(g, index, grad)
        else:
            g[index] = grad
        return g


class IndexPut(Function):
    """``out = a.copy(); out[index] = value``, differentiable in ``a`` and ``value``."""

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, value: np.ndarray | float, *,
                index: Any) -> np.ndarray:
        # a: (...), value: broadcastable to a[index] -> a's shape and dtype
        ctx.index = index
        out = a.copy()
        out[index] = value
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        index = ctx.index
        need_a, need_v = ctx.needs_input_grad
        ga = gv = None
        if need_a:
            ga = grad.copy()
            ga[index] = 0
        if need_v:
            gv = np.asarray(grad[index])
        return ga, gv


def getitem(input: Tensor, index: Any) -> Tensor:
    """``input[index]`` for ints, slices, None, ..., bool masks and integer tensors/lists."""
    idx, accumulate = convert_index(index)
    return Index.apply(input, index=idx, accumulate=accumulate)


def index_put(input: Tensor, index: Any, value: TensorLike) -> Tensor:
    """A copy of ``input`` with ``value`` written at ``index``, recorded for autograd (the
    out-of-place half of ``input[index] = value`` while a graph is recorded)."""
    idx, _ = convert_index(index)
    return IndexPut.apply(input, value, index=idx)


def setitem_array(array: np.ndarray, index: Any, value: TensorLike) -> None:
    """``array[index] = value`` in place, for indices and values in any of PyTorch's forms."""
    idx, _ = convert_index(index)
    array[idx] = unwrap(value)
