"""Intra-op parallelism: split one op's rows across threads (``tinytorch.set_num_threads``).

Systems view: NumPy runs each ufunc (``exp``, ``max``, ``multiply``, ...) on one core but
releases the GIL while it does, so two threads working on different rows of one array finish
a memory- or ``exp``-bound pass in well under the time of one (1.5-1.7x faster on the two
cores here). Ops whose cost is a few passes over a large array (cross-entropy, attention,
GELU, layer norm, the batch chunks of a convolution) hand their rows to ``parallel_rows``;
small arrays stay on the calling thread, where a thread hand-off (~20 µs) would cost more
than it saves. Matrix products are left to BLAS, which has threads of its own. The count
starts at ``$TINYTORCH_NUM_THREADS`` or the number of cores.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def _initial_count() -> int:
    """``$TINYTORCH_NUM_THREADS`` when set (a positive integer), else the number of cores."""
    value = os.environ.get("TINYTORCH_NUM_THREADS")
    if value is None:
        return os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"TINYTORCH_NUM_THREADS must be a positive integer, got {value!r}")
    return int(value)


CHUNKS_PER_THREAD = 4


class _Threads:
    """The thread count and the pool, created on first use and resized on demand."""

    count: int = _initial_count()
    pool: ThreadPoolExecutor | None = None


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for intra-op parallelism (like ``torch.set_num_threads``).

    It does not change NumPy's BLAS threads (set ``OPENBLAS_NUM_THREADS`` before starting
    Python, or use threadpoolctl, for those).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads expects a positive integer, got {n!r}")
    if n != _Threads.count and _Threads.pool is not None:
        _Threads.pool.shutdown(wait=True)
        _Threads.pool = None
    _Threads.count = n


def get_num_threads() -> int:
    """The number of threads used for intra-op parallelism."""
    return _Threads.count


def parallel_rows(rows: int, work: Callable[[slice], None], min_rows: int = 1) -> None:
    """Call ``work(slice)`` on contiguous row ranges covering ``range(rows)``, in parallel.

    ``work`` must only touch its own rows of any output. With one thread, or fewer than
    ``2 * min_rows`` rows, it is a single call on the caller's thread. Otherwise the rows are
    cut into up to ``CHUNKS_PER_THREAD`` chunks per thread, which the caller and the pool's
    threads take in turn until none are left: on a shared machine one core is often slower
    than the other for a while, and fixed halves would leave the faster one waiting. The
    pool's threads run ``work`` under the caller's NumPy error state (``np.errstate``).
    """
    k = min(_Threads.count, rows // max(1, min_rows))
    if k <= 1:
        work(slice(0, rows))
        return
    if _Threads.pool is None:
        _Threads.pool = ThreadPoolExecutor(_Threads.count, thread_name_prefix="tinytorch")
    chunks = min(rows // max(1, min_rows), CHUNKS_PER_THREAD * k)
    bounds = [rows * i // chunks for i in range(chunks + 1)]
    tickets = itertools.count()  # next() on it is atomic under the GIL
    errors = np.geterr()         # np.errstate is per thread: the pool runs under the caller's

    def drain() -> None:
        while (i := next(tickets)) < chunks:
            work(slice(bounds[i], bounds[i + 1]))

    def drain_as_caller() -> None:
        with np.errstate(**errors):
            drain()

    futures = [_Threads.pool.submit(drain_as_caller) for _ in range(k - 1)]
    drain()
    for f in futures:
        f.result()
