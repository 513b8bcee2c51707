"""``profile(model, example_input)``: parameters, FLOPs, saved memory and time of every layer.

How each column is found, all of it measured on the model as it runs:

- **Parameters and bytes** from ``named_parameters`` and ``named_buffers`` (a parameter
  shared by two layers, such as GPT's tied embedding, is counted once, where it is first met).
- **FLOPs and activation memory** from one recorded forward pass. Forward hooks on every
  module note each call (``hooks.CallRecorder``); after the pass, the autograd graph is
  walked from the output (``graph``) and each node is charged to the module call that
  created it. A node's FLOPs come from its op class and the shapes it saved (``flops``, by
  ``FlopCounterMode``'s rules); the saved memory is the distinct memory behind the arrays the
  nodes hold. Counting at the graph rather than by module type means that a functional call
  (``F.scaled_dot_product_attention`` inside ``MultiheadAttention``, a ``matmul`` in a
  user's ``forward``) is counted where it ran, and that backward FLOPs follow what backward
  will compute (no input gradient for the first layer).
- **Forward time** of a row: the time inside its module's calls minus the time inside their
  child modules, from the same hooks.
- **Backward time** of a row: a hook on every graph node notes the clock when the gradient
  reaches the node, just before its backward runs; the engine runs one node at a time, so a
  node's backward lasts until the next node's gradient arrives (or backward returns). It
  includes what the engine does with the node's results (summing gradients, filling
  ``.grad``), which is part of the layer's cost. Nothing is estimated from the forward.

Cost: one untimed counting pass and ``warmup`` untimed runs, then ``repeats`` runs with hooks
(per-layer times) and ``repeats`` without (end-to-end times, what the model costs as
installed); each figure is a median. The hooks add two clock reads per module call and one
per graph node; the graph walks run outside the timed windows.

``profile`` leaves the model as it found it: ``.grad`` of every parameter, the buffers
(BatchNorm's running statistics move in training mode) and the random generator's state
are put back afterwards. It profiles the model in its current mode (``train()`` or
``eval()``). The input is used through a detached copy, so a graph the caller built stays
untouched.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from tinytorch.core.engine import run_backward
from tinytorch.core.function import Function
from tinytorch.core.random import get_rng_state, set_rng_state
from tinytorch.core.tensor import Tensor
from tinytorch.nn.module import Module
from tinytorch.perf.profiler.flops import node_flops
from tinytorch.perf.profiler.graph import attribute, graph_nodes, memory_owner, saved_bytes
from tinytorch.perf.profiler.hooks import Call, CallRecorder, tensors_in
from tinytorch.perf.profiler.report import LayerProfile, Profile


def profile(model: Module, example_input: Any, *, backward: bool = True, repeats: int = 5,
            warmup: int = 1) -> Profile:
    """Profile one forward (and backward) pass of ``model`` on ``example_input``.

    ``example_input`` is a Tensor, or a tuple of positional arguments for ``model``. With
    ``backward=True`` the backward pass runs from every output tensor with a gradient of
    ones; with ``backward=False`` only the forward runs (backward FLOPs and times are 0; the
    saved memory is still what this forward keeps for a backward).

    Returns a ``Profile`` with one row per leaf module (and per module with parameters or ops
    of its own), totals, and end-to-end times (median of ``repeats`` timed runs after
    ``warmup`` untimed ones). A forward that fails raises the same kind of error, naming the
    layer (qualified module name) that failed and the shapes it was given.
    """
    if not isinstance(model, Module):
        raise TypeError(f"profile: expected a tinytorch.nn.Module, got {type(model).__name__}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"profile: repeats must be a positive int, got {repeats!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"profile: warmup must be a non-negative int, got {warmup!r}")
    args = _own_inputs(example_input)
    rows = {name: LayerProfile(name, type(m).__name__)
            for name, m in model.named_modules()}
    _count_state(model, rows)
    with _model_kept(model):
        with CallRecorder(model) as recorder:
            calls, owner, outputs = _recorded_forward(model, args, recorder)
            busy = _count_graph(model, rows, calls, recorder.finished, owner, outputs,
                                backward)
        del owner, outputs                     # drop the counting pass's graph
        for _ in range(warmup):
            _layer_times(model, args, backward)
            _whole_times(model, args, backward)
        layers = [_layer_times(model, args, backward) for _ in range(repeats)]
        whole = [_whole_times(model, args, backward) for _ in range(repeats)]
    kept = _rows_to_keep(model, rows, busy)
    for name in kept:
        rows[name].forward_ms = statistics.median(f.get(name, 0.0) for f, _ in layers) * 1e3
        rows[name].backward_ms = statistics.median(b.get(name, 0.0) for _, b in layers) * 1e3
    return Profile(
        model=type(model).__name__,
        input_shapes=[tuple(t.shape) for t in tensors_in(args)],
        layers=[rows[name] for name in kept],
        backward=backward, repeats=repeats,
        forward_ms=statistics.median(f for f, _ in whole) * 1e3,
        backward_ms=statistics.median(b for _, b in whole) * 1e3,
        kv_cache_bytes=_kv_cache_bytes(model, args))


def _kv_cache_bytes(model: Module, args: tuple[Any, ...]) -> int:
    """For a model that generates with a KV cache (``new_cache``, as ``GPT``): the bytes of
    a real cache for this batch at full context, read from the allocated arrays; else 0."""
    new_cache = getattr(model, "new_cache", None)
    inputs = list(tensors_in(args))
    if new_cache is None or not inputs:
        return 0
    return int(new_cache(inputs[0].shape[0]).nbytes)


# ---------------------------------------------------------------------------- the passes
def _recorded_forward(model: Module, args: tuple[Any, ...], recorder: CallRecorder
                      ) -> tuple[list[Call], dict[Function, int], Any]:
    """One forward pass with every call recorded; its calls, node owners and outputs."""
    try:
        outputs = model(*args)
    except Exception as e:
        if not recorder.stack:
            raise
        raise _layer_error(e, recorder.calls[recorder.stack[-1]]) from e
    calls = recorder.finish()
    return calls, attribute(calls, recorder.finished), outputs


def _layer_times(model: Module, args: tuple[Any, ...], backward: bool
                 ) -> tuple[dict[str, float], dict[str, float]]:
    """One forward (and backward) pass with hooks: seconds per row, forward and backward."""
    with CallRecorder(model) as recorder:
        outputs = model(*args)
    calls = recorder.finish()
    forward: dict[str, float] = defaultdict(float)
    for call in calls:
        forward[call.name] += call.own_seconds
    back: dict[str, float] = defaultdict(float)
    if backward:
        owner = attribute(calls, recorder.finished)
        roots = _roots(outputs)
        arrivals: list[tuple[float, Function]] = []
        for node in graph_nodes(t.grad_fn for t in roots):
            node.register_hook(_clock(arrivals, node))
        _clear_grads(model)
        run_backward(roots, [np.ones_like(t.array) for t in roots])
        end = time.perf_counter()
        stamps = [t for t, _ in arrivals] + [end]
        for i, (t, node) in enumerate(arrivals):
            if node in owner:
                back[calls[owner[node]].name] += stamps[i + 1] - t
    return forward, back


def _whole_times(model: Module, args: tuple[Any, ...], backward: bool) -> tuple[float, float]:
    """One forward (and backward) pass without hooks: the seconds of each, end to end."""
    start = time.perf_counter()
    outputs = model(*args)
    forward_s = time.perf_counter() - start
    if not backward:
        return forward_s, 0.0
    roots = _roots(outputs)
    grads = [np.ones_like(t.array) for t in roots]
    _clear_grads(model)
    start = time.perf_counter()
    run_backward(roots, grads)
    return forward_s, time.perf_counter() - start


def _clock(arrivals: list[tuple[float, Function]], node: Function) -> Any:
    """A gradient hook that notes when the gradient reached ``node``."""
    def hook(grad: Tensor) -> None:
        arrivals.append((time.perf_counter(), node))
    return hook


# ---------------------------------------------------------------------------- the counts
def _count_state(model: Module, rows: dict[str, LayerProfile]) -> None:
    """Parameters and buffer bytes, each charged to the module that holds it (shared: once)."""
    for name, p in model.named_parameters():
        row = rows[name.rpartition(".")[0]]
        row.params += p.array.size
        row.param_bytes += p.array.nbytes
    for name, b in model.named_buffers():
        rows[name.rpartition(".")[0]].buffer_bytes += b.array.nbytes


def _count_graph(model: Module, rows: dict[str, LayerProfile], calls: list[Call],
                 finished: list[int], owner: dict[Function, int], outputs: Any,
                 backward: bool) -> set[str]:
    """FLOPs, saved bytes, calls and traffic per row, from the recorded pass; returns the
    names of the modules that created graph nodes. The calls are visited in the order they
    finished, so a shared saved array is charged to the layer that ran first rather than to
    the module around it."""
    nodes = graph_nodes(t.grad_fn for t in _roots(outputs))
    if not nodes:
        raise RuntimeError(
            f"profile: the forward of {type(model).__name__} recorded no autograd graph, so "
            "there is nothing to count: no parameter requires grad and neither does the "
            "input. Profile a model with trainable parameters (model.requires_grad_(True)).")
    by_call: dict[int, list[Function]] = defaultdict(list)
    for node in nodes:
        if node in owner:
            by_call[owner[node]].append(node)
    weights = {id(memory_owner(t.array))
               for t in [*model.parameters(), *model.buffers()]}
    counted: set[int] = set()
    for index in finished:
        call = calls[index]
        row = rows[call.name]
        row.calls += 1
        row.input_bytes += call.input_bytes
        row.output_bytes += call.output_bytes
        mine = by_call.get(index, [])
        for node in mine:
            fwd, bwd = node_flops(node)
            row.flops_forward += fwd
            row.flops_backward += bwd if backward else 0
        row.saved_bytes += saved_bytes(mine, weights, counted)
    return {calls[index].name for index in by_call}


def _rows_to_keep(model: Module, rows: dict[str, LayerProfile], busy: set[str]) -> list[str]:
    """Leaf modules, and other modules with parameters, buffers or ops of their own."""
    return [name for name, m in model.named_modules()
            if next(m.children(), None) is None or name in busy or rows[name].params
            or rows[name].buffer_bytes]


# ---------------------------------------------------------------------------- helpers
def _clear_grads(model: Module) -> None:
    """``zero_grad(set_to_none=True)`` before each timed backward, as a training step has it."""
    for p in model.parameters():
        p.grad = None


def _roots(outputs: Any) -> list[Tensor]:
    """The output tensors backward starts from: those that carry a graph."""
    return [t for t in tensors_in(outputs) if t.grad_fn is not None]


def _own_inputs(example_input: Any) -> tuple[Any, ...]:
    """The arguments, each Tensor replaced by a detached copy (a new leaf with the same
    ``requires_grad``), so that backward neither enters nor frees the caller's graph."""
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    if not any(isinstance(a, Tensor) for a in args):
        raise TypeError(f"profile: example_input must be a Tensor or a tuple of arguments "
                        f"holding one, got {type(example_input).__name__}")
    return tuple(a.detach().requires_grad_(a.requires_grad) if isinstance(a, Tensor) else a
                 for a in args)


@contextmanager
def _model_kept(model: Module) -> Iterator[None]:
    """Run the block, then put back the parameters' ``.grad``, the buffers and the RNG."""
    grads = [(p, p.grad) for p in model.parameters()]
    for p, _ in grads:
        p.grad = None
    buffers = [(b, b.array.copy()) for b in model.buffers()]
    rng = get_rng_state()
    try:
        yield
    finally:
        for p, g in grads:
            p.grad = g
        for b, saved in buffers:
            np.copyto(b.array, saved)
        set_rng_state(rng)


def _layer_error(error: Exception, call: Call) -> Exception:
    """``error`` again (the same built-in type), its message naming the failing layer."""
    shapes = ", ".join(str(s) for s in call.input_shapes) or "no tensors"
    label = call.name or "(model)"
    message = (f"profile: layer '{label}' ({type(call.module).__name__}) failed on input of "
               f"shape {shapes}: {error}")
    kind = type(error) if type(error).__module__ == "builtins" else RuntimeError
    try:
        return kind(message)
    except TypeError:
        return RuntimeError(message)

