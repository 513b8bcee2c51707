"""One optimisation, measured: check that the fast path gives the reference's answer, then
time the two against each other.

A ``KernelPair`` builds two ``Side``s (``tinytorch.perf.compare``) that do the same work: the
plain reference and the optimised kernel. Each side's callable returns the arrays that must
agree, the output and the gradients of the inputs. ``measure_pair``:

1. runs each side once and compares every array (same shape, and
   ``|kernel - reference| ≤ atol + rtol·|reference|`` elementwise, NaN never equal, as
   ``numpy.allclose``);
2. only if all of them agree, times the two in alternating blocks with ``compare`` and
   reports the gain, ``reference time / kernel time`` (above 1: the kernel is faster), with
   its confidence interval;
3. if any array disagrees, reports the worst error and **no gain**: a faster wrong answer is
   not an acceleration.

Tolerances are per pair and stated in the report. Float32 kernels that sum in another order
(blocks, threads, fused passes) differ from the reference in the last bits, so they are
checked at ``rtol`` around 1e-4 rather than bit for bit; ``worst`` in the report is the largest
error in units of the tolerance (at most 1 when the pair agrees).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinytorch.perf.benchmark import LEVEL, MIN_TIME, WARMUP, Timer
from tinytorch.perf.compare import SETTLE, Comparison, Side, compare

ROUNDS = 7
REPEATS = 3


@dataclass
class KernelPair:
    """A reference and a kernel for the same work. ``build()`` returns the two ``Side``s
    (reference first); each side's ``fn()`` returns the arrays to compare (outputs, then
    gradients)."""

    name: str
    what: str                                   # what the kernel does differently
    build: Callable[[], tuple[Side, Side]]
    rtol: float = 1e-4
    atol: float = 1e-5

    def __post_init__(self) -> None:
        if not (self.rtol >= 0 and self.atol > 0):
            raise ValueError(f"KernelPair {self.name!r}: needs rtol ≥ 0 and atol > 0, got "
                             f"rtol={self.rtol}, atol={self.atol}")


@dataclass(frozen=True)
class Agreement:
    """How closely a kernel's arrays match the reference's."""

    ok: bool
    max_abs_error: float
    worst: float          # max |k - r| / (atol + rtol·|r|) over all arrays; ≤ 1 when ok
    detail: str           # empty when ok; else which array differs and how


def agreement(reference: Sequence[Any], kernel: Sequence[Any], rtol: float,
              atol: float) -> Agreement:
    """Compare two lists of arrays: the same shapes and dtypes, and values elementwise within
    ``atol + rtol·|reference|``."""
    if len(reference) != len(kernel):
        return Agreement(False, float("inf"), float("inf"),
                         f"the reference returned {len(reference)} arrays, the kernel "
                         f"{len(kernel)}")
    max_abs, worst, detail = 0.0, 0.0, ""
    for i, (r, k) in enumerate(zip(reference, kernel)):
        r, k = np.asarray(r), np.asarray(k)
        if r.shape != k.shape or r.dtype != k.dtype:
            return Agreement(False, float("inf"), float("inf"),
                             f"array {i}: reference {r.dtype} of shape {r.shape}, kernel "
                             f"{k.dtype} of shape {k.shape}")
        r, k = r.astype(np.float64), k.astype(np.float64)
        if r.size == 0:
            continue
        bad = ~np.isclose(k, r, rtol=rtol, atol=atol, equal_nan=False)
        with np.errstate(invalid="ignore"):
            error = np.abs(k - r)
        error = np.where(np.isnan(error), np.inf, error)   # a NaN is as far off as can be
        max_abs = max(max_abs, float(error.max()))
        scale = atol + rtol * np.abs(np.nan_to_num(r, posinf=0.0, neginf=0.0))
        worst = max(worst, float((error / scale).max()))
        if bad.any() and not detail:
            at = np.unravel_index(int(np.argmax(bad)), r.shape)
            detail = (f"array {i} (shape {r.shape}): {int(bad.sum())} of {r.size} elements "
                      f"differ, first at {tuple(int(x) for x in at)}: reference "
                      f"{float(r[at]):.7g}, kernel {float(k[at]):.7g}")
    return Agreement(not detail, max_abs, worst, detail)


def run_once(side: Side) -> list[np.ndarray]:
    """One call of ``side`` inside its context, its arrays copied."""
    with side.context():
        return [np.array(a, copy=True) for a in side.fn()]


@dataclass(frozen=True)
class AccelerationRow:
    """The outcome for one pair: its check, and its timing when the check passed."""

    name: str
    what: str
    rtol: float
    atol: float
    agreement: Agreement
    comparison: Comparison | None     # reference / kernel; None when the results differ

    @property
    def gain(self) -> float | None:
        """Reference time / kernel time (above 1: the kernel is faster); None if not timed."""
        return self.comparison.ratio if self.comparison is not None else None

    def to_dict(self) -> dict[str, Any]:
        a = self.agreement
        return {
            "name": self.name, "what": self.what,
            "check": {"agrees": a.ok, "rtol": self.rtol, "atol": self.atol,
                      "max_abs_error": a.max_abs_error, "worst_in_tolerances": a.worst,
                      "detail": a.detail},
            "gain": self.gain,
            "comparison": self.comparison.to_dict() if self.comparison is not None else None,
        }


def measure_pair(pair: KernelPair, *, rounds: int = ROUNDS, repeats: int = REPEATS,
                 warmup: int = WARMUP, min_time: float = MIN_TIME, settle: float = SETTLE,
                 level: float = LEVEL, timer: Timer = time.perf_counter,
                 sleep: Callable[[float], Any] = time.sleep) -> AccelerationRow:
    """Check ``pair``'s kernel against its reference, and time them only if they agree."""
    reference, kernel = pair.build()
    check = agreement(run_once(reference), run_once(kernel), pair.rtol, pair.atol)
    comparison = None
    if check.ok:
        comparison = compare(reference, kernel, rounds=rounds, repeats=repeats, warmup=warmup,
                             min_time=min_time, settle=settle, level=level, timer=timer,
                             sleep=sleep)
    return AccelerationRow(pair.name, pair.what, pair.rtol, pair.atol, check, comparison)
