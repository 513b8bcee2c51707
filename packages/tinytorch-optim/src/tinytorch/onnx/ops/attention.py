"""Attention in ONNX: scaled dot-product attention, ``MultiheadAttention`` and positions.

For queries ``(..., L, E)``, keys ``(..., S, E)`` and values ``(..., S, Ev)`` the graph is the
textbook one, node for node with ``AttentionReference``:

    scores = MatMul(q, Transpose(k)) · scale                        (..., L, S)
    scores = Where(keep, scores, -inf)   keep[i, j] = j <= i        when causal
    scores = Where(mask, scores, -inf)   or   scores + mask         explicit bool / float mask
    p      = Softmax(scores);  Where(IsNaN(p), 0, p)                the fix only with a mask
    out    = MatMul(p, v)                                           (..., L, Ev)

**Every length is read at run time**, so one file serves every batch size and sequence
length. The causal ``keep`` comes from ``Shape -> Range -> LessOrEqual`` on the actual ``L``
and ``S``; position tables (learned, sinusoidal, rotary) are stored whole and ``Slice``d to the
input's ``T``; heads are split by ``Reshape(0, 0, H, D)``, where 0 copies a dimension. Baking
the traced ``T×T`` triangle instead would fix the sequence length and cost ``T²`` bytes in
the file; building it costs ``L·S`` comparisons per call, which is noise next to the
``2·B·L·S·(E + Ev)`` FLOPs of the two products.

A row whose keys are all masked is zeros in TinyTorch (PyTorch's safe softmax) but NaN in
ONNX's ``Softmax``; the ``Where(IsNaN(p), 0, p)`` pair (``2·B·L·S`` more element operations)
restores TinyTorch's answer, and is emitted only when an explicit mask could empty a row: a
causal triangle never does. Dropout is the identity: the model is exported for inference.

Which calls get a handler:

- **ops**, where the traced arguments say everything: the attention ``Function``s (reference,
  kernel, weights-only, packed self-attention), ``AddPositional`` and ``Rotary``.
- **modules**, where tracing would bake shapes or lose inputs: ``MultiheadAttention`` turns
  its masks into numpy arrays (a ``key_padding_mask`` fed to the model would become a
  constant) and reshapes by the traced batch size; ``RotaryEmbedding`` slices its tables to
  the traced length before its op runs.
- ``TransformerBlock``, ``TransformerEncoderLayer``, ``TransformerEncoder`` and ``GPT`` need
  none: tracing them reaches these handlers and the basic ones (Embedding, LayerNorm, Linear,
  GELU, the residual adds), none of which fixes a length.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

from tinytorch.arch._kernels.attention import AttentionKernel, PackedSelfAttention
from tinytorch.arch.attention import AttentionReference, AttentionWeights
from tinytorch.arch.multihead_attention import MultiheadAttention
from tinytorch.arch.positional import AddPositional, Rotary, RotaryEmbedding
from tinytorch.onnx.graph import GraphBuilder
from tinytorch.onnx.registry import register_module, register_op

_ONNX_FLOAT = {np.dtype(np.float16): 10, np.dtype(np.float32): 1,   # onnx.TensorProto codes
               np.dtype(np.float64): 11}


# ------------------------------------------------------------------ run-time shapes
def _dim(g: GraphBuilder, x: str, axis: int) -> str:
    """``[size]`` (1-D int64) of dimension ``axis >= 0`` of value ``x``, read at run time."""
    return g.node("Shape", [x], start=axis, end=axis + 1, hint="dim")


def _causal_keep(g: GraphBuilder, q: str, q_rank: int, k: str, k_rank: int) -> str:
    """Bool ``(L, S)``: query ``i`` may see key ``j <= i``, from the run-time ``L`` and ``S``."""
    zero, one = g.value(0), g.value(1)
    first = g.ints([0], "axes")
    length = g.node("Squeeze", [_dim(g, q, q_rank - 2), first], hint="num_queries")
    keys = g.node("Squeeze", [_dim(g, k, k_rank - 2), first], hint="num_keys")
    rows = g.node("Range", [zero, length, one], hint="query_positions")            # (L,)
    rows = g.node("Unsqueeze", [rows, g.ints([1], "axes")], hint="query_positions")  # (L, 1)
    cols = g.node("Range", [zero, keys, one], hint="key_positions")                # (S,)
    return g.node("LessOrEqual", [cols, rows], hint="causal_keep")                 # (L, S)


def _positions(g: GraphBuilder, x: str, x_rank: int, offset: int, *tables: str) -> list[str]:
    """Rows ``offset .. offset + T - 1`` of each ``(P, C)`` table; ``T`` is dim -2 of ``x``,
    read at run time."""
    length = _dim(g, x, x_rank - 2)
    end = length if offset == 0 else g.node("Add", [length, g.ints([offset])], hint="end")
    start, axes = g.ints([offset], "start"), g.ints([0], "axes")
    return [g.node("Slice", [table, start, end, axes], hint="positions") for table in tables]


def _rotary_tables(g: GraphBuilder, rotary: RotaryEmbedding, dtype: np.dtype) -> list[str]:
    """The whole ``(max_seq_len, D/2)`` cos and sin tables, stored once per export."""
    names = []
    for table, hint in zip(rotary.tables(dtype), ("rotary_cos", "rotary_sin")):
        if not g.has(table):
            g.bind(table, g.constant(table, hint))
        names.append(g.value(table))
    return names


# ------------------------------------------------------------------ attention
def _fill(g: GraphBuilder, value: float, dtype: np.dtype) -> str:
    """A scalar constant in the scores' dtype (``-inf`` for masked scores, ``0``)."""
    return g.constant(np.asarray(value, dtype), "minus_inf" if value < 0 else "zero")


