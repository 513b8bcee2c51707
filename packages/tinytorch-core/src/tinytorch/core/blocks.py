"""Cache-sized blocks of rows on the intra-op threads: the loop that every blocked kernel shares.

Systems view: a kernel written as ``k`` NumPy calls on a whole array of ``n`` elements streams
the array through memory ``k`` times, each pass at the speed of DRAM. The same ``k`` calls on a
block that fits in cache read the block from memory once and run the other passes from cache,
several times faster for ``k`` of ten or more. ``map_row_blocks`` is that loop: it cuts
``rows`` rows into blocks of ``block_rows`` rows and hands the blocks to
``parallel_rows``'s threads. It loops over *blocks*, never over elements: the price is one
Python call per block (a few microseconds for a kernel of a few NumPy calls), which is why a
block holds a few hundred thousand elements rather than a few thousand. Each thread gets its
own scratch arrays, made once per thread and call and reused by every block that thread takes.

Determinism: the block grid depends on ``rows`` and ``block_rows`` only, never on the thread
count. A sum across blocks (a weight gradient summed over rows) goes into one partial sum per
*group*, a fixed run of consecutive blocks, and the caller adds the groups up in order after
the call. No two threads write one element, so the results are bit-identical for any number of
threads. An input of one block never leaves the calling thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from tinytorch.core.parallel import parallel_rows

S = TypeVar("S")


def rows_per_block(row_size: int, block_elements: int) -> int:
    """Rows in a block of about ``block_elements`` elements when a row has ``row_size``; >= 1."""
    return max(1, block_elements // max(row_size, 1))


def block_count(rows: int, block_rows: int) -> int:
    """The number of blocks ``map_row_blocks`` cuts ``rows`` rows into (the last may be short)."""
    return -(-rows // block_rows)


def group_count(rows: int, block_rows: int, groups: int) -> int:
    """The number of groups (at most ``groups``) the blocks are dealt into: size partial sums
    with it before calling ``map_row_blocks(..., groups=groups)``."""
    return min(block_count(rows, block_rows), groups)


def map_row_blocks(rows: int, block_rows: int,
                   work: Callable[[slice, int, Any], None], *,
                   groups: int | None = None,
                   scratch: Callable[[], S] | None = None) -> None:
    """Call ``work(block, group, scratch)`` once for every block of rows, on the threads.

    ``block`` is ``slice(k·block_rows, min((k+1)·block_rows, rows))`` for block ``k``; the
    blocks cover ``range(rows)`` exactly once. ``work`` must only write its own rows of any
    output, or its own group's partial sums.

    ``groups``: deal the ``n`` blocks into ``G = group_count(rows, block_rows, groups)`` fixed
    runs of consecutive blocks (group ``g`` holds blocks ``n·g // G`` up to ``n·(g+1) // G``)
    and pass the group's number, so per-group partial sums do not depend on the threads.
    Without it every block is its own group and ``group`` is the block's number.

    ``scratch``: called at most once per thread and call to make that thread's scratch
    (arrays sized for one block, holding garbage on entry to ``work``); ``None`` passes None.
    """
    n_blocks = block_count(rows, block_rows)
    n_groups = n_blocks if groups is None else min(n_blocks, groups)
    local = threading.local()          # each thread's scratch, shared by the groups it takes

    def run(ids: slice) -> None:
        mine = None
        if scratch is not None:
            mine = getattr(local, "scratch", None)
            if mine is None:
                mine = local.scratch = scratch()
        for group in range(ids.start, ids.stop):
            first, last = n_blocks * group // n_groups, n_blocks * (group + 1) // n_groups
            for k in range(first, last):
                start = k * block_rows
                work(slice(start, min(start + block_rows, rows)), group, mine)

    parallel_rows(n_groups, run)
