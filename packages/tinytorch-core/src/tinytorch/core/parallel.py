"""Threads: TinyTorch's own intra-op threads and NumPy's BLAS threads, under one policy.

Two kinds of threads do the work of an op:

- **Our own threads** (``parallel_rows``). NumPy runs each ufunc (``exp``, ``max``,
  ``multiply``, ...) on one core but releases the GIL while it does, so two threads working
  on different rows of one array finish a memory- or ``exp``-bound pass in well under the time
  of one. Ops whose cost is a few passes over a large array (cross-entropy, attention, GELU,
  layer norm, the batch chunks of a convolution) hand their rows to ``parallel_rows``; small
  arrays stay on the calling thread, where a thread hand-off (~20 µs) would cost more than it
  saves. Idle threads block on a queue: they never spin. Work is dealt out in small chunks
  that whichever thread is free takes next, so a thread that shares its core with another
  process simply takes fewer chunks.
- **BLAS threads.** NumPy's matrix products run in OpenBLAS, which has a thread pool of its
  own and splits each product into fixed parts, one per thread. A worker that finishes its
  part does not sleep: it spins, polling for the next job, for about 2^28 CPU cycles (a tenth
  of a second). On a quiet machine that saves a wake-up per product. On a shared one, a part
  given to a thread whose core another process holds finishes late, the whole product waits
  for it, and the spinning holds a core someone else needs: several times slower than one
  thread.

This module is the one place that sets either. ``set_num_threads(n)`` sets both: ``n``
threads of our own, and at most ``n`` BLAS threads for a product (``with num_threads(n):``
does so for a block). ``blas_threads(n)`` holds BLAS at ``n`` threads for a ``with`` block.

The default policy:

1. **BLAS rests on one thread.** Importing TinyTorch sets NumPy's BLAS to one thread (NumPy
   code outside TinyTorch included; ``blas_threads`` gives it more). A product runs on
   several threads only when rule 2 asks for it, so products inside our own parallel work
   (attention's slices, a convolution's batch chunks) never start BLAS threads of their own,
   and small products never leave a BLAS worker spinning.
2. **Large products get several BLAS threads.** A product of (M, K) by (K, N) costs M·K·N
   multiply-adds. From ``GEMM_PARALLEL_MACS`` of them on, splitting it gains more than the
   wake-up and the spinning after cost, so ``blas_for_gemm(m, k, n)``, which ``matmul`` and
   ``linear`` wrap around their products, raises BLAS to ``get_num_threads()`` threads for
   the product and sets it back to one after. A smaller product pays well under a
   microsecond for the check; a large one a few microseconds for the two switches, against
   the hundred or more the product itself takes. The trade-off: after a large product the
   BLAS worker still spins for its tenth of a second, on a core our own threads would use
   next, so on a quiet machine their next passes run slower than they could; the product
   itself runs nearly twice as fast. On a shared machine rule 3 avoids both.
3. **Only free cores count.** ``free_cores()`` looks, at most every ``LOAD_INTERVAL``
   seconds, at how much CPU time other processes took on the cores we may run on (the
   system's busy time from ``/proc/stat`` minus our own process's). Neither kind of thread
   goes to a core they keep busy: with one core of two taken, everything runs on the calling
   thread. A thread sharing a core with a busy process gets half of it at best, and a
   preempted thread holding a share of an op makes the whole op wait for its next time
   slice (milliseconds, against ops that take tens of microseconds). Where ``/proc/stat``
   does not exist, every core counts as free.
4. **A count that is set is used as set.** The default count (the number of cores) adapts
   to the load as above. After ``set_num_threads(n)``, or with ``$TINYTORCH_NUM_THREADS``,
   ``n`` threads are used whatever the load: whoever set it has decided (and tests get the
   same code path on every machine).

BLAS is controlled through OpenBLAS's own C functions (``openblas_set_num_threads`` and
``openblas_get_num_threads``, under the names NumPy's bundled OpenBLAS gives them), found in
the loaded library with ctypes. The count OpenBLAS started with (``$OPENBLAS_NUM_THREADS``,
else the number of cores) caps what rule 2 asks for. When NumPy uses another BLAS
(Accelerate, MKL, BLIS), ``blas_controllable()`` is False and the BLAS side of the policy does
nothing: that BLAS keeps its own threads.

The thread count starts at ``$TINYTORCH_NUM_THREADS`` or the number of cores we may run on.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import numpy as np


def _cores() -> set[int]:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return os.sched_getaffinity(0)
    return set(range(os.cpu_count() or 1))


def _initial_count() -> int:
    """``$TINYTORCH_NUM_THREADS`` when set (a positive integer), else the number of cores."""
    value = os.environ.get("TINYTORCH_NUM_THREADS")
    if value is None:
        return len(_cores())
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"TINYTORCH_NUM_THREADS must be a positive integer, got {value!r}")
    return int(value)


def _check_count(name: str, n: object) -> None:
    """Raise ``ValueError`` unless ``n`` is a positive ``int`` (``True`` is not a count)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{name} expects a positive integer, got {n!r}")


