"""Intra-op threads: ``set_num_threads`` and the row splitter ops use."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import tinytorch
from tinytorch.core.parallel import parallel_rows


@pytest.fixture(autouse=True)
def _restore_threads():
    before = tinytorch.get_num_threads()
    yield
    tinytorch.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("rows", [0, 1, 7, 100])
def test_every_row_is_visited_exactly_once(threads: int, rows: int) -> None:
    tinytorch.set_num_threads(threads)
    seen = np.zeros(rows, dtype=np.int64)
    parallel_rows(rows, lambda r: np.add(seen[r], 1, out=seen[r]))
    assert (seen == 1).all()


def test_work_runs_on_several_threads_when_rows_allow() -> None:
    tinytorch.set_num_threads(2)
    names = set()
    barrier = threading.Barrier(2, timeout=10)

    def work(r: slice) -> None:
        names.add(threading.current_thread().name)
        barrier.wait()  # both halves must be running at once

    parallel_rows(10, work)
    assert len(names) == 2


def test_a_slow_thread_leaves_the_remaining_chunks_to_the_others() -> None:
    tinytorch.set_num_threads(2)
    caller = threading.current_thread().name
    done: dict[str, int] = {}

    def work(r: slice) -> None:
        name = threading.current_thread().name
        done[name] = done.get(name, 0) + 1
        if name == caller:
            time.sleep(0.2)  # the caller's core is busy elsewhere

    parallel_rows(8, work)
    assert sum(done.values()) == 8  # 4 chunks per thread, taken in turn
    assert done[caller] <= 2        # fixed halves would have given it 4


def test_pool_threads_run_under_the_callers_numpy_error_state() -> None:
    tinytorch.set_num_threads(2)
    seen: dict[str, str] = {}
    barrier = threading.Barrier(2, timeout=10)

    def work(r: slice) -> None:
        seen[threading.current_thread().name] = np.geterr()["over"]
        barrier.wait()  # keep both threads in play

    with np.errstate(over="ignore"):
        parallel_rows(2, work)
    assert len(seen) == 2 and set(seen.values()) == {"ignore"}


def test_few_rows_stay_on_the_calling_thread() -> None:
    tinytorch.set_num_threads(2)
    calls = []
    parallel_rows(10, lambda r: calls.append((r, threading.current_thread().name)),
                  min_rows=8)
    assert calls == [(slice(0, 10), threading.current_thread().name)]


def test_an_exception_in_a_worker_reaches_the_caller() -> None:
    tinytorch.set_num_threads(2)

    def work(r: slice) -> None:
        if r.start > 0:
            raise ValueError("boom in the second half")

    with pytest.raises(ValueError, match="second half"):
        parallel_rows(10, work)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_set_num_threads_rejects_non_positive_integers(bad: object) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        tinytorch.set_num_threads(bad)  # type: ignore[arg-type]


def test_get_num_threads_reports_what_was_set() -> None:
    tinytorch.set_num_threads(1)
    assert tinytorch.get_num_threads() == 1


def test_thread_count_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from tinytorch.core.parallel import _initial_count

    monkeypatch.setenv("TINYTORCH_NUM_THREADS", "3")
    assert _initial_count() == 3
    monkeypatch.setenv("TINYTORCH_NUM_THREADS", "zero")
    with pytest.raises(ValueError, match="TINYTORCH_NUM_THREADS"):
        _initial_count()
    monkeypatch.delenv("TINYTORCH_NUM_THREADS")
    assert _initial_count() >= 1
