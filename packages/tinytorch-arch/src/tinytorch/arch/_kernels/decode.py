"""The decode kernel: ``TransformerBlock.forward_cached`` fused into one pass over arrays.

What it does differently from the reference (the block's ``forward_cached``, composed of its
modules: LayerNorm, ``MultiheadAttention.forward_cached``, residual adds, the feed-forward
network), and why:

- **No tensors, no graph nodes.** Generation runs the block on one new position per sequence,
  where the arithmetic is four vector-matrix products (``24·E²`` FLOPs per sequence, reading
  each of the ``12·E²`` weights once: memory-bound, so a batch of sequences shares the reads)
  and the dozen module and op calls of the composed block cost several times more than the
  arithmetic: argument checks, ``Tensor`` wrapping, a ``Function`` context each. Here the
  same algorithm is about fifty NumPy calls on the parameters' arrays.
- **Attention on views.** Heads are strided views of the packed q/k/v projection, the
  softmax runs in place (``attention_probs``), and the weighted sum of the cached values is
  written straight into the merged ``(N, T, E)`` layout, as ``PackedSelfAttention`` does.

Inference only: it has no dropout, so the block takes it only when no dropout is active
(eval mode, or dropout 0), and ``tinytorch.use_reference_kernels(True)`` takes the reference.
``tests/test_kv_cache.py`` keeps the two equal.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch.arch._kernels.attention import attention_probs
from tinytorch.arch.kv_cache import KVCache
from tinytorch.arch.positional import rotate
from tinytorch.core.parallel import blas_for_gemm

if TYPE_CHECKING:
    from tinytorch.arch.transformer import TransformerBlock

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


def _linear(x: np.ndarray, weight: Any, bias: Any) -> np.ndarray:
    # x: (R, in), weight: (out, in), bias: (out,) or None -> (R, out)
    w = weight.array
    with blas_for_gemm(x.shape[0], w.shape[1], w.shape[0]):   # threads only for a prefill
        y = x @ w.T
    if bias is not None:
        y += bias.array
    return y


def _layer_norm(x: np.ndarray, norm: Any) -> np.ndarray:
    # x: (R, E) -> (R, E), over the last axis, with the module's weight, bias and eps
    d = x.shape[-1]
    y = x - np.einsum("rd->r", x)[:, None] / d                       # centred
    var = np.einsum("rd,rd->r", y, y)[:, None] / d
    y *= 1.0 / np.sqrt(var + norm.eps)
    if norm.weight is not None:
        y *= norm.weight.array
    if norm.bias is not None:
        y += norm.bias.array
    return y


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    # x: (R, F) -> (R, F): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
    t = x * x
    t *= _GELU_CUBIC
    t += 1.0
    t *= x
    t *= _SQRT_2_OVER_PI
    np.tanh(t, out=t)
    t += 1.0
    t *= x
    t *= 0.5
    return t


def decode_block(block: TransformerBlock, x: np.ndarray, cache: KVCache,
                 layer: int) -> np.ndarray:
    """The pre-norm block on new positions ``x (N, T, E)`` at ``cache.length ..``; writes their
    keys and values into ``cache`` at ``layer`` and returns ``(N, T, E)``."""
    n, t, e = x.shape
    attn = block.attn
    h, d = attn.num_heads, attn.head_dim
    past = cache.length
    rows = x.reshape(n * t, e)                                         # (R, E), R = N·T
    qkv = _linear(_layer_norm(rows, block.ln_1), attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = qkv.reshape(n, t, 3, h, d).transpose(2, 0, 3, 1, 4)     # views, (N, H, T, D)
    if attn.rotary is not None:                                        # at absolute positions
        cos, sin = attn.rotary.angles_for(t, past, qkv.dtype)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
    keys, values = cache.update(layer, k, v)                           # (N, H, past + T, D)
    mask = None if t == 1 or past == 0 else np.tri(t, past + t, k=past, dtype=bool)
    p = attention_probs(q, keys, mask, 1.0 / math.sqrt(d), past == 0 and t > 1)  # (N,H,T,S)
    merged = np.empty((n, t, h, d), dtype=qkv.dtype)
    np.matmul(p, values, out=merged.transpose(0, 2, 1, 3))            # heads merged in place
    a = _linear(merged.reshape(n * t, e), attn.out_proj.weight, attn.out_proj.bias)
    a += rows                                                          # x + attention
    mlp = block.mlp
    f = _gelu_tanh(_linear(_layer_norm(a, block.ln_2), mlp.fc.weight, mlp.fc.bias))
    out = _linear(f, mlp.proj.weight, mlp.proj.bias)                  # (R, E)
    out += a                                                           # + feed-forward
    return out.reshape(n, t, e)
