"""``benchmark(fn)``: time a callable the way a careful person would, and keep the evidence.

What a measurement does, in order:

1. **Warm-up.** ``warmup`` untimed calls: the first calls of a step pay for things later calls
   do not (NumPy allocating its first buffers, the pool of TinyTorch's threads starting, the
   caches filling with the weights).
2. **Calibration.** One timed sample is ``number`` calls back to back, with ``number`` grown
   until a sample lasts at least ``min_time``. A timer read costs tens of nanoseconds, so a
   call of a few microseconds timed alone carries percents of timer overhead, and a single
   interrupt can double that one sample; many calls per sample average both away.
3. **Samples.** ``repeats`` samples, each recorded as seconds per call. Python's cyclic
   garbage collector is paused while they run (as ``timeit`` does): a collection triggered
   by garbage from earlier code would otherwise land in whichever sample was running.
4. **Statistics** (``tinytorch.perf.stats``): the median, the quartiles and their IQR, the
   minimum, and a distribution-free confidence interval for the median.
5. **Fingerprint** (``tinytorch.perf.environment``): versions, BLAS and threads, CPU, and
   the load average before and after.

Which figure to quote: the median. The minimum is what the code can do when nothing
interferes, which a user rarely sees; the mean follows the slowest outliers. The interval
says how far the median could move if the run were repeated on the same machine in the same
state; the fingerprint says what that state was.

Cost: ``warmup + calibration + repeats · number`` calls of ``fn``, so about
``(repeats + 2) · min_time`` seconds for a fast ``fn``, and ``repeats + warmup + 1`` calls for
a slow one.
"""

from __future__ import annotations

import gc
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tinytorch.core.atomic import atomic_write
from tinytorch.perf.environment import fingerprint, load_average
from tinytorch.perf.stats import median_interval, quartiles

Timer = Callable[[], float]

WARMUP = 2
REPEATS = 15
MIN_TIME = 0.02      # seconds per timed sample
LEVEL = 0.95         # confidence asked of the interval for the median


