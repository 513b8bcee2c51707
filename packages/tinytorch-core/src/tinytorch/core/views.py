"""Views: tensors that share memory with another tensor, and how they stay correct.

A view (``reshape``, ``transpose``, basic slicing, ``detach``...) is a NumPy view of its base's
memory, so an in-place update through either one is visible in both, as in PyTorch. Two
things keep autograd right as well:

- The view shares its base's *version counter*, so a backward that saved the memory sees any
  in-place write, whichever tensor it went through.
- The view remembers how it was made (``ViewInfo``: the op, its arguments, the version when
  its ``grad_fn`` was last made). When the memory has been written since, the next op that
  uses the view first takes the view again from the base's current history
  (``refresh_view``), so gradients flow through the update.

Systems view: recording a view costs one small object; checking it costs one integer
comparison per op argument. Nothing is copied.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch.core import tensor

if TYPE_CHECKING:
    from tinytorch.core.function import Function
    from tinytorch.core.tensor import Tensor


class ViewInfo:
    """How a view was made: the op, its arguments (the base among them) and the version of the
    shared memory when the view's ``grad_fn`` was last made."""

    __slots__ = ("base", "fn", "args", "kwargs", "version")

    def __init__(self, base: Tensor, fn: type[Function], args: tuple[Any, ...],
                 kwargs: dict[str, Any], version: int) -> None:
        self.base = base
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.version = version

    def view_of(self, array: np.ndarray) -> np.ndarray:
        """The same view taken of another array shaped like the base (used on gradients)."""
        args = [array if a is self.base else (a.array if isinstance(a, tensor.Tensor) else a)
                for a in self.args]
        return self.fn.forward(self.fn(), *args, **self.kwargs)

    def root_is_leaf_requiring_grad(self) -> builtins.bool:
        base = self.base
        while base._view is not None:
            base = base._view.base
        return base._requires_grad and base.grad_fn is None


def share_view(result: Tensor, out: np.ndarray, args: tuple[Any, ...], fn: type[Function],
               kwargs: dict[str, Any]) -> None:
    """Called by ``Function.apply`` when an op's output is a view of memory: if it views an
    input tensor, the output shares that tensor's version counter and remembers how it was
    made, so in-place updates of either side stay visible and correct."""
    root = out
    while isinstance(root.base, np.ndarray):
        root = root.base
    for a in args:
        if isinstance(a, tensor.Tensor):
            base_root = a.array
            while isinstance(base_root.base, np.ndarray):
                base_root = base_root.base
            if base_root is root:
                vc = a._version_counter()
                result._vc = vc
                result._view = ViewInfo(a, fn, args, kwargs, vc[0])
                return


def stale(t: Tensor) -> builtins.bool:
    """True when the view's memory was written since its ``grad_fn`` was made."""
    return t._view is not None and t._vc is not None and t._view.version != t._vc[0]


def refresh_view(t: Tensor) -> None:
    """Give a view whose memory was changed in place (through its base or another view) a new
    ``grad_fn``, by taking the view again from the base's current history."""
    info = t._view
    if info is None or not stale(t):
        return
    fresh = info.fn.apply(*info.args, **info.kwargs)
    t.grad_fn = fresh.grad_fn
    t._requires_grad = fresh._requires_grad
    t._view = fresh._view
