"""measure: latency, output and repeat checks, and peak memory, all in onnxruntime."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import olympics_test_models
import pytest

import tinytorch
from tinytorch.arch.models import LeNet5
from tinytorch.olympics import measure
from tinytorch.perf import quantize_static

om = olympics_test_models
FAST = {"repeats": 5, "min_time": 0.01, "warmup": 0.01}


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    """Mostly negative sums (the cached-answer model's expensive branch); sample 0 is
    positive (its cheap branch)."""
    x = np.random.default_rng(0).standard_normal((48, om.FEATURES)).astype(np.float32) - 0.5
    x[0] = np.abs(x[0]) + 1.0
    return x


def test_predict_each_returns_one_row_per_sample_matching_a_batch_run(
        samples: np.ndarray) -> None:
    session = measure.make_session(om.linear_model())
    outputs = measure.predict_each(session, samples)
    batch = session.run(None, {"input": samples})[0]
    assert outputs.shape == (len(samples), om.CLASSES)
    np.testing.assert_allclose(outputs, batch, rtol=1e-5, atol=1e-6)


def test_make_session_runs_on_one_cpu_thread_without_spinning() -> None:
    session = measure.make_session(om.linear_model())
    options = session.get_session_options()
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_timed_runs_gives_the_median_of_repeats_runs(samples: np.ndarray) -> None:
    session = measure.make_session(om.linear_model())
    timed = measure.timed_runs(session, samples, **FAST)
    assert len(timed.runs_ms) == 5 and all(ms > 0 for ms in timed.runs_ms)
    assert timed.median_ms == float(np.median(timed.runs_ms))
    assert timed.outputs_checked == 0


def test_timed_runs_are_calibrated_to_last_min_time(samples: np.ndarray) -> None:
    session = measure.make_session(om.linear_model())
    begin = time.perf_counter()
    timed = measure.timed_runs(session, samples, repeats=1, min_time=0.02, warmup=0.0)
    [ms] = timed.runs_ms
    assert time.perf_counter() - begin >= 0.02 and ms > 0


def _int8(name: str) -> tuple[tinytorch.nn.Module, tuple[int, ...]]:
    shape = (784,) if name == "mlp" else (1, 28, 28)
    model = om.mlp() if name == "mlp" else LeNet5(channels=(16, 32), batch_norm=True)
    calibration = np.random.default_rng(1).random((16, *shape), dtype=np.float32)
    return quantize_static(model, [tinytorch.Tensor(calibration)]), shape


@pytest.mark.parametrize("name", ["mlp", "lenet"])
def test_int8_models_give_bit_identical_outputs_in_the_timed_runs(name: str) -> None:
    model, shape = _int8(name)
    session = measure.make_session(om.export(model, shape))
    x = np.random.default_rng(2).random((16, *shape), dtype=np.float32)
    reference = measure.predict_each(session, x)
    timed = measure.timed_runs(session, x, repeats=3, min_time=0.005, warmup=0.005,
                               reference=reference)
    assert timed.outputs_checked > len(x)
    assert timed.outputs_mismatched == 0 and timed.first_mismatch is None


def test_random_noise_in_the_outputs_is_caught_in_the_timed_runs(samples: np.ndarray) -> None:
    noisy = measure.make_session(om.noisy_model())
    honest = measure.make_session(om.linear_model())
    reference = measure.predict_each(noisy, samples)
    result = measure.interleaved_latency(noisy, honest, samples, reference=reference, **FAST)
    assert result["outputs_mismatched"] > 0
    assert "differs from the accuracy run's" in result["first_mismatch"]


def test_a_tolerance_accepts_small_differences(samples: np.ndarray) -> None:
    noisy = measure.make_session(om.noisy_model())
    reference = measure.predict_each(noisy, samples)
    timed = measure.timed_runs(noisy, samples, reference=reference, atol=2e-3, **FAST)
    assert timed.outputs_checked > 0 and timed.outputs_mismatched == 0


def test_interleaved_latency_alternates_runs_and_reports_baseline_over_entry(
        samples: np.ndarray) -> None:
    entry = measure.make_session(om.linear_model())
    baseline = measure.make_session(om.cached_answer_model(threshold=1e9))  # always expensive
    reference = measure.predict_each(entry, samples)
    result = measure.interleaved_latency(entry, baseline, samples, reference=reference, **FAST)
    assert len(result["entry_runs_ms"]) == len(result["baseline_runs_ms"]) == 5
    paired = np.divide(result["baseline_runs_ms"], result["entry_runs_ms"])
    assert result["speedup"] == pytest.approx(float(np.median(paired)))
    assert result["speedup"] > 1.5
    assert result["outputs_mismatched"] == 0 and result["outputs_checked"] > len(samples)


def test_a_model_with_a_cheap_branch_for_the_repeated_sample_fails_the_repeat_check(
        samples: np.ndarray) -> None:
    session = measure.make_session(om.cached_answer_model())
    result = measure.repeat_check(session, samples, samples[0], **FAST)
    assert result["repeat_speedup"] >= 1.5
    assert result["repeat_speedup"] == pytest.approx(result["varied_ms"] /
                                                     result["repeated_ms"])


def test_an_honest_model_runs_a_repeated_sample_no_faster(samples: np.ndarray) -> None:
    session = measure.make_session(om.cached_answer_model(threshold=1e9))  # same work always
    result = measure.repeat_check(session, samples, samples[0], **FAST)
    assert result["repeat_speedup"] < 1.5


def test_peak_memory_sees_a_large_intermediate_tensor(samples: np.ndarray) -> None:
    big, small = om.big_intermediate_model(100_000), om.linear_model()
    peak_big = measure.peak_memory_during(
        lambda: measure.predict_each(measure.make_session(big), samples[:2]))
    peak_small = measure.peak_memory_during(
        lambda: measure.predict_each(measure.make_session(small), samples[:2]))
    assert measure.memory_method() == "clear_refs"
    assert peak_big >= om.FEATURES * 100_000 * 4
    assert peak_small < peak_big / 4


def test_peak_memory_falls_back_to_ru_maxrss_without_clear_refs(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(measure, "_CLEAR_REFS", tmp_path / "missing" / "clear_refs")
    assert measure.memory_method() == "ru_maxrss"
    assert measure.peak_memory_during(lambda: None) >= 0