def format_time(seconds: float) -> str:
    """``seconds`` in the unit that leaves 1 to 3 digits before the point (s, ms, µs, ns)."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3f} {unit}"
    return f"{seconds / 1e-9:.1f} ns"


def check_settings(caller: str, warmup: int, repeats: int, min_time: float,
                   level: float) -> None:
    """Raise ``ValueError`` naming ``caller`` for a setting a measurement cannot use."""
    for name, value, low in (("warmup", warmup, 0), ("repeats", repeats, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{caller}: {name} must be an integer ≥ {low}, got {value!r}")
    if not isinstance(min_time, (int, float)) or not math.isfinite(min_time) or min_time < 0:
        raise ValueError(f"{caller}: min_time must be a finite number of seconds ≥ 0, "
                         f"got {min_time!r}")
    if not isinstance(level, float) or not 0.0 < level < 1.0:
        raise ValueError(f"{caller}: level must be a probability in (0, 1), got {level!r}")


def check_callable(caller: str, name: str, fn: object) -> None:
    if not callable(fn):
        raise TypeError(f"{caller}: {name} must be a callable taking no arguments, got "
                        f"{type(fn).__name__}")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector inside the block (as it was after)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def time_calls(fn: Callable[[], Any], number: int, timer: Timer) -> float:
    """Seconds that ``number`` calls of ``fn`` back to back take."""
    start = timer()
    for _ in range(number):
        fn()
    return timer() - start


def calls_per_sample(fn: Callable[[], Any], min_time: float, timer: Timer) -> int:
    """The number of back-to-back calls of ``fn`` that last at least ``min_time`` seconds.

    Starts at one call and grows by the ratio still missing (at least ×2, at most ×10 a step,
    so a first call slowed by a hiccup cannot make the estimate explode).
    """
    number = 1
    while True:
        elapsed = time_calls(fn, number, timer)
        if elapsed >= min_time:
            return number
        if elapsed <= 0 and number >= 10 ** 7:
            raise RuntimeError(f"the timer did not advance over {number} calls of the "
                               f"benchmarked function; pass a timer that measures time")
        growth = min_time / elapsed if elapsed > 0 else 10.0
        number = math.ceil(number * min(10.0, max(2.0, 1.1 * growth)))


def time_samples(fn: Callable[[], Any], repeats: int, number: int, timer: Timer) -> list[float]:
    """``repeats`` samples of seconds per call, each over ``number`` calls, GC paused."""
    with gc_paused():
        return [time_calls(fn, number, timer) / number for _ in range(repeats)]


@dataclass(frozen=True)
class BenchmarkResult:
    """The samples of one measurement and what they say.

    ``times`` holds seconds per call, one entry per timed sample, in the order taken.
    """

    name: str
    times: tuple[float, ...]
    number: int                  # calls per sample
    warmup: int
    min_time: float
    level: float                 # the confidence asked of ``ci``
    fingerprint: dict[str, Any]

    @property
    def median(self) -> float:
        return quartiles(self.times)[1]

    @property
    def q1(self) -> float:
        return quartiles(self.times)[0]

    @property
    def q3(self) -> float:
        return quartiles(self.times)[2]

    @property
    def iqr(self) -> float:
        q1, _, q3 = quartiles(self.times)
        return q3 - q1

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def ci(self) -> tuple[float, float]:
        """The order-statistic confidence interval for the median, in seconds."""
        low, high, _ = median_interval(self.times, self.level)
        return low, high

    @property
    def ci_level(self) -> float:
        """The interval's exact coverage (below ``level`` when there are too few samples)."""
        return median_interval(self.times, self.level)[2]

    def summary(self) -> str:
        low, high = self.ci
        return (f"{self.name}: median {format_time(self.median)} "
                f"({self.ci_level:.0%} CI {format_time(low)} to {format_time(high)}), "
                f"IQR {format_time(self.iqr)}, min {format_time(self.min)}; "
                f"{len(self.times)} samples of {self.number} call(s)")

    def to_dict(self) -> dict[str, Any]:
        """The statistics, the raw samples and the settings, as JSON-ready values."""
        q1, median, q3 = quartiles(self.times)
        low, high, coverage = median_interval(self.times, self.level)
        return {
            "name": self.name,
            "unit": "seconds per call",
            "median": median, "q1": q1, "q3": q3, "iqr": q3 - q1, "min": min(self.times),
            "ci": {"low": low, "high": high, "coverage": coverage, "level": self.level,
                   "method": "order statistics (binomial), distribution-free"},
            "times": list(self.times),
            "settings": {"number": self.number, "warmup": self.warmup,
                         "min_time": self.min_time, "repeats": len(self.times)},
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchmarkResult:
        """Rebuild a result from ``to_dict()``'s output (the statistics are recomputed from
        the raw samples)."""
        try:
            settings = data["settings"]
            return cls(name=data["name"], times=tuple(float(t) for t in data["times"]),
                       number=int(settings["number"]), warmup=int(settings["warmup"]),
                       min_time=float(settings["min_time"]), level=float(data["ci"]["level"]),
                       fingerprint=dict(data["fingerprint"]))
        except (KeyError, TypeError) as e:
            raise ValueError(f"not a BenchmarkResult dict: missing or malformed {e}") from None

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``to_json()`` to ``path`` atomically (the old file or the new, never half)."""
        with atomic_write(path, "w", encoding="utf-8") as f:
            f.write(self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BenchmarkResult:
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))


def benchmark(fn: Callable[[], Any], *, warmup: int = WARMUP, repeats: int = REPEATS,
              min_time: float = MIN_TIME, name: str | None = None, level: float = LEVEL,
              timer: Timer = time.perf_counter) -> BenchmarkResult:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` samples of at least
    ``min_time`` seconds each (several calls per sample when one is shorter).

    Returns a ``BenchmarkResult`` with the median, IQR, minimum, a confidence interval for
    the median at ``level`` and the raw seconds per call, plus the environment fingerprint.
    ``timer`` returns seconds (``time.perf_counter``; tests pass a fake clock).
    """
    check_callable("benchmark", "fn", fn)
    check_settings("benchmark", warmup, repeats, min_time, level)
    load_start = load_average()
    for _ in range(warmup):
        fn()
    number = calls_per_sample(fn, min_time, timer)
    times = time_samples(fn, repeats, number, timer)
    return BenchmarkResult(
        name=name if name is not None else getattr(fn, "__name__", "fn"),
        times=tuple(times), number=number, warmup=warmup, min_time=float(min_time),
        level=level, fingerprint=fingerprint(load_start, load_average()))
