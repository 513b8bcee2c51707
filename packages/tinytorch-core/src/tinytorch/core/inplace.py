"""In-place updates recorded for autograd: write the new values into memory, take the new history.

``Tensor``'s in-place methods (``add_``, ``copy_``, ``x[i] = v``...) compute the update out of
place with its ordinary op when a graph is recorded, then hand the result to ``write_inplace``:
the values are copied into the tensor's own memory (so views see them), its version counter
goes up (so a backward that saved the old values raises), and the tensor takes the op's node
as its ``grad_fn``. An update made through a view also gives every base above it a
``CopySlices`` node, the base's history with the view's region replaced.

Systems view: one extra pass to copy the result into place, and a copy of an old value only
when the update's own backward saved it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.grad_mode import _GradState

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import Grad

_LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."
_LEAF_VIEW_INPLACE = ("a view of a leaf Variable that requires grad is being used in an in-place "
                      "operation.")


def check_inplace(t: Tensor) -> None:
    if not _GradState.enabled:
        return
    if t._requires_grad and t.grad_fn is None:
        raise RuntimeError(_LEAF_INPLACE)
    if t._view is not None and t._view.root_is_leaf_requiring_grad():
        raise RuntimeError(_LEAF_VIEW_INPLACE)



class CopySlices(Function):
    """The base's new history after an in-place update of one of its views.

    The base now holds its old values outside the view's region and the update's result inside
    it. Backward sends the gradient outside the region to the old base, and the region's
    gradient to the node of the update.
    """

    @staticmethod
    def forward(ctx: Function, *args: Any) -> np.ndarray:
        raise RuntimeError("CopySlices is created by in-place updates of views, never applied")

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        # grad: the base's shape -> (grad for the old base, grad for the updated region)
        g_base = np.array(grad, copy=True)
        region = ctx.view.view_of(g_base)
        g_region = np.array(region, copy=True)
        region[...] = 0
        return g_base, g_region


def write_inplace(t: Tensor, out: Tensor) -> Tensor:
    """Finish an in-place update recorded out of place: ``out`` holds the new values and their
    node. Write them into ``t``'s memory, bump the version, and make ``t`` (and, for a view,
    its bases) take the new history."""
    node = out.grad_fn
    if node is not None and node._saved:
        _own_saved(node, t)
    np.copyto(t.array, out.array, casting="unsafe")
    t._increment_version()
    if node is None:
        return t
    t.grad_fn = node
    t._requires_grad = True
    view, new_node = t, node
    while view._view is not None:
        info = view._view
        info.version = view._vc[0]  # type: ignore[index]
        base = info.base
        cs = CopySlices()
        cs.view = info
        cs.needs_input_grad = (base._requires_grad, True)
        cs.edges = ((base.grad_fn or base) if base._requires_grad else None, new_node)
        cs.out_shape = base.array.shape
        cs.out_dtype = base.array.dtype
        base.grad_fn = cs
        base._requires_grad = True
        view, new_node = base, cs
    return t


def _own_saved(node: Function, t: Tensor) -> None:
    """The node of an in-place update may have saved ``t``'s old values, which the write is
    about to replace: give it copies, which no later write can reach."""
    root = t.array
    while isinstance(root.base, np.ndarray):
        root = root.base
    saved = []
    for s in node._saved:
        if isinstance(s, np.ndarray):
            r = s
            while isinstance(r.base, np.ndarray):
                r = r.base
            if r is root:
                s = s.copy()
        saved.append(s)
    node._saved = tuple(saved)
    if node._versions:
        node._versions = [v for v in node._versions if v.counter is not t._vc] or None
