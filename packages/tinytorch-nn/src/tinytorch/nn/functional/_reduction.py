"""How a loss turns per-element losses into its result: ``reduction`` none | mean | sum.

Forward and backward of the reduction live together here so every loss treats them alike:
``mean`` divides by the element count (or, for class-weighted losses, by the total weight),
and its gradient is ``grad / count`` broadcast back to every element.
"""

from __future__ import annotations

import warnings

import numpy as np

REDUCTIONS = ("none", "mean", "sum")


def legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """Resolve PyTorch's deprecated ``size_average``/``reduce`` flags into ``reduction``."""
    if size_average is not None or reduce is not None:
        avg = True if size_average is None else size_average
        red = True if reduce is None else reduce
        reduction = "none" if not red else ("mean" if avg else "sum")
        warnings.warn("size_average and reduce args will be deprecated, please use "
                      f"reduction='{reduction}' instead.", stacklevel=3)
    if reduction not in REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def reduce(loss: np.ndarray, reduction: str, total: float | None = None) -> np.ndarray:
    """Forward: ``loss`` as is, its sum, or its sum divided by ``total`` (default: its size)."""
    if reduction == "none":
        return loss
    s = loss.sum(dtype=loss.dtype)
    if reduction == "sum":
        return np.asarray(s)
    denom = loss.size if total is None else total
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(s / denom, dtype=loss.dtype)      # 0/0 -> nan, as in PyTorch


def grad_scale(grad: np.ndarray, reduction: str, total: float) -> np.ndarray:
    """Backward: the factor each element's loss gradient is multiplied by.

    ``none``: the incoming gradient itself (shaped like the loss); ``sum``: the scalar grad;
    ``mean``: grad / total, or 0 when total is 0 (every target ignored: nothing to learn).
    """
    if reduction != "mean":
        return grad
    return grad / total if total != 0 else np.zeros_like(grad)
