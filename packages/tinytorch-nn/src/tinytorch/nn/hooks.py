"""Module hooks: ``RemovableHandle``, and the graph nodes behind full backward hooks.

Forward hooks are plain callbacks that ``Module.__call__`` runs around ``forward``. A *full
backward hook* ``hook(module, grad_input, grad_output)`` needs more: the gradients with
respect to all of the module's tensor inputs, and to all of its outputs, handed over in one
call, with the right to replace ``grad_input``. The engine runs one small node at a time and
each node has one output, so the call is assembled with a *gate* around a group of tensors::

    x_1 ─┐                 ┌─> Pass(token, x_1) = x_1' ─┐
         ├─> Join → token ─┤                             ├─> the module's forward
    x_2 ─┘                 └─> Pass(token, x_2) = x_2' ─┘

Forward: ``Join`` makes a 0-d token that depends on every ``x_k``, and each ``Pass`` returns a
view of its ``x_k``, so values are untouched. Backward: each ``Pass`` stores the gradient of
its ``x_k'`` in the gate and sends a zero to the token; ``Join`` consumes every ``Pass``, so
the engine runs it only after all of them, when the gate holds every gradient. ``Join`` hands
them to one callback and sends what it returns on to ``x_1 ... x_n``. A module call gets one
gate on its inputs (the callback runs the backward hooks) and one on its outputs (it records
``grad_output`` and runs the backward *pre*-hooks, which may replace it).

Systems view: modules without hooks pay one truth test per call. With backward hooks, a call
adds ``inputs + outputs + 2`` graph nodes that copy nothing (their outputs are views, and each
gate's token is 0-d); backward adds one 0-d zero per tensor and the hooks' own cost.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.tensor import Tensor

if TYPE_CHECKING:
    from tinytorch.nn.module import Module

GradList = list[np.ndarray | None]


class RemovableHandle:
    """Returned by every ``register_*_hook``; ``handle.remove()`` unregisters the hook.

    ``extra_dict`` holds the other registries the hook's id is filed in (its ``with_kwargs``
    or ``always_call`` flags). Usable as a context manager that removes the hook on exit.
    """

    _next_id = 0

    def __init__(self, hooks: dict[int, Any], *,
                 extra_dict: dict[int, Any] | list[dict[int, Any]] | None = None) -> None:
        self._hooks = hooks
        self._extra = [] if extra_dict is None else (
            list(extra_dict) if isinstance(extra_dict, list) else [extra_dict])
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        for registry in [self._hooks, *self._extra]:
            registry.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class _Gate:
    """Holds the gradients of a group of tensors until all of them arrived (see above)."""

    def __init__(self, n: int, on_grads: Callable[[GradList], GradList]) -> None:
        self.grads: GradList = [None] * n
        self.on_grads = on_grads

    def wrap(self, tensors: list[Tensor]) -> list[Tensor]:
        token = Join.apply(*tensors, gate=self)
        return [Pass.apply(token, t, gate=self, index=i) for i, t in enumerate(tensors)]

    def release(self) -> GradList:
        grads, self.grads = self.grads, [None] * len(self.grads)
        return self.on_grads(grads)


class Join(Function):
    @staticmethod
    def forward(ctx: Function, *xs: np.ndarray, gate: _Gate) -> np.ndarray:
        # xs: any shapes -> a 0-d token that depends on all of them
        ctx.gate = gate
        return np.zeros((), dtype=np.float32)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        # grad: () zeros from every Pass -> one gradient per x, from the gate's callback
        return tuple(ctx.gate.release())


class Pass(Function):
    @staticmethod
    def forward(ctx: Function, token: np.ndarray, x: np.ndarray, *, gate: _Gate,
                index: int) -> np.ndarray:
        # token: (), x: (*) -> a view of x: (*)
        ctx.gate, ctx.index = gate, index
        return x.view()

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray, None]:
        # grad: (*) is kept in the gate; x receives its gradient from Join
        ctx.gate.grads[ctx.index] = grad
        return np.zeros((), dtype=np.float32), None


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


def _needs_grad(value: object) -> bool:
    return isinstance(value, Tensor) and value.requires_grad


class BackwardHook:
    """The backward hooks of one module call: gates on its inputs and outputs.

    ``grad_input`` has one entry per positional argument and ``grad_output`` one per output,
    with ``None`` for arguments that are no Tensors, need no gradient or got none.
    """

    def __init__(self, module: Module, hooks: list[Callable[..., Any]],
                 pre_hooks: list[Callable[..., Any]]) -> None:
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
        self.n_inputs = 0
        self.input_index: list[int] = []
        self.n_outputs = 0
        self.output_index: list[int] = []
        self.grad_output: tuple[Tensor | None, ...] = ()

    def setup_input(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """Gate the positional arguments that require grad; return the new arguments."""
        self.n_inputs = len(args)
        self.input_index = [i for i, a in enumerate(args) if _needs_grad(a)]
        if not self.input_index:
            return args
        gate = _Gate(len(self.input_index), self._on_grad_input)
        gated = gate.wrap([args[i] for i in self.input_index])
        out = list(args)
        for i, t in zip(self.input_index, gated):
            out[i] = t
        return tuple(out)

    def setup_output(self, result: Any) -> Any:
        """Gate the output tensors (a Tensor or a tuple holding some); return the new result."""
        if not isinstance(result, (Tensor, tuple)):
            return result
        outputs = _as_tuple(result)
        index = [i for i, o in enumerate(outputs) if _needs_grad(o)]
        if not index:
            return result
        self.n_outputs, self.output_index = len(outputs), index
        gate = _Gate(len(index), self._on_grad_output)
        out = list(outputs)
        for i, t in zip(index, gate.wrap([outputs[i] for i in index])):
            out[i] = t
        return out[0] if isinstance(result, Tensor) else tuple(out)

    def _on_grad_output(self, grads: GradList) -> GradList:
        grad_output = _pack(grads, self.output_index, self.n_outputs)
        for hook in self.pre_hooks:
            new = hook(self.module, grad_output)
            if new is not None:
                grad_output = self._checked(new, grad_output, "grad_output", "pre-hook")
        self.grad_output = grad_output
        if not self.input_index:
            self._run_hooks_without_inputs()
        return _unpack(grad_output, self.output_index)

    def _on_grad_input(self, grads: GradList) -> GradList:
        grad_input = _pack(grads, self.input_index, self.n_inputs)
        for hook in self.hooks:
            new = hook(self.module, grad_input, self.grad_output)
            if new is not None:
                grad_input = self._checked(new, grad_input, "grad_input", "hook")
        return _unpack(grad_input, self.input_index)

    def _run_hooks_without_inputs(self) -> None:
        """No input needs a gradient: the hooks run as soon as ``grad_output`` is known, with
        ``grad_input`` all None (and must not return gradients), as in PyTorch."""
        if not self.hooks:
            return
        warnings.warn("Full backward hook is firing when gradients are computed with respect "
                      "to module outputs since no inputs require gradients.", stacklevel=2)
        grad_input = (None,) * self.n_inputs
        for hook in self.hooks:
            new = hook(self.module, grad_input, self.grad_output)
            if new is not None and any(g is not None for g in _as_tuple(new)):
                raise RuntimeError("Backward hook for Modules where no input requires "
                                   "gradient should always return None or None for all "
                                   "gradients.")

    def _checked(self, new: Any, old: tuple[Tensor | None, ...], what: str,
                 kind: str) -> tuple[Tensor | None, ...]:
        new = _as_tuple(new)
        name = type(self.module).__name__
        if len(new) != len(old):
            raise RuntimeError(f"Backward {kind} of {name} returned an invalid number of "
                               f"{what}, got {len(new)}, but expected {len(old)}")
        for i, (n, o) in enumerate(zip(new, old)):
            if n is not None and o is not None and tuple(n.shape) != tuple(o.shape):
                raise RuntimeError(f"Backward {kind} of {name} returned {what}[{i}] of shape "
                                   f"{tuple(n.shape)}; expected shape {tuple(o.shape)}")
        return new


def _pack(grads: GradList, index: list[int], size: int) -> tuple[Tensor | None, ...]:
    """Gradient arrays of the gated positions -> a tuple of ``size`` Tensors or None."""
    out: list[Tensor | None] = [None] * size
    for i, g in zip(index, grads):
        out[i] = None if g is None else Tensor._wrap(g)
    return tuple(out)


def _unpack(grads: tuple[Any, ...], index: list[int]) -> GradList:
    """The entries at the gated positions, as arrays (or None)."""
    return [None if grads[i] is None else
            (grads[i].array if isinstance(grads[i], Tensor) else np.asarray(grads[i]))
            for i in index]
