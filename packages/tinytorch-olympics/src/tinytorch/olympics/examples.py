"""Example entries: the baseline optimised with the Optimization tier (tinytorch.perf).

Each example starts from the organiser's trained baseline and applies one recipe:

- ``int8``: static int8 quantization (``quantize_static``), calibrated on 1,000 images of the
  training split. Post-training only, so it enters the closed division. About 4x smaller;
  onnxruntime runs it with QuantizeLinear/DequantizeLinear pairs.
- ``pruned``: ``amount`` of every hidden layer's output channels removed by L1 norm
  (``prune_channels``), then three epochs of fine-tuning (cosine schedule from a third of the
  baseline's learning rate). Fine-tuning is training, so it enters the open division. Fewer
  FLOPs and bytes.
- ``pruned-int8``: the pruned model, quantized like ``int8`` (open division).

The example for each built-in event is in ``EVENT_EXAMPLES``. Cost: quantization is one
calibration pass; pruning adds three training epochs of the smaller model (seconds for the
MLP, about half a minute for LeNet5 here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import tinytorch
from tinytorch import nn
from tinytorch.olympics.baseline import TrainedBaseline, build, train
from tinytorch.olympics.data import Split
from tinytorch.olympics.rules import Task

CALIBRATION_IMAGES, CALIBRATION_BATCH = 1000, 250
KINDS = ("int8", "pruned", "pruned-int8")
FINETUNE_EPOCHS = 3
EVENT_EXAMPLES = {"latency-sprint": ("pruned", 0.5), "memory-challenge": ("int8", 0.0),
                  "accuracy-contest": ("int8", 0.0), "all-around": ("pruned-int8", 0.25),
                  "extreme-push": ("pruned-int8", 0.75)}


@dataclass(frozen=True)
class Example:
    """An optimised model and how to describe it in a submission."""

    model: nn.Module
    division: str
    techniques: tuple[str, ...]
    description: str


def calibration_batches(task: Task, train_split: Split, seed: int) -> list[tinytorch.Tensor]:
    """1,000 training images, chosen with ``seed``, in batches of 250."""
    pick = np.random.default_rng(seed).permutation(len(train_split))[:CALIBRATION_IMAGES]
    x = train_split.x[np.sort(pick)]
    return [tinytorch.from_numpy(x[i:i + CALIBRATION_BATCH])
            for i in range(0, len(x), CALIBRATION_BATCH)]


def _copy(baseline: TrainedBaseline, task: Task) -> nn.Module:
    model = build(task.baseline.architecture)
    model.load_state_dict(baseline.model.state_dict())
    return model.eval()


def build_example(kind: str, baseline: TrainedBaseline, task: Task, train_split: Split, *,
                  amount: float = 0.5, finetune_images: int | None = None) -> Example:
    """The ``kind`` example (see ``KINDS``) built from ``baseline``; the baseline is left as
    it was. ``finetune_images`` limits the fine-tuning data (None: the whole split)."""
    from tinytorch.perf import prune_channels, quantize_static
    if kind not in KINDS:
        raise ValueError(f"unknown example {kind!r}; expected one of {', '.join(KINDS)}")
    seed = task.baseline.seed
    model = _copy(baseline, task)
    techniques: list[str] = []
    division = "closed"
    if kind.startswith("pruned"):
        if not 0 < amount < 1:
            raise ValueError(f"amount must be in (0, 1) to prune, got {amount}")
        model = prune_channels(model, amount)
        train(model, train_split.take(finetune_images), epochs=FINETUNE_EPOCHS,
              lr=task.baseline.lr / 3, schedule="cosine", batch_size=task.baseline.batch_size,
              seed=seed + 1)
        techniques += [f"structured pruning: {amount:.0%} of the hidden channels by L1 norm",
                       f"{FINETUNE_EPOCHS} epochs of fine-tuning on the training split"]
        division = "open"
    if kind.endswith("int8"):
        model = quantize_static(model, calibration_batches(task, train_split, seed))
        techniques.append("static int8 quantization, calibrated on 1,000 training images")
    description = (f"The {task.baseline.architecture} baseline of {task.name}, "
                   + " then ".join(t.split(":")[0] for t in techniques) + ", with "
                   "tinytorch.perf.")
    return Example(model=model, division=division, techniques=tuple(techniques),
                   description=description)
