"""``CallRecorder``: forward hooks on every module that note each call as it happens.

For each call of each module the recorder keeps a ``Call``: the module's qualified name, the
call it ran inside, the clock at its start and end, the ``grad_fn`` of its tensor inputs and
outputs (where ``graph.attribute`` starts and stops its walks) and the bytes of those tensors
(the traffic the roofline needs). The hooks do only that much (two clock reads, a few
appends), so the forward they time is the forward that runs without them, plus a few
microseconds per call; the graph walks happen after the forward, outside the timed window.

While the forward runs, ``stack`` holds the calls that have started and not finished. When a
module raises, its call is still on top, which is how ``profile`` names the layer that failed.
The hooks are registered with the public ``register_forward_pre_hook`` /
``register_forward_hook`` and removed on exit, even after an error; nothing is patched.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tinytorch.core.function import Function
from tinytorch.core.tensor import Tensor
from tinytorch.nn.module import Module


def tensors_in(value: Any) -> Iterator[Tensor]:
    """The Tensors in a module's arguments or result (a Tensor, or tuples, lists, dicts)."""
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from tensors_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from tensors_in(v)


@dataclass
class Call:
    """One call of one module during a recorded forward pass."""

    name: str                          # qualified name, as in ``named_modules`` ("" = model)
    module: Module
    parent: int | None                 # index (in start order) of the enclosing call
    start: float
    input_shapes: list[tuple[int, ...]]
    inputs: list[Function | None]      # grad_fn of each tensor argument
    input_bytes: int
    end: float = 0.0
    outputs: list[Function | None] = field(default_factory=list)
    output_bytes: int = 0
    children: list[int] = field(default_factory=list)
    own_seconds: float = 0.0           # time outside any child call (``CallRecorder.finish``)

    @property
    def seconds(self) -> float:
        """Time inside this call, its children's time included."""
        return self.end - self.start


class CallRecorder:
    """Context manager: record every module call of ``model`` while it is active."""

    def __init__(self, model: Module) -> None:
        self.names = {id(m): name for name, m in model.named_modules()}
        self.model = model
        self.calls: list[Call] = []       # in start order
        self.finished: list[int] = []     # indices, in finish order
        self.stack: list[int] = []
        self._handles: list[Any] = []

    def __enter__(self) -> CallRecorder:
        for _, m in self.model.named_modules():
            self._handles.append(m.register_forward_pre_hook(self._before))
            self._handles.append(m.register_forward_hook(self._after))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _before(self, module: Module, args: tuple[Any, ...]) -> None:
        ts = list(tensors_in(args))
        parent = self.stack[-1] if self.stack else None
        call = Call(self.names.get(id(module), type(module).__name__), module, parent, 0.0,
                    [tuple(t.shape) for t in ts], [t.grad_fn for t in ts],
                    sum(t.array.nbytes for t in ts))
        index = len(self.calls)
        self.calls.append(call)
        if parent is not None:
            self.calls[parent].children.append(index)
        self.stack.append(index)
        call.start = time.perf_counter()

    def _after(self, module: Module, args: tuple[Any, ...], output: Any) -> None:
        end = time.perf_counter()
        index = self.stack.pop()
        call = self.calls[index]
        call.end = end
        ts = list(tensors_in(output))
        call.outputs = [t.grad_fn for t in ts]
        call.output_bytes = sum(t.array.nbytes for t in ts)
        self.finished.append(index)

    def finish(self) -> list[Call]:
        """The calls in start order, each with its own (exclusive) time filled in."""
        for call in self.calls:
            call.own_seconds = call.seconds - sum(self.calls[c].seconds for c in call.children)
        return self.calls
