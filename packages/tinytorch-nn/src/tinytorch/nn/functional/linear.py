"""``linear(x, W, b) = x @ Wᵀ + b`` as one fused op.

Systems view, for ``x: (*, in)`` with ``M = prod(*)`` rows and ``W: (out, in)``:
forward is one GEMM, ``2·M·in·out`` FLOPs, plus ``M·out`` adds for the bias (added in place
into the fresh GEMM output, so no second output-sized array); backward is two GEMMs,
``grad @ W`` (``2·M·out·in``) and ``gradᵀ @ x`` (``2·out·M·in``), and one column sum for the
bias. The leading dimensions are folded into ``M`` first, so a batch of sequences is still a
single BLAS call with no broadcasting. Saved for backward: ``x`` and ``W`` (already alive;
no new memory), each only when the other's gradient is needed. ``W`` keeps PyTorch's
(out, in) layout; ``W.T`` is a free view that BLAS reads as a transposed operand, so nothing
is copied. Large products get several BLAS threads (``parallel.blas_for_gemm``).
"""

from __future__ import annotations

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.parallel import blas_for_gemm
from tinytorch.core.tensor import Tensor
from tinytorch.core.types import Grad


class Linear(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        # x: (*, in), w: (out, in), b: (out,) or None -> (*, out)
        need_x, need_w, _ = ctx.needs_input_grad
        ctx.save_for_backward(x if need_w else None, w if need_x else None)
        ctx.x_shape = x.shape
        x2 = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
        with blas_for_gemm(x2.shape[0], w.shape[1], w.shape[0]):
            out = x2 @ w.T                             # (M, out)
        if b is not None:
            out += b
        return out.reshape(*x.shape[:-1], w.shape[0]) if x.ndim != 2 else out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad, Grad]:
        # grad: (*, out) -> dx: (*, in), dw: (out, in), db: (out,)
        x, w = ctx.saved_tensors                       # each kept only if the other needs it
        need_x, need_w, need_b = ctx.needs_input_grad
        g2 = grad.reshape(-1, grad.shape[-1]) if grad.ndim != 2 else grad    # (M, out)
        dx = dw = db = None
        with blas_for_gemm(g2.shape[0], ctx.x_shape[-1], g2.shape[1]):
            if need_x:
                dx = (g2 @ w).reshape(ctx.x_shape)     # (M, out) @ (out, in)
            if need_w:
                dw = g2.T @ x.reshape(-1, x.shape[-1]) # (out, M) @ (M, in)
        if need_b:
            db = g2.sum(axis=0)
        return dx, dw, db


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``: (*, in) with weight (out, in) and bias (out,) -> (*, out)."""
    if input.ndim == 0 or weight.ndim not in (1, 2):
        raise RuntimeError(f"linear(): expected input of at least 1 dimension and a 1-D or "
                           f"2-D weight, got shapes {tuple(input.shape)} and "
                           f"{tuple(weight.shape)}")
    if weight.ndim == 1:
        out = input @ weight
        return out + bias if bias is not None else out
    if input.shape[-1] != weight.shape[1]:
        rows = int(np.prod(input.shape[:-1])) if input.ndim > 1 else 1
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{input.shape[-1]} and "
            f"{weight.shape[1]}x{weight.shape[0]})"
        )
    if input.dtype != weight.dtype:
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got "
                           f"{input.dtype} and {weight.dtype}")
    if bias is not None and tuple(bias.shape) not in ((weight.shape[0],), (1,), ()):
        raise RuntimeError(f"linear(): bias of shape {tuple(bias.shape)} does not match "
                           f"out_features={weight.shape[0]} (weight {tuple(weight.shape)})")
    return Linear.apply(input, weight, bias)
