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
``tests/test_kv_cache.py`` keeps the two equal. ``decode_gpt`` does the same for the whole
model around the blocks (token and position lookups, final layer norm, output projection),
and each cache keeps the parameters a block needs (``KVCache.plans``), found once per
generation instead of through the module tree at every step.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from tinytorch.arch._kernels.attention import attention_probs
from tinytorch.arch.kv_cache import KVCache
from tinytorch.arch.positional import rotate
from tinytorch.core.parallel import GEMM_PARALLEL_MACS, blas_for_gemm

if TYPE_CHECKING:
    from tinytorch.arch.gpt import GPT
    from tinytorch.arch.transformer import TransformerBlock

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


class _Plan(NamedTuple):
    """One block's parameters and sizes, looked up once per generation (``cache.plans``):
    reading them through the module tree at every step costs more than some of the maths."""

    ln_1: tuple[Any, Any, float]            # weight, bias (Parameters or None), eps
    in_proj: tuple[Any, Any]                # weight (3E, E), bias (3E,) or None
    out_proj: tuple[Any, Any]
    ln_2: tuple[Any, Any, float]
    fc: tuple[Any, Any]
    proj: tuple[Any, Any]
    heads: int
    head_dim: int
    rotary: Any


def _plan(block: TransformerBlock) -> _Plan:
    attn, mlp = block.attn, block.mlp
    return _Plan((block.ln_1.weight, block.ln_1.bias, block.ln_1.eps),
                 (attn.in_proj_weight, attn.in_proj_bias),
                 (attn.out_proj.weight, attn.out_proj.bias),
                 (block.ln_2.weight, block.ln_2.bias, block.ln_2.eps),
                 (mlp.fc.weight, mlp.fc.bias), (mlp.proj.weight, mlp.proj.bias),
                 attn.num_heads, attn.head_dim, attn.rotary)


def _linear(x: np.ndarray, layer: tuple[Any, Any]) -> np.ndarray:
    # x: (R, in), weight: (out, in), bias: (out,) or None -> (R, out)
    weight, bias = layer
    w = weight.array
    if x.shape[0] * w.size < GEMM_PARALLEL_MACS:      # one new token: BLAS stays as it rests
        y = x @ w.T
    else:
        with blas_for_gemm(x.shape[0], w.shape[1], w.shape[0]):   # a long prefill
            y = x @ w.T
    if bias is not None:
        y += bias.array
    return y


def _layer_norm(x: np.ndarray, norm: tuple[Any, Any, float]) -> np.ndarray:
    # x: (R, E) -> (R, E), over the last axis, with the module's weight, bias and eps
    weight, bias, eps = norm
    d = x.shape[-1]
    y = x - np.einsum("rd->r", x)[:, None] / d                       # centred
    var = np.einsum("rd,rd->r", y, y)[:, None] / d
    y *= 1.0 / np.sqrt(var + eps)
    if weight is not None:
        y *= weight.array
    if bias is not None:
        y += bias.array
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
    plan = cache.plans.get(layer)
    if plan is None:
        plan = cache.plans[layer] = _plan(block)
    h, d = plan.heads, plan.head_dim
    past = cache.length
    rows = x.reshape(n * t, e)                                         # (R, E), R = N·T
    qkv = _linear(_layer_norm(rows, plan.ln_1), plan.in_proj)
    q, k, v = qkv.reshape(n, t, 3, h, d).transpose(2, 0, 3, 1, 4)     # views, (N, H, T, D)
    if plan.rotary is not None:                                        # at absolute positions
        cos, sin = plan.rotary.angles_for(t, past, qkv.dtype)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
    keys, values = cache.update(layer, k, v)                           # (N, H, past + T, D)
    mask = None if t == 1 or past == 0 else np.tri(t, past + t, k=past, dtype=bool)
    p = attention_probs(q, keys, mask, 1.0 / math.sqrt(d), past == 0 and t > 1)  # (N,H,T,S)
    merged = np.empty((n, t, h, d), dtype=qkv.dtype)
    np.matmul(p, values, out=merged.transpose(0, 2, 1, 3))            # heads merged in place
    a = _linear(merged.reshape(n * t, e), plan.out_proj)
    a += rows                                                          # x + attention
    f = _gelu_tanh(_linear(_layer_norm(a, plan.ln_2), plan.fc))
    out = _linear(f, plan.proj)                                        # (R, E)
    out += a                                                           # + feed-forward
    return out.reshape(n, t, e)


def decode_gpt(model: GPT, idx: np.ndarray, cache: KVCache) -> np.ndarray:
    """``GPT.forward_cached`` on arrays: token ids ``idx (N, T)`` at positions
    ``cache.length ..`` -> logits ``(N, T, V)``; appends the positions to ``cache``."""
    n, t = idx.shape
    past = cache.length
    head = cache.plans.get(-1)
    if head is None:
        ln_f = model.ln_f
        head = cache.plans[-1] = (model.wte.weight, model.wpe,
                                  (ln_f.weight, ln_f.bias, ln_f.eps),
                                  (model.lm_head.weight, model.lm_head.bias), list(model.blocks))
    wte, wpe, ln_f, lm_head, blocks = head
    x = wte.array[idx]                                                 # (N, T, E)
    if wpe is not None:
        x += wpe.weight.array[past:past + t]                           # rows past..past+T-1
    for layer, block in enumerate(blocks):
        x = decode_block(block, x, cache, layer)
    cache.advance(t)
    e = x.shape[-1]
    logits = _linear(_layer_norm(x.reshape(n * t, e), ln_f), lm_head)  # (R, V)
    return logits.reshape(n, t, -1)
