"""sandbox and worker: every way a child can end becomes a result or a reason."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import olympics_test_models
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import tinytorch
from tinytorch.olympics.sandbox import SandboxLimits, run_worker
from tinytorch.olympics.worker import run_job
from tinytorch.perf import quantize_static

om = olympics_test_models
QUICK = SandboxLimits(timeout_s=30, cpu_s=30, memory_bytes=2 * 2**30)


def _python(code: str) -> list[str]:
    return [sys.executable, "-I", "-c", code]


def _scratch(folder: Path, model: bytes, baseline: bytes, *, division: str = "open",
             repeat_sample: int = 0, samples: int = 40) -> Path:
    """A scratch folder as the verifier prepares it; sample 0 has a positive sum."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((samples, om.FEATURES)).astype(np.float32) - 0.5
    x[0] = np.abs(x[0]) + 1.0
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", rng.integers(0, om.CLASSES, samples))
    (folder / "model.onnx").write_bytes(model)
    (folder / "baseline.onnx").write_bytes(baseline)
    job = {"model": "model.onnx", "baseline": "baseline.onnx", "x": "x.npy", "y": "y.npy",
           "input_shape": [om.FEATURES], "num_classes": om.CLASSES, "division": division,
           "max_nodes": 1000,
           "timing": {"repeats": 5, "min_time": 0.005, "warmup": 0.005, "pool": samples,
                      "repeat_sample": repeat_sample},
           "gaming": {"repeat_speedup_max": 1.5, "outputs": "exact"}}
    (folder / "job.json").write_text(json.dumps(job), encoding="utf-8")
    return folder


def _failed(result: dict[str, Any]) -> list[str]:
    return [c["name"] for c in result["checks"] if not c["passed"]]


# ---- sandbox -------------------------------------------------------------------------------

def test_a_child_killed_by_sigsegv_becomes_a_reason_naming_the_signal(tmp_path: Path) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    outcome = run_worker(tmp_path, QUICK, argv=_python(code))
    assert outcome.result is None and outcome.returncode == -11
    assert outcome.reason is not None and "crashed with signal SIGSEGV" in outcome.reason


def test_a_hanging_child_is_killed_at_the_timeout(tmp_path: Path) -> None:
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', " \
           "'import time; time.sleep(60)']); time.sleep(60)"
    outcome = run_worker(tmp_path, SandboxLimits(timeout_s=1.0), argv=_python(code))
    assert outcome.reason == "timed out after 1 s" and outcome.result is None
    assert outcome.seconds < 10


def test_the_child_gets_an_empty_environment_and_the_scratch_folder(tmp_path: Path) -> None:
    code = ("import json, os; json.dump({'environ': dict(os.environ), 'cwd': os.getcwd(), "
            "'initial': open('/proc/self/environ', 'rb').read().decode()}, "
            "open('seen.json', 'w'))")
    outcome = run_worker(tmp_path, QUICK, argv=_python(code))
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["initial"] == ""  # what exec received; Python may add LC_CTYPE itself
    assert set(seen["environ"]) <= {"LC_CTYPE"}
    assert Path(seen["cwd"]) == tmp_path.resolve()
    assert outcome.reason == "exited with status 0 but wrote no result.json"


def test_the_memory_limit_stops_a_child_allocating_too_much(tmp_path: Path) -> None:
    limits = SandboxLimits(timeout_s=30, memory_bytes=512 * 2**20)
    outcome = run_worker(tmp_path, limits, argv=_python("b = bytearray(2 * 2**30)"))
    assert outcome.result is None and outcome.reason is not None
    assert outcome.reason.startswith("exited with status 1") and "MemoryError" in outcome.reason


def test_the_cpu_limit_stops_a_busy_child(tmp_path: Path) -> None:
    limits = SandboxLimits(timeout_s=30, cpu_s=1)
    outcome = run_worker(tmp_path, limits, argv=_python("while True: pass"))
    assert outcome.reason is not None and "CPU limit of 1 s" in outcome.reason


def test_a_non_zero_exit_reports_the_status_and_stderr_tail(tmp_path: Path) -> None:
    code = "import sys; print('x' * 5000, file=sys.stderr); sys.exit('model exploded')"
    outcome = run_worker(tmp_path, QUICK, argv=_python(code))
    assert outcome.returncode == 1 and outcome.reason is not None
    assert outcome.reason.endswith("model exploded") and len(outcome.reason) < 2100


def test_a_stale_or_malformed_result_is_never_reported(tmp_path: Path) -> None:
    (tmp_path / "result.json").write_text('{"ok": true}')
    outcome = run_worker(tmp_path, QUICK, argv=_python("pass"))
    assert outcome.result is None and "wrote no result.json" in str(outcome.reason)
    code = "open('result.json', 'w').write('[1, 2')"
    outcome = run_worker(tmp_path, QUICK, argv=_python(code))
    assert outcome.result is None and "not valid JSON" in str(outcome.reason)