# ---------------------------------------------------------------------------------------------
# Our own threads


class _State:
    """Our thread count and pool, and the BLAS thread count as this module last set it."""

    count: int = _initial_count()
    adaptive: bool = "TINYTORCH_NUM_THREADS" not in os.environ   # rule 4
    pool: ThreadPoolExecutor | None = None
    blas: int = 1
    lock = threading.Lock()


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for intra-op parallelism (like ``torch.set_num_threads``): ``n``
    threads of our own in ``parallel_rows``, and ``n`` BLAS threads for a large product. From
    now on the count no longer adapts to the machine's load."""
    _check_count("set_num_threads", n)
    if n != _State.count and _State.pool is not None:
        _State.pool.shutdown(wait=True)
        _State.pool = None
    _State.count = n
    _State.adaptive = False


class num_threads:
    """``with num_threads(n):`` runs the block as after ``set_num_threads(n)``; on the way out
    the count, and whether it adapts to the load (rule 4), are back to what they were."""

    def __init__(self, n: int) -> None:
        _check_count("num_threads", n)
        self.n = n
        self.before = (_State.count, _State.adaptive)

    def __enter__(self) -> None:
        self.before = (_State.count, _State.adaptive)
        set_num_threads(self.n)

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        set_num_threads(self.before[0])
        _State.adaptive = self.before[1]


def _usable(n: int) -> int:
    """``n`` threads, or fewer when the count adapts to the load and fewer cores are free."""
    return min(n, free_cores()) if _State.adaptive and n > 1 else n


def get_num_threads() -> int:
    """The number of threads for intra-op parallelism (by default, fewer are used while other
    processes keep cores busy: see ``usable_threads``)."""
    return _State.count


def usable_threads() -> int:
    """The threads parallel work gets now: ``get_num_threads()``, or under the default policy
    no more than the free cores. An op that prepares work for several threads (cutting a
    batch into chunks) asks this first."""
    return _usable(_State.count)


CHUNKS_PER_THREAD = 4