def _mask(g: GraphBuilder, mask: Any, dtype: np.dtype) -> tuple[str | None, bool]:
    """The ONNX name of an attention mask and whether it is bool (True = may attend).

    A float mask in another float dtype than the scores is cast, as the reference's sum is.
    """
    if mask is None:
        return None, False
    name = g.value(mask)
    if mask.dtype == np.bool_:
        return name, True
    if np.dtype(mask.dtype) != dtype:
        name = g.node("Cast", [name], to=_ONNX_FLOAT[dtype], hint="mask")
    return name, False


def _probabilities(g: GraphBuilder, q: str, q_rank: int, k: str, k_rank: int, *,
                   dtype: np.dtype, scale: float, is_causal: bool, mask: str | None,
                   mask_is_bool: bool) -> str:
    """``softmax(q kᵀ · scale + masks)``: ``(..., L, E)``, ``(..., S, E)`` -> ``(..., L, S)``."""
    perm = list(range(k_rank - 2)) + [k_rank - 1, k_rank - 2]
    k_t = g.node("Transpose", [k], perm=perm, hint="keys_t")                       # (..., E, S)
    scores = g.node("MatMul", [q, k_t], hint="scores")                             # (..., L, S)
    scores = g.node("Mul", [scores, g.constant(np.asarray(scale, dtype), "scale")],
                    hint="scores")
    if is_causal:
        keep = _causal_keep(g, q, q_rank, k, k_rank)
        scores = g.node("Where", [keep, scores, _fill(g, -np.inf, dtype)], hint="scores")
    if mask is not None and mask_is_bool:
        scores = g.node("Where", [mask, scores, _fill(g, -np.inf, dtype)], hint="scores")
    elif mask is not None:
        scores = g.node("Add", [scores, mask], hint="scores")
    p = g.node("Softmax", [scores], axis=-1, hint="probs")
    if mask is None:
        return p
    empty_row = g.node("IsNaN", [p], hint="empty_row")          # every key of the row masked
    return g.node("Where", [empty_row, _fill(g, 0.0, dtype), p], hint="probs")


@register_op(AttentionReference, AttentionKernel)
def export_attention(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                     result: Any) -> str:
    """``scaled_dot_product_attention``: q (..., L, E), k (..., S, E), v (..., S, Ev) ->
    (..., L, Ev); ``dropout_p`` is ignored (inference)."""
    q, k, v, mask = args
    mask_name, is_bool = _mask(g, mask, q.dtype)
    p = _probabilities(g, g.value(q), q.ndim, g.value(k), k.ndim, dtype=q.dtype,
                       scale=kwargs["scale"], is_causal=kwargs["is_causal"], mask=mask_name,
                       mask_is_bool=is_bool)
    return g.node("MatMul", [p, g.value(v)], hint="attention")


@register_op(AttentionWeights)
def export_attention_weights(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                             result: Any) -> str:
    """The attention weights alone: q (..., L, E), k (..., S, E) -> (..., L, S)."""
    q, k, mask = args
    mask_name, is_bool = _mask(g, mask, q.dtype)
    return _probabilities(g, g.value(q), q.ndim, g.value(k), k.ndim, dtype=q.dtype,
                          scale=kwargs["scale"], is_causal=kwargs["is_causal"],
                          mask=mask_name, mask_is_bool=is_bool)


