"""Shared benchmark machinery: medians over repeated runs, PyTorch in the same run, a table.

Every ``tools/bench_*.py`` script builds a list of ``Case`` objects (one TinyTorch callable and,
when PyTorch is installed, the same work in PyTorch) and hands them to ``run``.

How a ratio is measured, since these 2-core machines are noisy (a neighbour's burst can slow
everything by 2x for a second or two):
- TinyTorch runs with its defaults, as a user gets them: its thread policy
  (``tinytorch.core.parallel``) decides its own threads and NumPy's BLAS threads, and nothing
  here changes them. PyTorch is timed at 1 and at 2 threads (``TORCH_THREADS``) and its faster
  setting is kept, as its users would pick.
- The two frameworks take turns in *blocks*: a round times a block of TinyTorch calls, then
  a block of PyTorch calls at each thread count, and there are ``ROUNDS`` rounds. A slow
  stretch of the machine then falls on both sides instead of on whichever was being timed at
  that moment, while each block measures calls back to back, as a training loop makes them.
- Neither side pays for the other's leftovers: after a call, OpenBLAS's threads (NumPy) and
  OpenMP's (PyTorch) can keep spinning on the cores for a while before they sleep. So each
  block starts with ``SETTLE`` seconds of quiet and two untimed calls.
- Each figure is the median of its side's timed calls over all rounds (PyTorch's at its
  faster thread count); the ratio is TinyTorch's median / PyTorch's median (below 1.0 means
  TinyTorch is faster).

The timing itself is TinyTorch's public benchmark harness (tinytorch-optim's
``tinytorch.perf.compare``: ``alternating_blocks`` for the blocks and ``compare`` for the
kernel/reference gains), so the tools and ``tito perf`` measure the same way. This module keeps
what is particular to the tools: the cases, PyTorch's thread counts, and the tables.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

try:
    from tinytorch.perf.acceleration.pair import agreement
    from tinytorch.perf.compare import Side, alternating_blocks, compare
except ImportError as e:  # the tools run with every tier installed
    raise SystemExit(f"tools/benchlib.py needs tinytorch-optim's benchmark harness "
                     f"(pip install -e packages/tinytorch-optim): {e}") from None


def torch_or_none() -> Any:
    """The torch module if installed, else None (benchmarks still run, without a ratio)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


TORCH_THREADS = (1, 2)  # PyTorch's thread counts; the faster is kept


class torch_threads:
    """``with torch_threads(torch, n):`` runs PyTorch on ``n`` threads in the block (restored
    after); a no-op when ``torch`` is None."""

    def __init__(self, torch: Any, n: int) -> None:
        self.torch, self.n = torch, n

    def __enter__(self) -> None:
        if self.torch is not None:
            self.before = self.torch.get_num_threads()
            self.torch.set_num_threads(self.n)

    def __exit__(self, *exc: Any) -> None:
        if self.torch is not None:
            self.torch.set_num_threads(self.before)


SETTLE = 0.2  # seconds of quiet before a block: the other side's threads stop spinning
ROUNDS = 3    # blocks per side and thread count


def block_times(fn: Callable[[], Any], repeats: int, inner: int = 1, warmup: int = 2,
                settle: float = SETTLE) -> list[float]:
    """Seconds per call of ``repeats`` timed runs of ``inner`` calls of ``fn``, after
    ``settle`` seconds of quiet and ``warmup`` untimed calls: one block of
    ``tinytorch.perf.compare.alternating_blocks``."""
    _, times = alternating_blocks([Side(fn, "fn")], rounds=1, repeats=repeats, warmup=warmup,
                                  number=[inner], settle=settle)
    return times[0][0]


