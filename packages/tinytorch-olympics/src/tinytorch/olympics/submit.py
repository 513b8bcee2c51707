"""Entering an event: export a model, measure its claims, write a bundle.

``submit`` is the entrant's side of the competition. It measures what the verifier will
re-measure, on the entrant's machine and data the entrant may use:

- **accuracy** on the task's validation split (the training file's last images), batch 1 in
  onnxruntime, exactly as the verifier runs the held-out split;
- **latency** at batch 1 on one onnxruntime thread, timed in rounds that alternate with the
  baseline, and the **speed-up** over the baseline from the same rounds: the ratio is what
  the verifier checks, since milliseconds differ from machine to machine;
- **size**: the bytes of ``model.onnx``, and its SHA-256, so a file changed after submission
  is caught.

The bundle (``bundle.write_bundle``) holds ``model.onnx``, ``submission.json`` and, for a
TinyTorch model, its weights as ``state.tt`` (for the entrant's records: the verifier never
loads it).
"""

from __future__ import annotations

import datetime
import hashlib
import io
import os
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import tinytorch
from tinytorch import nn
from tinytorch.olympics.baseline import TrainedBaseline, export_bytes, load_baseline
from tinytorch.olympics.bundle import write_bundle
from tinytorch.olympics.data import Split, load_splits
from tinytorch.olympics.rules import DIVISIONS, Event


def measure_claims(model_bytes: bytes, baseline_bytes: bytes, validation: Split, *,
                   repeats: int = 5, min_time: float = 0.05, warmup: float = 0.05,
                   pool: int = 256) -> dict[str, Any]:
    """Accuracy on ``validation``, latency and speed-up against the baseline, and size."""
    from tinytorch.olympics.measure import interleaved_latency, make_session, predict_each
    entry = make_session(model_bytes)
    base = make_session(baseline_bytes)
    outputs = predict_each(entry, validation.x)
    accuracy = float((outputs.argmax(axis=1) == validation.y).mean())
    timing = interleaved_latency(entry, base, validation.x[:pool], repeats=repeats,
                                 min_time=min_time, warmup=warmup)
    return {"accuracy": round(accuracy, 6),
            "latency_ms": round(float(timing["entry_ms"]), 6),
            "speedup": round(float(timing["speedup"]), 4),
            "model_bytes": len(model_bytes)}


def _versions() -> dict[str, str]:
    names = ("tinytorch-core", "tinytorch-nn", "tinytorch-data", "tinytorch-arch",
             "tinytorch-optim", "tinytorch-olympics", "onnx", "onnxruntime")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def submit(model: nn.Module | bytes, event: Event, out: str | os.PathLike[str], *,
           entrant: str, division: str, techniques: Sequence[str] = (),
           description: str = "", baseline: TrainedBaseline | None = None,
           validation: Split | None = None, data_root: str | None = None,
           quick: bool = False, home: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """Write a bundle entering ``model`` (a TinyTorch module, or ONNX bytes) in ``event``.

    Args:
        model: exported here (opset 18, dynamic batch axis) when it is a module.
        out: a folder, or a file ending in ``.zip``; it must not exist yet.
        division: ``"closed"`` (the baseline's architecture, post-training changes only) or
            ``"open"``.
        baseline, validation: measured against and on; loaded from the cache (``tito olympics
            baseline``) and the task's dataset when not given.
        quick: measure on 2,000 validation images with short timed runs, against the quick
            baseline (tests and CI).

    Returns:
        The bundle's path and its submission (what ``submission.json`` holds).
    """
    if division not in DIVISIONS:
        raise ValueError(f"division must be one of {', '.join(DIVISIONS)}, got {division!r}")
    if division not in event.divisions:
        raise ValueError(f"event {event.name} has no {division} division; it has: "
                         f"{', '.join(event.divisions)}")
    task = event.task
    baseline = baseline or load_baseline(task, quick=quick, home=home)
    if validation is None:
        validation = load_splits(task, data_root)[1]
    if quick:
        validation = validation.take(2000)
    state_bytes = None
    if isinstance(model, nn.Module):
        model.eval()
        model_bytes = export_bytes(model, task)
        buffer = io.BytesIO()
        tinytorch.save(model.state_dict(), buffer)
        state_bytes = buffer.getvalue()
    elif isinstance(model, bytes):
        model_bytes = model
    else:
        raise TypeError(f"model must be a tinytorch.nn.Module or ONNX bytes, got "
                        f"{type(model).__name__}")
    claims = measure_claims(model_bytes, baseline.onnx_bytes, validation,
                            min_time=0.01 if quick else 0.05, warmup=0.01 if quick else 0.05)
    submission = {
        "schema_version": 1, "entrant": entrant, "event": event.name, "division": division,
        "model_sha256": hashlib.sha256(model_bytes).hexdigest(), "claims": claims,
        "techniques": list(techniques), "description": description,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "software": _versions()}
    path = write_bundle(out, model_bytes, submission, state_bytes=state_bytes)
    return path, submission
