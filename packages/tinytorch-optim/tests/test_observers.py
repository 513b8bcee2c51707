"""MinMaxObserver and PercentileObserver: the ranges that calibration produces."""

from __future__ import annotations

import numpy as np
import pytest

from tinytorch.perf.quantization import MinMaxObserver, PercentileObserver


def run(observer, batches):
    for p in range(observer.passes):
        observer.begin_pass(p)
        for b in batches:
            observer.observe(b)
    return observer


def test_minmax_covers_every_batch():
    batches = [np.array([0.5, 2.0]), np.array([[-3.0, 1.0]]), np.zeros((0,))]
    obs = run(MinMaxObserver(), batches)
    assert obs.range() == (-3.0, 2.0)
    scale, zp = obs.qparams()
    assert scale == np.float32(5.0) / np.float32(255) and zp == 153


def test_percentile_clips_rare_outliers():
    rng = np.random.default_rng(0)
    bulk = [rng.uniform(-1, 1, 10_000).astype(np.float32) for _ in range(5)]
    bulk[2][7] = 1000.0                                    # one outlier in 50,000 values
    lo, hi = run(PercentileObserver(percentile=99.9), bulk).range()
    minmax_hi = run(MinMaxObserver(), bulk).range()[1]
    assert minmax_hi == 1000.0
    bin_width = 1001.0 / 2048
    assert -1 - bin_width <= lo <= -0.99 + bin_width and 0.99 - bin_width <= hi <= 1 + bin_width


def test_percentile_100_keeps_the_whole_range():
    x = np.linspace(-2, 5, 1001)
    assert run(PercentileObserver(percentile=100.0), [x]).range() == (-2.0, 5.0)


def test_observer_that_saw_nothing_names_its_tensor():
    with pytest.raises(RuntimeError, match="the input of fc1 saw no values"):
        MinMaxObserver("the input of fc1").range()


def test_non_finite_activations_are_refused():
    with pytest.raises(ValueError, match="NaN or inf"):
        MinMaxObserver("x").observe(np.array([1.0, np.nan]))


def test_percentile_must_be_sensible():
    with pytest.raises(ValueError, match="percentile"):
        PercentileObserver(percentile=30.0)
