"""Robust statistics of timings: median, quartiles, and a confidence interval for the median.

Timings on a shared machine are not normal. Their distribution has a floor (the work itself)
and a long right tail: a neighbour's burst, a page fault, a thread that waited for a core.
A mean and a t-interval would be pulled by the tail and assume a symmetry that is not there.
So everything here is an order statistic of the sorted samples:

- the **median** is the middle sample (the mean of the two middle ones for an even count);
- the **quartiles** interpolate linearly between neighbouring samples (NumPy's default
  ``percentile`` method); the **IQR**, Q3 - Q1, is the spread of the middle half;
- the **confidence interval for the median** is distribution-free. For ``n`` independent
  samples from one distribution, each falls below the true median with probability 1/2, so
  the number below it is Binomial(n, 1/2), and the interval between the ``j``-th smallest and
  the ``j``-th largest sample holds the true median with probability
  ``1 - 2·P(Binomial(n, 1/2) ≤ j - 1)``. The narrowest such interval whose coverage reaches
  the level asked for is returned, with its exact coverage. No seed, no resampling: the same
  samples always give the same interval. It needs at least 6 samples to reach 95%
  (``1 - 2/2⁶`` ≈ 0.969); with fewer, the interval is the full range and its coverage says
  how much less it is worth.

What it does not fix: samples that are not independent, such as a machine that slows down
for the second half of a run. ``compare`` deals with that by alternating the two sides.

Cost: one sort, ``O(n log n)``, and ``n`` binomial terms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _checked(samples: Sequence[float], what: str) -> np.ndarray:
    values = np.asarray(samples, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{what} needs a non-empty sequence of numbers, got shape "
                         f"{values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{what} needs finite samples, got {values.tolist()}")
    return values


def quartiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """(Q1, median, Q3) of ``samples``, interpolating linearly between order statistics."""
    q1, q2, q3 = np.percentile(_checked(samples, "quartiles"), [25, 50, 75])
    return float(q1), float(q2), float(q3)


def median_coverage(n: int, j: int) -> float:
    """Probability that the true median lies between the ``j``-th smallest and the ``j``-th
    largest of ``n`` independent samples (1-based ``j``, ``1 ≤ j ≤ (n + 1) / 2``)."""
    if not 1 <= j <= (n + 1) // 2:
        raise ValueError(f"median_coverage: j must be in [1, {(n + 1) // 2}] for n={n}, "
                         f"got {j}")
    below = sum(math.comb(n, i) for i in range(j)) / 2 ** n   # P(Binomial(n, 1/2) ≤ j - 1)
    return max(0.0, 1.0 - 2.0 * below)


def median_interval(samples: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(low, high, coverage): the narrowest order-statistic interval for the median of
    ``samples`` whose coverage is at least ``level``, or the full range when no interval
    reaches it (then ``coverage < level``)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"median_interval: level must be in (0, 1), got {level}")
    values = np.sort(_checked(samples, "median_interval"))
    n = values.size
    j = 1
    while j < (n + 1) // 2 and median_coverage(n, j + 1) >= level:
        j += 1
    return float(values[j - 1]), float(values[n - j]), median_coverage(n, j)
