"""``MultiheadAttention``: PyTorch's layer, parameter for parameter, on the fused attention op.

Systems view, for ``N`` sequences of ``L`` queries and ``S`` keys, width ``E``, ``H`` heads of
``D = E/H``: the input projection is one ``(N·L, E) @ (E, 3E)`` GEMM for self-attention
(``6·N·L·E²`` FLOPs), attention costs ``4·N·L·S·E`` FLOPs, and the output projection another
``2·N·L·E²``. Parameters: ``4·E² + 4·E`` (``in_proj_weight (3E, E)``, ``in_proj_bias (3E)``,
``out_proj.weight (E, E)``, ``out_proj.bias (E)``) under PyTorch's names, so a ``state_dict``
moves between the two frameworks unchanged.

The layer composes the input projections, a head split ``(N, L, E) -> (N, H, L, D)``, the
attention op from ``attention.py`` and the output projection. Self-attention without returned
weights (what a transformer block does) takes a fast path by default: the packed projection
``(N, L, 3E)`` goes into one kernel op (``_kernels/attention.py``'s ``PackedSelfAttention``)
that splits heads, attends and merges heads itself, so the whole layer records three graph
nodes. ``tinytorch.use_reference_kernels(True)`` takes the composed path every time.

Masks follow PyTorch's ``MultiheadAttention`` (the opposite of ``scaled_dot_product_attention``
for bools): in ``attn_mask`` and ``key_padding_mask`` a bool True means "may NOT attend"; float
masks are added to the scores. Here they are constants (no gradient flows into them).
Extension: ``rotary=RotaryEmbedding(E // H)`` rotates queries and keys (RoPE) in every head.
Extension for generation: ``forward_cached`` runs only new positions of a causal
self-attention, reading the earlier keys and values from a ``KVCache`` (``kv_cache.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import tinytorch
from tinytorch.arch._kernels.attention import PackedSelfAttention
from tinytorch.arch.attention import AttentionWeights, attention
from tinytorch.arch.kv_cache import KVCache
from tinytorch.arch.positional import RotaryEmbedding, rotate
from tinytorch.core.reference import reference_kernels_enabled
from tinytorch.core.tensor import Tensor
from tinytorch.nn import Linear, Module, Parameter, init
from tinytorch.nn import functional as F


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
                and self.bias_k is None and not self.add_zero_attn
                and not reference_kernels_enabled()):
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
                o = attention(q, k, v, bias, scale=scale, is_causal=is_causal,
                              dropout_p=dropout_p)
            out = o.transpose(1, 2).reshape(n, l, self.embed_dim)
        out = self.out_proj(out)
        if unbatched:
            return out.squeeze(0), (None if weights is None else weights.squeeze(0))
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    @tinytorch.no_grad()
    def forward_cached(self, x: Tensor, cache: KVCache, layer: int) -> Tensor:
        """Causal self-attention of new positions over themselves and the cached ones.

        ``x``: ``(N, T, E)`` (``(T, N, E)`` with ``batch_first=False``), the inputs at
        positions ``cache.length .. cache.length + T - 1``. Their keys and values go into
        ``cache`` at ``layer`` (the caller advances ``cache.length`` once every layer has run),
        and the output equals the last ``T`` rows of ``forward(s, s, s, is_causal=True,
        need_weights=False)`` on the whole sequence ``s``, at ``T·(8·E² + 4·(cache.length +
        T)·E)`` FLOPs per sequence instead of the whole sequence's. Inference only: it records
        no graph (the cache is written in place).
        """
        if not self._qkv_same_embed_dim or self.bias_k is not None or self.add_zero_attn:
            raise RuntimeError("forward_cached needs a packed self-attention layer (kdim = vdim "
                               "= embed_dim, no add_bias_kv, no add_zero_attn)")
        if x.ndim != 3 or x.shape[-1] != self.embed_dim:
            layout = "N, T" if self.batch_first else "T, N"
            raise RuntimeError(f"forward_cached: expected x of shape ({layout}, "
                               f"{self.embed_dim}), got {tuple(x.shape)}")
        if not self.batch_first:
            x = x.transpose(0, 1)
        n, t, e = x.shape
        past = cache.length
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias).array          # (N, T, 3E)
        q, k, v = qkv.reshape(n, t, 3, self.num_heads, self.head_dim).transpose(2, 0, 3, 1, 4)
        if self.rotary is not None:                                  # at absolute positions
            cos, sin = self.rotary.angles_for(t, past, qkv.dtype)
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        keys, values = cache.update(layer, k, v)                     # (N, H, past + T, D)
        # query i sits at position past + i and sees keys j <= past + i: no mask for one
        # query, the plain causal triangle for a prefill, a shifted one in between
        mask = None if t == 1 or past == 0 else np.tri(t, past + t, k=past, dtype=bool)
        o = attention(Tensor._wrap(q), Tensor._wrap(keys), Tensor._wrap(values), mask,
                      scale=1.0 / math.sqrt(self.head_dim), is_causal=past == 0 and t > 1,
                      dropout_p=self.dropout if self.training else 0.0)      # (N, H, T, D)
        out = self.out_proj(o.transpose(1, 2).reshape(n, t, e))             # (N, T, E)
        return out if self.batch_first else out.transpose(0, 1)

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
