"""``Function``: one differentiable operation, its forward and its backward side by side.

Every differentiable op in TinyTorch (in every tier) is a subclass::

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):            # a, b: numpy arrays (or Python scalars)
            ctx.save_for_backward(a, b)
            return a * b
        @staticmethod
        def backward(ctx, grad):           # grad: array shaped like forward's output
            a, b = ctx.saved_tensors
            return grad * b, grad * a      # one entry per forward argument (None: no grad)

    y = Mul.apply(x, w)                    # Tensors in, Tensor out

``apply`` unwraps Tensor arguments to their arrays, runs ``forward`` and, when gradients are
being recorded and an input requires them, keeps the instance as the output's ``grad_fn``. The
instance *is* the graph node and the context, so recording an op costs one small object.

The context contract:
- Arrays that backward needs go through ``ctx.save_for_backward(...)`` and come back from
  ``ctx.saved_tensors``. Everything else (shapes, axes, flags, dtypes) goes on named
  attributes: ``ctx.axes = axes``.
- ``apply`` notes which saved arrays are the memory of an input or of the output, and the
  *version* of that tensor (a counter every in-place write bumps). Reading ``saved_tensors``
  in backward checks the versions, so an in-place change to a saved tensor raises PyTorch's
  error instead of giving a silently wrong gradient.
- ``forward`` and ``backward`` work on numpy arrays and never modify their inputs in place.
- ``backward`` returns one gradient per positional argument of ``forward`` (``None`` where the
  argument is not a Tensor or needs no gradient). A gradient may keep the broadcast shape of
  the output: the engine sums it back to the input's shape in one place (``unbroadcast``).
- The engine drops what a node saved as soon as the node ran. While ``ctx.last_use`` is True
  (no ``retain_graph``), backward may build its result in a saved array it created itself.
- Keyword arguments are configuration (axes, strides, flags) and are never differentiated.

A node remembers where each input's gradient goes (its ``edges``), captured when the op runs:
the node that produced the input, the input itself when it is a leaf, or ``None``. It does not
keep the input tensors, so an intermediate array lives only as long as some backward saved it
(or the user holds it).

Import order: this module needs ``Tensor`` only when an op runs, and ``tensor.py`` imports the
op modules, which import this one. So this module imports the *module* ``tensor`` at the top
and looks up ``tensor.Tensor`` at call time; nothing depends on which module is loaded first.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch.core import anomaly, tensor, tracing, views
from tinytorch.core.grad_mode import _GradState

if TYPE_CHECKING:
    import weakref
    from collections.abc import Callable

    from typing_extensions import TypeIs

    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import Grad

_MODIFIED = (
    "one of the variables needed for gradient computation has been modified by an inplace "
    "operation: [{what}], {role} of {node}, is at version {now}; expected version {then} "
    "instead. Hint: clone() the tensor before the in-place operation, or use the out-of-place "
    "version of the operation."
)


class SavedVersion:
    """Which tensor's memory a saved array is, and that tensor's version when it was saved."""

    __slots__ = ("counter", "version", "shape", "dtype", "role")

    def __init__(self, counter: list[int], shape: tuple[int, ...], dtype: np.dtype,
                 role: str) -> None:
        self.counter = counter          # shared by the tensor and its views: [version]
        self.version = counter[0]
        self.shape = shape
        self.dtype = dtype
        self.role = role                # "input 0", "output 0": for the error message


class Function:
    """Base class of differentiable operations. Subclasses define ``forward`` and ``backward``."""

    # Filled in by ``apply`` when the op is recorded (``edges`` is None once the node ran):
    edges: tuple[Function | Tensor | None, ...] | None = None  # per forward argument
    needs_input_grad: tuple[bool, ...]
    out_shape: tuple[int, ...]              # the output's shape and dtype, which the gradient
    out_dtype: np.dtype                     # arriving at this node must have
    last_use: bool = False  # set by the engine: the saved arrays are dropped after this backward
    _saved: tuple[Any, ...] = ()
    _versions: list[SavedVersion] | None = None
    _hooks: list[Callable[[Tensor], Tensor | None]] | None = None  # hooks on the output's grad
    _retained: weakref.ref[Tensor] | None = None  # the output, when ``retain_grad()`` was called
    _trace: list[str] | None = None         # where forward ran, kept while anomaly mode is on

    if TYPE_CHECKING:
        # Ops keep their configuration on named attributes (``ctx.axes = axes``): any name.
        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    @staticmethod
    def forward(ctx: Function, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> Grad | tuple[Grad, ...]:
        raise NotImplementedError("a Function subclass must define backward(ctx, grad)")

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep the arrays backward needs. Freed by the engine right after this node's backward."""
        self._saved = arrays

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        """What ``save_for_backward`` kept, after checking that no in-place op changed it."""
        if self._versions:
            for v in self._versions:
                if v.counter[0] != v.version:
                    what = f"{v.dtype} tensor of shape {tuple(v.shape)}"
                    raise RuntimeError(_MODIFIED.format(
                        what=what, role=f"which is {v.role}", node=self.name(),
                        now=v.counter[0], then=v.version))
        return self._saved

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run the op on Tensors and record it in the graph when gradients are needed.

        ``ctx.needs_input_grad`` is set before ``forward`` runs, so forward can save only what
        the gradients that are really needed use (as PyTorch does).
        """
        Tensor = tensor.Tensor
        ctx = cls()
        record = False
        if _GradState.enabled:
            needs = tuple([isinstance(a, Tensor) and a._requires_grad for a in args])
            for a in args:
                if isinstance(a, Tensor) and a._view is not None and views.stale(a):
                    views.refresh_view(a)  # its memory changed in place since it was made
                    needs = tuple([isinstance(a, Tensor) and a._requires_grad for a in args])
            record = True in needs
            ctx.needs_input_grad = needs
        else:
            ctx.needs_input_grad = (False,) * len(args)
        arrays = [a.array if isinstance(a, Tensor) else a for a in args]
        out = cls.forward(ctx, *arrays, **kwargs)
        if type(out) is not np.ndarray:
            out = np.asarray(out)  # NumPy hands back 0-d results as scalars
        result = Tensor.__new__(Tensor)
        result.array = out
        result._requires_grad = False
        result._grad = result.grad_fn = result._vc = result._view = result._hooks = None
        if out.base is not None or (arrays and out is arrays[0]):
            views.share_view(result, out, args, cls, kwargs)
        if record:
            ctx.edges = tuple([(a.grad_fn or a) if n else None
                               for a, n in zip(args, ctx.needs_input_grad)])
            ctx.out_shape = out.shape
            ctx.out_dtype = out.dtype
            if ctx._saved:
                ctx._versions = _saved_versions(ctx._saved, args, result)
            if anomaly._AnomalyState.enabled:
                ctx._trace = traceback.format_stack()[:-1]
            result._requires_grad = True
            result.grad_fn = ctx
        if tracing._TraceState.recorder is not None:
            tracing.record(cls, args, kwargs, result)
        return result

    @property
    def next_functions(self) -> tuple[tuple[Function | AccumulateGrad | None, int], ...]:
        """Where this node sends gradients (PyTorch's name): the producing node, an
        ``AccumulateGrad`` for a leaf, or ``None`` for an input that needs no gradient."""
        return tuple(
            (e if isinstance(e, Function) or e is None else AccumulateGrad(e), 0)
            for e in (self.edges or ())
        )

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Call ``hook(grad)`` with the gradient arriving at this node, before its backward.

        Used by ``Tensor.register_hook`` for non-leaf tensors; ``hook`` may return a
        replacement gradient. Returns a handle whose ``remove()`` unregisters it.
        """
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return RemovableHandle(self._hooks, hook)

    def name(self) -> str:
        return f"{type(self).__name__}Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"


def is_tensor(x: object) -> TypeIs[Tensor]:
    """True for a Tensor (or subclass, such as ``Parameter``)."""
    return isinstance(x, tensor.Tensor)


def unwrap(x: Any) -> Any:
    """The array inside a Tensor; anything else is returned as it is."""
    return x.array if isinstance(x, tensor.Tensor) else x


def to_tensor(x: Any) -> Tensor:
    """``x`` itself if it is a Tensor, else a new Tensor from it (PyTorch's dtype inference)."""
    return x if isinstance(x, tensor.Tensor) else tensor.Tensor(x)


def wrap(array: np.ndarray) -> Tensor:
    """A Tensor around ``array``, outside any graph: for results with no gradient (indices,
    comparisons, integer arithmetic)."""
    return tensor.Tensor._wrap(array)


def _root(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory (``a`` itself when it is no view)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _saved_versions(saved: tuple[Any, ...], args: tuple[Any, ...],
                    result: Tensor) -> list[SavedVersion] | None:
    """The version records of the saved arrays that are (views of) an input's or the output's
    memory. Arrays forward computed for itself need none: nothing else can write to them."""
    records = None
    for s in saved:
        if type(s) is not np.ndarray:
            continue
        root = _root(s)
        owner = None
        for i, a in enumerate(args):
            if isinstance(a, tensor.Tensor) and (a.array is root or _root(a.array) is root):
                owner, role = a, f"input {i}"
                break
        else:
            if result.array is root or _root(result.array) is root:
                owner, role = result, "output 0"
        if owner is not None:
            if records is None:
                records = []
            records.append(SavedVersion(owner._version_counter(), owner.array.shape,
                                        owner.array.dtype, role))
    return records


class AccumulateGrad:
    """The end of a path through the graph: a leaf, whose ``.grad`` receives the gradient.

    The graph itself stores the leaf tensor as the edge; this small object only names that
    edge the way PyTorch's graph inspection does (``grad_fn.next_functions``).
    """

    __slots__ = ("variable",)
    next_functions: tuple[tuple[Function | AccumulateGrad | None, int], ...] = ()

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


class RemovableHandle:
    """What ``register_hook`` returns: ``handle.remove()`` takes the hook out again."""

    __slots__ = ("hooks", "hook")

    def __init__(self, hooks: list[Callable[[Tensor], Tensor | None]],
                 hook: Callable[[Tensor], Tensor | None]) -> None:
        self.hooks = hooks
        self.hook = hook

    def remove(self) -> None:
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, back to ``shape``.

    This is the one place broadcasting is undone: ``(N, M) + (M,)`` sends an ``(N, M)`` gradient
    to the ``(M,)`` input, which receives its sum over axis 0.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad
