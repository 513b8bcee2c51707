"""``compare(a, b)``: the ratio of two callables' times, measured in alternating blocks.

Two figures measured one after the other on a shared machine are not comparable: a
neighbour's burst of a few seconds can double whichever side happened to be running. So the
sides take turns, in *rounds*: a block of ``a``'s samples, then a block of ``b``'s, and again.
A slow stretch then falls on both sides, and each round gives one **paired ratio**,
``median(a's block) / median(b's block)``, taken under nearly the same conditions. The
reported ratio is the median of the paired ratios, with the distribution-free interval of
``tinytorch.perf.stats`` over them: rounds are what is repeated independently, not samples
within a block, which share a moment of the machine.

Each block starts with ``settle`` seconds of sleep and ``warmup`` untimed calls. After a
matrix product, OpenBLAS's worker threads keep spinning on their cores for about a tenth of a
second before they sleep (OpenMP's do the same in other libraries); without the pause, the
first samples of the next block would run beside them and be charged for the other side's
leftovers. The untimed calls bring the side's own data back into the caches.

A side may carry a context entered around each of its blocks (``Side(fn, name, context)``),
such as ``tinytorch.use_reference_kernels(True)`` or a thread count: the switch happens
between blocks, never inside the timed loop.

Cost: ``rounds · (settle + (warmup + repeats · number) · t)`` per side, where ``t`` is one
call and ``number`` the calls per sample (calibrated once per side to last ``min_time``).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tinytorch.core.atomic import atomic_write
from tinytorch.perf.benchmark import (
    LEVEL,
    MIN_TIME,
    WARMUP,
    BenchmarkResult,
    Timer,
    calls_per_sample,
    check_callable,
    check_settings,
    format_time,
    time_samples,
)
from tinytorch.perf.environment import fingerprint, load_average
from tinytorch.perf.stats import median_interval

ROUNDS = 7       # blocks per side; 7 paired ratios give a min-max interval of 98% coverage
REPEATS = 5      # timed samples per block
SETTLE = 0.2     # seconds of quiet before each block


@dataclass
class Side:
    """One side of an alternating measurement: the callable, its name, and a context to enter
    around each of its blocks (a mode switch or a thread count; none by default)."""

    fn: Callable[[], Any]
    name: str
    context: Callable[[], contextlib.AbstractContextManager[Any]] = field(
        default=contextlib.nullcontext)


def alternating_blocks(sides: Sequence[Side], *, rounds: int = ROUNDS, repeats: int = REPEATS,
                       warmup: int = WARMUP, min_time: float = MIN_TIME,
                       number: Sequence[int] | None = None, settle: float = SETTLE,
                       timer: Timer = time.perf_counter,
                       sleep: Callable[[float], Any] = time.sleep
                       ) -> tuple[list[int], list[list[list[float]]]]:
    """Time ``sides`` in turn, ``rounds`` times: for each side, ``settle`` seconds of sleep,
    ``warmup`` untimed calls, ``repeats`` samples.

    Returns the calls per sample of each side (``number``, or calibrated to last ``min_time``
    after a first settle and warm-up) and the seconds per call as
    ``times[side][round][sample]``.
    """
    if number is None:
        counts = []
        for side in sides:
            sleep(settle)
            with side.context():
                for _ in range(warmup):
                    side.fn()
                counts.append(calls_per_sample(side.fn, min_time, timer))
    else:
        counts = list(number)
    times: list[list[list[float]]] = [[] for _ in sides]
    for _ in range(rounds):
        for side, count, blocks in zip(sides, counts, times):
            sleep(settle)
            with side.context():
                for _ in range(warmup):
                    side.fn()
                blocks.append(time_samples(side.fn, repeats, count, timer))
    return counts, times


@dataclass(frozen=True)
class Comparison:
    """Two sides timed in alternating blocks: each side's pooled samples, and the ratio
    ``a / b`` of every round (below 1: ``a`` is faster)."""

    a: BenchmarkResult
    b: BenchmarkResult
    round_ratios: tuple[float, ...]
    level: float
    settle: float

    @property
    def ratio(self) -> float:
        """The median of the paired ratios, ``a``'s time over ``b``'s."""
        return statistics.median(self.round_ratios)

    @property
    def ci(self) -> tuple[float, float]:
        """The order-statistic confidence interval for the median paired ratio."""
        low, high, _ = median_interval(self.round_ratios, self.level)
        return low, high

    @property
    def ci_level(self) -> float:
        return median_interval(self.round_ratios, self.level)[2]

    def summary(self) -> str:
        low, high = self.ci
        return (f"{self.a.name} / {self.b.name} = {self.ratio:.3f} "
                f"({self.ci_level:.0%} CI {low:.3f} to {high:.3f}, {len(self.round_ratios)} "
                f"rounds); medians {format_time(self.a.median)} and "
                f"{format_time(self.b.median)}")

    def to_dict(self) -> dict[str, Any]:
        low, high, coverage = median_interval(self.round_ratios, self.level)
        return {
            "ratio": self.ratio,
            "ratio_of": f"{self.a.name} / {self.b.name}",
            "ci": {"low": low, "high": high, "coverage": coverage, "level": self.level,
                   "method": "order statistics (binomial) over the paired round ratios"},
            "round_ratios": list(self.round_ratios),
            "settle": self.settle,
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        try:
            return cls(a=BenchmarkResult.from_dict(data["a"]),
                       b=BenchmarkResult.from_dict(data["b"]),
                       round_ratios=tuple(float(r) for r in data["round_ratios"]),
                       level=float(data["ci"]["level"]), settle=float(data["settle"]))
        except (KeyError, TypeError) as e:
            raise ValueError(f"not a Comparison dict: missing or malformed {e}") from None

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``to_json()`` to ``path`` atomically."""
        with atomic_write(path, "w", encoding="utf-8") as f:
            f.write(self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Comparison:
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))


