"""Scaled dot-product attention, ``softmax(Q Kᵀ · scale + mask) V``, as one op.

The algorithm (``AttentionReference``), for queries ``(..., L, E)``, keys ``(..., S, E)`` and
values ``(..., S, Ev)`` over ``B`` batch·head slices:

- forward: the scores ``Q Kᵀ · scale`` (..., L, S); the mask (a bool mask keeps the positions
  where it is True, a float mask is added; ``is_causal`` lets query ``i`` see keys ``j <= i``);
  a softmax over the keys; dropout on the weights; and the weighted sum of the values,
  ``P V``. Two batched matrix products, ``2·B·L·S·(E + Ev)`` FLOPs, plus one ``exp`` per
  score. The probabilities ``P`` (``B·L·S`` floats) are kept for backward with the inputs.
- backward: four batched products (``dV = Pᵀ dO``, ``dP = dO Vᵀ``, ``dQ = dS K · scale``,
  ``dK = dSᵀ Q · scale``), twice the forward FLOPs, through the softmax backward
  ``dS = P ⊙ (dP − rowsum(dP ⊙ P))``; ``dS`` is also the gradient of a float mask.

One ``Function`` does all of it, so recording attention costs one graph node instead of the
eight or so (matmul, scale, mask, max, exp, sum, divide, matmul) a composed version records,
and no Python loop runs over batch or heads: NumPy's stacked ``matmul`` walks the slices. A
row whose keys are all masked (or a sequence with no keys) gives zeros and zero gradients,
as PyTorch's safe softmax does; an empty query sequence gives an empty result.

By default the op runs a kernel of the same algorithm (``_kernels/attention.py``: in place,
with the batch·head slices split among threads); ``tinytorch.use_reference_kernels(True)``
runs the reference. ``MultiheadAttention`` lives in ``multihead_attention.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinytorch.arch._kernels.attention import AttentionKernel, attention_probs, softmax_backward_
from tinytorch.core.dtypes import dtype_name
from tinytorch.core.function import Function
from tinytorch.core.reference import reference_kernels_enabled
from tinytorch.core.tensor import Tensor
from tinytorch.nn.functional.dropout import dropout_mask


def softmax(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; a row of nothing but ``-inf`` (or no keys) gives zeros."""
    if scores.shape[-1] == 0:
        return scores
    row_max = scores.max(axis=-1, keepdims=True)
    e = np.exp(scores - np.where(np.isneginf(row_max), 0.0, row_max))  # all -inf: exp = 0
    total = e.sum(axis=-1, keepdims=True)
    return e / np.where(total == 0.0, 1.0, total)


class AttentionReference(Function):
    """Attention as a textbook writes it; ``mask`` is a float or bool array (or None)."""

    @staticmethod
    def forward(ctx: Function, q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: Any, *,
                scale: float, is_causal: bool, dropout_p: float) -> np.ndarray:
        # q: (..., L, E), k: (..., S, E), v: (..., S, Ev) -> (..., L, Ev)
        scores = np.matmul(q, np.swapaxes(k, -1, -2)) * scale             # (..., L, S)
        if is_causal:                                    # query i sees keys j <= i
            scores = np.where(np.tri(*scores.shape[-2:], dtype=bool), scores, -np.inf)
        if mask is not None and mask.dtype == np.bool_:  # True = may attend
            scores = np.where(mask, scores, -np.inf)
        elif mask is not None:                           # float: added to the scores
            scores = scores + mask
        p = softmax(scores.astype(q.dtype, copy=False))                   # (..., L, S)
        drop = dropout_mask(p.shape, dropout_p, p.dtype) if dropout_p > 0.0 else None
        ctx.save_for_backward(q, k, v, p, drop)
        ctx.scale = scale
        return np.matmul(p if drop is None else p * drop, v)              # (..., L, Ev)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any, Any, Any]:
        # grad: (..., L, Ev) -> dq (..., L, E), dk (..., S, E), dv (..., S, Ev), dmask (..., L, S)
        q, k, v, p, drop = ctx.saved_tensors
        dropped = p if drop is None else p * drop
        dv = np.matmul(np.swapaxes(dropped, -1, -2), grad)                # (..., S, Ev)
        dp = np.matmul(grad, np.swapaxes(v, -1, -2))                      # (..., L, S)
        if drop is not None:
            dp = dp * drop
        ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))              # softmax backward
        dq = np.matmul(ds, k) * ctx.scale                                 # (..., L, E)
        dk = np.matmul(np.swapaxes(ds, -1, -2), q) * ctx.scale            # (..., S, E)
        return dq, dk, dv, (ds if ctx.needs_input_grad[3] else None)


