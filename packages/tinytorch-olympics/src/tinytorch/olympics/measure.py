"""Measure a model in onnxruntime the same way for every entrant: batch 1, one thread.

Latency is the median over ``repeats`` timed runs. A run is one sample of
``tinytorch.perf.compare.alternating_blocks``: as many single-sample inferences as last
``min_time`` seconds (calibrated once per session), cycling through a pool of varied samples,
reported in milliseconds per inference; a warm-up of ``warmup`` seconds precedes the first run.
``interleaved_latency`` times entry and baseline in alternating runs (ABAB...) so both see the
same machine state (frequency scaling, other load), and its speed-up is the median of the
paired runs' ratios, which is steadier than either figure alone.

Anti-gaming, checked while timing:

- every output of the entry's timed runs is kept and compared with the accuracy run's output
  for the same sample. One session at batch 1 with one thread runs the same kernels in the same
  order every time, so honest outputs are bit-identical (checked for the float and int8
  baselines); a model that injects randomness or answers the timed runs differently is caught.
- ``repeat_check`` times one sample repeated against varied samples (interleaved). A model that
  recognises a repeated input (a cached answer, a cheap branch) shows ``varied / repeated`` far
  above 1; an honest model sits near 1.

Peak memory: ``peak_memory_during`` resets the kernel's resident-set high-water mark by writing
"5" to ``/proc/self/clear_refs`` and reports ``VmHWM`` after minus ``VmRSS`` before. Where that
file is not writable it falls back to the growth of ``ru_maxrss``, a lower bound that reads 0
when the process had already been larger (``memory_method`` says which one applies).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from tinytorch.perf.compare import Side, alternating_blocks

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def make_session(model_bytes: bytes) -> ort.InferenceSession:
    """An onnxruntime session on one CPU thread, no spinning, all graph optimizations."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 4  # errors surface as exceptions; keep stderr quiet
    return ort.InferenceSession(model_bytes, sess_options=options,
                                providers=["CPUExecutionProvider"])


