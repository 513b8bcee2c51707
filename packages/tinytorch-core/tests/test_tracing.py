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


def test_values_handed_to_python_are_reported_to_the_host_reader() -> None:
    reads = []
    x = tt.tensor([1.5, -2.0])
    with trace(lambda *r: None, on_host_read=lambda t, how: reads.append((t, how))):
        s = x.sum()
        bool(s > 0)
        float(s)
        x.tolist()
        x.numpy()
    assert [how for _, how in reads] == ["bool()", "item()", "tolist()", "numpy()"]
    assert reads[1][0] is s and reads[2][0] is x
    x.tolist()                                       # outside the block: not reported
    assert len(reads) == 4


def test_host_reads_from_another_thread_are_not_reported() -> None:
    reads = []
    with trace(lambda *r: None, on_host_read=lambda t, how: reads.append(how)):
        worker = threading.Thread(target=lambda: tt.ones(1).item())
        worker.start()
        worker.join()
    assert reads == []
