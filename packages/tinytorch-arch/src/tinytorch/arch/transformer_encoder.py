"""``nn.TransformerEncoderLayer`` and ``nn.TransformerEncoder``: PyTorch's encoder, name for name.

One layer is self-attention then a feed-forward network, each wrapped in a residual
connection and a LayerNorm. ``norm_first=False`` is the 2017 post-norm layout,
``x = norm(x + block(x))``; ``norm_first=True`` is pre-norm, ``x = x + block(norm(x))``,
which keeps the residual stream an identity path and trains deep stacks without warm-up.
``TransformerEncoder`` stacks ``num_layers`` deep copies of one layer, then an optional final
norm. The parameter names are PyTorch's (``self_attn.in_proj_weight``,
``self_attn.out_proj.weight``, ``linear1``, ``linear2``, ``norm1``, ``norm2``, and
``layers.{i}.`` in the encoder), so a ``state_dict`` saved from PyTorch loads unchanged and
gives the same outputs.

Systems view, per token at width ``E`` with feed-forward width ``F`` and ``S`` tokens: about
``8·E² + 4·E·F`` FLOPs in the matrix products (``6E²`` packed q/k/v projection, ``2E²``
output projection, ``4·E·F`` the two feed-forward layers) plus ``4·S·E`` in attention;
``4·E² + 2·E·F + 9·E + F`` parameters. With PyTorch's default ``F = 2048`` the feed-forward
network dominates at small ``E``. The attention is ``MultiheadAttention``'s packed
self-attention path: three graph nodes and no copies to split heads.

Masks follow ``MultiheadAttention``: in ``src_mask`` and ``src_key_padding_mask`` a bool True
means "may not attend"; float masks are added to the scores. ``is_causal=True`` applies the
causal mask (and may be given alongside the equivalent ``src_mask``, as PyTorch expects).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from tinytorch.arch.multihead_attention import MultiheadAttention
from tinytorch.core.tensor import Tensor
from tinytorch.nn import Dropout, LayerNorm, Linear, Module, ModuleList
from tinytorch.nn import functional as F

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu}


def _activation(activation: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    if callable(activation):
        return activation
    if activation in ACTIVATIONS:
        return ACTIVATIONS[activation]
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


class TransformerEncoderLayer(Module):
    """Self-attention + feed-forward with residuals and LayerNorms, PyTorch's layer.

    Input ``(S, N, E)``, or ``(N, S, E)`` with ``batch_first=True``, or unbatched ``(S, E)``;
    output of the same shape. ``activation`` is ``'relu'``, ``'gelu'`` or any callable.
    Dropout (``dropout``) acts on the attention weights, the attention output, inside the
    feed-forward network and on its output, in training mode only.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable[[Tensor], Tensor] = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, device=device, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, device=device, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, device=device, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, device=device,
                               dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, device=device,
                               dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        """``src`` (S, N, E) / (N, S, E) / (S, E); ``src_mask`` (S, S) or (N·nhead, S, S);
        ``src_key_padding_mask`` (N, S) or (S,) -> same shape as ``src``."""
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))

    def _sa_block(self, x: Tensor, attn_mask: Tensor | None, key_padding_mask: Tensor | None,
                  is_causal: bool) -> Tensor:
        out, _ = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)
        return self.dropout1(out)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer`` and an optional final ``norm``.

    Each copy is an independent deep copy (its own parameters), named ``layers.{i}`` as in
    PyTorch. ``forward(src, mask, src_key_padding_mask, is_causal)`` passes the masks to every
    layer. PyTorch's nested-tensor fast path is not modelled: padded positions get ordinary
    outputs rather than zeros; ``enable_nested_tensor`` and ``mask_check`` are accepted and
    ignored.
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: Module | None = None, enable_nested_tensor: bool = True,
                 mask_check: bool = True) -> None:
        super().__init__()
        if num_layers < 0:
            raise ValueError(f"num_layers must be non-negative, got {num_layers}")
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: Tensor, mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)
