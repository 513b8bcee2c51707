"""``map_row_blocks``: every row in exactly one block, per-thread scratch, thread-free groups."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinytorch
from tinytorch.core.blocks import block_count, group_count, map_row_blocks, rows_per_block


@pytest.fixture(autouse=True)
def _restore_threads():
    before = tinytorch.get_num_threads()
    yield
    tinytorch.set_num_threads(before)


def _record(rows: int, block_rows: int, threads: int,
            groups: int | None = None) -> list[tuple[int, int, int]]:
    tinytorch.set_num_threads(threads)
    seen: list[tuple[int, int, int]] = []
    lock = threading.Lock()

    def work(blk: slice, group: int, scratch: None) -> None:
        with lock:
            seen.append((blk.start, blk.stop, group))

    map_row_blocks(rows, block_rows, work, groups=groups)
    return sorted(seen)


@given(rows=st.integers(0, 200), block_rows=st.integers(1, 40),
       groups=st.one_of(st.none(), st.integers(1, 8)), threads=st.integers(1, 3))
def test_blocks_cover_every_row_once_on_a_grid_that_ignores_the_threads(rows, block_rows,
                                                                        groups, threads):
    seen = _record(rows, block_rows, threads, groups)
    covered = [r for start, stop, _ in seen for r in range(start, stop)]
    assert covered == list(range(rows))
    assert all(stop - start == block_rows for start, stop, _ in seen[:-1])
    assert len(seen) == (block_count(rows, block_rows) if rows else 0)
    assert seen == _record(rows, block_rows, 1, groups)        # same blocks, same groups
    n_groups = group_count(rows, block_rows, groups) if groups else len(seen)
    assert sorted({g for *_, g in seen}) == list(range(n_groups))
    assert [g for *_, g in seen] == sorted(g for *_, g in seen)   # groups are runs of blocks


def test_each_thread_makes_its_scratch_once_and_keeps_it():
    tinytorch.set_num_threads(2)
    made: list[int] = []
    used: dict[int, set[int]] = {}
    lock = threading.Lock()

    def scratch() -> np.ndarray:
        with lock:
            made.append(threading.get_ident())
        return np.empty(4)

    def work(blk: slice, group: int, tmp: np.ndarray) -> None:
        with lock:
            used.setdefault(threading.get_ident(), set()).add(id(tmp))

    map_row_blocks(64, 4, work, scratch=scratch)
    assert sorted(made) == sorted(set(made))                  # at most once per thread
    assert set(used) == set(made)
    assert all(len(ids) == 1 for ids in used.values())        # the same arrays every block


def test_group_partial_sums_are_bit_identical_on_one_and_two_threads():
    x = np.random.default_rng(0).standard_normal((1000, 7)).astype(np.float32)

    def column_sums(threads: int) -> np.ndarray:
        tinytorch.set_num_threads(threads)
        parts = np.zeros((group_count(1000, 16, 5), 7), dtype=np.float32)

        def work(blk: slice, group: int, scratch: None) -> None:
            parts[group] += x[blk].sum(axis=0)

        map_row_blocks(1000, 16, work, groups=5)
        return parts.sum(axis=0)

    np.testing.assert_array_equal(column_sums(1), column_sums(2))
    np.testing.assert_allclose(column_sums(2), x.sum(axis=0), rtol=1e-5)


def test_rows_per_block_is_at_least_one_row():
    assert rows_per_block(1000, 4096) == 4
    assert rows_per_block(10**6, 4096) == 1
    assert rows_per_block(0, 4096) == 4096
