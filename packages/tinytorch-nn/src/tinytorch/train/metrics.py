"""Evaluation metrics for the training loop: functions ``(output, target) -> float``.

Each is the mean over a batch, so the loop can combine batches with weights equal to their
sizes and get the metric over the whole dataset. Cost: one pass over the outputs (an argmax or a
comparison), done on the arrays outside the autograd graph.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from tinytorch.core.tensor import Tensor

Metric = Callable[[Tensor, Tensor], float]


def accuracy(output: Tensor, target: Tensor, threshold: float = 0.0) -> float:
    """The fraction of samples whose predicted class is the target class.

    - ``output`` (N, C) with C > 1: class scores (logits or probabilities); the prediction is
      the argmax. ``target`` is (N,) class indices or (N, C) class probabilities (its argmax).
    - ``output`` (N,) or (N, 1): one score per sample, predicted 1 when above ``threshold``
      (0 for logits, as ``BCEWithLogitsLoss`` expects; pass 0.5 for probabilities, e.g. with
      ``functools.partial``). ``target`` holds 0/1 labels for the same samples.
    """
    out = output.array
    tgt = target.array
    if out.ndim == 2 and out.shape[1] > 1:
        predicted = out.argmax(axis=1)
        if tgt.ndim == 2:
            tgt = tgt.argmax(axis=1)
    else:
        predicted = out.reshape(-1) > threshold
    tgt = tgt.reshape(-1)
    if predicted.shape != tgt.shape:
        raise ValueError(
            f"accuracy: output of shape {tuple(output.shape)} gives {predicted.shape[0]} "
            f"predictions but target of shape {tuple(target.shape)} has {tgt.shape[0]} labels"
        )
    return float(np.mean(predicted == tgt)) if tgt.size else 0.0


_BY_NAME: dict[str, Metric] = {"accuracy": accuracy}


def resolve_metrics(metrics: Mapping[str, Metric] | Iterable[str] | None) -> dict[str, Metric]:
    """Turn ``None``, a list of names (``["accuracy"]``) or a ``{name: fn}`` mapping into
    ``{name: fn}``."""
    if metrics is None:
        return {}
    if isinstance(metrics, Mapping):
        return dict(metrics)
    resolved = {}
    for name in metrics:
        if name not in _BY_NAME:
            raise ValueError(f"unknown metric {name!r}; known: {sorted(_BY_NAME)} "
                             "(or pass a {name: function(output, target)} mapping)")
        resolved[name] = _BY_NAME[name]
    return resolved
