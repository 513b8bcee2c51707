"""``measure_acceleration()``: every pair checked, then timed, in one report.

The report has one row per pair: whether the kernel agrees with the reference (and the worst
error, in units of the stated tolerance), then, only for the pairs that agree, both medians
and the gain ``reference / kernel`` with its confidence interval over the paired rounds. A
pair that disagrees shows its error and no gain, and makes ``AccelerationReport.ok`` false.

Cost: per pair, one checked run of each side, then ``compare``'s alternating rounds.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tinytorch.core.atomic import atomic_write
from tinytorch.perf.acceleration.catalogue import default_pairs
from tinytorch.perf.acceleration.pair import (
    REPEATS,
    ROUNDS,
    AccelerationRow,
    KernelPair,
    measure_pair,
)
from tinytorch.perf.benchmark import LEVEL, MIN_TIME, WARMUP, Timer, format_time
from tinytorch.perf.compare import SETTLE
from tinytorch.perf.environment import describe, fingerprint, load_average

HEADER = (f"{'case':<38} {'optimisation':<34} {'check':>10} {'plain':>11} {'optimised':>11} "
          f"{'gain':>6} {'interval (coverage)':>20}")


def format_row(row: AccelerationRow) -> str:
    """One line of the table: the check, and the timing when there is one."""
    a = row.agreement
    check = f"ok {a.worst:.2f}" if a.ok else "DIFFERS"
    if row.comparison is None:
        return (f"{row.name:<38} {row.what:<34} {check:>10}  not timed: {a.detail}")
    c = row.comparison
    low, high = c.ci
    interval = f"{low:.2f}-{high:.2f} ({c.ci_level:.0%})"
    return (f"{row.name:<38} {row.what:<34} {check:>10} {format_time(c.a.median):>11} "
            f"{format_time(c.b.median):>11} {c.ratio:>6.2f} {interval:>20}")


@dataclass(frozen=True)
class AccelerationReport:
    rows: tuple[AccelerationRow, ...]
    fingerprint: dict[str, Any]

    @property
    def ok(self) -> bool:
        """True when every kernel agreed with its reference."""
        return all(row.agreement.ok for row in self.rows)

    def table(self) -> str:
        lines = describe(self.fingerprint) + ["", HEADER, "-" * len(HEADER)]
        lines += [format_row(row) for row in self.rows]
        lines.append(LEGEND)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [row.to_dict() for row in self.rows], "ok": self.ok,
                "fingerprint": self.fingerprint}

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``to_json()`` to ``path`` atomically."""
        with atomic_write(path, "w", encoding="utf-8") as f:
            f.write(self.to_json() + "\n")


LEGEND = ("plain = the reference (the one-thread run, the direct convolution, the row-by-row "
          "or tiled product);\noptimised = the kernel it is measured against; median times "
          "per call.\ncheck: 'ok w' = the optimised outputs and gradients are within tolerance "
          "of the plain ones (w = worst error\nin tolerances, at most 1); gain = plain / "
          "optimised, the median of the per-round ratios, with its\nconfidence interval over "
          "the rounds and that interval's coverage.")


def measure_acceleration(pairs: Sequence[KernelPair] | None = None, *, quick: bool = False,
                         rounds: int = ROUNDS, repeats: int = REPEATS, warmup: int = WARMUP,
                         min_time: float = MIN_TIME, settle: float = SETTLE,
                         level: float = LEVEL, timer: Timer = time.perf_counter,
                         sleep: Callable[[float], Any] = time.sleep,
                         on_row: Callable[[AccelerationRow], Any] | None = None
                         ) -> AccelerationReport:
    """Check and time each pair (``default_pairs(quick)`` when none are given).

    ``on_row`` is called with each row as soon as it is measured (the CLI prints it).
    """
    if pairs is None:
        pairs = default_pairs(quick)
    load_start = load_average()
    rows = []
    for pair in pairs:
        row = measure_pair(pair, rounds=rounds, repeats=repeats, warmup=warmup,
                           min_time=min_time, settle=settle, level=level, timer=timer,
                           sleep=sleep)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return AccelerationReport(tuple(rows), fingerprint(load_start, load_average()))