def predict_each(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    """Run ``x`` (N, *input_shape) one sample at a time -> outputs (N, classes).

    Raises ``ValueError`` when an output is not ``(1, classes)`` with the same classes for
    every sample.
    """
    loop = _Loop(session, x)
    outputs = [loop.infer(i) for i in range(len(x))]
    first = outputs[0].shape if outputs else (1, 0)
    for i, out in enumerate(outputs):
        if out.ndim != 2 or out.shape[0] != 1 or out.shape != first:
            raise ValueError(f"output for sample {i} has shape {out.shape}; expected (1, "
                             f"classes) with the same classes as sample 0 {first}")
    return np.concatenate(outputs) if outputs else np.zeros((0, first[1]), np.float32)


@dataclass
class TimedRuns:
    """Milliseconds per inference of each timed run, and the output check's counts."""

    runs_ms: list[float]
    outputs_checked: int
    outputs_mismatched: int
    first_mismatch: str | None

    @property
    def median_ms(self) -> float:
        return float(np.median(self.runs_ms))


def timed_runs(session: ort.InferenceSession, samples: np.ndarray, *, repeats: int,
               min_time: float, warmup: float, reference: np.ndarray | None = None,
               atol: float = 0.0) -> TimedRuns:
    """Warm up, then ``repeats`` runs of about ``min_time`` s cycling through ``samples``.

    ``reference`` (len(samples), classes): outputs every inference must reproduce (exactly
    when ``atol`` is 0, else within ``atol``).
    """
    loop = _Loop(session, samples, reference, atol)
    [runs] = _interleave([loop], repeats, min_time, warmup)
    return loop.result(runs)


def interleaved_latency(entry: ort.InferenceSession, baseline: ort.InferenceSession,
                        samples: np.ndarray, *, repeats: int, min_time: float, warmup: float,
                        reference: np.ndarray | None = None,
                        atol: float = 0.0) -> dict[str, Any]:
    """Entry and baseline timed in alternating runs on the same samples.

    Returns ``entry_ms`` / ``baseline_ms`` (medians), ``entry_runs_ms`` / ``baseline_runs_ms``,
    ``speedup``, the median over rounds of baseline / entry (each round's pair ran back to
    back, so a slow spell of the machine cancels out of its ratio), and the entry's output
    check against ``reference``
    (``outputs_checked``, ``outputs_mismatched``, ``first_mismatch``).
    """
    loops = [_Loop(entry, samples, reference, atol), _Loop(baseline, samples)]
    entry_runs, baseline_runs = _interleave(loops, repeats, min_time, warmup)
    timed = loops[0].result(entry_runs)
    entry_ms, baseline_ms = timed.median_ms, float(np.median(baseline_runs))
    return {"entry_ms": entry_ms, "entry_runs_ms": entry_runs,
            "baseline_ms": baseline_ms, "baseline_runs_ms": baseline_runs,
            "speedup": float(np.median(np.divide(baseline_runs, entry_runs))),
            "outputs_checked": timed.outputs_checked,
            "outputs_mismatched": timed.outputs_mismatched,
            "first_mismatch": timed.first_mismatch}


def repeat_check(session: ort.InferenceSession, samples: np.ndarray, repeated: np.ndarray, *,
                 repeats: int, min_time: float, warmup: float) -> dict[str, Any]:
    """Time one sample ``repeated`` (shape of one sample) against the varied ``samples``.

    Returns ``repeated_ms``, ``varied_ms`` (medians of interleaved runs) and
    ``repeat_speedup`` = varied / repeated (near 1 for a model that does the same work for
    every input).
    """
    loops = [_Loop(session, repeated[None]), _Loop(session, samples)]
    repeated_runs, varied_runs = _interleave(loops, repeats, min_time, warmup)
    repeated_ms, varied_ms = float(np.median(repeated_runs)), float(np.median(varied_runs))
    return {"repeated_ms": repeated_ms, "varied_ms": varied_ms,
            "repeat_speedup": varied_ms / repeated_ms}


def peak_memory_during(fn: Callable[[], object]) -> int:
    """Bytes the resident set grew to above its size before ``fn()`` ran (see module doc)."""
    _release_free_heap()
    if _reset_high_water_mark():
        before = _status_kib("VmRSS")
        fn()
        return max(0, _status_kib("VmHWM") - before) * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn()
    return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024


def memory_method() -> str:
    """How ``peak_memory_during`` measures in this process: "clear_refs" (exact peak) or
    "ru_maxrss" (growth of the lifetime peak, a lower bound)."""
    return "clear_refs" if _reset_high_water_mark() else "ru_maxrss"


class _Loop:
    """One session cycling through single-sample feeds: ``step`` runs the next sample and
    keeps its output, so the outputs of the timed runs can be checked against ``reference``
    afterwards, outside the timing."""

    def __init__(self, session: ort.InferenceSession, samples: np.ndarray,
                 reference: np.ndarray | None = None, atol: float = 0.0) -> None:
        if len(samples) == 0:
            raise ValueError("no samples to time")
        if reference is not None and len(reference) != len(samples):
            raise ValueError(f"reference has {len(reference)} outputs for {len(samples)} "
                             "samples")
        name = session.get_inputs()[0].name
        self.session = session
        self.output_names = [session.get_outputs()[0].name]
        self.feeds = [{name: np.ascontiguousarray(samples[i:i + 1])}
                      for i in range(len(samples))]
        self.reference = reference
        self.atol = atol
        self.cursor = 0                  # the next sample
        self.start = 0                   # the sample of outputs[0]
        self.outputs: list[Any] = []

    def infer(self, i: int) -> np.ndarray:
        return np.asarray(self.session.run(self.output_names, self.feeds[i])[0])

    def step(self) -> None:
        """One inference on the next sample of the pool; its output is kept."""
        k = self.cursor
        self.outputs.append(self.session.run(self.output_names, self.feeds[k])[0])
        self.cursor = k + 1 if k + 1 < len(self.feeds) else 0

    def warm(self, seconds: float) -> None:
        """Untimed inferences for ``seconds`` (at least one); their outputs are dropped."""
        end = time.perf_counter() + seconds
        self.step()
        while time.perf_counter() < end:
            self.step()
        self.outputs, self.start = [], self.cursor

    def result(self, runs_ms: list[float]) -> TimedRuns:
        """The runs, and the check of every output kept since the warm-up."""
        if self.reference is None:
            return TimedRuns(runs_ms, 0, 0, None)
        outputs, reference = self.outputs, self.reference
        index = (self.start + np.arange(len(outputs))) % len(self.feeds)
        expected = (1, reference.shape[1])
        bad = [i for i, out in enumerate(outputs) if np.shape(out) != expected]
        if bad:
            return TimedRuns(runs_ms, len(outputs), len(bad),
                             f"sample {index[bad[0]]}: output shape "
                             f"{np.shape(outputs[bad[0]])}, expected {expected}")
        got, want = np.concatenate(outputs), reference[index]
        same = (got == want) if self.atol == 0 else (np.abs(got - want) <= self.atol)
        rows = ~(same | (np.isnan(got) & np.isnan(want))).all(axis=1)
        if not rows.any():
            return TimedRuns(runs_ms, len(outputs), 0, None)
        j = int(np.argmax(rows))
        diff = float(np.nanmax(np.abs(got[j].astype(np.float64) - want[j])))
        return TimedRuns(runs_ms, len(outputs), int(rows.sum()),
                         f"sample {index[j]}: a timed run's output differs from the accuracy "
                         f"run's by up to {diff:.3g}")


def _interleave(loops: Sequence[_Loop], repeats: int, min_time: float,
                warmup: float) -> list[list[float]]:
    """Warm every loop up, then time them in turn ``repeats`` times (ABAB...) with the
    Optimization tier's alternating blocks: one sample per block, no settling pause (one
    onnxruntime thread leaves no spinning workers behind). Milliseconds per inference, a
    list per loop."""
    for loop in loops:
        loop.warm(warmup)
    sides = [Side(loop.step, f"loop {i}") for i, loop in enumerate(loops)]
    _, times = alternating_blocks(sides, rounds=repeats, repeats=1, warmup=0,
                                  min_time=min_time, settle=0.0)
    return [[block[0] * 1e3 for block in side] for side in times]


def _reset_high_water_mark() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _status_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"{_STATUS} has no {field} line")


def _release_free_heap() -> None:
    """Return freed heap pages to the kernel (glibc ``malloc_trim``) so earlier work does
    not hide part of the next peak in pages that are already resident."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)
    if trim is not None:
        trim(0)
