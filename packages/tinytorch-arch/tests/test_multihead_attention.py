"""MultiheadAttention: PyTorch's parameter names, layouts and masks, against an einsum reference."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.multihead_attention import MultiheadAttention
from tinytorch.arch.positional import RotaryEmbedding


def reference_mha(mha, q, k, v, mask=None, is_causal=False):
    """Batch-first ``(N, L, E)`` arrays -> (output, per-head weights), written with einsum.

    ``mask`` is an additive float array broadcasting to ``(N, H, L, S)``.
    """
    e, h = mha.embed_dim, mha.num_heads
    d = e // h
    w = mha.in_proj_weight.array
    b = mha.in_proj_bias.array if mha.in_proj_bias is not None else np.zeros(3 * e)
    heads = []
    for x, i in ((q, 0), (k, 1), (v, 2)):
        proj = x @ w[i * e:(i + 1) * e].T + b[i * e:(i + 1) * e]
        heads.append(proj.reshape(x.shape[0], x.shape[1], h, d))
    scores = np.einsum("nlhd,nshd->nhls", heads[0], heads[1]) / np.sqrt(d)
    if mask is not None:
        scores = scores + mask
    if is_causal:
        scores = scores + np.triu(np.full(scores.shape[-2:], -np.inf), 1)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    out = np.einsum("nhls,nshd->nlhd", weights, heads[2]).reshape(q.shape[0], q.shape[1], e)
    out = out @ mha.out_proj.weight.array.T
    if mha.out_proj.bias is not None:
        out = out + mha.out_proj.bias.array
    return out, weights


def make(embed_dim=8, num_heads=2, **kwargs):
    tinytorch.manual_seed(0)
    mha = MultiheadAttention(embed_dim, num_heads, dtype=tinytorch.float64, **kwargs)
    rng = np.random.default_rng(0)
    if mha.in_proj_bias is not None:  # PyTorch starts biases at zero; make them matter
        mha.in_proj_bias.array[...] = rng.standard_normal(3 * embed_dim)
        mha.out_proj.bias.array[...] = rng.standard_normal(embed_dim)
    return mha


def test_parameter_names_and_shapes_are_pytorchs():
    mha = MultiheadAttention(16, 4)
    shapes = {n: tuple(p.shape) for n, p in mha.named_parameters()}
    assert shapes == {"in_proj_weight": (48, 16), "in_proj_bias": (48,),
                      "out_proj.weight": (16, 16), "out_proj.bias": (16,)}
    assert mha.batch_first is False  # PyTorch's default
    no_bias = {n for n, _ in MultiheadAttention(16, 4, bias=False).named_parameters()}
    assert no_bias == {"in_proj_weight", "out_proj.weight"}
    separate = {n: tuple(p.shape) for n, p in
                MultiheadAttention(16, 4, kdim=6, vdim=5).named_parameters()}
    assert separate["q_proj_weight"] == (16, 16) and separate["k_proj_weight"] == (16, 6)
    assert separate["v_proj_weight"] == (16, 5) and "in_proj_weight" not in separate


@pytest.mark.parametrize("need_weights", [False, True])
def test_self_attention_matches_reference(need_weights):
    mha = make()
    x = tinytorch.tensor(np.random.default_rng(1).standard_normal((5, 3, 8)))  # (L, N, E)
    out, weights = mha(x, x, x, need_weights=need_weights)
    ref, ref_w = reference_mha(mha, *(np.swapaxes(x.array, 0, 1),) * 3)
    np.testing.assert_allclose(out.array, np.swapaxes(ref, 0, 1), atol=1e-12)
    if need_weights:
        np.testing.assert_allclose(weights.array, ref_w.mean(axis=1), atol=1e-12)
    else:
        assert weights is None


def test_batch_first_and_sequence_first_agree():
    seq_first, batch_first = make(), make(batch_first=True)
    x = np.random.default_rng(2).standard_normal((3, 5, 8))  # (N, L, E)
    a, _ = batch_first(*(tinytorch.tensor(x),) * 3)
    xs = tinytorch.tensor(np.swapaxes(x, 0, 1))
    b, _ = seq_first(xs, xs, xs)
    np.testing.assert_allclose(a.array, np.swapaxes(b.array, 0, 1), atol=1e-12)


def test_cross_attention_with_kdim_vdim_and_per_head_weights():
    mha = make(kdim=6, vdim=4, batch_first=True)
    rng = np.random.default_rng(3)
    q = tinytorch.tensor(rng.standard_normal((2, 3, 8)))
    k = tinytorch.tensor(rng.standard_normal((2, 5, 6)))
    v = tinytorch.tensor(rng.standard_normal((2, 5, 4)))
    out, w = mha(q, k, v, average_attn_weights=False)
    assert out.shape == (2, 3, 8) and w.shape == (2, 2, 3, 5)
    e = 8
    b = mha.in_proj_bias.array
    qh = (q.array @ mha.q_proj_weight.array.T + b[:e]).reshape(2, 3, 2, 4)
    kh = (k.array @ mha.k_proj_weight.array.T + b[e:2 * e]).reshape(2, 5, 2, 4)
    vh = (v.array @ mha.v_proj_weight.array.T + b[2 * e:]).reshape(2, 5, 2, 4)
    s = np.einsum("nlhd,nshd->nhls", qh, kh) / 2.0
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    ref = np.einsum("nhls,nshd->nlhd", p, vh).reshape(2, 3, 8)
    ref = ref @ mha.out_proj.weight.array.T + mha.out_proj.bias.array
    np.testing.assert_allclose(out.array, ref, atol=1e-12)
    np.testing.assert_allclose(w.array, p, atol=1e-12)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_attn_mask_and_key_padding_mask(kind):
    mha = make(batch_first=True)
    rng = np.random.default_rng(4)
    x = tinytorch.tensor(rng.standard_normal((2, 4, 8)))
    blocked = rng.random((4, 4)) > 0.6          # True = may NOT attend (PyTorch's MHA rule)
    blocked[:, 0] = False
    padding = np.array([[False, False, False, True], [False, False, True, True]])
    if kind == "bool":
        attn_mask, kpm = blocked, padding
    else:
        attn_mask = np.where(blocked, -np.inf, 0.0)
        kpm = np.where(padding, -np.inf, 0.0)
    for need_weights in (False, True):
        out, _ = mha(x, x, x, attn_mask=tinytorch.tensor(attn_mask),
                     key_padding_mask=tinytorch.tensor(kpm), need_weights=need_weights)
        add = np.where(blocked, -np.inf, 0.0)[None, None] + \
            np.where(padding, -np.inf, 0.0)[:, None, None, :]
        ref, _ = reference_mha(mha, x.array, x.array, x.array, mask=add)
        np.testing.assert_allclose(out.array, ref, atol=1e-12)


def test_three_dimensional_attn_mask_is_per_batch_and_head():
    mha = make(batch_first=True)
    rng = np.random.default_rng(5)
    x = tinytorch.tensor(rng.standard_normal((2, 3, 8)))
    mask = rng.standard_normal((2 * 2, 3, 3))  # (N * H, L, S)
    out, _ = mha(x, x, x, attn_mask=tinytorch.tensor(mask), need_weights=False)
    ref, _ = reference_mha(mha, x.array, x.array, x.array, mask=mask.reshape(2, 2, 3, 3))
    np.testing.assert_allclose(out.array, ref, atol=1e-12)


def test_is_causal_without_a_mask_and_future_tokens_do_not_leak():
    mha = make(batch_first=True)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 6, 8))
    out, _ = mha(*(tinytorch.tensor(x),) * 3, need_weights=False, is_causal=True)
    ref, _ = reference_mha(mha, x, x, x, is_causal=True)
    np.testing.assert_allclose(out.array, ref, atol=1e-12)
    x2 = x.copy()
    x2[:, 4:] += 10.0
    out2, _ = mha(*(tinytorch.tensor(x2),) * 3, need_weights=False, is_causal=True)
    np.testing.assert_allclose(out2.array[:, :4], out.array[:, :4], atol=1e-12)
    assert not np.allclose(out2.array[:, 4:], out.array[:, 4:])


def test_unbatched_input():
    mha = make()
    rng = np.random.default_rng(7)
    x = tinytorch.tensor(rng.standard_normal((4, 8)))
    out, w = mha(x, x, x, key_padding_mask=tinytorch.tensor(np.array([0, 0, 0, 1], bool)))
    assert out.shape == (4, 8) and w.shape == (4, 4)
    ref, ref_w = reference_mha(mha, *(x.array[None],) * 3,
                               mask=np.array([0, 0, 0, -np.inf])[None, None, None])
    np.testing.assert_allclose(out.array, ref[0], atol=1e-12)
    np.testing.assert_allclose(w.array, ref_w.mean(1)[0], atol=1e-12)


@pytest.mark.parametrize("path", ["packed", "general"])
def test_gradcheck(path):
    mha = make(embed_dim=4, num_heads=2, batch_first=True)
    rng = np.random.default_rng(8)
    x = tinytorch.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    need = path == "general"
    assert tinytorch.gradcheck(
        lambda x: mha(x, x, x, need_weights=need, is_causal=True)[0], (x,))
    # the parameter is perturbed in place, so the function can ignore its argument
    assert tinytorch.gradcheck(lambda _: mha(x, x, x, need_weights=need)[0],
                               (mha.in_proj_weight,))


def test_gradcheck_cross_attention_with_bias_kv_and_zero_attn():
    mha = make(embed_dim=4, num_heads=2, batch_first=True, add_bias_kv=True, add_zero_attn=True)
    rng = np.random.default_rng(9)
    q = tinytorch.tensor(rng.standard_normal((2, 2, 4)), requires_grad=True)
    kv = tinytorch.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    kpm = tinytorch.tensor(np.array([[0, 0, 1], [0, 0, 0]], bool))
    assert tinytorch.gradcheck(lambda a, b: mha(a, b, b, key_padding_mask=kpm)[0], (q, kv))


def test_rotary_packed_and_general_paths_agree_and_depend_on_relative_position():
    tinytorch.manual_seed(0)
    mha = MultiheadAttention(8, 2, batch_first=True, dtype=tinytorch.float64,
                             rotary=RotaryEmbedding(4))
    x = tinytorch.tensor(np.random.default_rng(10).standard_normal((2, 5, 8)),
                         requires_grad=True)
    fast, _ = mha(x, x, x, need_weights=False, is_causal=True)
    slow, _ = mha(x, x, x, need_weights=True, is_causal=True)
    np.testing.assert_allclose(fast.array, slow.array, atol=1e-12)
    plain, _ = MultiheadAttention(8, 2, batch_first=True, dtype=tinytorch.float64)(x, x, x)
    assert not np.allclose(fast.array, plain.array)
    assert tinytorch.gradcheck(lambda t: mha(t, t, t, need_weights=False, is_causal=True)[0],
                               (x,))


def test_dropout_only_in_training_and_reproducible():
    tinytorch.manual_seed(0)
    mha = MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
    x = tinytorch.randn(2, 6, 8)
    tinytorch.manual_seed(1)
    a, _ = mha(x, x, x, need_weights=False)
    tinytorch.manual_seed(1)
    b, _ = mha(x, x, x, need_weights=False)
    np.testing.assert_array_equal(a.array, b.array)
    mha.eval()
    c, _ = mha(x, x, x, need_weights=False)
    d, _ = mha(x, x, x, need_weights=True)
    np.testing.assert_allclose(c.array, d.array, atol=1e-6)
    assert not np.allclose(a.array, c.array)


def test_state_dict_round_trip_gives_identical_outputs():
    src = make(batch_first=True)
    dst = MultiheadAttention(8, 2, batch_first=True, dtype=tinytorch.float64)
    dst.load_state_dict(src.state_dict())
    x = tinytorch.tensor(np.random.default_rng(11).standard_normal((2, 4, 8)))
    np.testing.assert_array_equal(src(x, x, x)[0].array, dst(x, x, x)[0].array)


def test_errors():
    with pytest.raises(AssertionError, match="divisible"):
        MultiheadAttention(10, 3)
    mha = MultiheadAttention(8, 2, batch_first=True)
    x = tinytorch.randn(2, 3, 8)
    with pytest.raises(AssertionError, match="embedding dimension of 8"):
        mha(tinytorch.randn(2, 3, 6), x, x)
    with pytest.raises(AssertionError, match="key_padding_mask"):
        mha(x, x, x, key_padding_mask=tinytorch.zeros(2, 5, dtype=tinytorch.bool))
    with pytest.raises(RuntimeError, match="attn_mask"):
        mha(x, x, x, attn_mask=tinytorch.zeros(4, 4, dtype=tinytorch.bool))
    with pytest.raises(ValueError, match="head_dim"):
        MultiheadAttention(8, 2, rotary=RotaryEmbedding(8))


@pytest.mark.parametrize("options", [
    {}, {"batch_first": True}, {"kdim": 6, "vdim": 5}, {"bias": False},
    {"add_bias_kv": True, "add_zero_attn": True},
])
def test_torch_state_dict_loads_and_gives_the_same_outputs(options):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(8, 2, **options)
    ours = MultiheadAttention(8, 2, **options)
    ours.load_state_dict({n: tinytorch.tensor(t.detach().numpy())
                          for n, t in theirs.state_dict().items()})
    rng = np.random.default_rng(12)
    bf = options.get("batch_first", False)
    n, l, s = 3, 4, 5
    q = rng.standard_normal((n, l, 8) if bf else (l, n, 8)).astype(np.float32)
    k = rng.standard_normal((n, s, options.get("kdim", 8)) if bf
                            else (s, n, options.get("kdim", 8))).astype(np.float32)
    v = rng.standard_normal((n, s, options.get("vdim", 8)) if bf
                            else (s, n, options.get("vdim", 8))).astype(np.float32)
    kpm = np.zeros((n, s), np.float32)
    kpm[0, -2:] = -np.inf
    mask = rng.standard_normal((l, s)).astype(np.float32)
    for kwargs in ({}, {"key_padding_mask": kpm, "attn_mask": mask},
                   {"need_weights": False}, {"average_attn_weights": False}):
        out, w = ours(*(tinytorch.tensor(a) for a in (q, k, v)),
                      **{a: (tinytorch.tensor(b) if isinstance(b, np.ndarray) else b)
                         for a, b in kwargs.items()})
        ref, ref_w = theirs(*(torch.tensor(a) for a in (q, k, v)),
                            **{a: (torch.tensor(b) if isinstance(b, np.ndarray) else b)
                               for a, b in kwargs.items()})
        np.testing.assert_allclose(out.array, ref.detach().numpy(), atol=1e-5)
        if ref_w is None:
            assert w is None
        else:
            np.testing.assert_allclose(w.array, ref_w.detach().numpy(), atol=1e-5)
    if "kdim" not in options:  # self-attention: PyTorch's and our packed fast paths
        x = torch.tensor(q)
        a, _ = theirs(x, x, x, need_weights=False)
        b, _ = ours(*(tinytorch.tensor(q),) * 3, need_weights=False)
        np.testing.assert_allclose(b.array, a.detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
def test_empty_sequences_give_empty_or_zero_outputs(need_weights, reference):
    mha = MultiheadAttention(4, 2, batch_first=True)
    empty, x = tinytorch.randn(2, 0, 4), tinytorch.randn(2, 3, 4)
    with tinytorch.use_reference_kernels(reference):
        out, weights = mha(empty, empty, empty, need_weights=need_weights)
        assert out.shape == (2, 0, 4)
        assert weights is None or weights.shape == (2, 0, 0)
        out, weights = mha(x, empty, empty, need_weights=need_weights)   # no keys
    assert out.shape == (2, 3, 4)
    assert weights is None or weights.shape == (2, 3, 0)
    np.testing.assert_allclose(out.detach().numpy(), np.broadcast_to(
        mha.out_proj.bias.detach().numpy(), (2, 3, 4)))
