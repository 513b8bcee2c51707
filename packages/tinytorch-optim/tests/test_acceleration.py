"""Acceleration, measured: checks before gains, the blocked matmul, the direct convolution,
and every reference/kernel pair of the lower tiers agreeing. No timing assertions."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch
from tinytorch.arch.functional import conv2d
from tinytorch.core import parallel
from tinytorch.core.reference import reference_kernels_enabled
from tinytorch.perf.acceleration import (
    KernelPair,
    agreement,
    block_for_cache,
    conv2d_direct,
    default_pairs,
    matmul_blocked,
    matmul_by_rows,
    measure_acceleration,
    measure_pair,
    switched,
    threaded,
)
from tinytorch.perf.acceleration.pair import run_once
from tinytorch.perf.compare import Side
from tinytorch.perf.environment import usable_cores


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _no_sleep(seconds: float) -> None:
    return None


# --- the cache-blocking demonstration -------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(st.integers(1, 70), st.integers(1, 70), st.integers(1, 70), st.sampled_from([1, 7, 16, 64]),
       st.integers(0, 2 ** 16))
def test_blocked_matmul_equals_the_row_by_row_product_exactly(m: int, k: int, n: int, block: int,
                                                              seed: int) -> None:
    rng = np.random.default_rng(seed)
    # integer values: every partial sum is exact in float64, whatever the summation order
    a = rng.integers(-9, 10, (m, k)).astype(np.float64)
    b = rng.integers(-9, 10, (k, n)).astype(np.float64)
    by_rows = matmul_by_rows(a, b)
    np.testing.assert_array_equal(matmul_blocked(a, b, block), by_rows)
    np.testing.assert_array_equal(by_rows, a @ b)


def test_blocked_matmul_agrees_with_numpy_on_random_floats() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((100, 130)), rng.standard_normal((130, 90))
    np.testing.assert_allclose(matmul_blocked(a, b, 32), a @ b, rtol=1e-12, atol=1e-12)


def test_matmul_demonstrations_reject_shapes_that_do_not_multiply() -> None:
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\) cannot be multiplied"):
        matmul_blocked(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match="two 2-D arrays"):
        matmul_by_rows(np.ones(3), np.ones((3, 2)))
    with pytest.raises(ValueError, match="block must be a positive integer"):
        matmul_blocked(np.ones((2, 2)), np.ones((2, 2)), block=0)


def test_block_for_cache_keeps_three_tiles_within_half_the_cache() -> None:
    for cache, itemsize in [(32 * 1024, 8), (1024 * 1024, 8), (512 * 1024, 4), (256, 8)]:
        b = block_for_cache(cache, itemsize)
        assert b & (b - 1) == 0 and b >= 8
        assert b == 8 or 3 * b * b * itemsize <= cache // 2 < 3 * (2 * b) ** 2 * itemsize
    assert block_for_cache(1024 * 1024, 8) == 128


# --- the direct convolution -----------------------------------------------------------------

@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 1), (3, 2)])
def test_direct_convolution_equals_the_im2col_reference(stride: int, padding: int) -> None:
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 2)), \
        rng.standard_normal(4)
    with tinytorch.use_reference_kernels(True), tinytorch.no_grad():
        expected = conv2d(tinytorch.tensor(x), tinytorch.tensor(w), tinytorch.tensor(b),
                          stride=stride, padding=padding).numpy()
    np.testing.assert_allclose(conv2d_direct(x, w, b, stride, padding), expected, rtol=1e-12,
                               atol=1e-12)


def test_direct_convolution_rejects_mismatched_channels() -> None:
    with pytest.raises(ValueError, match="same C"):
        conv2d_direct(np.ones((1, 3, 5, 5)), np.ones((2, 4, 3, 3)))


# --- the check before the gain --------------------------------------------------------------

def test_agreement_accepts_rounding_and_rejects_a_real_difference() -> None:
    ref = [np.array([1.0, 2.0, 3.0]), np.array(0.5)]
    ok = agreement(ref, [ref[0] * (1 + 1e-7), np.array(0.5)], rtol=1e-5, atol=1e-8)
    assert ok.ok and ok.worst <= 1.0 and ok.detail == ""
    bad = agreement(ref, [np.array([1.0, 2.5, 3.0]), np.array(0.5)], rtol=1e-5, atol=1e-8)
    assert not bad.ok and bad.max_abs_error == pytest.approx(0.5) and bad.worst > 1.0
    assert "array 0" in bad.detail and "1 of 3 elements differ" in bad.detail


@pytest.mark.parametrize("kernel, match", [
    ([np.ones(3)], "returned 2 arrays"),
    ([np.ones(3), np.ones(2)], "of shape (2,)"),
    ([np.ones(3), np.array(1.0, dtype=np.float32)], "kernel float32"),
    ([np.ones(3), np.array(np.nan)], "array 1"),
])
def test_agreement_rejects_missing_misshapen_or_nan_results(kernel: list, match: str) -> None:
    result = agreement([np.ones(3), np.array(1.0)], kernel, rtol=1e-5, atol=1e-8)
    assert not result.ok and match in result.detail


def _pair(reference_value: float, kernel_value: float, calls: dict[str, int],
          clock: FakeClock) -> KernelPair:
    """A pair of fake sides: the reference takes 3 s a call on ``clock``, the kernel 1 s."""

    def side(name: str, value: float, seconds: float) -> Side:
        def fn() -> list[np.ndarray]:
            calls[name] += 1
            clock.now += seconds
            return [np.full(4, value), np.arange(3.0)]
        return Side(fn, name)
    return KernelPair("fake op", "fake trick",
                      lambda: (side("reference", reference_value, 3.0),
                               side("kernel", kernel_value, 1.0)))


def test_a_kernel_that_disagrees_gets_no_gain_and_is_never_timed() -> None:
    calls, clock = {"reference": 0, "kernel": 0}, FakeClock()
    pair = _pair(1.0, 1.01, calls, clock)                # a wrong kernel: 1% off
    row = measure_pair(pair, timer=clock, sleep=_no_sleep)
    assert not row.agreement.ok
    assert row.gain is None and row.comparison is None
    assert calls == {"reference": 1, "kernel": 1}        # the check only
    assert row.to_dict()["gain"] is None


def test_a_kernel_that_agrees_is_timed_and_its_gain_reported() -> None:
    calls, clock = {"reference": 0, "kernel": 0}, FakeClock()
    row = measure_pair(_pair(1.0, 1.0, calls, clock), rounds=3, repeats=2, warmup=1,
                       min_time=0.0, timer=clock, sleep=_no_sleep)
    assert row.agreement.ok
    assert row.gain == 3.0                               # 3 s per reference call, 1 s kernel
    assert calls["kernel"] > 1


def test_the_report_fails_and_shows_the_error_when_one_kernel_disagrees() -> None:
    calls, clock = {"reference": 0, "kernel": 0}, FakeClock()
    good, bad = _pair(1.0, 1.0, calls, clock), _pair(1.0, 2.0, calls, clock)
    report = measure_acceleration([good, bad], rounds=1, repeats=1, min_time=0.0,
                                  timer=clock, sleep=_no_sleep)
    assert not report.ok
    assert [row.gain is None for row in report.rows] == [False, True]
    table = report.table()
    assert "DIFFERS" in table and "not timed" in table
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["rows"][1]["check"]["agrees"] is False


def test_kernel_pair_needs_a_positive_absolute_tolerance() -> None:
    with pytest.raises(ValueError, match="atol > 0"):
        KernelPair("x", "y", lambda: (Side(list, "a"), Side(list, "b")), atol=0.0)


# --- the catalogue of the lower tiers' optimisations -----------------------------------------

def test_switched_sides_run_the_reference_and_the_kernel() -> None:
    before = reference_kernels_enabled()
    reference, kernel = switched(lambda: [np.array(reference_kernels_enabled())])
    assert run_once(reference)[0] and not run_once(kernel)[0]
    assert reference_kernels_enabled() == before


def test_threaded_sides_hold_the_thread_count_and_restore_the_policy() -> None:
    before = (tinytorch.get_num_threads(), parallel._State.adaptive)
    one, many = threaded(lambda: [np.array(tinytorch.get_num_threads())], 3)
    assert run_once(one)[0] == 1 and run_once(many)[0] == 3
    assert (tinytorch.get_num_threads(), parallel._State.adaptive) == before


def test_every_kernel_of_the_lower_tiers_agrees_with_its_reference() -> None:
    pairs = default_pairs(quick=True)
    whats = {p.what for p in pairs}
    assert {"cache blocking", "im2col vs one product per offset"} <= whats
    assert ("threaded rows" in whats) == (usable_cores() > 1)
    for pair in pairs:
        reference, kernel = pair.build()
        check = agreement(run_once(reference), run_once(kernel), pair.rtol, pair.atol)
        assert check.ok, f"{pair.name} ({pair.what}): {check.detail}"


def test_tito_perf_accel_checks_times_and_writes_json(tmp_path, capsys) -> None:
    from tinytorch.perf.cli import register

    parser = argparse.ArgumentParser(prog="tito")
    register(parser.add_subparsers(dest="command"))
    path = tmp_path / "accel.json"
    args = parser.parse_args(["perf", "accel", "--quick", "--only", "cache blocking",
                              "--rounds", "1", "--repeats", "1", "--json", str(path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "cache blocking" in out and "gain" in out
    data = json.loads(path.read_text())
    assert data["ok"] and data["rows"][0]["check"]["agrees"]
    assert data["rows"][0]["gain"] > 0
