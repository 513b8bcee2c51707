"""The organiser's baselines: trained once from a task's recipe, cached, exported to ONNX.

A baseline is the reference every entry is scored against: milestone 03's MLP or milestone
04's LeNet5, trained with Adam on the task's training split. The verifier re-measures it in
the same child process as each entry, so a score is a ratio taken on one machine at one
time, and a leaderboard from one machine can be compared with another's.

Cache layout (``$TINYTORCH_OLYMPICS``, default ``~/.cache/tinytorch/olympics``)::

    baselines/<task>[-quick]/state.tt        the weights (tinytorch.save)
    baselines/<task>[-quick]/model.onnx      the exported model the verifier runs
    baselines/<task>[-quick]/baseline.json   the recipe, validation accuracy, sha256, time

A cached baseline is reused only when its recipe matches and its ``model.onnx`` still has the
recorded SHA-256; otherwise it is trained again. Cost: the MLP's 12 epochs are ~0.6 TFLOP
(tens of seconds here), LeNet5's 8 epochs ~0.6 TFLOP of convolutions (minutes). ``quick``
trains one epoch on 8,000 images, for tests and CI.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

import tinytorch
from tinytorch import nn
from tinytorch.core.atomic import atomic_write
from tinytorch.olympics.data import Split, load_splits
from tinytorch.olympics.rules import Task

QUICK_TRAIN = 8000
ENV_VAR = "TINYTORCH_OLYMPICS"


def olympics_home() -> Path:
    """``$TINYTORCH_OLYMPICS``, else ``~/.cache/tinytorch/olympics``."""
    return Path(os.environ.get(ENV_VAR) or Path.home() / ".cache" / "tinytorch" / "olympics")


def build(architecture: str) -> nn.Module:
    """A fresh baseline network: ``mlp`` (784-256-128-10) or ``lenet5`` (16 and 32 channels,
    batch norm), the models of milestones 03 and 04."""
    if architecture == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    if architecture == "lenet5":
        from tinytorch.arch.models import LeNet5
        return LeNet5(channels=(16, 32), batch_norm=True)
    raise ValueError(f"unknown baseline architecture {architecture!r}; expected mlp or lenet5")


def train(model: nn.Module, split: Split, *, epochs: int, lr: float, schedule: str | None,
          batch_size: int, seed: int) -> None:
    """Adam on cross-entropy with ``tinytorch.train.fit``, in place: a cosine schedule per
    epoch, a one-cycle schedule per step, or a constant rate (``None``). Leaves the model in
    eval mode."""
    from tinytorch.data import DataLoader, TensorDataset
    from tinytorch.train import fit
    tinytorch.manual_seed(seed)
    loader = DataLoader(TensorDataset(tinytorch.from_numpy(split.x),
                                      tinytorch.from_numpy(split.y)),
                        batch_size=batch_size, shuffle=True,
                        generator=tinytorch.Generator().manual_seed(seed))
    optimizer = tinytorch.optim.Adam(model.parameters(), lr=lr)
    scheduler: Any = None
    interval = "epoch"
    if schedule == "cosine":
        scheduler = tinytorch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    elif schedule == "onecycle":
        scheduler = tinytorch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=len(loader))
        interval = "step"
    fit(model, nn.CrossEntropyLoss(), optimizer, loader, epochs, scheduler=scheduler,
        scheduler_interval=interval)
    model.eval()


def accuracy(model: nn.Module, split: Split, batch_size: int = 1000) -> float:
    """The fraction of ``split`` that ``model`` classifies right (TinyTorch, eval mode)."""
    model.eval()
    right = 0
    with tinytorch.no_grad():
        for i in range(0, len(split), batch_size):
            logits = model(tinytorch.from_numpy(split.x[i:i + batch_size])).numpy()
            right += int((logits.argmax(axis=1) == split.y[i:i + batch_size]).sum())
    return right / len(split)


def export_bytes(model: nn.Module, task: Task) -> bytes:
    """``model`` as ONNX (opset 18, dynamic batch axis), input "input", output "logits"."""
    from tinytorch.onnx import export
    buffer = io.BytesIO()
    sample = tinytorch.zeros(1, *task.input_shape)
    export(model, sample, buffer, input_names=["input"], output_names=["logits"],
           dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return buffer.getvalue()


@dataclass(frozen=True)
class TrainedBaseline:
    """A baseline ready for verification: the model, its ONNX bytes and its record."""

    task: str
    model: nn.Module
    onnx_bytes: bytes
    info: dict[str, Any]
    folder: Path


def _recipe(task: Task, quick: bool) -> dict[str, Any]:
    recipe = asdict(task.baseline)
    recipe.update(task=task.name, train_images=QUICK_TRAIN if quick else task.train,
                  epochs=1 if quick else task.baseline.epochs, input_shape=list(task.input_shape))
    return recipe


def baseline_folder(task: Task, quick: bool = False, home: Path | None = None) -> Path:
    return (home or olympics_home()) / "baselines" / (task.name + ("-quick" if quick else ""))


def _cached(folder: Path, recipe: dict[str, Any], task: Task) -> TrainedBaseline | None:
    try:
        info = json.loads((folder / "baseline.json").read_text(encoding="utf-8"))
        onnx_bytes = (folder / "model.onnx").read_bytes()
        state = tinytorch.load(folder / "state.tt")
    except (OSError, ValueError, RuntimeError):
        return None
    if info.get("recipe") != recipe or hashlib.sha256(onnx_bytes).hexdigest() != info.get(
            "sha256"):
        return None
    model = build(task.baseline.architecture)
    model.load_state_dict(state)
    model.eval()
    return TrainedBaseline(task.name, model, onnx_bytes, info, folder)


def load_baseline(task: Task, *, quick: bool = False, home: Path | None = None
                  ) -> TrainedBaseline:
    """The cached baseline of ``task``; FileNotFoundError saying how to train it."""
    folder = baseline_folder(task, quick, home)
    found = _cached(folder, _recipe(task, quick), task)
    if found is None:
        flag = " --quick" if quick else ""
        raise FileNotFoundError(f"no baseline for task {task.name} in {folder}; train it with "
                                f"`tito olympics baseline --task {task.name}{flag}`")
    return found


def train_baseline(task: Task, *, data_root: str | os.PathLike[str] | None = None,
                   download: bool = False, quick: bool = False, retrain: bool = False,
                   home: Path | None = None) -> tuple[TrainedBaseline, str]:
    """The baseline of ``task`` from the cache, or trained, exported and cached now.

    Returns the baseline and how it was obtained ("loaded from ..." or "trained in ... s").
    """
    folder = baseline_folder(task, quick, home)
    recipe = _recipe(task, quick)
    if not retrain:
        found = _cached(folder, recipe, task)
        if found is not None:
            return found, f"loaded from {folder}"
    train_split, validation = load_splits(task, data_root, download=download)
    if quick:
        train_split = train_split.take(QUICK_TRAIN)
    base = task.baseline
    model = build(base.architecture)
    start = time.perf_counter()
    train(model, train_split, epochs=recipe["epochs"], lr=base.lr, schedule=base.schedule,
          batch_size=base.batch_size, seed=base.seed)
    seconds = time.perf_counter() - start
    onnx_bytes = export_bytes(model, task)
    info = {"task": task.name, "recipe": recipe, "quick": quick,
            "validation_accuracy": accuracy(model, validation),
            "sha256": hashlib.sha256(onnx_bytes).hexdigest(), "model_bytes": len(onnx_bytes),
            "parameters": int(sum(np.prod(p.shape) for p in model.parameters())),
            "train_seconds": round(seconds, 1),
            "trained_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds")}
    folder.mkdir(parents=True, exist_ok=True)
    tinytorch.save(model.state_dict(), folder / "state.tt")
    with atomic_write(folder / "model.onnx") as f:
        f.write(onnx_bytes)
    with atomic_write(folder / "baseline.json", "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
    return TrainedBaseline(task.name, model, onnx_bytes, info, folder), \
        f"trained in {seconds:.1f} s"
