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

A node remembers where each input's gradient goes (its ``edges``), captured when the op runs:
the node that produced the input, the input itself when it is a leaf, or ``None``. It does not
keep the input tensors, so an intermediate array lives only as long as some backward saved it
(or the user holds it), and an in-place op that later rebinds a tensor's ``grad_fn`` cannot
redirect gradients recorded before it.

Rules every op follows:
- ``forward`` and ``backward`` work on numpy arrays and never modify their inputs in place.
- ``backward`` returns one gradient per positional argument of ``forward`` (``None`` where the
  argument is not a Tensor or needs no gradient). A gradient may keep the broadcast shape of the
  output: the engine sums it back to the input's shape in one place (``unbroadcast``).
- Save only what backward needs; the engine drops ``saved_tensors`` as soon as the node ran.
  While ``ctx.last_use`` is True (no ``retain_graph``), backward may build its result in a
  saved array it created itself, saving an allocation and a pass over memory.
- Keyword arguments are configuration (axes, strides, flags) and are never differentiated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.core.grad_mode import _GradState


class Function:
    """Base class of differentiable operations. Subclasses define ``forward`` and ``backward``."""

    # Filled in by ``apply`` when the op is recorded (``edges`` is None once the node ran):
    edges: tuple[Any, ...] | None = None  # per forward argument: Function, leaf Tensor or None
    needs_input_grad: tuple[bool, ...]
    out_shape: tuple[int, ...]              # the output's shape and dtype, which the gradient
    out_dtype: np.dtype                     # arriving at this node must have
    saved_tensors: tuple[Any, ...] | None = ()
    last_use: bool = False  # set by the engine: the saved arrays are dropped after this backward
    _retained: Any = None  # weak reference to the output, when ``retain_grad()`` was called

    @staticmethod
    def forward(ctx: Function, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> Any:
        raise NotImplementedError("a Function subclass must define backward(ctx, grad)")

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep what backward needs. Freed by the engine right after this node's backward."""
        self.saved_tensors = arrays

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run the op on Tensors and record it in the graph when gradients are needed."""
        ctx = cls()
        out = cls.forward(ctx, *[a.array if isinstance(a, Tensor) else a for a in args], **kwargs)
        if type(out) is not np.ndarray:
            out = np.asarray(out)  # NumPy hands back 0-d results as scalars
        result = Tensor.__new__(Tensor)
        result.array = out
        result.grad = None
        if _GradState.enabled:
            needs = tuple([isinstance(a, Tensor) and a.requires_grad for a in args])
            if True in needs:
                ctx.needs_input_grad = needs
                ctx.edges = tuple([(a.grad_fn or a) if n else None for a, n in zip(args, needs)])
                ctx.out_shape = out.shape
                ctx.out_dtype = out.dtype
                result.requires_grad = True
                result.grad_fn = ctx
                return result
        result.requires_grad = False
        result.grad_fn = None
        return result

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        """Where this node sends gradients (PyTorch's name): the producing node, an
        ``AccumulateGrad`` for a leaf, or ``None`` for an input that needs no gradient."""
        return tuple(
            (e if isinstance(e, Function) or e is None else AccumulateGrad(e), 0)
            for e in (self.edges or ())
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}Backward>"


class AccumulateGrad:
    """The end of a path through the graph: a leaf, whose ``.grad`` receives the gradient.

    The graph itself stores the leaf tensor as the edge; this small object only names that
    edge the way PyTorch's graph inspection does (``grad_fn.next_functions``).
    """

    __slots__ = ("variable",)
    next_functions: tuple[tuple[Any, int], ...] = ()

    def __init__(self, variable: Any) -> None:
        self.variable = variable

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


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


from tinytorch.core.tensor import Tensor  # noqa: E402  (Tensor's methods build on Function)
