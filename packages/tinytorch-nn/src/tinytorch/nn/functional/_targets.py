"""Class-index targets for ``cross_entropy`` and ``nll_loss``: validation, row weights, scatter.

Shared by the reference losses in ``cross_entropy.py`` and the fused kernel in
``nn/_kernels/cross_entropy.py``, so both read targets, ``ignore_index`` and class weights the
same way. Cost: a few passes over the ``R`` targets, never over the ``R·C`` logits.
"""

from __future__ import annotations

import numpy as np


def prepare_targets(
    x: np.ndarray, target: np.ndarray, weight: np.ndarray | None, ignore_index: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, float]:
    """Validate class indices and build the per-row weights.

    x: (N, C, d...); target: (N, d...). Returns ``(tix, valid, w_t, total)``: targets with a
    class axis ``(N, 1, d...)`` (ignored rows pointed at class 0), 1.0/0.0 for rows that
    count/are ignored (None when all count), the per-row weight (None when every row has
    weight 1) and the weight total a ``mean`` divides by.
    """
    n_cls = x.shape[1]
    valid = target != ignore_index
    if valid.all():
        t, valid = target, None
    else:
        t = np.where(valid, target, 0)
        valid = valid.astype(x.dtype)                            # 1.0 / 0.0 per row
    if t.size and (t.min() < 0 or t.max() >= n_cls):
        bad = t[(t < 0) | (t >= n_cls)].flat[0]
        raise IndexError(f"Target {bad} is out of bounds for {n_cls} classes "
                         f"(input shape {tuple(x.shape)}).")
    if weight is not None:
        w_t = weight[t] if valid is None else weight[t] * valid
    else:
        w_t = valid
    total = float(t.size) if w_t is None else float(w_t.sum())
    return np.expand_dims(t, 1), valid, w_t, total


def class_axis_view(a: np.ndarray, ndim: int) -> np.ndarray:
    """A (C,) array shaped to broadcast along axis 1 of an ``ndim``-d array."""
    return a.reshape((1, -1) + (1,) * (ndim - 2))


def subtract_at_targets(dx: np.ndarray, tix: np.ndarray, b: np.ndarray | float) -> None:
    """``dx[row, target[row]] -= b[row]`` for every row, in place; dx: (N, C, d...)."""
    if dx.ndim == 2:
        dx[np.arange(dx.shape[0]), tix[:, 0]] -= b
    else:
        b = np.broadcast_to(b, tix.shape[:1] + tix.shape[2:])
        picked = np.take_along_axis(dx, tix, axis=1)
        np.put_along_axis(dx, tix, picked - np.expand_dims(b, 1), axis=1)
