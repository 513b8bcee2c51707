"""``TransformerBlock``: one pre-norm transformer layer, as in GPT-2.

    x = x + Dropout(Attention(LayerNorm(x)))
    x = x + FeedForward(LayerNorm(x))    FeedForward = Linear(E, 4E) → GELU(tanh) → Linear(4E, E)

Systems view, per token at width ``E`` and context ``T``: about ``24·E²`` FLOPs in the four
matrix products (``6E²`` for the packed q/k/v projection, ``2E²`` output projection, ``16E²``
for the feed-forward network) plus ``4·T·E`` in attention; ``12·E² + 13·E`` parameters. The
feed-forward network holds two thirds of the weights and FLOPs, so at small ``T`` the block is
bound by its GEMMs, not by attention. Pre-norm (normalising the branch input rather than the
sum) keeps the residual stream an identity path, which is what lets deep stacks train without
warm-up tricks; the original 2017 post-norm layout is not offered.

For generation, ``forward_cached`` runs only the new positions through the block, with the
earlier keys and values read from a ``KVCache``: ``24·E² + 4·T·E`` FLOPs per new token
instead of rerunning all ``T`` positions.
"""

from __future__ import annotations

import tinytorch
from tinytorch.arch._kernels.decode import decode_block
from tinytorch.arch.kv_cache import KVCache
from tinytorch.arch.multihead_attention import MultiheadAttention
from tinytorch.arch.positional import RotaryEmbedding
from tinytorch.core.reference import reference_kernels_enabled
from tinytorch.core.tensor import Tensor
from tinytorch.nn import GELU, Dropout, LayerNorm, Linear, Module


class FeedForward(Module):
    """``Linear(E, hidden) → GELU → Linear(hidden, E) → Dropout``: ``(..., E) -> (..., E)``.

    The GELU is GPT-2's tanh approximation (``approximate='tanh'``): within 1e-3 of the exact
    erf form and several times cheaper to evaluate on NumPy.
    """

    def __init__(self, embed_dim: int, hidden_dim: int, dropout: float = 0.0,
                 bias: bool = True) -> None:
        super().__init__()
        self.fc = Linear(embed_dim, hidden_dim, bias=bias)
        self.act = GELU(approximate="tanh")
        self.proj = Linear(hidden_dim, embed_dim, bias=bias)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.proj(self.act(self.fc(x))))


class TransformerBlock(Module):
    """A pre-norm transformer layer on batch-first input ``(N, T, E) -> (N, T, E)``.

    ``causal=True`` (the default, for language models) lets position ``t`` attend only to
    positions ``<= t``. ``dropout`` applies to the attention weights, the attention output and
    the feed-forward output. ``rotary`` (a ``RotaryEmbedding`` of size ``E // num_heads``)
    switches the attention to rotary position embeddings.
    """

    def __init__(self, embed_dim: int, num_heads: int, mlp_ratio: float = 4.0,
                 dropout: float = 0.0, bias: bool = True, causal: bool = True,
                 layer_norm_eps: float = 1e-5, rotary: RotaryEmbedding | None = None) -> None:
        super().__init__()
        self.causal = causal
        self.ln_1 = LayerNorm(embed_dim, eps=layer_norm_eps, bias=bias)
        self.attn = MultiheadAttention(embed_dim, num_heads, dropout=dropout, bias=bias,
                                       batch_first=True, rotary=rotary)
        self.attn_dropout = Dropout(dropout)
        self.ln_2 = LayerNorm(embed_dim, eps=layer_norm_eps, bias=bias)
        self.mlp = FeedForward(embed_dim, int(mlp_ratio * embed_dim), dropout, bias)

    def forward(self, x: Tensor, attn_mask: Tensor | None = None,
                key_padding_mask: Tensor | None = None) -> Tensor:
        """``x (N, T, E)``; optional masks as in ``MultiheadAttention`` (True = masked out)."""
        h = self.ln_1(x)
        a, _ = self.attn(h, h, h, key_padding_mask=key_padding_mask, need_weights=False,
                         attn_mask=attn_mask, is_causal=self.causal)
        x = x + self.attn_dropout(a)
        return x + self.mlp(self.ln_2(x))

    def forward_cached(self, x: Tensor, cache: KVCache, layer: int) -> Tensor:
        """The block on new positions only, ``(N, T, E) -> (N, T, E)``, for generation.

        ``x`` holds positions ``cache.length .. cache.length + T - 1``; attention reads the
        earlier ones from ``cache`` and writes these (``MultiheadAttention.forward_cached``).
        The layer norms and the feed-forward network act on each position alone, so they run
        on the new rows only. Needs a causal block; records no graph. Without active dropout
        it runs as one fused kernel (``_kernels/decode.py``) unless reference kernels are on.
        """
        if not self.causal:
            raise RuntimeError("TransformerBlock.forward_cached needs a causal block: without "
                               "the causal mask, earlier positions would see the new ones")
        if x.ndim != 3 or x.shape[-1] != self.attn.embed_dim:
            raise RuntimeError(f"TransformerBlock.forward_cached: expected x of shape (N, T, "
                               f"{self.attn.embed_dim}), got {tuple(x.shape)}")
        dropout = self.training and max(self.attn.dropout, self.attn_dropout.p,
                                        self.mlp.dropout.p) > 0.0
        if not dropout and not reference_kernels_enabled():
            return Tensor._wrap(decode_block(self, x.array, cache, layer))
        with tinytorch.no_grad():
            h = self.ln_1(x)
            x = x + self.attn_dropout(self.attn.forward_cached(h, cache, layer))
            return x + self.mlp(self.ln_2(x))