def paired_times(case: Case, torch: Any) -> tuple[float, tuple[float, int] | None]:
    """TinyTorch's median seconds per call (defaults) and PyTorch's best (median seconds,
    thread count), timed in alternating blocks; PyTorch's is None without it."""
    with_torch = torch is not None and case.torch is not None
    sides = [Side(case.tinytorch(), "tinytorch")]
    counts = TORCH_THREADS if with_torch else ()
    for n in counts:
        with torch_threads(torch, n):
            fn = case.torch()  # type: ignore[misc]
        sides.append(Side(fn, f"pytorch {n}t", lambda n=n: torch_threads(torch, n)))
    _, times = alternating_blocks(sides, rounds=ROUNDS, repeats=case.repeats, warmup=case.warmup,
                                  number=[case.inner] * len(sides), settle=SETTLE)
    ours, *theirs = (statistics.median(t for block in blocks for t in block) for blocks in times)
    if not theirs:
        return ours, None
    return ours, min(zip(theirs, counts))


@dataclass
class Case:
    """One benchmark row. ``tinytorch`` and ``torch`` build the callables to time."""

    name: str
    tinytorch: Callable[[], Callable[[], Any]]
    torch: Callable[[], Callable[[], Any]] | None = None
    target: float | None = None  # the ratio the issue asks for (lower is better)
    unit: str = "ms"
    repeats: int = 7  # timed runs per block (there are ``ROUNDS`` blocks per side and setting)
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
        ours, best_ref = paired_times(case, torch)
        ref, threads = best_ref if best_ref else (None, None)
        ratio = ours / ref if ref else None
        target = ""
        if case.target is not None:
            target = ("≥ " if case.target_higher else "≤ ") + f"{case.target:g}"
        print(f"{case.name:<44} {_fmt(ours, case.unit):>19} "
              f"{(_fmt(ref, case.unit) + f' ({threads}t)') if ref else 'n/a':>19} "
              f"{(f'{ratio:.2f}' if ratio else 'n/a'):>7} {target:>8}", flush=True)
        rows.append({"case": case.name, "tinytorch_s": ours, "pytorch_s": ref,
                     "pytorch_threads": threads, "ratio": ratio, "target": case.target})
    return rows


def arg_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--repeats", type=int, default=7,
                   help=f"timed runs per block; each side gets {ROUNDS} blocks (PyTorch "
                        f"{ROUNDS} per thread count), and the median is kept")
    return p


def _numpy(value: Any) -> Any:
    """A step's checked value as an array (TinyTorch tensors carry it in ``.array``)."""
    return getattr(value, "array", value)


def kernel_vs_reference(cases: list[Case], title: str) -> None:
    """Time each case's TinyTorch side with the fast kernels and with the plain references
    (``tinytorch.use_reference_kernels``), in alternating blocks of the same run
    (``tinytorch.perf.compare``), and print the kernels' gain: the median over the rounds of
    reference time / kernel time. Each case's step returns the arrays it computed (outputs,
    gradients, or a training step's loss), and a pair whose two sides disagree is reported,
    not timed."""
    import tinytorch

    print(f"\n{title} (same run; gain = reference / kernel; each pair first checked to agree)")
    header = f"{'case':<44} {'kernel':>12} {'reference':>12} {'gain':>7}"
    print(header)
    print("-" * len(header))
    for case in cases:
        # correctness before speed: one fresh step in each mode must give the same values and
        # gradients (float32 sums in another order: to within 1e-3) before a gain is reported
        with tinytorch.use_reference_kernels(True):
            reference = case.tinytorch()()
        with tinytorch.use_reference_kernels(False):
            kernel = case.tinytorch()()
        check = agreement([_numpy(a) for a in reference], [_numpy(a) for a in kernel],
                          rtol=1e-3, atol=1e-3)
        if not check.ok:
            print(f"{case.name:<44} DIFFERS, not timed: {check.detail}", flush=True)
            continue
        step = case.tinytorch()
        gain = compare(Side(step, "reference", lambda: tinytorch.use_reference_kernels(True)),
                       Side(step, "kernel", lambda: tinytorch.use_reference_kernels(False)),
                       rounds=ROUNDS, repeats=case.repeats, warmup=case.warmup,
                       number=case.inner, settle=SETTLE)
        kernel, ref = gain.b.median, gain.a.median
        print(f"{case.name:<44} {_fmt(kernel, case.unit):>12} {_fmt(ref, case.unit):>12} "
              f"{gain.ratio:>7.2f}", flush=True)
