"""Tracing: watch the ops a forward pass runs, for exporters and profilers.

``with trace(recorder):`` makes every ``Function.apply`` in the current thread call
``recorder(fn, args, kwargs, result)`` after it ran: the op's class, its arguments as given
(Tensors, arrays, Python values), its keyword configuration and the Tensor it returned. That
is the whole record an exporter needs to rebuild the computation in another format (the ONNX
exporter does), without patching any class.

``trace(recorder, on_host_read=reader)`` also calls ``reader(tensor, how)`` whenever a tensor's
value is handed to Python (``item()``, ``bool()``, ``tolist()``, ``numpy()``): the moment where
a data-dependent branch or loop count gets frozen into a trace, which an exporter warns about.

Ops that are not ``Function``s (comparisons, ``argmax``, integer arithmetic: results with no
gradient) are not seen: to a tracer their results look like constants. An exporter that must
follow them has to handle the module that computes them.

Systems view: off, it costs ``Function.apply`` one attribute read per op. On, one Python call
per op. Only the thread that opened the block is traced, so DataLoader workers and
``parallel_rows`` threads cannot interleave their ops into the record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tinytorch.core.function import Function
    from tinytorch.core.tensor import Tensor

Recorder = Callable[[type["Function"], tuple[Any, ...], dict[str, Any], "Tensor"], None]
HostReader = Callable[["Tensor", str], None]


class _TraceState:
    """The recorder of the thread being traced (``None``: nothing is traced)."""

    recorder: Recorder | None = None
    host_reader: HostReader | None = None
    thread: int | None = None


def record(fn: type[Function], args: tuple[Any, ...], kwargs: dict[str, Any],
           result: Tensor) -> None:
    """Called by ``Function.apply`` while a trace is open: hand the op to the recorder."""
    recorder = _TraceState.recorder
    if recorder is not None and threading.get_ident() == _TraceState.thread:
        recorder(fn, args, kwargs, result)


def host_read(t: Tensor, how: str) -> None:
    """Called by ``Tensor.item``/``__bool__``/``tolist``/``numpy``: tell the open trace's reader."""
    reader = _TraceState.host_reader
    if reader is not None and threading.get_ident() == _TraceState.thread:
        reader(t, how)


@contextmanager
def trace(recorder: Recorder, on_host_read: HostReader | None = None) -> Iterator[None]:
    """Call ``recorder(fn, args, kwargs, result)`` for every op this thread runs in the block,
    and ``on_host_read(tensor, how)`` (if given) whenever a tensor's value goes to Python."""
    if _TraceState.recorder is not None:
        raise RuntimeError("a trace is already open; tracing does not nest")
    _TraceState.recorder = recorder
    _TraceState.host_reader = on_host_read
    _TraceState.thread = threading.get_ident()
    try:
        yield
    finally:
        _TraceState.recorder = _TraceState.host_reader = None
        _TraceState.thread = None
