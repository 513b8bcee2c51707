"""Tracing records every Function a forward runs, in this thread only."""

from __future__ import annotations

import threading

import pytest

import tinytorch as tt
from tinytorch.core.tracing import trace


def test_trace_records_each_op_with_its_arguments_and_result() -> None:
    seen = []
    x = tt.ones(2, 3)
    with trace(lambda fn, args, kwargs, out: seen.append((fn.__name__, args, kwargs, out))):
        y = (x * 2).sum(dim=1)
    names = [s[0] for s in seen]
    assert names == ["Mul", "Sum"]
    assert seen[0][1][0] is x and seen[0][1][1] == 2
    assert seen[1][2]["axes"] == (1,) and seen[1][3] is y


def test_nothing_is_recorded_outside_the_block_or_from_another_thread() -> None:
    seen = []
    with trace(lambda *record: seen.append(record)):
        worker = threading.Thread(target=lambda: tt.ones(2) + 1)
        worker.start()
        worker.join()
    tt.ones(2) * 3
    assert seen == []


def test_traces_do_not_nest() -> None:
    with trace(lambda *r: None), pytest.raises(RuntimeError, match="already open"):
        with trace(lambda *r: None):
            pass
