"""KV-cached generation: the same tokens and logits as plain recomputation, in every case."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch
from tinytorch.arch import transformer
from tinytorch.arch._kernels import decode
from tinytorch.arch.gpt import GPT, GPTConfig, gpt_nano
from tinytorch.arch.kv_cache import KVCache
from tinytorch.arch.multihead_attention import MultiheadAttention
from tinytorch.arch.positional import RotaryEmbedding
from tinytorch.arch.transformer import TransformerBlock


def model(config: GPTConfig, double: bool = False, seed: int = 0) -> GPT:
    tinytorch.manual_seed(seed)
    m = GPT(config)
    m.eval()
    return m.double() if double else m


def prompt(n: int, t: int, vocab: int = 65, seed: int = 0) -> tinytorch.Tensor:
    return tinytorch.tensor(np.random.default_rng(seed).integers(0, vocab, (n, t)))


def recomputed_logits(m: GPT, seq: np.ndarray) -> np.ndarray:
    """The next-token logits (N, V) by a full forward on the last block_size tokens."""
    logits, _ = m(tinytorch.tensor(seq[:, -m.config.block_size:]))
    return logits.array[:, -1]


def test_greedy_tokens_match_recomputation_within_the_context():
    m = model(gpt_nano())
    p = prompt(2, 4)
    cached = m.generate(p, 10, top_k=1)
    plain = m.generate(p, 10, top_k=1, use_cache=False)
    np.testing.assert_array_equal(cached.array, plain.array)


def test_greedy_tokens_match_recomputation_past_the_context():
    m = model(gpt_nano())                              # block_size 16
    p = prompt(3, 5)
    cached = m.generate(p, 40, top_k=1)
    plain = m.generate(p, 40, top_k=1, use_cache=False)
    assert cached.shape == (3, 45)
    np.testing.assert_array_equal(cached.array, plain.array)


def test_a_prompt_longer_than_the_context_is_cropped_the_same_way():
    m = model(gpt_nano(), double=True)
    p = prompt(2, 23)
    np.testing.assert_array_equal(m.generate(p, 6, top_k=1).array,
                                  m.generate(p, 6, top_k=1, use_cache=False).array)


@pytest.mark.parametrize("rotary", [False, True])
@pytest.mark.parametrize("reference", [False, True])
def test_logits_agree_with_a_full_recompute_at_every_step(rotary, reference):
    m = model(dataclasses.replace(gpt_nano(), rotary=rotary))
    seq = prompt(3, 4).array
    cache = m.new_cache(3)
    with tinytorch.use_reference_kernels(reference):
        for _ in range(30):                            # 4 + 30 tokens cross block_size 16
            got = m.next_token_logits(tinytorch.tensor(seq), cache).array
            np.testing.assert_allclose(got, recomputed_logits(m, seq), rtol=0, atol=1e-5)
            seq = np.concatenate([seq, got.argmax(-1)[:, None]], axis=1)


@settings(deadline=None, max_examples=8)
@given(n_layer=st.integers(1, 3), n_head=st.sampled_from([1, 2, 4]),
       head_dim=st.sampled_from([2, 4, 8]), block_size=st.integers(2, 12),
       batch=st.integers(1, 3), prompt_len=st.integers(1, 14), new=st.integers(1, 20),
       rotary=st.booleans(), bias=st.booleans())
def test_cached_and_plain_decoding_agree_over_small_configs(n_layer, n_head, head_dim,
                                                             block_size, batch, prompt_len,
                                                             new, rotary, bias):
    config = GPTConfig(vocab_size=17, block_size=block_size, n_layer=n_layer, n_head=n_head,
                       n_embd=n_head * head_dim, bias=bias, rotary=rotary)
    m = model(config, double=True)
    seq = prompt(batch, prompt_len, vocab=17).array
    cache = m.new_cache(batch)
    for _ in range(new):
        got = m.next_token_logits(tinytorch.tensor(seq), cache).array
        np.testing.assert_allclose(got, recomputed_logits(m, seq), rtol=0, atol=1e-10)
        seq = np.concatenate([seq, got.argmax(-1)[:, None]], axis=1)
    p = tinytorch.tensor(seq[:, :prompt_len])
    np.testing.assert_array_equal(m.generate(p, new, top_k=1).array,
                                  m.generate(p, new, top_k=1, use_cache=False).array)


def test_batched_rows_decode_as_they_would_alone():
    m = model(gpt_nano(), double=True)
    p = prompt(4, 6)
    together = m.generate(p, 20, top_k=1).array
    for row in range(4):
        alone = m.generate(tinytorch.tensor(p.array[row:row + 1]), 20, top_k=1).array
        np.testing.assert_array_equal(together[row:row + 1], alone)


def test_sampling_under_a_fixed_seed_gives_the_same_tokens_both_ways():
    m = model(gpt_nano())
    p = prompt(2, 3)
    tinytorch.manual_seed(11)
    cached = m.generate(p, 30, temperature=0.9, top_k=20)
    tinytorch.manual_seed(11)
    plain = m.generate(p, 30, temperature=0.9, top_k=20, use_cache=False)
    np.testing.assert_array_equal(cached.array, plain.array)


def test_generate_with_an_empty_prompt_raises_a_clear_error_with_and_without_cache():
    m = model(gpt_nano())
    empty = tinytorch.zeros(2, 0, dtype=tinytorch.int64)
    for use_cache in (True, False):
        with pytest.raises(ValueError, match=r"idx of shape \(2, 0\) has no tokens"):
            m.generate(empty, 3, use_cache=use_cache)
    with pytest.raises(ValueError, match=r"T >= 1, got \(2, 0\)"):
        m.next_token_logits(empty, m.new_cache(2))


def test_temperature_and_top_k_are_keyword_only():
    with pytest.raises(TypeError):
        model(gpt_nano()).generate(prompt(1, 2), 3, 0.5)


def test_forward_cached_on_a_chunk_after_a_prefix_matches_the_full_forward():
    m = model(dataclasses.replace(gpt_nano(), rotary=True), double=True)
    seq = prompt(2, 12)
    cache = m.new_cache(2)
    first = m.forward_cached(tinytorch.tensor(seq.array[:, :5]), cache)
    rest = m.forward_cached(tinytorch.tensor(seq.array[:, 5:]), cache)   # 7 at positions 5..11
    full, _ = m(seq)
    assert cache.length == 12
    np.testing.assert_allclose(np.concatenate([first.array, rest.array], axis=1), full.array,
                               rtol=0, atol=1e-12)


def test_cached_forward_records_no_graph_and_training_forward_is_unchanged():
    tinytorch.manual_seed(0)
    m = GPT(gpt_nano())
    seq = prompt(2, 6)
    logits = m.forward_cached(seq, m.new_cache(2))
    assert not logits.requires_grad
    _, loss = m(seq, seq)
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())


def test_forward_cached_refuses_positions_past_the_block_size():
    m = model(gpt_nano())
    cache = m.new_cache(1)
    m.forward_cached(prompt(1, 12), cache)
    with pytest.raises(ValueError, match=r"positions 12..16 .* exceed the block size 16"):
        m.forward_cached(prompt(1, 5), cache)


def test_forward_cached_rejects_a_cache_of_another_shape():
    m = model(gpt_nano())
    with pytest.raises(RuntimeError, match="does not fit this model"):
        m.forward_cached(prompt(3, 2), m.new_cache(2))


def test_multihead_attention_forward_cached_matches_causal_forward_sequence_first():
    tinytorch.manual_seed(0)
    mha = MultiheadAttention(8, 2, batch_first=False, rotary=RotaryEmbedding(4, 32)).double()
    x = tinytorch.tensor(np.random.default_rng(0).standard_normal((9, 3, 8)))   # (L, N, E)
    want, _ = mha(x, x, x, need_weights=False, is_causal=True)
    cache = KVCache(1, 3, 2, 16, 4, dtype=np.float64)
    parts = []
    for lo, hi in [(0, 4), (4, 5), (5, 9)]:
        parts.append(mha.forward_cached(x[lo:hi], cache, 0).array)
        cache.advance(hi - lo)
    np.testing.assert_allclose(np.concatenate(parts, axis=0), want.array, rtol=0, atol=1e-12)


def test_a_non_causal_block_cannot_use_a_cache():
    block = TransformerBlock(8, 2, causal=False)
    with pytest.raises(RuntimeError, match="needs a causal block"):
        block.forward_cached(tinytorch.zeros(1, 2, 8), KVCache(1, 1, 2, 4, 4), 0)


def test_cache_reports_its_bytes_and_refuses_what_does_not_fit():
    cache = KVCache(num_layers=2, batch_size=3, num_heads=4, max_len=5, head_dim=6)
    assert cache.nbytes == 2 * 2 * 3 * 4 * 5 * 6 * 4
    assert GPT(gpt_nano()).new_cache(2).nbytes == 2 * 2 * 2 * 16 * 32 * 4
    assert GPT(gpt_nano()).new_cache(2, max_len=5).nbytes == 2 * 2 * 2 * 5 * 32 * 4
    k = np.zeros((3, 4, 6, 6), np.float32)
    with pytest.raises(RuntimeError, match="positions 0..5 do not fit a cache of 5"):
        cache.update(0, k, k)
    with pytest.raises(RuntimeError, match="holds tinytorch.float32 but got keys of "
                                           "tinytorch.float64"):
        cache.update(0, k[:, :, :2].astype(np.float64), k[:, :, :2])
    with pytest.raises(RuntimeError, match=r"expected keys and values of shape \(3, 4, T, 6\)"):
        cache.update(0, k[:2, :, :2], k[:2, :, :2])
    keys, _ = cache.update(1, k[:, :, :2] + 1, k[:, :, :2])
    assert keys.shape == (3, 4, 2, 6) and cache.length == 0
    cache.advance(2)
    cache.reset()
    assert cache.length == 0 and cache.nbytes == 2 * 2 * 3 * 4 * 5 * 6 * 4


@pytest.mark.parametrize("rotary, bias", [(False, True), (True, False)])
def test_decode_kernel_matches_the_composed_reference_block(rotary, bias):
    m = model(dataclasses.replace(gpt_nano(), rotary=rotary, bias=bias), double=True)
    x = np.random.default_rng(0).standard_normal((2, 10, 32))
    outs = {}
    for reference in (False, True):
        cache = m.new_cache(2)
        with tinytorch.use_reference_kernels(reference):
            parts = []
            for lo, hi in [(0, 6), (6, 7), (7, 10)]:                 # prefill, one, a chunk
                parts.append(m.blocks[0].forward_cached(tinytorch.tensor(x[:, lo:hi]),
                                                        cache, 0).array)
                cache.advance(hi - lo)
        outs[reference] = np.concatenate(parts, axis=1)
    np.testing.assert_allclose(outs[False], outs[True], rtol=0, atol=1e-12)


def test_cached_generation_with_dropout_in_training_mode_takes_the_reference_path(
        monkeypatch):
    def no_dropout_in_kernel(*args):
        raise AssertionError("the decode kernel has no dropout")

    monkeypatch.setattr(transformer, "decode_block", no_dropout_in_kernel)
    monkeypatch.setattr(decode, "decode_block", no_dropout_in_kernel)
    tinytorch.manual_seed(0)
    m = GPT(dataclasses.replace(gpt_nano(), dropout=0.5))
    with tinytorch.use_reference_kernels(False):       # the kernel path exists only then
        out = m.generate(prompt(2, 3), 20)
        assert out.shape == (2, 23) and m.training
        m.eval()
        with pytest.raises(AssertionError, match="has no dropout"):
            m.generate(prompt(2, 3), 2)
