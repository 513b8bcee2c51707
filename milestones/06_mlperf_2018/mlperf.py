"""Milestone 06's measuring kit: the earlier milestones' scripts as modules, trained models kept
in a cache, one row of figures per model variant, the targets, the table.

Everything here measures; nothing estimates. A size is ``os.path.getsize`` of a file that was
really written, an accuracy is an arg-max count over the test images, a latency is the median
of timed runs after warm-up (``tinytorch.perf.benchmark``), and the agreement of two runtimes
is the share of test images on which their predictions are the same class.

Cost of a row: two passes over the test set (one in TinyTorch, one in onnxruntime), and
``2 runtimes × 2 batch sizes`` latency measurements of ``repeats`` samples each; a sample
repeats the call until it lasts ``min_time`` seconds, so a 50 µs call is timed in blocks
instead of at the clock's resolution.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import tinytorch
from tinytorch.core.atomic import atomic_write
from tinytorch.nn import Module
from tinytorch.perf import Comparison, Side, benchmark, compare

MILESTONES = Path(__file__).resolve().parent.parent


def load_milestone(folder: str) -> ModuleType:
    """An earlier milestone's script (``milestones/<folder>/milestone.py``) as a module, for
    its model builder, data preparation and recipe; its ``main`` is not run."""
    path = MILESTONES / folder / "milestone.py"
    spec = importlib.util.spec_from_file_location(f"milestone_{folder}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise FileNotFoundError(f"milestone 06 builds on {path}, which is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- cached models
CHECKPOINT_FORMAT = "tinytorch.milestone06.checkpoint/1"
ACCURACY_SLACK = 0.1    # percentage points a reloaded model may differ by (BLAS summation order)


def load_or_train(path: Path, recipe: Mapping[str, Any], build: Callable[[], Module],
                  train: Callable[[Module], None], evaluate: Callable[[Module], float],
                  ) -> tuple[Module, str]:
    """The model that ``recipe`` makes: loaded from ``path`` when a checkpoint made by the same
    recipe is there and still scores what it scored when saved, else trained and saved.

    ``build()`` makes an untrained model, ``train(model)`` trains it in place and
    ``evaluate(model)`` returns its test accuracy in percent. The checkpoint holds the recipe,
    the state dict and that accuracy; it is written atomically (``tinytorch.save``), so an
    interrupted run leaves the old file or none. Returns the model (in eval mode) and how it
    was obtained, for the log: ``"loaded ..."`` or ``"trained ..."`` with the reason.
    """
    reason = "no checkpoint yet"
    if path.is_file():
        reason = _reuse_problem(path, recipe, build, evaluate)
        if reason is None:
            model = build()
            model.load_state_dict(tinytorch.load(path)["state_dict"])
            return model.eval(), f"loaded {path}"
    model = build()
    train(model)
    model.eval()
    accuracy = evaluate(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tinytorch.save({"format": CHECKPOINT_FORMAT, "recipe": dict(recipe),
                    "accuracy": accuracy, "state_dict": model.state_dict()}, path)
    return model, f"trained ({reason}), saved to {path}"


def _reuse_problem(path: Path, recipe: Mapping[str, Any], build: Callable[[], Module],
                   evaluate: Callable[[Module], float]) -> str | None:
    """Why the checkpoint at ``path`` cannot stand for ``recipe``, or None when it can."""
    try:
        saved = tinytorch.load(path)
    except RuntimeError as e:
        return f"unreadable checkpoint: {e}"
    if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
        return f"{path} is not a milestone 06 checkpoint (format {CHECKPOINT_FORMAT})"
    if saved.get("recipe") != dict(recipe):
        return "the checkpoint was made by another recipe"
    model = build()
    try:
        model.load_state_dict(saved["state_dict"])
    except (KeyError, RuntimeError) as e:
        return f"its state dict does not fit the model: {e}"
    accuracy = evaluate(model.eval())
    if abs(accuracy - float(saved["accuracy"])) > ACCURACY_SLACK:
        return (f"it scores {accuracy:.2f}% on the test set, not the {saved['accuracy']:.2f}% "
                "recorded when it was saved")
    return None


# --------------------------------------------------------------------------- measuring
def predict(model: Module, x: tinytorch.Tensor, chunk: int = 1000) -> np.ndarray:
    """Arg-max class (N,) int64 of every row of ``x``, in eval mode, ``chunk`` rows at a time."""
    model.eval()
    out = []
    with tinytorch.no_grad():
        for start in range(0, len(x), chunk):
            out.append(model(x[start:start + chunk]).array.argmax(axis=1))
    return np.concatenate(out)


def percent_equal(a: np.ndarray, b: np.ndarray) -> float:
    """Share of positions where ``a`` and ``b`` hold the same value, in percent: an accuracy
    (predictions against labels) or an agreement (two runtimes' predictions)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"expected two non-empty arrays of one shape, got {a.shape} and "
                         f"{b.shape}")
    return 100.0 * float(np.count_nonzero(a == b)) / a.size


