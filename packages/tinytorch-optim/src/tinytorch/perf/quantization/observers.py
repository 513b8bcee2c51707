"""Observers: what static quantization learns from calibration data, one range per tensor.

An observer watches one activation tensor while calibration batches run through the float
model and turns what it saw into a range ``[lo, hi]``, hence a uint8 (scale, zero point)
(``affine.activation_qparams``).

- ``MinMaxObserver`` keeps the smallest and largest value: one pass, two reductions per
  batch, ``O(numel)`` time and O(1) memory. Every calibration value is representable, but
  one outlier stretches the scale for all the others.
- ``PercentileObserver`` clips the range at the ``p``-th and ``(100 - p)``-th percentiles of
  everything it saw, trading the rare outliers (saturated) for a finer step for the bulk of
  the values. Percentiles of a whole calibration set would need every value in memory;
  instead it takes two passes, min/max first and then a histogram of ``bins`` equal bins over
  that range: ``O(numel)`` per batch per pass and ``O(bins)`` memory, the percentile
  located to within one bin width, ``(max - min) / bins``.
"""

from __future__ import annotations

import numpy as np

from tinytorch.perf.quantization.affine import activation_qparams


def _finite(x: np.ndarray, where: str) -> None:
    if not np.isfinite(x).all():
        raise ValueError(f"calibration: the activations at {where} hold NaN or inf values "
                         f"(shape {tuple(x.shape)}); they cannot be quantized")


class MinMaxObserver:
    """Range = [smallest, largest] value seen, over all calibration batches."""

    passes = 1

    def __init__(self, where: str = "a tensor") -> None:
        self.where = where
        self.lo = np.inf
        self.hi = -np.inf

    def begin_pass(self, index: int) -> None:
        """Called before each pass over the calibration data (one pass here)."""

    def observe(self, x: np.ndarray) -> None:
        """Take one batch of the watched tensor, any shape."""
        if x.size == 0:
            return
        _finite(x, self.where)
        self.lo = min(self.lo, float(x.min()))
        self.hi = max(self.hi, float(x.max()))

    @property
    def seen(self) -> bool:
        return self.lo <= self.hi

    def range(self) -> tuple[float, float]:
        if not self.seen:
            raise RuntimeError(f"calibration: {self.where} saw no values; the layer was never "
                               "called while the calibration data ran through the model")
        return self.lo, self.hi

    def qparams(self) -> tuple[np.float32, np.uint8]:
        """The uint8 (scale, zero point) of the observed range."""
        return activation_qparams(*self.range())


class PercentileObserver(MinMaxObserver):
    """Range = [(100-p)-th, p-th percentile] of all values seen, from a histogram (2 passes)."""

    passes = 2

    def __init__(self, where: str = "a tensor", percentile: float = 99.99,
                 bins: int = 2048) -> None:
        super().__init__(where)
        if not 50.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {percentile}")
        self.percentile = percentile
        self.bins = bins
        self.counts = np.zeros(bins, dtype=np.int64)
        self.histogram_pass = False

    def begin_pass(self, index: int) -> None:
        self.histogram_pass = index == 1

    def observe(self, x: np.ndarray) -> None:
        if not self.histogram_pass:                 # pass 0: the min/max of the parent
            super().observe(x)
            return
        if x.size:
            counts, _ = np.histogram(x, bins=self.bins, range=(self.lo, self.hi))
            self.counts += counts

    def range(self) -> tuple[float, float]:
        lo, hi = super().range()
        total = int(self.counts.sum())
        if total == 0 or lo == hi:
            return lo, hi
        edges = np.linspace(lo, hi, self.bins + 1)
        cdf = np.cumsum(self.counts)
        tail = total * (100.0 - self.percentile) / 100.0
        first = int(np.searchsorted(cdf, tail, side="right"))     # bin holding the low cut
        last = int(np.searchsorted(cdf, total - tail, side="left"))  # bin holding the high cut
        return float(edges[first]), float(edges[min(last, self.bins - 1) + 1])
