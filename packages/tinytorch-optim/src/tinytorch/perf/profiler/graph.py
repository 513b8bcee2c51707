"""Reading the autograd graph a forward pass recorded: its nodes, who made them, what they hold.

After a forward pass with gradients on, the output's ``grad_fn`` is the root of a graph of
``Function`` nodes; each node's ``edges`` lead to the nodes that produced its inputs (or to
leaf tensors, or ``None``), and ``saved_tensors`` holds the arrays its backward will read.
Everything the profiler knows about FLOPs and activation memory comes from walking it:

- ``graph_nodes``: every node reachable from the outputs, by an iterative depth-first walk
  (no recursion: a deep chain must not hit Python's limit). Cost: one visit per node and edge.
- ``attribute``: which module call created each node. A call's nodes are those reachable
  from its outputs that are not reachable from its inputs. The calls are visited in the order
  they finished, so a child call (which finishes before its parent) has claimed its own nodes
  when the parent's walk passes through them; the parent keeps only the nodes it made itself
  (a residual add, a projection written as a functional call). The walk stops at the input
  nodes of the call and at nodes claimed by calls outside it, which ran before it started.
- ``saved_bytes``: the activation memory, measured from the arrays the nodes really hold.
  Arrays are grouped by the array that owns their memory (following ``.base``), so a view
  saved by three nodes counts once, at the size of the memory it keeps alive; parameters and
  buffers are weights, not activations, and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tinytorch.core.function import Function


def graph_nodes(roots: Iterable[Function | None]) -> list[Function]:
    """Every node reachable from ``roots``, each once, roots first (depth-first order)."""
    seen: set[int] = set()
    order: list[Function] = []
    stack: list[Function] = [r for r in roots if r is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        stack.extend(e for e in node.edges or () if isinstance(e, Function))
    return order


def attribute(calls: Sequence[Any], finished: Sequence[int]) -> dict[Function, int]:
    """Map each node to the index in ``calls`` of the module call that created it.

    ``calls`` are the module calls in the order they started; each has ``inputs`` and
    ``outputs`` (the ``grad_fn`` of its tensor arguments and results) and ``parent`` (the index
    of the call it ran inside, or None). ``finished`` lists their indices in the order they
    finished.
    """
    owner: dict[Function, int] = {}
    inner: dict[int, set[int]] = {}  # call -> ids of nodes made by calls nested in it
    for index in finished:
        call = calls[index]
        nested = inner.pop(index, set())
        stop = {id(n) for n in call.inputs if n is not None}
        mine: set[int] = set()
        seen: set[int] = set()
        stack = [n for n in call.outputs if n is not None]
        while stack:
            node = stack.pop()
            key = id(node)
            if key in seen or key in stop:
                continue
            seen.add(key)
            if key in nested:
                pass                      # a child's node: walk through it to find ours
            elif node in owner:
                continue                  # made outside this call, before it started
            else:
                owner[node] = index
                mine.add(key)
            stack.extend(e for e in node.edges or () if isinstance(e, Function))
        if call.parent is not None:
            inner.setdefault(call.parent, set()).update(nested, mine)
    return owner


def memory_owner(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory (``a`` itself when it is no view)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def saved_bytes(nodes: Iterable[Function], weights: set[int],
                counted: set[int]) -> int:
    """Bytes of the memory that ``nodes`` keep for backward and that is not yet in ``counted``.

    ``weights`` holds the ids of the memory owners of parameters and buffers (never counted);
    ``counted`` (updated here) the ids already charged elsewhere, so a shared array is charged
    once, to the first caller that meets it.
    """
    total = 0
    for node in nodes:
        for a in node.saved_tensors:
            if not isinstance(a, np.ndarray):
                continue
            root = memory_owner(a)
            key = id(root)
            if key in weights or key in counted:
                continue
            counted.add(key)
            total += root.nbytes
    return total
