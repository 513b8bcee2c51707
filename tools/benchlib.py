"""Shared benchmark machinery: medians over repeated runs, PyTorch in the same run, a table.

Every ``tools/bench_*.py`` script builds a list of ``Case`` objects (one TinyTorch callable and,
when PyTorch is installed, the same work in PyTorch) and hands them to ``run``.

How a ratio is measured, since these 2-core machines are noisy (a neighbour's burst can slow
everything by 2x for a second or two):
- Each side is timed with 1 and with 2 threads, and its fastest setting is kept: PyTorch's
  intra-op threads, and TinyTorch's own threads (``set_num_threads``) together with NumPy's
  BLAS threads (through threadpoolctl, when installed). TinyTorch also gets the setting its
  milestones use, two threads of its own with BLAS on one (``2t/b1``): on a busy machine two
  BLAS threads can spin-wait for a core and run several times slower than one.
- The two frameworks take turns in *blocks*: a round times a block of TinyTorch calls, then
  a block of PyTorch calls, at 1 thread and then at 2, and there are ``ROUNDS`` rounds. A slow
  stretch of the machine then falls on both sides instead of on whichever was being timed at
  that moment, while each block measures calls back to back, as a training loop makes them.
- Neither side pays for the other's leftovers: after a call, OpenBLAS's threads (NumPy) and
  OpenMP's (PyTorch) keep spinning on the cores for a while before they sleep. Measured here,
  that slowed PyTorch's conv2 call right after TinyTorch's from 14 ms to 25-29 ms, even after
  one untimed call. So each block starts with ``SETTLE`` seconds of quiet and two untimed
  calls.
- Each figure is the median of its side's timed calls over all rounds at its faster thread
  count; the ratio is TinyTorch's median / PyTorch's median (below 1.0 means TinyTorch is
  faster).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def torch_or_none() -> Any:
    """The torch module if installed, else None (benchmarks still run, without a ratio)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


class Threads:
    """Run a block with both frameworks' thread counts set to ``n`` (NumPy's BLAS to ``blas``,
    default ``n``), restoring them after."""

    def __init__(self, n: int, torch: Any, blas: int | None = None) -> None:
        self.n, self.torch, self.blas_threads = n, torch, n if blas is None else blas

    def __enter__(self) -> None:
        import tinytorch

        self.before = (tinytorch.get_num_threads(),
                       self.torch.get_num_threads() if self.torch else None)
        tinytorch.set_num_threads(self.n)
        if self.torch:
            self.torch.set_num_threads(self.n)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            self.blas = None
        else:
            self.blas = threadpool_limits(limits=self.blas_threads, user_api="blas")

    def __exit__(self, *exc: Any) -> None:
        import tinytorch

        if self.blas is not None:
            self.blas.restore_original_limits()
        tinytorch.set_num_threads(self.before[0])
        if self.torch:
            self.torch.set_num_threads(self.before[1])


SETTLE = 0.2  # seconds of quiet before a block: the other side's threads stop spinning
ROUNDS = 3    # blocks per side and thread count


def block_times(fn: Callable[[], Any], repeats: int, inner: int = 1, warmup: int = 2,
                settle: float = SETTLE) -> list[float]:
    """Seconds per call of ``repeats`` timed runs of ``inner`` calls of ``fn``, after
    ``settle`` seconds of quiet and ``warmup`` untimed calls."""
    time.sleep(settle)
    for _ in range(warmup):
        fn()
    times = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times.append((time.perf_counter() - t0) / inner)
    finally:
        if gc_was:
            gc.enable()
    return times


SETTINGS = (("1t", 1, 1), ("2t", 2, 2), ("2t/b1", 2, 1))  # (label, threads, BLAS threads)


def paired_times(case: Case, torch: Any) -> tuple[tuple[float, str], tuple[float, int] | None]:
    """Best (median seconds, setting) of TinyTorch and of PyTorch, timed in alternating blocks.

    PyTorch runs in the settings whose BLAS count equals its thread count (it has no other).
    """
    with_torch = torch is not None and case.torch is not None
    sides = [case.tinytorch] + ([case.torch] if with_torch else [])  # type: ignore[list-item]
    fns = {}
    for label, n, blas in SETTINGS:
        with Threads(n, torch if with_torch else None, blas):
            fns[label] = [build() for build in (sides if blas == n else sides[:1])]
    samples: dict[tuple[int, str], list[float]] = {}
    for _ in range(ROUNDS):
        for label, n, blas in SETTINGS:
            with Threads(n, torch if with_torch else None, blas):
                for side, fn in enumerate(fns[label]):
                    samples.setdefault((side, label), []).extend(
                        block_times(fn, case.repeats, case.inner, case.warmup))
    ours = min((statistics.median(t), label) for (side, label), t in samples.items() if side == 0)
    if not with_torch:
        return ours, None
    ref = min((statistics.median(t), n) for label, n, _ in SETTINGS
              if (t := samples.get((1, label))) is not None)
    return ours, ref


@dataclass
class Case:
    """One benchmark row. ``tinytorch`` and ``torch`` build the callables to time."""

    name: str
    tinytorch: Callable[[], Callable[[], Any]]
    torch: Callable[[], Callable[[], Any]] | None = None
    target: float | None = None  # the ratio the issue asks for (lower is better)
    unit: str = "ms"
    repeats: int = 7  # timed runs per block (there are ``ROUNDS`` blocks per thread count)
    inner: int = 1
    warmup: int = 2   # untimed runs at the start of each block
    target_higher: bool = False  # True when the figure is a throughput-style ratio (≥ target)


def _fmt(seconds: float, unit: str) -> str:
    scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[unit]
    return f"{seconds * scale:,.3f} {unit}"


def run(cases: list[Case], title: str) -> list[dict[str, Any]]:
    """Time every case and print a table; return the rows (for tests or JSON)."""
    torch = torch_or_none()
    rows = []
    print(f"\n{title}")
    header = f"{'case':<44} {'tinytorch':>19} {'pytorch':>19} {'ratio':>7} {'target':>8}"
    print(header)
    print("-" * len(header))
    for case in cases:
        (ours, our_threads), best_ref = paired_times(case, torch)
        ref, threads = best_ref if best_ref else (None, None)
        ratio = ours / ref if ref else None
        target = ""
        if case.target is not None:
            target = ("≥ " if case.target_higher else "≤ ") + f"{case.target:g}"
        print(f"{case.name:<44} {_fmt(ours, case.unit) + f' ({our_threads})':>19} "
              f"{(_fmt(ref, case.unit) + f' ({threads}t)') if ref else 'n/a':>19} "
              f"{(f'{ratio:.2f}' if ratio else 'n/a'):>7} {target:>8}", flush=True)
        rows.append({"case": case.name, "tinytorch_s": ours, "tinytorch_threads": our_threads,
                     "pytorch_s": ref,
                     "pytorch_threads": threads, "ratio": ratio, "target": case.target})
    return rows


def arg_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--repeats", type=int, default=7,
                   help="timed runs per block; each side gets 3 blocks per thread count, "
                        "and the median is kept")
    return p
