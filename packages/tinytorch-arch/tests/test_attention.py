"""scaled_dot_product_attention: values against a loop reference, gradients, masks, dropout."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch
from tinytorch.arch.attention import scaled_dot_product_attention as sdpa


def reference_attention(q, k, v, mask=None, is_causal=False, scale=None):
    """One (query, key) pair at a time: the definition, written out with Python loops."""
    *batch, L, E = q.shape
    S = k.shape[-2]
    scale = 1.0 / math.sqrt(E) if scale is None else scale
    q2, k2, v2 = (a.reshape(-1, *a.shape[-2:]) for a in (q, k, v))
    if mask is None:
        m2 = np.zeros((q2.shape[0], L, S))
    elif mask.dtype == bool:
        m2 = np.where(np.broadcast_to(mask, (*batch, L, S)), 0.0, -np.inf).reshape(-1, L, S)
    else:
        m2 = np.broadcast_to(mask, (*batch, L, S)).reshape(-1, L, S)
    out = np.zeros((q2.shape[0], L, v.shape[-1]))
    for b in range(q2.shape[0]):
        for i in range(L):
            scores = np.array([q2[b, i] @ k2[b, j] * scale + m2[b, i, j] for j in range(S)])
            if is_causal:
                scores[i + 1:] = -np.inf
            if np.all(np.isneginf(scores)):
                continue  # every key masked: the row is zero
            w = np.exp(scores - scores.max())
            w /= w.sum()
            out[b, i] = sum(w[j] * v2[b, j] for j in range(S))
    return out.reshape(*batch, L, v.shape[-1])


def qkv(rng, batch, L, S, E, Ev, dtype=np.float64, requires_grad=False):
    shapes = ((*batch, L, E), (*batch, S, E), (*batch, S, Ev))
    return [tinytorch.tensor(rng.standard_normal(s).astype(dtype), requires_grad=requires_grad)
            for s in shapes]


@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("L,S", [(5, 5), (3, 6), (6, 3)])
def test_matches_loop_reference(is_causal, L, S):
    rng = np.random.default_rng(0)
    q, k, v = qkv(rng, (2, 3), L, S, 4, 5)
    out = sdpa(q, k, v, is_causal=is_causal)
    ref = reference_attention(q.array, k.array, v.array, is_causal=is_causal)
    np.testing.assert_allclose(out.array, ref, atol=1e-12)


def test_bool_mask_true_means_attend():
    rng = np.random.default_rng(1)
    q, k, v = qkv(rng, (2,), 4, 6, 3, 3)
    mask = rng.random((4, 6)) > 0.4
    mask[:, 0] = True
    out = sdpa(q, k, v, attn_mask=tinytorch.tensor(mask))
    np.testing.assert_allclose(out.array, reference_attention(q.array, k.array, v.array, mask),
                               atol=1e-12)


def test_float_mask_is_added_and_broadcasts():
    rng = np.random.default_rng(2)
    q, k, v = qkv(rng, (2, 3), 4, 5, 3, 2)
    mask = rng.standard_normal((3, 1, 5))  # broadcasts over batch and queries
    out = sdpa(q, k, v, attn_mask=tinytorch.tensor(mask))
    np.testing.assert_allclose(out.array, reference_attention(q.array, k.array, v.array, mask),
                               atol=1e-12)


def test_custom_scale():
    rng = np.random.default_rng(3)
    q, k, v = qkv(rng, (2,), 3, 3, 4, 4)
    out = sdpa(q, k, v, scale=0.7)
    np.testing.assert_allclose(out.array, reference_attention(
        q.array, k.array, v.array, scale=0.7), atol=1e-12)


def test_fully_masked_row_gives_zeros_and_zero_gradients():
    rng = np.random.default_rng(4)
    q, k, v = qkv(rng, (1,), 3, 4, 2, 2, requires_grad=True)
    mask = np.ones((3, 4), dtype=bool)
    mask[1] = False
    out = sdpa(q, k, v, attn_mask=tinytorch.tensor(mask))
    assert np.all(out.array[0, 1] == 0) and np.all(np.isfinite(out.array))
    out.sum().backward()
    assert np.all(q.grad.array[0, 1] == 0)
    assert np.all(np.isfinite(k.grad.array)) and np.all(np.isfinite(v.grad.array))


def test_unbatched_two_dimensional_inputs():
    rng = np.random.default_rng(5)
    q, k, v = qkv(rng, (), 4, 4, 3, 3)
    out = sdpa(q, k, v, is_causal=True)
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out.array, reference_attention(q.array, k.array, v.array,
                                                              is_causal=True), atol=1e-12)


def test_float32_stays_float32():
    rng = np.random.default_rng(6)
    q, k, v = qkv(rng, (2,), 3, 3, 4, 4, dtype=np.float32, requires_grad=True)
    out = sdpa(q, k, v, is_causal=True)
    out.sum().backward()
    assert out.dtype == np.float32
    assert q.grad.dtype == k.grad.dtype == v.grad.dtype == np.float32


@pytest.mark.parametrize("options", [
    {}, {"is_causal": True}, {"scale": 0.3}, {"attn_mask": "bool"}, {"attn_mask": "float"},
])
def test_gradcheck(options):
    rng = np.random.default_rng(7)
    q, k, v = qkv(rng, (2, 2), 3, 4, 3, 2, requires_grad=True)
    opts = dict(options)
    if opts.get("attn_mask") == "bool":
        m = rng.random((3, 4)) > 0.3
        m[:, 0] = True
        opts["attn_mask"] = tinytorch.tensor(m)
    elif opts.get("attn_mask") == "float":
        opts["attn_mask"] = tinytorch.tensor(rng.standard_normal((3, 4)))
    assert tinytorch.gradcheck(lambda a, b, c: sdpa(a, b, c, **opts), (q, k, v))


def test_gradcheck_into_float_mask():
    rng = np.random.default_rng(8)
    q, k, v = qkv(rng, (2,), 3, 4, 2, 2, requires_grad=True)
    mask = tinytorch.tensor(rng.standard_normal((1, 3, 4)), requires_grad=True)
    assert tinytorch.gradcheck(lambda a, b, c, m: sdpa(a, b, c, attn_mask=m), (q, k, v, mask))


def test_gradcheck_with_dropout_under_a_fixed_seed():
    rng = np.random.default_rng(9)
    q, k, v = qkv(rng, (2,), 3, 3, 2, 2, requires_grad=True)

    def f(a, b, c):
        tinytorch.manual_seed(123)  # the same dropout mask on every evaluation
        return sdpa(a, b, c, dropout_p=0.4)
    assert tinytorch.gradcheck(f, (q, k, v))


def test_dropout_is_reproducible_under_manual_seed_and_changes_the_output():
    rng = np.random.default_rng(10)
    q, k, v = qkv(rng, (4, 2), 8, 8, 4, 4, dtype=np.float32)
    tinytorch.manual_seed(0)
    a = sdpa(q, k, v, dropout_p=0.5).array
    tinytorch.manual_seed(0)
    b = sdpa(q, k, v, dropout_p=0.5).array
    c = sdpa(q, k, v, dropout_p=0.5).array
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.allclose(a, sdpa(q, k, v).array)


def test_dropout_one_zeroes_the_output():
    rng = np.random.default_rng(11)
    q, k, v = qkv(rng, (2,), 3, 3, 2, 2)
    assert np.all(sdpa(q, k, v, dropout_p=1.0).array == 0)


def test_dropout_keeps_the_expected_value():
    # inverted dropout: E[dropped weights] = weights, so the mean output over many draws
    # approaches the dropout-free output
    rng = np.random.default_rng(12)
    q, k, v = qkv(rng, (), 4, 4, 3, 3)
    v = tinytorch.tensor(np.ones((4, 3)))  # output = row sums of the kept weights
    tinytorch.manual_seed(1)
    outs = np.stack([sdpa(q, k, v, dropout_p=0.3).array for _ in range(400)])
    np.testing.assert_allclose(outs.mean(axis=0), 1.0, atol=0.06)


def test_causal_output_ignores_later_tokens():
    rng = np.random.default_rng(13)
    q, k, v = qkv(rng, (2, 2), 7, 7, 4, 4)
    base = sdpa(q, k, v, is_causal=True).array
    t = 4
    k2, v2 = k.array.copy(), v.array.copy()
    k2[..., t + 1:, :] += rng.standard_normal(k2[..., t + 1:, :].shape) * 5
    v2[..., t + 1:, :] += rng.standard_normal(v2[..., t + 1:, :].shape) * 5
    q2 = q.array.copy()
    q2[..., t + 1:, :] += 3.0
    out = sdpa(*(tinytorch.tensor(a) for a in (q2, k2, v2)), is_causal=True).array
    np.testing.assert_allclose(out[..., :t + 1, :], base[..., :t + 1, :], atol=1e-12)
    assert not np.allclose(out[..., t + 1:, :], base[..., t + 1:, :])


@settings(max_examples=25, deadline=None)
@given(batch=st.lists(st.integers(1, 3), min_size=0, max_size=2), L=st.integers(1, 5),
       S=st.integers(1, 5), E=st.integers(1, 4), Ev=st.integers(1, 4), causal=st.booleans())
def test_shapes_property(batch, L, S, E, Ev, causal):
    rng = np.random.default_rng(14)
    q, k, v = qkv(rng, tuple(batch), L, S, E, Ev)
    out = sdpa(q, k, v, is_causal=causal)
    assert out.shape == (*batch, L, Ev)
    np.testing.assert_allclose(out.array, reference_attention(q.array, k.array, v.array,
                                                              is_causal=causal), atol=1e-12)


def test_errors_name_the_problem():
    rng = np.random.default_rng(15)
    q, k, v = qkv(rng, (2,), 3, 4, 2, 2)
    with pytest.raises(RuntimeError, match="same dtype"):
        sdpa(q, k.float(), v)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        sdpa(q, tinytorch.tensor(np.zeros((2, 4, 3))), v)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        sdpa(q, k, tinytorch.tensor(np.zeros((2, 5, 2))))
    with pytest.raises(RuntimeError, match="is_causal"):
        sdpa(q, k, v, attn_mask=tinytorch.ones(3, 4, dtype=tinytorch.bool), is_causal=True)
    with pytest.raises(RuntimeError, match="attn_mask dtype"):
        sdpa(q, k, v, attn_mask=tinytorch.ones(3, 4, dtype=tinytorch.int64))
    with pytest.raises(RuntimeError, match=r"\(5, 4\)"):
        sdpa(q, k, v, attn_mask=tinytorch.ones(5, 4, dtype=tinytorch.bool))
    with pytest.raises(ValueError, match="dropout probability"):
        sdpa(q, k, v, dropout_p=1.5)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(16)
    q, k, v = qkv(rng, (2, 3), 5, 6, 4, 3, dtype=np.float32, requires_grad=True)
    mask = rng.standard_normal((5, 6)).astype(np.float32)
    g = rng.standard_normal((2, 3, 5, 3)).astype(np.float32)
    for kwargs in ({"is_causal": True}, {"attn_mask": mask}, {"attn_mask": mask > 0.5},
                   {"scale": 0.25}):
        for t in (q, k, v):
            t.grad = None
        ours_kwargs = {n: (tinytorch.tensor(a) if n == "attn_mask" else a)
                       for n, a in kwargs.items()}
        theirs_kwargs = {n: (torch.tensor(a) if n == "attn_mask" else a)
                         for n, a in kwargs.items()}
        if "attn_mask" in kwargs and kwargs["attn_mask"].dtype == bool:
            ours_kwargs["attn_mask"].array[:, 0] = True
            theirs_kwargs["attn_mask"][:, 0] = True
        out = sdpa(q, k, v, **ours_kwargs)
        out.backward(tinytorch.tensor(g))
        tq, tk, tv = (torch.tensor(t.array, requires_grad=True) for t in (q, k, v))
        ref = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **theirs_kwargs)
        ref.backward(torch.tensor(g))
        np.testing.assert_allclose(out.array, ref.detach().numpy(), atol=1e-5)
        for ours, theirs in ((q, tq), (k, tk), (v, tv)):
            np.testing.assert_allclose(ours.grad.array, theirs.grad.numpy(), atol=1e-5)


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("L, S", [(0, 3), (3, 0), (0, 0)])
def test_empty_sequences_give_empty_or_zero_results_like_torch(L, S, is_causal, reference):
    # torch: no queries -> an empty (..., 0, Ev) output; no keys -> zeros; gradients likewise
    rng = np.random.default_rng(17)
    q, k, v = qkv(rng, (2, 3), L, S, 4, 5, requires_grad=True)
    with tinytorch.use_reference_kernels(reference):
        out = sdpa(q, k, v, is_causal=is_causal)
        out.backward(tinytorch.ones(*out.shape, dtype=out.dtype))
    assert out.shape == (2, 3, L, 5)
    np.testing.assert_array_equal(out.detach().numpy(), 0.0)
    for t in (q, k, v):
        assert t.grad.shape == t.shape
        np.testing.assert_array_equal(t.grad.numpy(), 0.0)


def test_empty_sequences_match_torch():
    torch = pytest.importorskip("torch")
    for L, S in ((0, 3), (3, 0)):
        arrays = [np.ones((2, L, 4)), np.ones((2, S, 4)), np.ones((2, S, 5))]
        ours = sdpa(*(tinytorch.tensor(a) for a in arrays)).numpy()
        theirs = torch.nn.functional.scaled_dot_product_attention(
            *(torch.tensor(a) for a in arrays)).numpy()
        assert ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)
