"""The thread policy: ``set_num_threads``, the row splitter ops use, and NumPy's BLAS threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tinytorch
from tinytorch.core import parallel
from tinytorch.core.parallel import (
    blas_for_gemm,
    blas_for_matmul,
    blas_threads,
    get_blas_threads,
    parallel_rows,
)

needs_openblas = pytest.mark.skipif(not parallel.blas_controllable(),
                                    reason="NumPy's BLAS is not an OpenBLAS found here")


@pytest.fixture(autouse=True)
def _restore_threads(monkeypatch: pytest.MonkeyPatch):
    before = tinytorch.get_num_threads()
    monkeypatch.setattr(parallel._State, "adaptive", parallel._State.adaptive)
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


def test_a_stalled_thread_leaves_the_remaining_chunks_to_the_others() -> None:
    tinytorch.set_num_threads(2)
    caller = threading.current_thread().name
    done: dict[str, int] = {}
    others_done = threading.Event()

    def work(r: slice) -> None:
        name = threading.current_thread().name
        done[name] = done.get(name, 0) + 1
        if name == caller:      # the caller's core is busy elsewhere until the rest is done
            assert others_done.wait(timeout=10)
        elif done[name] == 7:   # all but the one chunk the caller may hold
            others_done.set()

    parallel_rows(8, work)
    assert sum(done.values()) == 8   # 4 chunks per thread, taken in turn
    assert done.get(caller, 0) <= 1  # fixed halves would have given it 4


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


def test_num_threads_sets_the_count_for_a_block_and_restores_the_default_policy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel._State, "adaptive", True)
    before = tinytorch.get_num_threads()
    with parallel.num_threads(3):
        assert tinytorch.get_num_threads() == 3 and not parallel._State.adaptive
    assert tinytorch.get_num_threads() == before and parallel._State.adaptive
    with pytest.raises(ValueError, match="num_threads expects a positive integer"):
        parallel.num_threads(0)


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


# --------------------------------------------------------------------------- BLAS threads


@pytest.fixture()
def two_free_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with two idle cores, the default (adaptive) count of two threads, and an
    OpenBLAS that may start two threads."""
    monkeypatch.setattr(parallel, "free_cores", lambda: 2)
    monkeypatch.setattr(parallel._blas, "initial", 2)
    tinytorch.set_num_threads(2)
    monkeypatch.setattr(parallel._State, "adaptive", True)


@needs_openblas
def test_blas_rests_on_one_thread_after_import() -> None:
    assert get_blas_threads() == 1


@needs_openblas
def test_blas_threads_holds_the_count_inside_the_block_and_restores_it() -> None:
    with blas_threads(2):
        assert get_blas_threads() == 2
        with blas_threads(1):
            assert get_blas_threads() == 1
        assert get_blas_threads() == 2
    assert get_blas_threads() == 1


@needs_openblas
def test_blas_threads_restores_the_count_after_an_exception() -> None:
    with pytest.raises(KeyError), blas_threads(2):
        raise KeyError("inside")
    assert get_blas_threads() == 1


@pytest.mark.parametrize("bad", [0, -2, 1.0, True, "2"])
def test_blas_threads_rejects_non_positive_integers(bad: object) -> None:
    with pytest.raises(ValueError, match="blas_threads expects a positive integer"):
        blas_threads(bad)  # type: ignore[arg-type]


def test_blas_threads_is_a_no_op_when_blas_cannot_be_controlled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel._blas, "set", None)
    monkeypatch.setattr(parallel._blas, "get", None)
    assert not parallel.blas_controllable() and get_blas_threads() is None
    with blas_threads(2):
        assert np.array_equal(np.eye(2) @ np.ones(2), np.ones(2))
    assert get_blas_threads() is None


@needs_openblas
def test_a_large_product_gets_two_blas_threads_and_a_small_one_stays_on_one(
        two_free_cores: None) -> None:
    side = round(parallel.GEMM_PARALLEL_MACS ** (1 / 3)) + 1
    with blas_for_gemm(side, side, side):
        assert get_blas_threads() == 2
    assert get_blas_threads() == 1
    with blas_for_gemm(side - 2, side - 2, side - 2):
        assert get_blas_threads() == 1


@needs_openblas
def test_large_products_stay_on_one_thread_with_one_thread_or_one_free_core(
        two_free_cores: None, monkeypatch: pytest.MonkeyPatch) -> None:
    big = parallel.GEMM_PARALLEL_MACS
    monkeypatch.setattr(parallel, "free_cores", lambda: 1)
    with blas_for_gemm(big, 1, 1):
        assert get_blas_threads() == 1
    tinytorch.set_num_threads(1)
    with blas_for_gemm(big, 1, 1):
        assert get_blas_threads() == 1


@needs_openblas
def test_a_count_that_was_set_is_used_whatever_the_load(
        two_free_cores: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "free_cores", lambda: 1)
    tinytorch.set_num_threads(2)
    assert not parallel._State.adaptive
    with blas_for_gemm(parallel.GEMM_PARALLEL_MACS, 1, 1):
        assert get_blas_threads() == 2
    names = set()
    barrier = threading.Barrier(2, timeout=10)

    def work(r: slice) -> None:
        names.add(threading.current_thread().name)
        barrier.wait()

    parallel_rows(10, work)
    assert len(names) == 2


