"""``layer_norm`` and ``rms_norm``: normalisation over the trailing dimensions.

Systems view, for ``x`` with ``R`` rows of ``D`` normalised elements (``D = prod(shape)``):

- LayerNorm: ``y = x̂ · w + b`` with ``x̂ = (x - mean) / sqrt(var + eps)``, about ``7·R·D``
  FLOPs forward. Backward, with ``ĝ = g·w``: ``dx = (ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)) / σ``,
  ``dw = Σ g·x̂``, ``db = Σ g`` — about ``10·R·D`` FLOPs, one op with its own backward
  instead of a graph of a dozen.
- RMSNorm: ``y = x / sqrt(mean(x²) + eps) · w``: no centring and no bias;
  ``dx = (ĝ - x̂·mean(ĝ·x̂)) / rms``.

The two Functions below are the references: the formulas above, one NumPy pass per step on
whole arrays, saving ``x̂`` (``R·D`` elements) and ``1/σ`` (``R``). By default the public ops
run the kernel in ``nn/_kernels/layer_norm.py`` instead: the same formulas on cache-sized
row blocks on the intra-op threads, saving only the row statistics besides the input;
``tinytorch.use_reference_kernels(True)`` runs the references. Statistics are in the input's
dtype (float32 on the hot path), as PyTorch does on CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.reference import reference_kernels_enabled
from tinytorch.core.tensor import Tensor
from tinytorch.core.types import Grad
from tinytorch.nn._kernels.layer_norm import LayerNormKernel, RMSNormKernel


class LayerNorm(Function):
    """Reference LayerNorm: ``y = (x - mean) / sqrt(var + eps) · w + b`` over each row."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, *,
                shape: tuple[int, ...], eps: float) -> np.ndarray:
        # x: (*, D...) viewed as (R, D); w, b: (D...) or None -> (*, D...)
        x2 = x.reshape(-1, int(np.prod(shape)))                     # (R, D)
        mean = x2.mean(axis=1, keepdims=True)                         # (R, 1)
        var = ((x2 - mean) ** 2).mean(axis=1, keepdims=True)          # (R, 1), biased
        rstd = 1.0 / np.sqrt(var + eps)                               # (R, 1)
        xhat = (x2 - mean) * rstd                                     # (R, D)
        y = xhat if w is None else xhat * w.reshape(-1)
        if b is not None:
            y = y + b.reshape(-1)
        ctx.save_for_backward(xhat, rstd, w)
        ctx.shape = shape
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad, Grad]:
        # grad: (*, D...) -> dx: like x, dw, db: (D...)
        xhat, rstd, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        g = grad.reshape(xhat.shape)                                  # (R, D)
        gh = g if w is None else g * w.reshape(-1)                    # ĝ = g·w
        dx = (gh - gh.mean(axis=1, keepdims=True)
              - xhat * (gh * xhat).mean(axis=1, keepdims=True)) * rstd
        dw = (g * xhat).sum(axis=0).reshape(ctx.shape) if need_w else None
        db = g.sum(axis=0).reshape(ctx.shape) if need_b else None
        return (dx.reshape(grad.shape) if need_x else None), dw, db


class RMSNorm(Function):
    """Reference RMSNorm: ``y = x / sqrt(mean(x²) + eps) · w`` over each row."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, w: np.ndarray | None, *, shape: tuple[int, ...],
                eps: float) -> np.ndarray:
        # x: (*, D...) viewed as (R, D); w: (D...) or None -> (*, D...)
        x2 = x.reshape(-1, int(np.prod(shape)))                     # (R, D)
        rrms = 1.0 / np.sqrt((x2 * x2).mean(axis=1, keepdims=True) + eps)   # (R, 1)
        xhat = x2 * rrms                                              # (R, D)
        y = xhat if w is None else xhat * w.reshape(-1)
        ctx.save_for_backward(xhat, rrms, w)
        ctx.shape = shape
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        # grad: (*, D...) -> dx: like x, dw: (D...)
        xhat, rrms, w = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad
        g = grad.reshape(xhat.shape)                                  # (R, D)
        gh = g if w is None else g * w.reshape(-1)                    # ĝ = g·w
        dx = (gh - xhat * (gh * xhat).mean(axis=1, keepdims=True)) * rrms
        dw = (g * xhat).sum(axis=0).reshape(ctx.shape) if need_w else None
        return (dx.reshape(grad.shape) if need_x else None), dw


def _check_shape(input: Tensor, normalized_shape: Sequence[int], *params: Tensor | None) -> None:
    """Raise unless ``input`` ends in ``normalized_shape`` and the affine params match it."""
    shape = tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size{list(input.shape)}"
        )
    for p in params:
        if p is not None and tuple(p.shape) != shape:
            raise RuntimeError(f"Expected weight and bias of shape {list(shape)}, "
                               f"got {list(p.shape)}")


def _as_shape(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    return (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int],
               weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims, then scale and shift; (*) -> (*)."""
    shape = _as_shape(normalized_shape)
    _check_shape(input, shape, weight, bias)
    op = LayerNorm if reference_kernels_enabled() else LayerNormKernel
    return op.apply(input, weight, bias, shape=shape, eps=float(eps))


def rms_norm(input: Tensor, normalized_shape: int | Sequence[int],
             weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """Divide by the root mean square over the trailing dims, then scale; (*) -> (*).

    ``eps=None`` uses the machine epsilon of the input's dtype, as PyTorch does.
    """
    shape = _as_shape(normalized_shape)
    _check_shape(input, shape, weight)
    if eps is None:
        eps = float(np.finfo(input.array.dtype).eps)
    op = RMSNorm if reference_kernels_enabled() else RMSNormKernel
    return op.apply(input, weight, shape=shape, eps=float(eps))
