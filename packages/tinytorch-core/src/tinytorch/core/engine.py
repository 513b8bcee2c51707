"""The backward engine: reverse-mode automatic differentiation over the recorded graph.

Systems view: ``backward`` first counts, for every node reachable from the output, how many
edges lead into it (one iterative pass, no recursion, so a 10,000-op chain is fine). It then
runs Kahn's algorithm: a node runs its backward once every consumer has handed it a gradient,
which is summed in a dict meanwhile. Right after a node ran, everything it held (saved arrays,
edges) is released unless ``retain_graph=True``, so peak memory falls as the pass proceeds.
Leaf tensors accumulate into ``.grad`` in place. Cost: two dict operations and one Python call
per node, plus the arrays each backward allocates.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch.core import anomaly, tensor
from tinytorch.core.function import Function, unbroadcast

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import Grad

_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)


def _count_consumers(roots: Sequence[Function]) -> dict[Function, int]:
    """For every node reachable from ``roots``: how many edges of the graph point at it."""
    count: dict[Function, int] = {}
    stack = []
    for root in roots:
        if root not in count:
            count[root] = 0
            stack.append(root)
    while stack:
        edges = stack.pop().edges
        if edges is None:
            raise RuntimeError(_FREED)
        for e in edges:
            if isinstance(e, Function):
                if e in count:
                    count[e] += 1
                else:
                    count[e] = 1
                    stack.append(e)
    return count


class _Sink:
    """Where gradients end up: leaves' ``.grad`` (backward) or a list (``autograd.grad``).

    A leaf's ``.grad`` must own its array, since later backward calls add into it in place.
    An array the sink cannot prove private (a view, read-only, or one that also went somewhere
    else, such as the gradient ``Add`` passes to both inputs) is copied first.
    """

    def __init__(self, inputs: Sequence[Tensor] | None) -> None:
        self.inputs = inputs
        self.shared: set[int] = set()  # ids of arrays that must be copied before a leaf keeps them
        if inputs is not None:
            self.wanted_leaves = {id(t): i for i, t in enumerate(inputs) if t.grad_fn is None}
            self.wanted_nodes = {t.grad_fn: i for i, t in enumerate(inputs)
                                 if t.grad_fn is not None}
            self.captured: list[np.ndarray | None] = [None] * len(inputs)

    def capture(self, i: int, g: np.ndarray) -> None:
        prev = self.captured[i]
        self.captured[i] = g if prev is None else prev + g

    def leaf(self, t: Tensor, g: np.ndarray) -> None:
        """Hand ``g`` (already in the tensor's shape and dtype) to a leaf or retained tensor."""
        if t._hooks:
            g = _run_hooks(t._hooks, g, t.array)
        if self.inputs is not None:
            i = self.wanted_leaves.get(id(t))
            if i is not None:
                self.capture(i, g)
            return
        if t._grad is None:
            if id(g) in self.shared or g.base is not None or not g.flags.writeable:
                g = np.array(g, copy=True)
            self.shared.add(id(g))
            t._grad = tensor.Tensor._wrap(g)
        else:
            acc = t._grad.array
            if acc.shape == g.shape and acc.flags.writeable:
                np.add(acc, g, out=acc, casting="unsafe")
            else:
                t._grad.array = acc + g


def _run_hooks(hooks: list[Callable[[Tensor], Tensor | None]], g: np.ndarray,
               like: np.ndarray) -> np.ndarray:
    """Call each gradient hook in turn; one that returns a tensor replaces the gradient."""
    for hook in list(hooks):
        new = hook(tensor.Tensor._wrap(g))
        if new is not None:
            arr = new.array if isinstance(new, tensor.Tensor) else np.asarray(new)
            if arr.shape != like.shape:
                raise RuntimeError(f"hook returned a gradient of shape {tuple(arr.shape)}; "
                                   f"expected {tuple(like.shape)}")
            g = arr.astype(like.dtype, copy=False)
    return g


def _check_finite(node: Function, in_grads: tuple[Grad, ...]) -> None:
    """Anomaly mode: raise when a backward returned NaN or inf, naming the op and its forward."""
    for i, g in enumerate(in_grads):
        if g is None:
            continue
        g = np.asarray(g)
        if g.dtype.kind in "fc" and not np.isfinite(g).all():
            kind = "nan" if np.isnan(g).any() else "inf"
            raise RuntimeError(anomaly.describe(node.name(), i, kind, node._trace))


def run_backward(
    roots: Sequence[Tensor],
    grads: Sequence[np.ndarray],
    retain_graph: bool = False,
    inputs: Sequence[Tensor] | None = None,
) -> list[np.ndarray | None] | None:
    """Propagate ``grads`` from the output tensors ``roots`` down to the leaves.

    With ``inputs`` (``autograd.grad``) the gradients of those tensors are returned instead of
    being accumulated into ``.grad``.
    """
    sink = _Sink(inputs)
    pending: dict[Function, np.ndarray] = {}
    nodes = []
    for t, g in zip(roots, grads):
        sink.shared.add(id(g))  # the caller's array: a leaf must get a copy
        if t.grad_fn is None:
            sink.leaf(t, g)
        else:
            prev = pending.get(t.grad_fn)
            pending[t.grad_fn] = g if prev is None else prev + g
            nodes.append(t.grad_fn)

    waiting = _count_consumers(nodes)
    ready = [n for n in dict.fromkeys(nodes) if waiting[n] == 0]
    while ready:
        node = ready.pop()
        edges = node.edges
        assert edges is not None  # a freed node was reported by _count_consumers
        grad = pending.pop(node, None)
        if grad is None:  # every consumer returned None for it: nothing flows further
            in_grads: Any = (None,) * len(edges)  # one gradient or a tuple: made a tuple below
        else:
            if inputs is not None and node in sink.wanted_nodes:
                sink.capture(sink.wanted_nodes[node], grad)
            if node._hooks:
                grad = _run_hooks(node._hooks, grad, grad)
            if node._retained is not None:
                out = node._retained()
                if out is not None:
                    sink.leaf(out, grad)
            node.last_use = not retain_graph
            in_grads = node.backward(node, grad)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            if anomaly._AnomalyState.enabled:
                _check_finite(node, in_grads)
            sink.shared.add(id(grad))
        if not retain_graph:
            node.__dict__.clear()  # saved arrays, edges and anything else the op stored
        for edge, g in zip(edges, in_grads):
            if edge is None:
                continue
            if isinstance(edge, Function):
                if g is not None:
                    if g.shape != edge.out_shape:
                        g = unbroadcast(g, edge.out_shape)
                    if g.dtype != edge.out_dtype:
                        g = g.astype(edge.out_dtype)
                    prev = pending.get(edge)
                    pending[edge] = g if prev is None else prev + g
                left = waiting[edge] - 1
                waiting[edge] = left
                if not left:
                    ready.append(edge)
            elif g is not None:
                a = edge.array
                if type(g) is not np.ndarray:
                    g = np.asarray(g)
                if g.shape != a.shape:
                    g = unbroadcast(g, a.shape)
                if g.dtype != a.dtype:
                    g = g.astype(a.dtype)
                sink.leaf(edge, g)
    return sink.captured if inputs is not None else None


def backward(
    root: Tensor, gradient: Tensor | None = None, retain_graph: bool = False,
    create_graph: bool = False
) -> None:
    """``tensor.backward()``: accumulate d(tensor)/d(leaf) into every leaf's ``.grad``."""
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported")
    if not root.requires_grad:
        raise RuntimeError(
            "element 0 of tensors does not require grad and does not have a grad_fn"
        )
    if gradient is None:
        if root.array.size != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        g = np.ones_like(root.array)
    else:
        g = gradient.array if isinstance(gradient, tensor.Tensor) else np.asarray(gradient)
        if g.shape != root.array.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[0] has a shape of {tuple(g.shape)} and "
                f"output[0] has a shape of {tuple(root.array.shape)}."
            )
        g = g.astype(root.array.dtype, copy=False)
    run_backward([root], [g], retain_graph=retain_graph)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Tensor | Sequence[Tensor | None] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """``tinytorch.autograd.grad``: gradients of ``outputs`` w.r.t. ``inputs`` (first order).

    Nothing is accumulated into ``.grad``; the gradients are returned as a tuple of Tensors.
    """
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported")
    Tensor = tensor.Tensor
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    gs = []
    for out, go in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if go is None:
            if out.array.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            gs.append(np.ones_like(out.array))
        else:
            gs.append(np.asarray(go.array if isinstance(go, Tensor) else go, out.array.dtype))
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    found = run_backward(outputs, gs, retain_graph=bool(retain_graph), inputs=inputs)
    result = []
    for g in found or []:
        if g is None and not allow_unused:
            raise RuntimeError(
                "One of the differentiated Tensors appears to not have been used in the graph. "
                "Set allow_unused=True if this is the desired behavior."
            )
        result.append(None if g is None else Tensor._wrap(np.array(g, copy=True)))
    return tuple(result)


def retain(t: Tensor) -> None:
    """Make a non-leaf tensor keep its ``.grad`` (``tensor.retain_grad()``)."""
    if t.grad_fn is not None:
        t.grad_fn._retained = weakref.ref(t)