def test_the_default_count_leaves_busy_cores_to_their_owners(
        two_free_cores: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parallel.usable_threads() == 2
    monkeypatch.setattr(parallel, "free_cores", lambda: 1)
    assert parallel.usable_threads() == 1 and tinytorch.get_num_threads() == 2
    calls = []
    parallel_rows(10, lambda r: calls.append((r, threading.current_thread().name)))
    assert calls == [(slice(0, 10), threading.current_thread().name)]


@needs_openblas
def test_blas_never_gets_more_threads_than_openblas_started_with(
        two_free_cores: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel._blas, "initial", 1)   # as with OPENBLAS_NUM_THREADS=1
    with blas_for_gemm(parallel.GEMM_PARALLEL_MACS, 1, 1):
        assert get_blas_threads() == 1


@needs_openblas
def test_overlapping_large_products_leave_blas_resting_where_it_was(
        two_free_cores: None) -> None:
    first = blas_for_gemm(parallel.GEMM_PARALLEL_MACS, 1, 1)
    second = blas_for_gemm(parallel.GEMM_PARALLEL_MACS, 1, 1)
    first.__enter__()
    second.__enter__()              # as from another Python thread
    first.__exit__(None, None, None)
    assert get_blas_threads() == 2  # the second product is still running
    second.__exit__(None, None, None)
    assert get_blas_threads() == 1


@pytest.mark.parametrize(("a", "b", "size"), [
    ((4, 5), (5, 6), (4, 5, 6)),
    ((5,), (5, 6), (1, 5, 6)),
    ((4, 5), (5,), (4, 5, 1)),
    ((3, 2, 4, 5), (5, 6), (4, 5, 6)),   # batched: the size of one product
])
def test_blas_for_matmul_passes_the_size_of_one_product(
        monkeypatch: pytest.MonkeyPatch, a: tuple[int, ...], b: tuple[int, ...],
        size: tuple[int, int, int]) -> None:
    seen = []
    monkeypatch.setattr(parallel, "blas_for_gemm", lambda *mkn: seen.append(mkn))
    blas_for_matmul(np.empty(a), np.empty(b))
    assert seen == [size]


# --------------------------------------------------------------------------- free cores


@pytest.fixture()
def machine(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float | None, float]]:
    """Two cores and a scripted ``_sample``: append (now, system busy s, our CPU s) to it."""
    samples: list[tuple[float, float | None, float]] = []
    monkeypatch.setattr(parallel._Load, "cpus", {0, 1})
    monkeypatch.setattr(parallel._Load, "free", 2)
    monkeypatch.setattr(parallel, "_sample", lambda cpus: samples.pop(0))
    when, busy, ours = 100.0, 50.0, 10.0
    monkeypatch.setattr(parallel._Load, "when", when)
    monkeypatch.setattr(parallel._Load, "busy", busy)
    monkeypatch.setattr(parallel._Load, "ours", ours)
    monkeypatch.setattr(parallel.time, "monotonic", lambda: samples[0][0] if samples else when)
    return samples


@pytest.mark.parametrize(("others", "free"), [(0.0, 2), (0.3, 2), (0.6, 1), (1.0, 1),
                                               (2.0, 1)])
def test_free_cores_leaves_out_cores_other_processes_keep_busy(
        machine: list[tuple[float, float | None, float]], others: float, free: int) -> None:
    ours = 1.5                                 # our own threads' use in the 1 s window
    machine.append((101.0, 50.0 + ours + others, 10.0 + ours))
    assert parallel.free_cores() == free


def test_free_cores_looks_again_only_after_the_interval(
        machine: list[tuple[float, float | None, float]]) -> None:
    machine.append((100.0 + parallel.LOAD_INTERVAL / 2, 99.0, 10.0))   # too soon: not taken
    assert parallel.free_cores() == 2
    assert len(machine) == 1


def test_free_cores_without_proc_stat_counts_every_core(
        machine: list[tuple[float, float | None, float]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel._Load, "busy", None)
    machine.append((200.0, None, 10.0))
    assert parallel.free_cores() == 2


def test_busy_seconds_reads_the_system_cpu_time() -> None:
    busy = parallel._busy_seconds(parallel._cores())
    if busy is None:
        pytest.skip("no /proc/stat here")
    assert busy > 0


def _recording_blas(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every BLAS thread count the policy sets, in order."""
    calls: list[int] = []
    real = parallel._set_blas

    def record(n: int) -> None:
        calls.append(n)
        real(n)

    monkeypatch.setattr(parallel, "_set_blas", record)
    return calls


@needs_openblas
def test_a_large_matmul_runs_forward_and_backward_on_two_blas_threads(
        two_free_cores: None, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _recording_blas(monkeypatch)
    x = tinytorch.randn(256, 256, requires_grad=True)
    w = tinytorch.randn(256, 256, requires_grad=True)
    (x @ w).sum().backward()
    assert calls == [2, 1, 2, 1]                       # forward, then both backward products
    assert get_blas_threads() == 1