def weight_sparsity(state_dict: Mapping[str, Any]) -> tuple[int, int]:
    """(weights, zero weights) over the weight matrices and kernels of a state dict: entries
    named ``*weight`` with two or more dimensions, whatever their dtype (float32 or int8)."""
    total = zeros = 0
    for name, value in state_dict.items():
        array = value.array if isinstance(value, tinytorch.Tensor) else np.asarray(value)
        if name.rpartition(".")[2] == "weight" and array.ndim >= 2:
            total += array.size
            zeros += array.size - int(np.count_nonzero(array))
    return total, zeros


def median_ms(fn: Callable[[], Any], *, repeats: int, warmup: int, min_time: float) -> float:
    """Median milliseconds per call of ``fn`` over ``repeats`` timed samples after ``warmup``
    untimed calls (``tinytorch.perf.benchmark``)."""
    return benchmark(fn, warmup=warmup, repeats=repeats, min_time=min_time).median * 1e3


def ort_session(path: str | os.PathLike[str]) -> Any:
    """An onnxruntime CPU session for the file at ``path``: one intra-op and one inter-op
    thread, every graph optimization on (the setting under which onnxruntime fuses
    QuantizeLinear/DequantizeLinear pairs into its integer kernels)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ImportError("milestone 06 runs the exported models in onnxruntime: install it "
                          "with `pip install tinytorch-optim[onnxruntime]`") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])


def ort_predict(session: Any, x: np.ndarray, chunk: int = 1000) -> np.ndarray:
    """Arg-max class (N,) of every row of ``x`` by a one-input, one-output session."""
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[s:s + chunk]})[0].argmax(axis=1)
                           for s in range(0, len(x), chunk)])


def ort_speedup(slow: str | os.PathLike[str], fast: str | os.PathLike[str], x: np.ndarray, *,
                rounds: int, repeats: int, min_time: float, settle: float) -> Comparison:
    """How many times faster the file ``fast`` runs than ``slow`` in onnxruntime on ``x``:
    ``Comparison.ratio`` is ``slow``'s time over ``fast``'s, from alternating blocks
    (``tinytorch.perf.compare``), so that a neighbour's burst of load falls on both sides
    rather than on whichever happened to be running."""
    sides = []
    for path in (slow, fast):
        session = ort_session(path)
        feed = {session.get_inputs()[0].name: x}
        sides.append(Side(lambda session=session, feed=feed: session.run(None, feed),
                          Path(path).stem))
    return compare(*sides, rounds=rounds, repeats=repeats, min_time=min_time, settle=settle)


# --------------------------------------------------------------------------- the table
BATCHES = (1, 128)
RUNTIMES = ("tinytorch", "onnxruntime")


@dataclass
class Row:
    """What one variant of one model measured. None: the step that gives it did not run
    (``error`` says why)."""

    model: str                         # "MLP" or "LeNet5"
    variant: str                       # "float32", "int8", "pruned", "pruned+int8"
    params: int                        # weights and biases, whatever their dtype
    weights: int                       # elements of the weight matrices and kernels
    zero_weights: int
    flops: int                         # forward FLOPs per image (integer ops for int8)
    file_bytes: int                    # tinytorch.save of the state dict
    sparse_bytes: int                  # tinytorch.perf.save_sparse of the state dict
    accuracy: float                    # % of the test images, TinyTorch
    onnx_bytes: int | None = None
    ort_accuracy: float | None = None  # % of the test images, onnxruntime
    agreement: float | None = None     # % of the test images with the same prediction
    max_abs_error: float | None = None  # tinytorch.onnx.verify, on one batch
    latency_ms: dict[str, float] = field(default_factory=dict)   # "tinytorch@128": ms
    error: str | None = None

    @property
    def name(self) -> str:
        return f"{self.model} {self.variant}"


def _cell(value: float | int | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def format_table(rows: list[Row]) -> str:
    """The report's table: one line per variant, sizes in kB, latencies in ms; ``verify`` is
    the largest absolute difference of the logits between the runtimes on one batch."""
    head = (f"{'variant':<19} {'params':>8} {'zeros':>6} {'MFLOPs':>7} {'.tt kB':>8} "
            f"{'sparse kB':>9} {'.onnx kB':>8} {'verify':>8} {'acc tt':>7} {'acc ort':>7} "
            f"{'agree':>7}"
            + "".join(f" {r[:4]}@{b:<3} ms" for r in RUNTIMES for b in BATCHES))
    lines = [head, "-" * len(head)]
    for r in rows:
        zeros = r.zero_weights / r.weights if r.weights else 0.0
        line = (f"{r.name:<19} {r.params:>8,} {zeros:>6.1%} {r.flops / 1e6:>7.3f} "
                f"{r.file_bytes / 1e3:>8.1f} {r.sparse_bytes / 1e3:>9.1f} "
                f"{_cell(None if r.onnx_bytes is None else r.onnx_bytes / 1e3, '8.1f'):>8} "
                f"{_cell(r.max_abs_error, '8.1e'):>8} "
                f"{r.accuracy:>6.2f}% {_cell(r.ort_accuracy, '6.2f'):>6}% "
                f"{_cell(r.agreement, '6.2f'):>6}%")
        for runtime in RUNTIMES:
            for b in BATCHES:
                line += f" {_cell(r.latency_ms.get(f'{runtime}@{b}'), '11.3f'):>11}"
        lines.append(line)
        if r.error:
            lines.append(f"    ! {r.error}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the targets
@dataclass(frozen=True)
class Target:
    """One claim and its bar: met when ``achieved >= bound``."""

    name: str
    achieved: float
    bound: float
    unit: str = ""

    @property
    def passed(self) -> bool:
        return self.achieved >= self.bound

    def line(self) -> str:
        verdict = "met   " if self.passed else "MISSED"
        return (f"{verdict} {self.name}: {self.achieved:.4g}{self.unit} "
                f"(≥ {self.bound:g}{self.unit})")


SIZE_RATIO = 3.5          # float32 file / int8 file
ACCURACY_KEPT = 99.0      # int8 accuracy as % of its float model's (MLPerf closed division)
AGREEMENT = 99.9          # % of test images on which onnxruntime and TinyTorch agree
INT8_SPEEDUP = 2.0        # MLP in onnxruntime at batch 128: float32 time / int8 time


def _ratio(a: float | None, b: float | None) -> float:
    return 0.0 if a is None or not b else a / b


def model_targets(rows: list[Row], speedups: Mapping[str, float]) -> list[Target]:
    """The targets on the variants of the models in ``rows``: int8 files ≥ 3.5× smaller than
    float32 (the TinyTorch file and the ONNX file), int8 accuracy ≥ 99% of its float model's
    (int8 against float32, pruned+int8 against pruned), onnxruntime agreeing with TinyTorch on
    ≥ 99.9% of the test images for every variant, and the MLP's int8 model ≥ 2× faster than
    its float32 model in onnxruntime at batch 128 (``speedups["MLP"]``, measured in
    alternating blocks by ``ort_speedup``). A figure that is missing (its step failed) counts
    as 0, so the target is missed."""
    by = {(r.model, r.variant): r for r in rows}
    out = []
    for model in dict.fromkeys(r.model for r in rows):
        f32, int8 = by[(model, "float32")], by[(model, "int8")]
        out.append(Target(f"{model}: int8 .tt file smaller than float32",
                          _ratio(f32.file_bytes, int8.file_bytes), SIZE_RATIO, "×"))
        out.append(Target(f"{model}: int8 .onnx file smaller than float32",
                          _ratio(f32.onnx_bytes, int8.onnx_bytes), SIZE_RATIO, "×"))
        for quantized, source in (("int8", "float32"), ("pruned+int8", "pruned")):
            q, s = by[(model, quantized)], by[(model, source)]
            out.append(Target(f"{model}: {quantized} accuracy as % of {source}'s",
                              100 * _ratio(q.accuracy, s.accuracy), ACCURACY_KEPT, "%"))
        if model == "MLP":
            out.append(Target("MLP: int8 speed-up over float32 in onnxruntime at batch 128",
                              speedups.get(model, 0.0), INT8_SPEEDUP, "×"))
    for r in rows:
        out.append(Target(f"{r.name}: onnxruntime agrees with TinyTorch",
                          r.agreement or 0.0, AGREEMENT, "%"))
    return out


def save_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically (readers see the old file or the new)."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=str)
        f.write("\n")