def attention(query: Tensor, key: Tensor, value: Tensor, mask: Any, *, scale: float,
              is_causal: bool, dropout_p: float) -> Tensor:
    """The attention op on checked arguments: its kernel, or its reference when asked for.

    ``mask`` is a bool or float Tensor or array broadcasting to (..., L, S), or None.
    """
    op = AttentionReference if reference_kernels_enabled() else AttentionKernel
    return op.apply(query, key, value, mask, scale=scale, is_causal=is_causal,
                    dropout_p=dropout_p)


class AttentionWeights(Function):
    """``P = softmax(q kᵀ · scale + mask)`` alone, for callers that need the weights
    (``MultiheadAttention(need_weights=True)``), on the kernel's in-place softmax."""

    @staticmethod
    def forward(ctx: Function, q: np.ndarray, k: np.ndarray, mask: Any, *, scale: float,
                is_causal: bool) -> np.ndarray:
        # q: (..., L, E), k: (..., S, E) -> (..., L, S)
        p = attention_probs(q, k, mask, scale, is_causal)
        ctx.save_for_backward(q, k, p)
        ctx.scale = scale
        return p

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any, Any]:
        # grad: (..., L, S) -> dq (..., L, E), dk (..., S, E), dmask (..., L, S)
        q, k, p = ctx.saved_tensors
        need_q, need_k, need_mask = ctx.needs_input_grad
        ds = softmax_backward_(p, grad.copy())
        dq = np.matmul(ds, k) * ctx.scale if need_q else None
        dk = np.matmul(np.swapaxes(ds, -1, -2), q) * ctx.scale if need_k else None
        return dq, dk, (ds if need_mask else None)


def check_attention_args(query: Tensor, key: Tensor, value: Tensor, attn_mask: Any,
                         dropout_p: float, is_causal: bool) -> None:
    """PyTorch's argument checks for ``scaled_dot_product_attention``, with the shapes named."""
    if query.dtype != key.dtype or query.dtype != value.dtype:
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{dtype_name(query.dtype)} key.dtype: {dtype_name(key.dtype)} and value.dtype: "
            f"{dtype_name(value.dtype)} instead."
        )
    if query.dtype.kind != "f":
        raise RuntimeError(f"attention needs floating-point inputs, got {dtype_name(query.dtype)}")
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise RuntimeError(
            f"attention expects query (..., L, E), key (..., S, E) and value (..., S, Ev); got "
            f"shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            f"attention shape mismatch: query {tuple(query.shape)}, key {tuple(key.shape)}, "
            f"value {tuple(value.shape)}; expected query (..., L, E), key (..., S, E) and "
            "value (..., S, Ev)"
        )
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")
    if attn_mask is None:
        return
    if is_causal:
        raise RuntimeError("Explicit attn_mask should not be set when is_causal=True")
    if attn_mask.dtype != np.bool_ and attn_mask.dtype.kind != "f":
        raise RuntimeError(
            "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
            f"attn_mask.dtype: {dtype_name(attn_mask.dtype)} and query.dtype: "
            f"{dtype_name(query.dtype)} instead."
        )
    want = query.shape[:-1] + key.shape[-2:-1]
    try:
        np.broadcast_shapes(tuple(attn_mask.shape), want)
    except ValueError:
        raise RuntimeError(
            f"attn_mask of shape {tuple(attn_mask.shape)} does not broadcast to the attention "
            f"scores of shape {want} (query {tuple(query.shape)}, key {tuple(key.shape)})"
        ) from None


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None) -> Tensor:
    """``softmax(query @ keyᵀ · scale + mask) @ value``, as ``torch.nn.functional``'s.

    Shapes: query ``(..., L, E)``, key ``(..., S, E)``, value ``(..., S, Ev)`` -> ``(..., L, Ev)``;
    leading dims broadcast. ``attn_mask`` broadcasts to ``(..., L, S)``: bool True = may attend,
    float = added to the scores (and differentiable). ``is_causal``: query ``i`` sees keys
    ``j <= i``. ``scale`` defaults to ``1/sqrt(E)``. ``dropout_p`` drops attention weights
    (always, as in PyTorch: pass 0.0 in evaluation).
    """
    check_attention_args(query, key, value, attn_mask, dropout_p, is_causal)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1]) if query.shape[-1] else 1.0
    return attention(query, key, value, attn_mask, scale=float(scale),
                     is_causal=bool(is_causal), dropout_p=float(dropout_p))