def _side(value: Callable[[], Any] | Side, default_name: str) -> Side:
    if isinstance(value, Side):
        check_callable("compare", default_name, value.fn)
        return value
    check_callable("compare", default_name, value)
    return Side(value, getattr(value, "__name__", default_name))


def compare(a: Callable[[], Any] | Side, b: Callable[[], Any] | Side, *, rounds: int = ROUNDS,
            repeats: int = REPEATS, warmup: int = WARMUP, min_time: float = MIN_TIME,
            number: int | None = None, settle: float = SETTLE, level: float = LEVEL,
            timer: Timer = time.perf_counter,
            sleep: Callable[[float], Any] = time.sleep) -> Comparison:
    """Time ``a`` and ``b`` in alternating blocks (a, b, a, b, ...) and return their ratio.

    ``a`` and ``b`` are callables taking no arguments, or ``Side`` objects (a callable, a
    name and a context entered around each block). Each of the ``rounds`` rounds gives one
    paired ratio ``median(a's block) / median(b's block)``; ``Comparison.ratio`` is their
    median, ``Comparison.ci`` its interval at ``level``. A sample is ``number`` calls on both
    sides when given, else as many calls as last ``min_time`` (calibrated for each side).
    ``timer`` and ``sleep`` are ``time.perf_counter`` and ``time.sleep`` (tests pass fakes).
    """
    sides = [_side(a, "a"), _side(b, "b")]
    check_settings("compare", warmup, repeats, min_time, level)
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        raise ValueError(f"compare: rounds must be an integer ≥ 1, got {rounds!r}")
    if settle < 0:
        raise ValueError(f"compare: settle must be ≥ 0 seconds, got {settle!r}")
    if number is not None and (not isinstance(number, int) or number < 1):
        raise ValueError(f"compare: number must be a positive integer or None, got {number!r}")
    load_start = load_average()
    counts, times = alternating_blocks(sides, rounds=rounds, repeats=repeats, warmup=warmup,
                                       min_time=min_time,
                                       number=None if number is None else [number] * 2,
                                       settle=settle, timer=timer, sleep=sleep)
    ratios = []
    for block_a, block_b in zip(*times):
        b_median = statistics.median(block_b)
        if b_median <= 0:
            raise RuntimeError(f"compare: {sides[1].name} took no measurable time per call; "
                               f"raise min_time (now {min_time} s)")
        ratios.append(statistics.median(block_a) / b_median)
    fp = fingerprint(load_start, load_average())
    results = [BenchmarkResult(name=side.name, times=tuple(t for block in blocks for t in block),
                               number=count, warmup=warmup, min_time=float(min_time),
                               level=level, fingerprint=fp)
               for side, count, blocks in zip(sides, counts, times)]
    return Comparison(a=results[0], b=results[1], round_ratios=tuple(ratios), level=level,
                      settle=float(settle))