def _split_heads(g: GraphBuilder, x: str, heads: int, head_dim: int) -> str:
    """``(N, L, H·D) -> (N, H, L, D)``; N and L are copied at run time (Reshape's 0)."""
    x = g.node("Reshape", [x, g.ints([0, 0, heads, head_dim], "heads_shape")], hint="heads")
    return g.node("Transpose", [x], perm=[0, 2, 1, 3], hint="heads")


def _merge_heads(g: GraphBuilder, x: str, width: int) -> str:
    """``(N, H, L, D) -> (N, L, H·D)``."""
    x = g.node("Transpose", [x], perm=[0, 2, 1, 3], hint="merged")
    return g.node("Reshape", [x, g.ints([0, 0, width], "merged_shape")], hint="merged")


def _rotate(g: GraphBuilder, x: str, x_rank: int, cos: str, sin: str, offset: int,
            head_dim: int) -> str:
    """RoPE on ``x (..., T, D)`` with rows ``offset..offset+T-1`` of the ``(P, D/2)`` tables.

    Half-split pairs, as ``positional.rotate``: ``[x1·cos − x2·sin, x2·cos + x1·sin]``.
    """
    cos, sin = _positions(g, x, x_rank, offset, cos, sin)                          # (T, D/2)
    half = head_dim // 2
    x1, x2 = g.node("Split", [x, g.ints([half, half], "halves")], axis=-1, outputs=2,
                    hint="half")
    first = g.node("Sub", [g.node("Mul", [x1, cos]), g.node("Mul", [x2, sin])], hint="rot")
    second = g.node("Add", [g.node("Mul", [x2, cos]), g.node("Mul", [x1, sin])], hint="rot")
    return g.node("Concat", [first, second], axis=-1, hint="rotated")


@register_op(PackedSelfAttention)
def export_packed_self_attention(g: GraphBuilder, args: tuple[Any, ...],
                                 kwargs: dict[str, Any], result: Any) -> str:
    """Head split, attention and head merge on a packed projection: (N, L, 3E) -> (N, L, E).

    ``rope``, when given, holds the rotation rows of the traced length; they are sliced to the
    run-time ``L``, so shorter sequences work (``MultiheadAttention``'s own handler reads the
    whole tables instead).
    """
    qkv, bias = args
    heads = kwargs["num_heads"]
    head_dim = qkv.shape[-1] // (3 * heads)
    packed = g.node("Reshape", [g.value(qkv), g.ints([0, 0, 3, heads, head_dim])],
                    hint="qkv_heads")                                           # (N, L, 3, H, D)
    packed = g.node("Transpose", [packed], perm=[2, 0, 3, 1, 4], hint="qkv_heads")
    q, k, v = (g.node("Gather", [packed, g.value(i)], axis=0, hint=part)        # (N, H, L, D)
               for i, part in enumerate(("q", "k", "v")))
    if kwargs["rope"] is not None:
        cos, sin = (g.value(table) for table in kwargs["rope"])
        q = _rotate(g, q, 4, cos, sin, 0, head_dim)
        k = _rotate(g, k, 4, cos, sin, 0, head_dim)
    mask_name, is_bool = _mask(g, bias, qkv.dtype)
    p = _probabilities(g, q, 4, k, 4, dtype=qkv.dtype, scale=kwargs["scale"],
                       is_causal=kwargs["is_causal"], mask=mask_name, mask_is_bool=is_bool)
    return _merge_heads(g, g.node("MatMul", [p, v], hint="attention"), heads * head_dim)


