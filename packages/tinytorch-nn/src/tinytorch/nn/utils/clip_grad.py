"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_``, in place.

Systems view (``P`` = total number of gradient elements): ``clip_grad_norm_`` reads every
gradient once to compute the global norm (one BLAS dot product per tensor for the 2-norm, no
temporaries), then, only when the norm exceeds ``max_norm``, scales each gradient in place —
``2·P`` FLOPs and no new memory. ``clip_grad_value_`` is one in-place ``clip`` pass. Clipping
the *global* norm keeps the update's direction and only shortens it, which is what stops one
bad batch from blowing up training (RNNs, transformers).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from tinytorch.core.tensor import Tensor


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[np.ndarray]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad.array for p in params if p.grad is not None]


def _norm(g: np.ndarray, norm_type: float) -> float:
    flat = g.reshape(-1)
    if norm_type == 2.0:
        return math.sqrt(float(np.dot(flat, flat)))
    if math.isinf(norm_type):
        return float(np.abs(flat).max()) if flat.size else 0.0
    return float(np.sum(np.abs(flat) ** norm_type)) ** (1.0 / norm_type)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Scale all gradients together so their global ``norm_type``-norm is at most ``max_norm``.

    Returns the total norm *before* clipping, as a 0-d Tensor. ``foreach`` is accepted for
    PyTorch compatibility (there is one implementation).
    """
    grads = _grads(parameters)
    norm_type = float(norm_type)
    dtype = grads[0].dtype if grads else np.dtype(np.float32)
    if not grads:
        return Tensor._wrap(np.zeros((), dtype=dtype))
    norms = [_norm(g, norm_type) for g in grads]
    if math.isinf(norm_type):
        total = max(norms)
    else:
        total = sum(n ** norm_type for n in norms) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the gradients "
            "by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    coef = float(max_norm) / (total + 1e-6)
    if math.isnan(coef) or coef < 1.0:
        with np.errstate(invalid="ignore"):               # inf·0 gives NaN, as in PyTorch
            for g in grads:
                g *= coef
    return Tensor._wrap(np.asarray(total, dtype=dtype))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place."""
    c = float(clip_value)
    for g in _grads(parameters):
        np.clip(g, -c, c, out=g)
