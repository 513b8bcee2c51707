"""``MultiheadAttention``: PyTorch's layer, parameter for parameter, on the fused attention op.

Systems view, for ``N`` sequences of ``L`` queries and ``S`` keys, width ``E``, ``H`` heads of
``D = E/H``: the input projection is one ``(N·L, E) @ (E, 3E)`` GEMM for self-attention
(``6·N·L·E²`` FLOPs), attention costs ``4·N·L·S·E`` FLOPs, and the output projection another
``2·N·L·E²``. Parameters: ``4·E² + 4·E`` (``in_proj_weight (3E, E)``, ``in_proj_bias (3E)``,
``out_proj.weight (E, E)``, ``out_proj.bias (E)``) under PyTorch's names, so a ``state_dict``
moves between the two frameworks unchanged.

Self-attention without returned weights (what a transformer block does) takes a fast path: the
packed projection ``(N, L, 3E)`` goes into one ``PackedSelfAttention`` op that splits heads,
attends and merges heads itself, so the whole layer records three graph nodes and its backward
writes ``dQ, dK, dV`` straight into one packed gradient. Every other case (cross-attention,
``kdim``/``vdim``, ``need_weights=True``, ``add_bias_kv``, ``add_zero_attn``) composes the
projections, a head split and the fused attention op from ``attention.py``.

Masks follow PyTorch's ``MultiheadAttention`` (the opposite of ``scaled_dot_product_attention``
for bools): in ``attn_mask`` and ``key_padding_mask`` a bool True means "may NOT attend"; float
masks are added to the scores. Here they are constants (no gradient flows into them).
Extension: ``rotary=RotaryEmbedding(E // H)`` rotates queries and keys (RoPE) in every head.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import tinytorch
from tinytorch.arch.attention import (
    AttentionWeights,
    ScaledDotProductAttention,
    attention_probs,
    dropout_mask,
    softmax_backward_,
)
from tinytorch.arch.positional import RotaryEmbedding, rotate
from tinytorch.core.function import Function
from tinytorch.core.tensor import Tensor
from tinytorch.nn import Linear, Module, Parameter, init
from tinytorch.nn import functional as F


class PackedSelfAttention(Function):
    """Head split + attention + head merge on a packed ``qkv`` projection, in one node.

    Heads are strided views of ``qkv`` (BLAS reads them in place, so nothing is copied to
    split them), the output product writes straight into the merged ``(N, L, E)`` layout, and
    the backward writes ``dQ, dK, dV`` into one packed ``(N, L, 3E)`` gradient the same way.
    """

    @staticmethod
    def forward(ctx: Function, qkv: np.ndarray, bias: Any, *, num_heads: int, scale: float,
                is_causal: bool, dropout_p: float, rope: Any) -> np.ndarray:
        # qkv: (N, L, 3E) -> (N, L, E); bias broadcasts to (N, H, L, L)
        n, l, e3 = qkv.shape
        h, d = num_heads, e3 // (3 * num_heads)
        q, k, v = qkv.reshape(n, l, 3, h, d).transpose(2, 0, 3, 1, 4)   # views, (N, H, L, D)
        if rope is not None:
            q, k = rotate(q, *rope), rotate(k, *rope)
        p = attention_probs(q, k, bias, scale, is_causal)                # (N, H, L, L)
        drop = dropout_mask(p.shape, dropout_p, p.dtype) if dropout_p > 0.0 else None
        out = np.empty((n, l, h, d), dtype=qkv.dtype)
        np.matmul(p if drop is None else p * drop, v, out=out.transpose(0, 2, 1, 3))
        ctx.saved_tensors = (q, k, v, p, drop, scale, rope)
        return out.reshape(n, l, h * d)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray, None]:
        # grad: (N, L, E) -> dqkv: (N, L, 3E)
        q, k, v, p, drop, scale, rope = ctx.saved_tensors
        n, h, l, d = q.shape
        g = grad.reshape(n, l, h, d).transpose(0, 2, 1, 3)              # (N, H, L, D) view
        dqkv = np.empty((n, l, 3, h, d), dtype=grad.dtype)
        dq, dk, dv = dqkv.transpose(2, 0, 3, 1, 4)                      # views, (N, H, L, D)
        pd = p if drop is None else p * drop
        np.matmul(np.swapaxes(pd, -1, -2), g, out=dv)
        dp = np.matmul(g, np.swapaxes(v, -1, -2))                       # (N, H, L, L)
        if drop is not None:
            dp *= drop
        ds = softmax_backward_(p, dp)
        ds *= scale
        if rope is None:
            np.matmul(ds, k, out=dq)
            np.matmul(np.swapaxes(ds, -1, -2), q, out=dk)
        else:
            dq[...] = rotate(np.matmul(ds, k), *rope, -1.0)
            dk[...] = rotate(np.matmul(np.swapaxes(ds, -1, -2), q), *rope, -1.0)
        return dqkv.reshape(n, l, 3 * h * d), None


def _bias_from_mask(mask: Tensor, dtype: np.dtype, name: str) -> np.ndarray:
    """A bool mask (True = masked out) or float mask as an additive float array."""
    m = mask.array
    if m.dtype == np.bool_:
        return np.where(m, dtype.type(-np.inf), dtype.type(0.0))
    if m.dtype.kind != "f":
        raise AssertionError(f"only bool and floating types of {name} are supported, got {m.dtype}")
    return m.astype(dtype, copy=False)


class MultiheadAttention(Module):
    """Multi-head attention, ``torch.nn.MultiheadAttention``'s API and parameter names.

    ``forward(query, key, value)`` with ``batch_first=False`` takes ``(L, N, E)``, ``(S, N, kdim)``,
    ``(S, N, vdim)`` (``(N, L, E)`` ... with ``batch_first=True``, or unbatched ``(L, E)``) and
    returns ``(output, weights)``: output like ``query``, weights ``(N, L, S)`` averaged over
    heads (``(N, H, L, S)`` with ``average_attn_weights=False``) or None when
    ``need_weights=False``. ``is_causal=True`` applies the causal mask itself (PyTorch requires
    the matching ``attn_mask`` too; here it may be given or left out).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: Any = None,
                 dtype: Any = None, *, rotary: RotaryEmbedding | None = None) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise AssertionError(f"embed_dim must be divisible by num_heads, got "
                                 f"embed_dim={embed_dim} and num_heads={num_heads}")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.add_zero_attn = add_zero_attn
        if rotary is not None and rotary.dim != self.head_dim:
            raise ValueError(f"rotary embedding has dim {rotary.dim} but heads have head_dim="
                             f"{self.head_dim} (embed_dim {embed_dim} / {num_heads} heads)")
        self.rotary = rotary

        def param(*shape: int) -> Parameter:
            return Parameter(tinytorch.empty(*shape, device=device, dtype=dtype))

        if self._qkv_same_embed_dim:
            self.in_proj_weight = param(3 * embed_dim, embed_dim)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = param(embed_dim, embed_dim)
            self.k_proj_weight = param(embed_dim, self.kdim)
            self.v_proj_weight = param(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = param(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k = param(1, 1, embed_dim)
            self.bias_v = param(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's initialisation: Xavier-uniform projections, zero biases."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        self_attention = query is key and key is value
        unbatched = query.ndim == 2
        self._check_inputs(query, key, value, unbatched)
        if unbatched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:
            query = query.transpose(0, 1)
            key = query if self_attention else key.transpose(0, 1)
            value = query if self_attention else value.transpose(0, 1)
        n, l, _ = query.shape
        s = key.shape[1]
        bias = self._combined_mask(attn_mask, key_padding_mask, n, l, s, query.dtype, unbatched)
        dropout_p = self.dropout if self.training else 0.0
        scale = 1.0 / math.sqrt(self.head_dim)
        weights = None
        if (self_attention and self._qkv_same_embed_dim and not need_weights
                and self.bias_k is None and not self.add_zero_attn):
            qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)   # (N, L, 3E)
            rope = None
            if self.rotary is not None:
                rope = self.rotary.angles_for(l, 0, query.dtype)
            out = PackedSelfAttention.apply(qkv, bias, num_heads=self.num_heads, scale=scale,
                                            is_causal=is_causal, dropout_p=dropout_p, rope=rope)
        else:
            q, k, v, bias = self._project_heads(query, key, value, bias)  # (N, H, L|S, D)
            if need_weights:
                p = AttentionWeights.apply(q, k, bias, scale=scale, is_causal=is_causal)
                if dropout_p > 0.0:
                    p = F.dropout(p, dropout_p, training=True)
                o = p @ v
                weights = p.mean(dim=1) if average_attn_weights else p
            else:
                o = ScaledDotProductAttention.apply(q, k, v, bias, scale=scale,
                                                    is_causal=is_causal, dropout_p=dropout_p)
            out = o.transpose(1, 2).reshape(n, l, self.embed_dim)
        out = self.out_proj(out)
        if unbatched:
            return out.squeeze(0), (None if weights is None else weights.squeeze(0))
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor, unbatched: bool) -> None:
        want = 2 if unbatched else 3
        if key.ndim != want or value.ndim != want or query.ndim not in (2, 3):
            raise AssertionError(
                f"query, key and value must all be 2-D (unbatched) or 3-D (batched), got "
                f"query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}")
        if query.shape[-1] != self.embed_dim:
            raise AssertionError(f"was expecting embedding dimension of {self.embed_dim}, but "
                                 f"got query of shape {tuple(query.shape)}")
        if key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise AssertionError(
                f"expected key (..., {self.kdim}) and value (..., {self.vdim}), got key "
                f"{tuple(key.shape)} and value {tuple(value.shape)}")
        if key.shape[:-1] != value.shape[:-1]:
            raise AssertionError(f"key shape {tuple(key.shape)} does not match value shape "
                                 f"{tuple(value.shape)}")

    def _combined_mask(self, attn_mask: Tensor | None, key_padding_mask: Tensor | None, n: int,
                       l: int, s: int, dtype: np.dtype, unbatched: bool) -> np.ndarray | None:
        """``attn_mask`` and ``key_padding_mask`` as one additive array, broadcasting to
        ``(N, H, L, S)``."""
        bias = None
        if attn_mask is not None:
            bias = _bias_from_mask(attn_mask, dtype, "attn_mask")
            heads = (self.num_heads,) if unbatched else (n * self.num_heads,)
            if bias.shape == (l, s):
                bias = bias.reshape(1, 1, l, s)
            elif bias.shape == heads + (l, s):
                bias = bias.reshape(n, self.num_heads, l, s)
            else:
                raise RuntimeError(
                    f"The shape of the attn_mask is {tuple(attn_mask.shape)}, but should be "
                    f"{(l, s)} or {heads + (l, s)}")
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (n, s):
                raise AssertionError(
                    f"expecting key_padding_mask shape of {(n, s)}, but got "
                    f"{tuple(key_padding_mask.shape)}")
            kpm = _bias_from_mask(key_padding_mask, dtype, "key_padding_mask")
            kpm = kpm.reshape(n, 1, 1, s)
            bias = kpm if bias is None else bias + kpm
        return bias

    def _project_heads(self, query: Tensor, key: Tensor, value: Tensor,
                       bias: np.ndarray | None) -> tuple[Tensor, Tensor, Tensor, Any]:
        """Input projections, ``bias_k``/``bias_v`` and zero-attention slots, head split."""
        e = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            wq, wk, wv = w[:e], w[e:2 * e], w[2 * e:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        q, k, v = F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)
        n = q.shape[0]
        if self.bias_k is not None:
            k = tinytorch.cat([k, self.bias_k.expand(n, 1, e)], dim=1)
            v = tinytorch.cat([v, self.bias_v.expand(n, 1, e)], dim=1)
            bias = _pad_keys(bias)
        h, d = self.num_heads, self.head_dim
        q = q.reshape(n, -1, h, d).transpose(1, 2)
        k = k.reshape(n, -1, h, d).transpose(1, 2)
        v = v.reshape(n, -1, h, d).transpose(1, 2)
        if self.add_zero_attn:
            zeros = tinytorch.zeros(n, h, 1, d, dtype=k.dtype)
            k = tinytorch.cat([k, zeros], dim=2)
            v = tinytorch.cat([v, zeros], dim=2)
            bias = _pad_keys(bias)
        if self.rotary is not None:
            q = self.rotary(q)
            k = self.rotary(k)
        return q, k, v, bias

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, batch_first={self.batch_first}")


def _pad_keys(bias: np.ndarray | None) -> np.ndarray | None:
    """One more key column, always allowed (the ``bias_k`` / zero-attention slot)."""
    if bias is None:
        return None
    pad = np.zeros(bias.shape[:-1] + (1,), dtype=bias.dtype)
    return np.concatenate([bias, pad], axis=-1)
