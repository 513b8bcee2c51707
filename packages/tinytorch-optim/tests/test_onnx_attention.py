"""ONNX export of attention, MultiheadAttention, positions, transformer layers and GPT.

Every model is exported once at each opset with dynamic batch and sequence axes, checked with
``onnx.checker`` (``full_check``), then run in onnxruntime at several batch sizes and sequence
lengths and compared with TinyTorch's own forward (``tinytorch.onnx.verify``: rtol 1e-4,
atol 1e-5 in float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import tinytorch  # noqa: E402
import tinytorch.onnx as tonnx  # noqa: E402
from tinytorch.arch import (  # noqa: E402
    GPT,
    LearnedPositionalEmbedding,
    MultiheadAttention,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    TransformerBlock,
    TransformerEncoder,
    TransformerEncoderLayer,
    gpt_char_medium,
    gpt_char_small,
    gpt_nano,
)
from tinytorch.arch._kernels.attention import PackedSelfAttention  # noqa: E402
from tinytorch.arch.attention import AttentionWeights  # noqa: E402
from tinytorch.arch.gpt import GPTConfig  # noqa: E402
from tinytorch.arch.positional import Rotary  # noqa: E402
from tinytorch.nn import LayerNorm, Module  # noqa: E402
from tinytorch.nn import functional as F  # noqa: E402

OPSETS = [17, 18, 21]


def _rng() -> np.random.Generator:
    return np.random.default_rng(12)


def _floats(rng: np.random.Generator, *shape: int) -> tinytorch.Tensor:
    return tinytorch.tensor(rng.standard_normal(shape).astype(np.float32))


def _randomize(model: Module, rng: np.random.Generator, scale: float = 0.3) -> Module:
    """Random weights everywhere, biases included (zero biases would hide a missing Add)."""
    for p in model.parameters():
        p.array[...] = rng.standard_normal(p.shape).astype(p.dtype) * scale
    return model


def _roundtrip(model: Module, cases: list[tuple[Any, ...]], tmp_path: Any, opset: int, *,
               inputs: list[str], outputs: list[str],
               dynamic: dict[str, dict[int, str]]) -> Any:
    """Export on ``cases[0]``, check the file, verify every case in onnxruntime."""
    path = tmp_path / "model.onnx"
    tonnx.export(model, cases[0], path, input_names=inputs, output_names=outputs,
                 opset_version=opset, dynamic_axes=dynamic)
    onnx.checker.check_model(str(path), full_check=True)
    for args in cases:
        report = tonnx.verify(model, args, path)
        assert all(o.ok for o in report.outputs)
    return onnx.load(str(path))


# ----------------------------------------------------------- scaled_dot_product_attention
class Attend(Module):
    def __init__(self, is_causal: bool = False, scale: float | None = None,
                 dropout_p: float = 0.0) -> None:
        super().__init__()
        self.is_causal, self.scale, self.dropout_p = is_causal, scale, dropout_p

    def forward(self, q: tinytorch.Tensor, k: tinytorch.Tensor, v: tinytorch.Tensor,
                mask: tinytorch.Tensor | None = None) -> tinytorch.Tensor:
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=self.is_causal, scale=self.scale,
            dropout_p=self.dropout_p if self.training else 0.0)


QKV_AXES = {"q": {0: "n", 2: "l"}, "k": {0: "n", 2: "s"}, "v": {0: "n", 2: "s"},
            "out": {0: "n", 2: "l"}}


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("reference", [False, True], ids=["kernel", "reference"])
def test_causal_attention_builds_its_mask_for_every_runtime_length(tmp_path, opset, reference):
    rng = _rng()
    cases = [tuple(_floats(rng, n, 2, length, 8) for length in (l, s, s))
             for n, l, s in [(2, 6, 6), (1, 1, 1), (3, 11, 11), (2, 3, 7), (1, 5, 2)]]
    with tinytorch.use_reference_kernels(reference):
        proto = _roundtrip(Attend(is_causal=True), cases, tmp_path, opset,
                           inputs=["q", "k", "v"], outputs=["out"], dynamic=QKV_AXES)
    assert all(len(i.dims) <= 1 for i in proto.graph.initializer)   # no (L, S) constant
    assert "Range" in {n.op_type for n in proto.graph.node}


@pytest.mark.parametrize("opset", OPSETS)
def test_bool_mask_input_keeps_true_positions_and_zeroes_fully_masked_rows(tmp_path, opset):
    rng = _rng()

    def case(n: int, l: int, s: int) -> tuple[Any, ...]:
        mask = rng.random((n, 1, l, s)) > 0.4
        mask[0, 0, 0, :] = False                       # a query that may see no key at all
        q, k, v = (_floats(rng, n, 3, length, 4) for length in (l, s, s))
        return q, k, v, tinytorch.tensor(mask)

    axes = dict(QKV_AXES, mask={0: "n", 2: "l", 3: "s"})
    _roundtrip(Attend(), [case(2, 5, 6), case(1, 3, 9), case(4, 7, 2)], tmp_path, opset,
               inputs=["q", "k", "v", "mask"], outputs=["out"], dynamic=axes)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("reference", [False, True], ids=["kernel", "reference"])
def test_float_mask_is_added_and_explicit_scale_is_kept(tmp_path, opset, reference):
    rng = _rng()
    cases = [(*(_floats(rng, n, 2, length, 8) for length in (l, s, s)), _floats(rng, l, s))
             for n, l, s in [(2, 4, 5), (3, 6, 3)]]
    axes = dict(QKV_AXES, mask={0: "l", 1: "s"})
    with tinytorch.use_reference_kernels(reference):
        _roundtrip(Attend(scale=0.7), cases, tmp_path, opset,
                   inputs=["q", "k", "v", "mask"], outputs=["out"], dynamic=axes)


@pytest.mark.parametrize("opset", OPSETS)
def test_attention_dropout_exports_as_the_identity_and_training_mode_comes_back(tmp_path,
                                                                               opset):
    rng = _rng()
    model = Attend(is_causal=True, dropout_p=0.5).train()
    cases = [tuple(_floats(rng, 2, 2, 5, 4) for _ in range(3))]
    proto = _roundtrip(model, cases, tmp_path, opset, inputs=["q", "k", "v"],
                       outputs=["out"], dynamic=QKV_AXES)
    assert model.training
    assert not {"Dropout", "RandomUniform", "RandomUniformLike"} & {
        n.op_type for n in proto.graph.node}


class KernelOps(Module):
    """The packed-attention, weights-only and rotary ops called directly, as a custom layer
    may: their cos/sin rows are those of the traced length (8 here)."""

    def __init__(self) -> None:
        super().__init__()
        self.rotary = RotaryEmbedding(8, max_seq_len=8)

    def forward(self, qkv: tinytorch.Tensor, mask: tinytorch.Tensor) -> Any:
        rope = self.rotary.angles_for(qkv.shape[1], 0, qkv.dtype)
        out = PackedSelfAttention.apply(qkv, None, num_heads=1, scale=0.4, is_causal=True,
                                        dropout_p=0.0, rope=rope)               # (N, T, 8)
        rotated = Rotary.apply(out, cos=rope[0], sin=rope[1])
        weights = AttentionWeights.apply(rotated, out, mask, scale=0.5, is_causal=False)
        return out, weights                                                     # (N, T, T)


@pytest.mark.parametrize("opset", OPSETS)
def test_attention_ops_traced_directly_run_at_the_traced_and_shorter_lengths(tmp_path, opset):
    rng = _rng()

    def case(n: int, t: int) -> tuple[Any, ...]:
        return _floats(rng, n, t, 24), tinytorch.tensor(rng.random((t, t)) > 0.3)

    _roundtrip(KernelOps(), [case(2, 8), case(1, 3), case(3, 1)], tmp_path, opset,
               inputs=["qkv", "mask"], outputs=["out", "weights"],
               dynamic={"qkv": {0: "n", 1: "t"}, "mask": {0: "t", 1: "s"},
                        "out": {0: "n", 1: "t"}, "weights": {0: "n", 1: "t", 2: "s"}})


# ----------------------------------------------------------- MultiheadAttention
class SelfAttention(Module):
    """``mha(x, x, x)``, with the masks as graph inputs."""

    def __init__(self, mha: MultiheadAttention, *, is_causal: bool = False,
                 need_weights: bool = False, average: bool = True) -> None:
        super().__init__()
        self.mha, self.is_causal = mha, is_causal
        self.need_weights, self.average = need_weights, average

    def forward(self, x: tinytorch.Tensor, key_padding_mask: tinytorch.Tensor | None = None,
                attn_mask: tinytorch.Tensor | None = None) -> Any:
        return self.mha(x, x, x, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                        need_weights=self.need_weights, is_causal=self.is_causal,
                        average_attn_weights=self.average)


class CrossAttention(Module):
    def __init__(self, mha: MultiheadAttention) -> None:
        super().__init__()
        self.mha = mha

    def forward(self, q: tinytorch.Tensor, k: tinytorch.Tensor, v: tinytorch.Tensor,
                key_padding_mask: tinytorch.Tensor) -> Any:
        return self.mha(q, k, v, key_padding_mask=key_padding_mask)


def _seq(rng: np.random.Generator, batch_first: bool, n: int, length: int,
         width: int) -> tinytorch.Tensor:
    return _floats(rng, n, length, width) if batch_first else _floats(rng, length, n, width)


def _seq_axes(batch_first: bool, length: str = "l") -> dict[int, str]:
    return {0: "n", 1: length} if batch_first else {0: length, 1: "n"}


def _padding(rng: np.random.Generator, n: int, s: int) -> tinytorch.Tensor:
    mask = rng.random((n, s)) > 0.6
    mask[:, 0] = False                                 # every sequence keeps a key
    return tinytorch.tensor(mask)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "seq_first"])
@pytest.mark.parametrize("reference", [False, True], ids=["packed", "composed"])
def test_causal_self_attention_with_a_key_padding_mask_input(tmp_path, opset, batch_first,
                                                             reference):
    rng = _rng()
    mha = _randomize(MultiheadAttention(16, 4, batch_first=batch_first), rng)
    cases = [(_seq(rng, batch_first, n, s, 16), _padding(rng, n, s))
             for n, s in [(2, 5), (1, 1), (3, 9)]]
    axes = {"x": _seq_axes(batch_first), "kpm": {0: "n", 1: "l"},
            "out": _seq_axes(batch_first)}
    with tinytorch.use_reference_kernels(reference):
        _roundtrip(SelfAttention(mha, is_causal=True), cases, tmp_path, opset,
                   inputs=["x", "kpm"], outputs=["out"], dynamic=axes)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("average", [True, False], ids=["averaged", "per_head"])
def test_attention_weights_are_a_second_output(tmp_path, opset, average):
    rng = _rng()
    mha = _randomize(MultiheadAttention(12, 3, batch_first=False), rng)
    cases = [(_seq(rng, False, n, s, 12),) for n, s in [(2, 4), (1, 7)]]
    weights = {0: "n", 1: "l", 2: "s"} if average else {0: "n", 2: "l", 3: "s"}
    axes = {"x": _seq_axes(False), "out": _seq_axes(False), "weights": weights}
    _roundtrip(SelfAttention(mha, need_weights=True, average=average), cases, tmp_path, opset,
               inputs=["x"], outputs=["out", "weights"], dynamic=axes)


@pytest.mark.parametrize("opset", OPSETS)
def test_attn_masks_bool_2d_and_float_per_head(tmp_path, opset):
    rng = _rng()
    mha = _randomize(MultiheadAttention(8, 2, batch_first=True), rng)
    x = _floats(rng, 3, 5, 8)
    blocked = rng.random((5, 5)) > 0.5
    np.fill_diagonal(blocked, False)
    _roundtrip(SelfAttention(mha), [(x, None, tinytorch.tensor(blocked))], tmp_path, opset,
               inputs=["x", "attn_mask"], outputs=["out"],
               dynamic={"x": {0: "n", 1: "l"}, "attn_mask": {0: "l", 1: "s"}})
    per_head = _floats(rng, 3 * 2, 5, 5)
    _roundtrip(SelfAttention(mha), [(x, None, per_head)], tmp_path, opset,
               inputs=["x", "attn_mask"], outputs=["out"], dynamic={})


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "seq_first"])
def test_cross_attention_with_kdim_vdim_bias_kv_and_zero_attn(tmp_path, opset, batch_first):
    rng = _rng()
    mha = _randomize(MultiheadAttention(16, 4, kdim=6, vdim=10, add_bias_kv=True,
                                        add_zero_attn=True, batch_first=batch_first), rng)

    def case(n: int, l: int, s: int) -> tuple[Any, ...]:
        padding = (rng.random((n, s)) > 0.5).astype(np.float32) * -2.0   # a float mask
        return (_seq(rng, batch_first, n, l, 16), _seq(rng, batch_first, n, s, 6),
                _seq(rng, batch_first, n, s, 10), tinytorch.tensor(padding))

    axes = {"q": _seq_axes(batch_first), "k": _seq_axes(batch_first, "s"),
            "v": _seq_axes(batch_first, "s"), "kpm": {0: "n", 1: "s"},
            "out": _seq_axes(batch_first), "weights": {0: "n", 1: "l", 2: "s1"}}
    _roundtrip(CrossAttention(mha), [case(2, 5, 7), case(3, 1, 4)], tmp_path, opset,
               inputs=["q", "k", "v", "kpm"], outputs=["out", "weights"], dynamic=axes)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("reference", [False, True], ids=["packed", "composed"])
def test_rotary_self_attention_slices_its_tables_to_the_runtime_length(tmp_path, opset,
                                                                       reference):
    rng = _rng()
    mha = _randomize(MultiheadAttention(16, 2, batch_first=True,
                                        rotary=RotaryEmbedding(8, max_seq_len=12)), rng)
    cases = [(_floats(rng, n, s, 16),) for n, s in [(2, 5), (1, 12), (3, 1)]]
    with tinytorch.use_reference_kernels(reference):
        _roundtrip(SelfAttention(mha, is_causal=True), cases, tmp_path, opset, inputs=["x"],
                   outputs=["out"], dynamic={"x": {0: "n", 1: "l"}, "out": {0: "n", 1: "l"}})


@pytest.mark.parametrize("opset", OPSETS)
def test_unbatched_attention_with_weights(tmp_path, opset):
    rng = _rng()
    mha = _randomize(MultiheadAttention(8, 2), rng)
    cases = [(_floats(rng, s, 8), tinytorch.tensor(np.arange(s) >= s - 1 if s > 1
                                                   else np.zeros(1, bool)))
             for s in (6, 1, 3)]
    _roundtrip(SelfAttention(mha, need_weights=True), cases, tmp_path, opset,
               inputs=["x", "kpm"], outputs=["out", "weights"],
               dynamic={"x": {0: "l"}, "kpm": {0: "l"}, "out": {0: "l"},
                        "weights": {0: "l", 1: "s"}})


# ----------------------------------------------------------- positions
class Positioned(Module):
    def __init__(self, encoding: Module, offset: int = 0) -> None:
        super().__init__()
        self.encoding, self.offset = encoding, offset

    def forward(self, x: tinytorch.Tensor) -> tinytorch.Tensor:
        return self.encoding(x, offset=self.offset)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("encoding", ["learned", "sinusoidal", "rotary"])
@pytest.mark.parametrize("offset", [0, 3])
def test_position_tables_are_sliced_by_the_runtime_length(tmp_path, opset, encoding, offset):
    rng = _rng()
    modules = {"learned": lambda: LearnedPositionalEmbedding(16, 8),
               "sinusoidal": lambda: SinusoidalPositionalEncoding(8, max_len=16),
               "rotary": lambda: RotaryEmbedding(8, max_seq_len=16)}
    model = Positioned(modules[encoding](), offset)
    rank = 4 if encoding == "rotary" else 3
    cases = [(_floats(rng, *((n, 2) if rank == 4 else (n,)), t, 8),)
             for n, t in [(2, 5), (1, 16 - offset), (3, 1)]]
    axes = {0: "n", rank - 2: "t"}
    proto = _roundtrip(model, cases, tmp_path, opset, inputs=["x"], outputs=["y"],
                       dynamic={"x": axes, "y": axes})
    assert max(d for i in proto.graph.initializer for d in list(i.dims) or [0]) == 16


# ----------------------------------------------------------- transformer layers
class Block(Module):
    def __init__(self, block: Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: tinytorch.Tensor, key_padding_mask: tinytorch.Tensor) -> Any:
        return self.block(x, key_padding_mask=key_padding_mask)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidirectional"])
@pytest.mark.parametrize("rotary", [False, True], ids=["plain", "rotary"])
def test_transformer_block_with_a_padding_input_runs_at_every_length(tmp_path, opset, causal,
                                                                      rotary):
    rng = _rng()
    block = _randomize(TransformerBlock(16, 4, causal=causal,
                                        rotary=RotaryEmbedding(4, 10) if rotary else None),
                       rng, 0.2)
    cases = [(_floats(rng, n, t, 16), _padding(rng, n, t)) for n, t in [(2, 6), (1, 1), (3, 10)]]
    _roundtrip(Block(block), cases, tmp_path, opset, inputs=["x", "kpm"], outputs=["y"],
               dynamic={"x": {0: "n", 1: "t"}, "kpm": {0: "n", 1: "t"},
                        "y": {0: "n", 1: "t"}})


class EncoderLayer(Module):
    def __init__(self, layer: TransformerEncoderLayer) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, src: tinytorch.Tensor, padding: tinytorch.Tensor) -> tinytorch.Tensor:
        return self.layer(src, src_key_padding_mask=padding)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "seq_first"])
def test_encoder_layer_post_and_pre_norm_in_both_layouts(tmp_path, opset, norm_first, batch_first):
    rng = _rng()
    layer = _randomize(TransformerEncoderLayer(16, 2, dim_feedforward=24, activation="gelu",
                                               norm_first=norm_first, batch_first=batch_first),
                       rng, 0.2)
    cases = [(_seq(rng, batch_first, n, s, 16), _padding(rng, n, s))
             for n, s in [(2, 5), (1, 8), (3, 2)]]
    axes = _seq_axes(batch_first, "s")
    _roundtrip(EncoderLayer(layer), cases, tmp_path, opset, inputs=["src", "kpm"], outputs=["y"],
               dynamic={"src": axes, "kpm": {0: "n", 1: "s"}, "y": axes})


class Encoder(Module):
    def __init__(self, encoder: TransformerEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, src: tinytorch.Tensor, padding: tinytorch.Tensor) -> tinytorch.Tensor:
        return self.encoder(src, src_key_padding_mask=padding, is_causal=True)


@pytest.mark.parametrize("opset", OPSETS)
def test_causal_transformer_encoder_stack_with_final_norm(tmp_path, opset):
    rng = _rng()
    layer = TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)
    encoder = _randomize(TransformerEncoder(layer, 3, norm=LayerNorm(8)), rng, 0.2)
    cases = [(_floats(rng, n, s, 8), _padding(rng, n, s)) for n, s in [(2, 7), (1, 3)]]
    _roundtrip(Encoder(encoder), cases, tmp_path, opset, inputs=["src", "padding"],
               outputs=["y"], dynamic={"src": {0: "n", 1: "s"}, "padding": {0: "n", 1: "s"},
                                       "y": {0: "n", 1: "s"}})


# ----------------------------------------------------------- GPT
GPT_CONFIGS = {
    "nano": gpt_nano(),
    "nano_rotary_untied": GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2,
                                    n_embd=32, rotary=True, tie_weights=False, bias=False),
    "char_small": gpt_char_small(),
    "char_medium": gpt_char_medium(),       # dropout 0.2: the identity in the exported file
}


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("preset", list(GPT_CONFIGS))
def test_gpt_forward_with_dynamic_batch_and_sequence_length(tmp_path, opset, preset):
    config = GPT_CONFIGS[preset]
    tinytorch.manual_seed(0)
    model = GPT(config)
    rng = _rng()
    block = config.block_size

    def ids(n: int, t: int) -> tuple[tinytorch.Tensor]:
        return (tinytorch.tensor(rng.integers(0, config.vocab_size, (n, t), dtype=np.int64)),)

    cases = [ids(2, block // 2), ids(1, 1), ids(3, block), ids(2, 3)]
    axes = {0: "batch", 1: "sequence"}
    proto = _roundtrip(model, cases, tmp_path, opset, inputs=["idx"], outputs=["logits"],
                       dynamic={"idx": axes, "logits": axes})
    assert [o.name for o in proto.graph.output] == ["logits"]
    assert not any(list(i.dims) == [block // 2, block // 2] for i in proto.graph.initializer)
