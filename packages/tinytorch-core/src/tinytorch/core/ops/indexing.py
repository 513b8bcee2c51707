"""Indexing: ``x[index]`` and ``x[index] = value`` with PyTorch's (= NumPy's) index forms.

Systems view: basic indexing (ints, slices, ``None``, ``...``) returns a *view*: no copy, O(1).
Its backward allocates one zero array of the input's shape and assigns the gradient into the
indexed region (one pass over the output). Advanced indexing (integer tensors or lists, bool
masks) copies the selected elements; its backward must *accumulate*, because integer indices can
repeat, so it uses ``np.add.at``, which is several times slower than assignment. Bool masks
cannot repeat, so they keep the fast assignment.

Assignment writes in place when nothing is being recorded (``no_grad``, or no operand requires
grad). When the graph is recorded, it becomes an out-of-place ``IndexPut`` node and the tensor is
rebound to the result, so earlier consumers of the old values still get correct gradients.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.grad_mode import _GradState
from tinytorch.core.tensor import Tensor


def _convert_item(item: Any) -> Any:
    """One index element as NumPy understands it (Tensors and lists become arrays)."""
    if isinstance(item, Tensor):
        item = item.array
    elif isinstance(item, list):
        item = np.asarray([i.array if isinstance(i, Tensor) else i for i in item])
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
        ctx.saved_tensors = (a.shape, index, accumulate)
        return np.asarray(a[index])

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        shape, index, accumulate = ctx.saved_tensors
        g = np.zeros(shape, grad.dtype)
        if accumulate:
            np.add.at(g, index, grad)
        else:
            g[index] = grad
        return g


class IndexPut(Function):
    """``out = a.copy(); out[index] = value``, differentiable in ``a`` and ``value``."""

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, value: Any, *, index: Any) -> np.ndarray:
        # a: (...), value: broadcastable to a[index] -> a's shape and dtype
        ctx.saved_tensors = (index,)
        out = a.copy()
        out[index] = value
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any]:
        (index,) = ctx.saved_tensors
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


def setitem(input: Tensor, index: Any, value: Any) -> None:
    """``input[index] = value``: in place unless the assignment must be recorded for autograd."""
    idx, _ = convert_index(index)
    value_grad = isinstance(value, Tensor) and value.requires_grad
    if not (_GradState.enabled and (input.requires_grad or value_grad)):
        input.array[idx] = value.array if isinstance(value, Tensor) else value
        return
    if isinstance(value, Tensor) and value.array.dtype != input.array.dtype:
        value = value.to(input.array.dtype)
    old = Tensor._wrap(input.array, input.requires_grad)
    old.grad_fn = input.grad_fn
    out = IndexPut.apply(old, value, index=idx)
    input.array = out.array
    input.grad_fn = out.grad_fn
    input.requires_grad = True
