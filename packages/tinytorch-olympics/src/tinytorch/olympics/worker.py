"""The child process that checks and measures one entry: ``python -I -m
tinytorch.olympics.worker SCRATCH_DIR``.

It reads ``SCRATCH_DIR/job.json`` (written by the verifier), the entry's ``model.onnx``, the
organiser's baseline model and the held-out ``x.npy`` / ``y.npy`` (``allow_pickle=False``), and
writes ``SCRATCH_DIR/result.json`` atomically. The model is never trusted: every failure
(onnx parsing or checking, wrong inputs/outputs, a broken closed-division rule, an
onnxruntime error, outputs that change between runs, a suspiciously fast repeated sample)
becomes ``{"ok": false, "reason": ...}`` naming what went wrong, and the exit status is 0
whenever result.json was written. Anything else (a signal, a non-zero status) is a crash for
the sandbox to report.

The baseline is the organiser's (trusted) but runs in this same process, interleaved with the
entry, so the speed-up compares two models on one machine state.

Threads: BLAS and OpenMP pools size themselves when their library loads, and importing the
``tinytorch`` package already loads NumPy, so ``main`` sets the thread variables to 1 and
re-executes the interpreter once when they are missing; the measuring process then starts with
them in place. Cost of the re-exec: one interpreter start (~0.3 s).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1",
              "OMP_WAIT_POLICY": "PASSIVE"}
RESULT_FILE = "result.json"
JOB_FILE = "job.json"


class _Rejected(Exception):
    """A check failed; the message is the reason."""


def run_job(scratch: Path) -> dict[str, Any]:
    """Check and measure the job in ``scratch``; the result.json document (never raises for
    anything the model does)."""
    result: dict[str, Any] = {"ok": False, "reason": None, "checks": [], "entry": None,
                              "baseline": None, "speedup": None, "onnx": None}
    step = "reading job.json"
    try:
        import numpy as np

        from tinytorch.olympics import measure

        job = json.loads((scratch / JOB_FILE).read_text(encoding="utf-8"))
        timing, gaming = job["timing"], job["gaming"]
        atol = _tolerance(gaming["outputs"])
        step = "reading the held-out data"
        x = np.load(_inside(scratch, job["x"]), allow_pickle=False)
        y = np.load(_inside(scratch, job["y"]), allow_pickle=False)
        input_shape, num_classes = [int(d) for d in job["input_shape"]], int(job["num_classes"])
        if (x.dtype != np.float32 or x.shape[1:] != tuple(input_shape)
                or y.shape != x.shape[:1] or y.dtype.kind not in "iu"):
            raise ValueError(f"x.npy is {x.dtype} {x.shape} and y.npy {y.dtype} {y.shape}; "
                             f"expected float32 (N, {', '.join(map(str, input_shape))}) and "
                             "integer (N,)")
        pool = x[:max(1, int(timing["pool"]))]
        repeated = x[int(timing["repeat_sample"])]
        baseline_bytes = _inside(scratch, job["baseline"]).read_bytes()

        step = "checking the model"
        model_bytes = _inside(scratch, job["model"]).read_bytes()
        checks = result["checks"]
        _static_checks(model_bytes, baseline_bytes, job, input_shape, num_classes, result)

        step = "running the baseline in onnxruntime"
        baseline = measure.make_session(baseline_bytes)
        step = "running the model in onnxruntime"
        entry_memory = measure.peak_memory_during(
            lambda: measure.predict_each(measure.make_session(model_bytes), pool[:8]))
        entry = measure.make_session(model_bytes)
        outputs = measure.predict_each(entry, x)
        if outputs.shape[1] != num_classes:
            _fail(checks, "outputs", ValueError(f"the model's output has {outputs.shape[1]} "
                                                f"classes at run time; expected {num_classes}"))
        step = "measuring the baseline in onnxruntime"
        baseline_memory = measure.peak_memory_during(
            lambda: measure.predict_each(measure.make_session(baseline_bytes), pool[:8]))
        baseline_outputs = measure.predict_each(baseline, x)

        step = "timing the model against the baseline"
        latency = measure.interleaved_latency(
            entry, baseline, pool, repeats=int(timing["repeats"]),
            min_time=float(timing["min_time"]), warmup=float(timing["warmup"]),
            reference=outputs[:len(pool)], atol=atol)
        step = "timing a repeated sample"
        repeat = measure.repeat_check(entry, pool, repeated, repeats=int(timing["repeats"]),
                                      min_time=float(timing["min_time"]),
                                      warmup=float(timing["warmup"]))
        mismatched = int(latency["outputs_mismatched"])
        _check(checks, "outputs", mismatched == 0,
               f"{latency['outputs_checked']} outputs of the timed runs "
               f"{'match' if atol == 0 else f'are within {atol:g} of'} the accuracy run's"
               if mismatched == 0 else
               f"{mismatched} of {latency['outputs_checked']} outputs of the timed runs differ "
               f"from the accuracy run's ({latency['first_mismatch']})")
        limit = float(gaming["repeat_speedup_max"])
        _check(checks, "repeat", repeat["repeat_speedup"] < limit,
               f"one sample repeated runs {repeat['repeat_speedup']:.2f}x as fast as varied "
               f"samples ({repeat['repeated_ms']:.4f} ms against {repeat['varied_ms']:.4f} "
               f"ms; the limit is {limit:g}x)")
        result["entry"] = {"accuracy": _accuracy(outputs, y),
                           "latency_ms": latency["entry_ms"],
                           "latency_runs_ms": latency["entry_runs_ms"],
                           "peak_memory_bytes": entry_memory,
                           "peak_memory_method": measure.memory_method(),
                           "repeat_speedup": repeat["repeat_speedup"],
                           "outputs_match": mismatched == 0}
        result["baseline"] = {"accuracy": _accuracy(baseline_outputs, y),
                              "latency_ms": latency["baseline_ms"],
                              "latency_runs_ms": latency["baseline_runs_ms"],
                              "peak_memory_bytes": baseline_memory}
        result["speedup"] = latency["speedup"]
        failed = [c["detail"] for c in checks if not c["passed"]]
        result["ok"] = not failed
        result["reason"] = "; ".join(failed) or None
    except _Rejected as e:
        result["reason"] = str(e)
    except Exception as e:  # onnx, onnxruntime and numpy raise many types; all are reasons
        result["reason"] = f"error while {step}: {type(e).__name__}: {_brief(e)}"
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: re-exec with one-thread settings if needed, run the job, write the
    result; 0 when result.json was written."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -I -m tinytorch.olympics.worker SCRATCH_DIR", file=sys.stderr)
        return 2
    if any(os.environ.get(k) != v for k, v in THREAD_ENV.items()):
        os.environ.update(THREAD_ENV)
        os.execv(sys.executable, [sys.executable, "-I", "-m", "tinytorch.olympics.worker",
                                  *args])
    from tinytorch.core.atomic import atomic_write

    scratch = Path(args[0])
    result = run_job(scratch)
    try:
        text = json.dumps(result, indent=1, allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as e:  # a NaN or infinite figure: still a reason
        text = json.dumps({**result, "ok": False, "entry": None, "baseline": None,
                           "speedup": None, "reason": f"a measured figure cannot be written "
                                                      f"as JSON ({e})"}, default=str)
    with atomic_write(scratch / RESULT_FILE, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


def _static_checks(model_bytes: bytes, baseline_bytes: bytes, job: dict[str, Any],
                   input_shape: list[int], num_classes: int, result: dict[str, Any]) -> None:
    """onnx load/checker, inputs/outputs and the closed-division rule, each recorded as a
    check; raises _Rejected at the first that fails."""
    from tinytorch.olympics import model_checks as mc

    checks = result["checks"]
    max_nodes = int(job["max_nodes"])
    try:
        model = mc.load_model(model_bytes, max_nodes=max_nodes)
    except mc.ModelRejected as e:
        _fail(checks, "onnx", e)
    result["onnx"] = mc.describe(model)
    _check(checks, "onnx", True, f"onnx.checker passed; {result['onnx']['nodes']} nodes, "
                                 "standard operators only")
    try:
        mc.check_io(model, input_shape, num_classes)
    except mc.ModelRejected as e:
        _fail(checks, "io", e)
    _check(checks, "io", True, f"one float32 input (batch, {', '.join(map(str, input_shape))})"
                               f", one output (batch, {num_classes})")
    if job["division"] != "closed":
        _check(checks, "closed-division", True, f"{job['division']} division: any "
                                                "architecture")
        return
    base = mc.load_model(baseline_bytes, max_nodes=max_nodes)
    problems = mc.closed_division_problems(mc.architecture(model), mc.architecture(base))
    if problems:
        _fail(checks, "closed-division", mc.ModelRejected("closed division: " +
                                                          "; ".join(problems)))
    _check(checks, "closed-division", True, "the baseline's weight layers, none larger")


def _fail(checks: list[dict[str, Any]], name: str, error: Exception) -> NoReturn:
    _check(checks, name, False, str(error))
    raise _Rejected(str(error)) from error


def _check(checks: list[dict[str, Any]], name: str, passed: bool, detail: str) -> None:
    checks.append({"name": name, "passed": bool(passed), "detail": detail})


def _tolerance(outputs: Any) -> float:
    """``"exact"`` -> 0.0; a number -> that absolute tolerance."""
    if outputs == "exact":
        return 0.0
    if isinstance(outputs, (int, float)) and not isinstance(outputs, bool) and outputs >= 0:
        return float(outputs)
    raise ValueError(f"job.json gaming.outputs is {outputs!r}; expected \"exact\" or an "
                     "absolute tolerance >= 0")


def _inside(scratch: Path, name: str) -> Path:
    """``scratch / name`` for a plain file name (job.json names files, never paths)."""
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise ValueError(f"job.json names the file {name!r}; expected a plain file name in "
                         "the scratch folder")
    return scratch / name


def _accuracy(outputs: Any, labels: Any) -> float:
    return float((outputs.argmax(axis=1) == labels).mean()) if len(labels) else 0.0


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to result.json")


def _brief(e: BaseException, limit: int = 500) -> str:
    text = " ".join(str(e).split()) or "no message"
    return text if len(text) <= limit else text[:limit] + "..."


if __name__ == "__main__":
    sys.exit(main())