def test_the_real_worker_verifies_an_int8_entry_against_its_float_baseline(
        tmp_path: Path) -> None:
    float_model = om.mlp((om.FEATURES, 32, om.CLASSES))
    calibration = np.random.default_rng(3).standard_normal((16, om.FEATURES))
    int8_model = quantize_static(float_model, [tinytorch.Tensor(calibration.astype(np.float32))])
    scratch = _scratch(tmp_path, om.export(int8_model, (om.FEATURES,)),
                       om.export(float_model, (om.FEATURES,)), division="closed")
    outcome = run_worker(scratch, QUICK)
    assert outcome.reason is None and outcome.returncode == 0, outcome.reason
    result = outcome.result
    assert result is not None and result["ok"] is True and result["reason"] is None
    assert [c["name"] for c in result["checks"]] == ["onnx", "io", "closed-division",
                                                     "outputs", "repeat"]
    entry = result["entry"]
    assert 0 <= entry["accuracy"] <= 1 and entry["outputs_match"] is True
    assert len(entry["latency_runs_ms"]) == 5 and entry["latency_ms"] > 0
    assert entry["peak_memory_bytes"] >= 0 and entry["peak_memory_method"] == "clear_refs"
    paired = np.divide(result["baseline"]["latency_runs_ms"], entry["latency_runs_ms"])
    assert result["speedup"] == pytest.approx(float(np.median(paired)))
    assert result["onnx"]["layers"] == [["linear", [32, 64]], ["linear", [10, 32]]]


# ---- worker, in-process ----------------------------------------------------------------------

def test_the_worker_passes_an_honest_model(tmp_path: Path) -> None:
    result = run_job(_scratch(tmp_path, om.linear_model(16), om.linear_model(32),
                              division="closed"))
    assert result["ok"] is True and _failed(result) == []
    assert result["entry"]["repeat_speedup"] < 1.5


def test_the_worker_rejects_outputs_that_change_between_runs(tmp_path: Path) -> None:
    result = run_job(_scratch(tmp_path, om.noisy_model(), om.linear_model()))
    assert result["ok"] is False and _failed(result) == ["outputs"]
    assert "outputs of the timed runs differ from the accuracy run's" in result["reason"]
    assert result["entry"]["outputs_match"] is False


def test_the_worker_rejects_a_model_that_answers_a_repeated_sample_cheaply(
        tmp_path: Path) -> None:
    result = run_job(_scratch(tmp_path, om.cached_answer_model(), om.linear_model(),
                              repeat_sample=0))
    assert result["ok"] is False and _failed(result) == ["repeat"]
    assert "one sample repeated runs" in result["reason"]


def test_the_worker_rejects_external_data_before_running_anything(tmp_path: Path) -> None:
    result = run_job(_scratch(tmp_path, om.external_initializer_model(), om.linear_model()))
    assert result["ok"] is False and result["onnx"] is None and result["entry"] is None
    assert _failed(result) == ["onnx"] and "'../../etc/passwd'" in result["reason"]


def test_the_worker_rejects_a_wider_closed_division_entry(tmp_path: Path) -> None:
    result = run_job(_scratch(tmp_path, om.linear_model(48), om.linear_model(32),
                              division="closed"))
    assert _failed(result) == ["closed-division"] and "out size 48" in result["reason"]


def test_the_worker_turns_an_onnxruntime_error_into_a_reason(tmp_path: Path) -> None:
    gather = helper.make_node("Gather", ["input", "index"], ["logits"], axis=1)
    index = numpy_helper.from_array(np.full(om.CLASSES, 1000, np.int64), "index")
    model = om._model([gather], [index])
    onnx.checker.check_model(model, full_check=True)
    result = run_job(_scratch(tmp_path, model.SerializeToString(), om.linear_model()))
    assert result["ok"] is False and result["entry"] is None
    assert result["reason"].startswith("error while running the model in onnxruntime: ")


def test_the_worker_refuses_a_job_naming_a_path_outside_the_scratch_folder(
        tmp_path: Path) -> None:
    scratch = _scratch(tmp_path, om.linear_model(), om.linear_model())
    job = json.loads((scratch / "job.json").read_text())
    job["x"] = "../x.npy"
    (scratch / "job.json").write_text(json.dumps(job))
    result = run_job(scratch)
    assert result["ok"] is False and "'../x.npy'" in result["reason"]


def test_the_worker_rejects_a_float64_input(tmp_path: Path) -> None:
    model = om.linear_proto()
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    model.graph.node.insert(0, helper.make_node("Cast", ["input"], ["input_f"],
                                                to=TensorProto.FLOAT))
    model.graph.node[1].input[0] = "input_f"
    result = run_job(_scratch(tmp_path, model.SerializeToString(), om.linear_model()))
    assert _failed(result) == ["io"] and "element type double" in result["reason"]


def test_the_worker_rejects_a_model_with_the_wrong_number_of_classes(tmp_path: Path) -> None:
    model = om.linear_proto()
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "classes"
    model.graph.initializer[2].CopyFrom(om._weight("w2", (7, 32), 3))
    model.graph.initializer[3].CopyFrom(om._weight("b2", (7,), 4))
    result = run_job(_scratch(tmp_path, model.SerializeToString(), om.linear_model()))
    assert _failed(result) == ["outputs"] and "7 classes at run time" in result["reason"]
