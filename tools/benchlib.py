"""Shared benchmark machinery: medians over repeated runs, PyTorch in the same run, a table.

Every ``tools/bench_*.py`` script builds a list of ``Case`` objects (one TinyTorch callable and,
when PyTorch is installed, the same work in PyTorch) and hands them to ``run``. PyTorch is timed
with 1 and with 2 threads and the faster is kept, as it is the stronger reference. The ratio is
TinyTorch time / PyTorch time: below 1.0 means TinyTorch is faster. TinyTorch gets the same
treatment: it is timed with 1 and 2 threads (its own intra-op threads, ``set_num_threads``,
and NumPy's BLAS threads through threadpoolctl, when installed) and the faster is kept, since
on a busy 2-core machine two BLAS threads can spin-wait for a core and run several times
slower than one.
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


def torch_median_time(torch: Any, make_fn: Callable[[], Callable[[], Any]], repeats: int = 7,
                      warmup: int = 2, inner: int = 1) -> tuple[float, int]:
    """Median time of the PyTorch version at 1 and 2 threads; returns (best, threads)."""
    best = (float("inf"), 0)
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            t = median_time(make_fn(), repeats, warmup, inner)
            best = min(best, (t, threads))
    finally:
        torch.set_num_threads(before)
    return best


def numpy_median_time(make_fn: Callable[[], Callable[[], Any]], repeats: int = 7,
                      warmup: int = 2, inner: int = 1) -> tuple[float, str]:
    """Median time of the TinyTorch version at 1 and 2 BLAS threads; returns (best, label)."""
    import tinytorch

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return median_time(make_fn(), repeats, warmup, inner), "default"
    best = (float("inf"), "")
    before = tinytorch.get_num_threads()
    try:
        for threads in (1, 2):
            tinytorch.set_num_threads(threads)
            with threadpool_limits(limits=threads, user_api="blas"):
                t = median_time(make_fn(), repeats, warmup, inner)
            best = min(best, (t, f"{threads}t"))
    finally:
        tinytorch.set_num_threads(before)
    return best


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
        ours, our_threads = numpy_median_time(case.tinytorch, case.repeats, inner=case.inner)
        ref = threads = None
        if torch is not None and case.torch is not None:
            ref, threads = torch_median_time(torch, case.torch, case.repeats, inner=case.inner)
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
