"""Shared benchmark machinery: medians over repeated runs, PyTorch in the same run, a table.

Every ``tools/bench_*.py`` script builds a list of ``Case`` objects (one TinyTorch callable and,
when PyTorch is installed, the same work in PyTorch) and hands them to ``run``.

How a ratio is measured, since these 2-core machines are noisy (a neighbour's burst can slow
everything by 2x for a second or two):
- Each side is timed with 1 and with 2 threads, and its faster setting is kept: PyTorch's
  intra-op threads, and TinyTorch's own threads (``set_num_threads``) together with NumPy's
  BLAS threads (through threadpoolctl, when installed). On a busy machine two BLAS threads can
  spin-wait for a core and run several times slower than one.
- The two frameworks are *interleaved*: each round runs TinyTorch, then PyTorch, so a slow
  stretch of the machine hits both sides alike instead of whichever was being timed at that
  moment. Each side runs once untimed before its timed call in every round, so neither pays
  for the other's leftovers (PyTorch's OpenMP threads spin on after it returns).
- Each figure is the median over the rounds; the ratio is TinyTorch's median / PyTorch's median
  (below 1.0 means TinyTorch is faster).
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


def median_time(fn: Callable[[], Any], repeats: int = 7, warmup: int = 2,
                inner: int = 1) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` timed runs of ``inner`` calls."""
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
    return statistics.median(times)


class _Threads:
    """Run a block with both frameworks' thread counts set to ``n``, restoring them after."""

    def __init__(self, n: int, torch: Any) -> None:
        self.n, self.torch = n, torch

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
            self.blas = threadpool_limits(limits=self.n, user_api="blas")

    def __exit__(self, *exc: Any) -> None:
        import tinytorch

        if self.blas is not None:
            self.blas.restore_original_limits()
        tinytorch.set_num_threads(self.before[0])
        if self.torch:
            self.torch.set_num_threads(self.before[1])


def interleaved_times(fns: list[Callable[[], Any]], repeats: int = 7, warmup: int = 2,
                      inner: int = 1) -> list[float]:
    """Median seconds per call of each of ``fns``, timed in alternation round by round.

    In every round each callable first runs once untimed: PyTorch's OpenMP threads keep
    spinning on the second core for a few milliseconds after its last parallel region, and
    that call absorbs the tail instead of the timed one.
    """
    for fn in fns:
        for _ in range(warmup):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for fn, out in zip(fns, times):
                fn()
                t0 = time.perf_counter()
                for _ in range(inner):
                    fn()
                out.append((time.perf_counter() - t0) / inner)
    finally:
        if gc_was:
            gc.enable()
    return [statistics.median(t) for t in times]


def paired_times(case: Case, torch: Any) -> tuple[tuple[float, str], tuple[float, int] | None]:
    """Best (median seconds, threads) of TinyTorch and of PyTorch, timed interleaved."""
    ours: tuple[float, str] = (float("inf"), "")
    ref: tuple[float, int] | None = None
    with_torch = torch is not None and case.torch is not None
    for n in (1, 2):
        with _Threads(n, torch if with_torch else None):
            fns = [case.tinytorch()] + ([case.torch()] if with_torch else [])  # type: ignore[misc]
            medians = interleaved_times(fns, case.repeats, inner=case.inner)
        ours = min(ours, (medians[0], f"{n}t"))
        if with_torch:
            ref = min(ref or (float("inf"), 0), (medians[1], n))
    return ours, ref


@dataclass
class Case:
    """One benchmark row. ``tinytorch`` and ``torch`` build the callables to time."""

    name: str
    tinytorch: Callable[[], Callable[[], Any]]
    torch: Callable[[], Callable[[], Any]] | None = None
    target: float | None = None  # the ratio the issue asks for (lower is better)
    unit: str = "ms"
    repeats: int = 7
    inner: int = 1
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
    p.add_argument("--repeats", type=int, default=7, help="timed runs per case (median kept)")
    return p