# ------------------------------------------------------------------ MultiheadAttention
def _call_arguments(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The module call's arguments by parameter name, defaults filled in."""
    bound = inspect.signature(module.forward).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound.arguments


def _linear(g: GraphBuilder, x: str, weight: str, bias: str | None) -> str:
    """``x @ weightᵀ + bias``: ``(*, in)``, ``(out, in)`` -> ``(*, out)``."""
    w_t = g.node("Transpose", [weight], perm=[1, 0], hint="weight_t")
    y = g.node("MatMul", [x, w_t], hint="projection")
    return y if bias is None else g.node("Add", [y, bias], hint="projection")


def _in_projections(g: GraphBuilder, module: MultiheadAttention, query: str, key: str,
                    value: str, self_attention: bool) -> list[str]:
    """q, k, v projections ``(N, L|S, E)``: one packed product for self-attention."""
    e = module.embed_dim

    def thirds(packed: str, axis: int, hint: str) -> list[str]:
        return g.node("Split", [packed, g.ints([e, e, e], "thirds")], axis=axis, outputs=3,
                      hint=hint)

    bias = None if module.in_proj_bias is None else g.value(module.in_proj_bias)
    if module.in_proj_weight is not None and self_attention:
        qkv = _linear(g, query, g.value(module.in_proj_weight), bias)             # (N, L, 3E)
        return thirds(qkv, -1, "qkv")
    if module.in_proj_weight is not None:
        weights = thirds(g.value(module.in_proj_weight), 0, "in_proj_weight")
    else:
        weights = [g.value(w) for w in (module.q_proj_weight, module.k_proj_weight,
                                        module.v_proj_weight)]
    biases = [None] * 3 if bias is None else thirds(bias, 0, "in_proj_bias")
    return [_linear(g, x, w, b) for x, w, b in zip((query, key, value), weights, biases)]


def _additive(g: GraphBuilder, mask: Any, dtype: np.dtype) -> str:
    """A ``MultiheadAttention`` mask as a float bias: bool True (masked out) -> ``-inf``."""
    name, is_bool = _mask(g, mask, dtype)
    if not is_bool:
        return name
    return g.node("Where", [name, _fill(g, -np.inf, dtype), _fill(g, 0.0, dtype)],
                  hint="mask_bias")


def _attention_bias(g: GraphBuilder, module: MultiheadAttention, attn_mask: Any,
                    key_padding_mask: Any, dtype: np.dtype) -> str | None:
    """``attn_mask`` ``(L, S)`` or ``(N·H, L, S)`` and ``key_padding_mask`` ``(N, S)`` (``(S,)``
    unbatched) as one additive bias broadcasting to ``(N, H, L, S)``, or None."""
    bias = None
    if attn_mask is not None:
        bias = _additive(g, attn_mask, dtype)
        if attn_mask.ndim == 2:                                                  # (1, 1, L, S)
            bias = g.node("Unsqueeze", [bias, g.ints([0, 1], "axes")], hint="attn_bias")
        else:                                                                    # (N, H, L, S)
            lengths = g.node("Shape", [bias], start=1, hint="mask_lengths")
            shape = g.node("Concat", [g.ints([-1, module.num_heads]), lengths], axis=0,
                           hint="mask_shape")
            bias = g.node("Reshape", [bias, shape], hint="attn_bias")
    if key_padding_mask is not None:
        axes = [0, 1, 2] if key_padding_mask.ndim == 1 else [1, 2]
        padding = g.node("Unsqueeze", [_additive(g, key_padding_mask, dtype), g.ints(axes)],
                         hint="padding_bias")                                    # (N, 1, 1, S)
        bias = padding if bias is None else g.node("Add", [bias, padding], hint="attn_bias")
    return bias


def _pad_keys(g: GraphBuilder, x: str | None, axis: int) -> str | None:
    """One more zero slot at the end of ``axis`` of a rank-4 ``x`` (a key or a bias column)."""
    if x is None:
        return None
    pads = [0] * 8
    pads[4 + axis] = 1
    return g.node("Pad", [x, g.ints(pads, "pads")], hint="padded")


def _append_bias_kv(g: GraphBuilder, x: str, extra: str, width: int) -> str:
    """``(N, S, E)`` and a ``(1, 1, E)`` parameter -> ``(N, S + 1, E)``."""
    shape = g.node("Concat", [_dim(g, x, 0), g.ints([1, width])], axis=0, hint="bias_kv_shape")
    extra = g.node("Expand", [extra, shape], hint="bias_kv")
    return g.node("Concat", [x, extra], axis=1, hint="with_bias_kv")


@register_module(MultiheadAttention)
def export_multihead_attention(g: GraphBuilder, module: MultiheadAttention,
                               args: tuple[Any, ...], kwargs: dict[str, Any],
                               output: Any) -> tuple[str, ...]:
    """The whole layer: ``(output,)``, or ``(output, weights)`` with ``need_weights=True``.

    query ``(L, N, E)`` (``(N, L, E)`` batch first, ``(L, E)`` unbatched), key and value
    likewise with ``S`` -> output like query; weights ``(N, L, S)`` or ``(N, H, L, S)``.
    """
    a = _call_arguments(module, args, kwargs)
    query, key, value = a["query"], a["key"], a["value"]
    self_attention = query is key and key is value
    unbatched = query.ndim == 2
    dtype = np.dtype(query.dtype)
    names = [g.value(t) for t in ((query,) if self_attention else (query, key, value))]
    if unbatched:                                                  # (L, E) -> (1, L, E)
        names = [g.node("Unsqueeze", [x, g.ints([0], "axes")], hint="batched") for x in names]
    elif not module.batch_first:                                   # (L, N, E) -> (N, L, E)
        names = [g.node("Transpose", [x], perm=[1, 0, 2], hint="batch_first") for x in names]
    if self_attention:
        names *= 3
    q, k, v = _in_projections(g, module, *names, self_attention)  # (N, L|S, E)
    bias = _attention_bias(g, module, a["attn_mask"], a["key_padding_mask"], dtype)
    e, heads, head_dim = module.embed_dim, module.num_heads, module.head_dim
    if module.bias_k is not None:
        k = _append_bias_kv(g, k, g.value(module.bias_k), e)
        v = _append_bias_kv(g, v, g.value(module.bias_v), e)
        bias = _pad_keys(g, bias, 3)
    q, k, v = (_split_heads(g, x, heads, head_dim) for x in (q, k, v))  # (N, H, L|S, D)
    if module.add_zero_attn:
        k, v, bias = _pad_keys(g, k, 2), _pad_keys(g, v, 2), _pad_keys(g, bias, 3)
    if module.rotary is not None:
        cos, sin = _rotary_tables(g, module.rotary, dtype)
        q = _rotate(g, q, 4, cos, sin, 0, head_dim)
        k = _rotate(g, k, 4, cos, sin, 0, head_dim)
    p = _probabilities(g, q, 4, k, 4, dtype=dtype, scale=1.0 / math.sqrt(head_dim),
                       is_causal=a["is_causal"], mask=bias, mask_is_bool=False)  # (N, H, L, S)
    out = _merge_heads(g, g.node("MatMul", [p, v], hint="attention"), e)          # (N, L, E)
    proj = module.out_proj
    out = _linear(g, out, g.value(proj.weight),
                  None if proj.bias is None else g.value(proj.bias))
    if unbatched:
        out = g.node("Squeeze", [out, g.ints([0], "axes")], hint="attn_output")
    elif not module.batch_first:
        out = g.node("Transpose", [out], perm=[1, 0, 2], hint="attn_output")
    if not a["need_weights"]:
        return (out,)
    weights = p
    if a["average_attn_weights"]:                                               # (N, L, S)
        total = g.node("ReduceSum", [p, g.ints([1], "axes")], keepdims=0, hint="weights")
        weights = g.node("Div", [total, g.constant(np.asarray(heads, dtype), "num_heads")],
                           hint="weights")
    if unbatched:
        weights = g.node("Squeeze", [weights, g.ints([0], "axes")], hint="weights")
    return out, weights


# ------------------------------------------------------------------ positions
@register_op(AddPositional)
def export_add_positional(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                          result: Any) -> str:
    """``x (..., T, E) + table[offset:offset + T]``, with ``T`` read at run time."""
    x, table = args
    x_name = g.value(x)
    (rows,) = _positions(g, x_name, x.ndim, kwargs["offset"], g.value(table))     # (T, E)
    return g.node("Add", [x_name, rows], hint="positioned")


@register_op(Rotary)
def export_rotary(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                  result: Any) -> str:
    """RoPE with the traced rows ``cos``/``sin (T, D/2)``, sliced to the run-time ``T``."""
    (x,) = args
    return _rotate(g, g.value(x), x.ndim, g.value(kwargs["cos"]), g.value(kwargs["sin"]), 0,
                   x.shape[-1])


@register_module(RotaryEmbedding)
def export_rotary_embedding(g: GraphBuilder, module: RotaryEmbedding, args: tuple[Any, ...],
                            kwargs: dict[str, Any], output: Any) -> str:
    """``RotaryEmbedding(x, offset)`` on its whole tables, so any ``T`` up to
    ``max_seq_len - offset`` runs: ``(..., T, D) -> (..., T, D)``."""
    a = _call_arguments(module, args, kwargs)
    x = a["x"]
    cos, sin = _rotary_tables(g, module, np.dtype(x.dtype))
    return _rotate(g, g.value(x), x.ndim, cos, sin, a["offset"], module.dim)