def parallel_rows(rows: int, work: Callable[[slice], None], min_rows: int = 1) -> None:
    """Call ``work(slice)`` on contiguous row ranges covering ``range(rows)``, in parallel.

    ``work`` must only touch its own rows of any output. With one thread (or one free core,
    see the module's policy), or fewer than ``2 * min_rows`` rows, it is a single call on
    the caller's thread. Otherwise the rows are
    cut into up to ``CHUNKS_PER_THREAD`` chunks per thread, which the caller and the pool's
    threads take in turn until none are left: on a shared machine one core is often slower
    than the other for a while, and fixed halves would leave the faster one waiting. The
    pool's threads run ``work`` under the caller's NumPy error state (``np.errstate``).
    """
    k = _usable(min(_State.count, rows // max(1, min_rows)))
    if k <= 1:
        work(slice(0, rows))
        return
    if _State.pool is None:
        _State.pool = ThreadPoolExecutor(_State.count, thread_name_prefix="tinytorch")
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

    futures = [_State.pool.submit(drain_as_caller) for _ in range(k - 1)]
    drain()
    for f in futures:
        f.result()


# ---------------------------------------------------------------------------------------------
# NumPy's OpenBLAS, through its C API


def _openblas_candidates() -> list[str]:
    """Paths of OpenBLAS libraries that may be NumPy's: those mapped into this process
    (Linux), then those bundled inside NumPy's wheel (``numpy.libs``, ``numpy/.dylibs``)."""
    paths: list[str] = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split(maxsplit=5)[-1].strip()
                if "openblas" in Path(path).name.lower() and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    package = Path(np.__file__).parent
    for folder in (package.parent / "numpy.libs", package / ".dylibs"):
        paths += [str(p) for p in sorted(folder.glob("*openblas*")) if str(p) not in paths]
    return paths


# NumPy's wheels bundle "scipy-openblas", whose symbols carry a prefix and, in its build with
# 64-bit integers, a suffix; a system OpenBLAS has the plain names.
_SYMBOLS = [(f"{prefix}openblas_set_num_threads{suffix}",
             f"{prefix}openblas_get_num_threads{suffix}")
            for prefix in ("scipy_", "") for suffix in ("64_", "")]


class _OpenBLAS:
    """OpenBLAS's thread-count functions (``set``, ``get``; None when NumPy's BLAS is not an
    OpenBLAS found here) and the count it started with (``initial``)."""

    def __init__(self) -> None:
        self.set: Callable[[int], None] | None = None
        self.get: Callable[[], int] | None = None
        self.initial = 1
        for path in _openblas_candidates():
            try:
                lib = ctypes.CDLL(path)   # already loaded by NumPy: this finds the same copy
            except OSError:
                continue
            for set_name, get_name in _SYMBOLS:
                if hasattr(lib, set_name) and hasattr(lib, get_name):
                    setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    self.set, self.get, self.initial = setter, getter, max(1, getter())
                    return


_blas = _OpenBLAS()


def blas_controllable() -> bool:
    """True when NumPy's BLAS is an OpenBLAS whose thread count this module can set."""
    return _blas.set is not None


def get_blas_threads() -> int | None:
    """The number of threads NumPy's BLAS uses now, or None when it cannot be read."""
    return _blas.get() if _blas.get is not None else None


def _set_blas(n: int) -> None:
    """Set NumPy's BLAS to ``n`` threads (a no-op when it cannot be controlled)."""
    _State.blas = n
    if _blas.set is not None:
        _blas.set(n)


class blas_threads:
    """``with blas_threads(n):`` runs NumPy's BLAS on ``n`` threads inside the block, and sets it
    back to what it was on the way out (blocks nest).

    The count is one setting for the whole process: a block on one Python thread also holds
    the products of the others at ``n`` while it lasts. It does nothing when NumPy's BLAS is not
    an OpenBLAS this module can control (``blas_controllable()``).
    """

    def __init__(self, n: int) -> None:
        _check_count("blas_threads", n)
        self.n = n
        self.before = n

    def __enter__(self) -> None:
        with _State.lock:
            self.before = _State.blas
            if self.n != self.before:
                _set_blas(self.n)

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        with _State.lock:
            if _State.blas != self.before:
                _set_blas(self.before)


# ---------------------------------------------------------------------------------------------
# Cores that other processes keep busy

LOAD_INTERVAL = 0.5   # seconds between two looks at the system's CPU time
BUSY_CORE = 0.5       # a core's worth of other processes' CPU use, from which it is taken


def _busy_seconds(cpus: set[int]) -> float | None:
    """CPU seconds spent outside idle and I/O wait on ``cpus`` since boot (``/proc/stat``),
    or None where there is no ``/proc/stat``."""
    ticks = 0
    try:
        with open("/proc/stat") as stat:
            for line in stat:            # "cpu" (the total), "cpu0", "cpu1", ..., then others
                if not line.startswith("cpu"):
                    break
                name, *fields = line.split()
                if name[3:].isdigit() and int(name[3:]) in cpus:
                    values = [int(f) for f in fields[:8]]  # user nice system idle iowait ...
                    ticks += sum(values) - values[3] - values[4]
    except OSError:
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def _sample(cpus: set[int]) -> tuple[float, float | None, float]:
    """Now (monotonic seconds), the system's busy CPU seconds on ``cpus``, our CPU seconds."""
    return time.monotonic(), _busy_seconds(cpus), time.process_time()


class _Load:
    """The last look at the machine: the cores we may use, the sample taken then, and the
    number of cores found free."""

    cpus: set[int] = _cores()
    when, busy, ours = _sample(cpus)
    free = len(cpus)


def free_cores() -> int:
    """The cores we may run on that other processes do not keep busy.

    It looks at most every ``LOAD_INTERVAL`` seconds and gives the last answer in between;
    before the first look (half a second after import) every core counts as free. Other
    processes' CPU use is the system's busy time on our cores minus our own process's CPU time
    (all its threads, spinning BLAS workers included), divided by the time since the last
    look. That many cores, rounded up from ``BUSY_CORE`` (0.5 takes one core, 1.5 two), are
    taken; at least one is left. Where the busy time cannot be read, every core is free.
    """
    if _Load.busy is None or time.monotonic() - _Load.when < LOAD_INTERVAL:
        return _Load.free
    when, busy, ours = _sample(_Load.cpus)
    if busy is not None:
        others = (busy - _Load.busy - (ours - _Load.ours)) / (when - _Load.when)
        taken = int(max(0.0, others) + 1 - BUSY_CORE)
        _Load.free = max(1, len(_Load.cpus) - taken)
    _Load.when, _Load.busy, _Load.ours = when, busy, ours
    return _Load.free


# ---------------------------------------------------------------------------------------------
# The policy for one product

GEMM_PARALLEL_MACS = 8_000_000  # multiply-adds from which a product gets several BLAS threads


class _Widened:
    """The context ``blas_for_gemm`` returns for a large product: BLAS at ``n`` threads while
    one or more such products run (on any Python thread), then back where it rested."""

    __slots__ = ("n",)
    active = 0   # large products running now
    rest = 1     # the BLAS count to go back to when the last one ends

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> None:
        with _State.lock:
            if _Widened.active == 0:
                _Widened.rest = _State.blas
                _set_blas(self.n)
            _Widened.active += 1

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        with _State.lock:
            _Widened.active -= 1
            if _Widened.active == 0:
                _set_blas(_Widened.rest)


_AS_IS = contextlib.nullcontext()


def blas_for_gemm(m: int, k: int, n: int) -> contextlib.AbstractContextManager[None]:
    """The BLAS threads for one (M, K) @ (K, N) product, as a context to run it in:
    ``with blas_for_gemm(m, k, n): c = a @ b``.

    From ``GEMM_PARALLEL_MACS`` multiply-adds on, the product runs on ``get_num_threads()``
    BLAS threads (fewer while other processes keep cores busy, and at most as many as
    OpenBLAS started with); a smaller one, or any product when one core is all there is, runs
    as BLAS rests. For a batched product pass the size of one matrix: BLAS splits each
    product, not the batch.
    """
    if m * k * n < GEMM_PARALLEL_MACS or _State.count == 1 or _blas.set is None:
        return _AS_IS
    threads = _usable(min(_State.count, _blas.initial))
    return _Widened(threads) if threads > 1 else _AS_IS


def blas_for_matmul(a: np.ndarray, b: np.ndarray) -> contextlib.AbstractContextManager[None]:
    """``blas_for_gemm`` for ``np.matmul(a, b)``, with 1-D, 2-D or batched operands."""
    m, k = a.shape[-2:] if a.ndim > 1 else (1, a.shape[0])
    return blas_for_gemm(m, k, b.shape[-1] if b.ndim > 1 else 1)


_set_blas(1)  # rule 1: BLAS rests on one thread
