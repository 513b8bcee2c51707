"""GPT: shapes, loss, weight tying, causality, generation, state dicts and a little training."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.gpt import GPT, GPTConfig, gpt_char_medium, gpt_char_small, gpt_nano


def nano(**changes) -> GPT:
    tinytorch.manual_seed(0)
    return GPT(dataclasses.replace(gpt_nano(), **changes))


def ids(rng, n, t, vocab=65):
    return tinytorch.tensor(rng.integers(0, vocab, (n, t)))


def test_forward_shapes_and_cross_entropy_loss():
    model = nano()
    rng = np.random.default_rng(0)
    x, y = ids(rng, 3, 10), ids(rng, 3, 10)
    logits, loss = model(x, y)
    assert logits.shape == (3, 10, 65) and logits.dtype == np.float32
    z = logits.array.reshape(-1, 65).astype(np.float64)
    logp = z - z.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    want = -logp[np.arange(30), y.array.reshape(-1)].mean()
    assert loss.item() == pytest.approx(want, rel=1e-5)
    assert model(x)[1] is None


def test_initial_loss_is_near_uniform():
    model = nano()
    rng = np.random.default_rng(1)
    _, loss = model(ids(rng, 8, 16), ids(rng, 8, 16))
    assert abs(loss.item() - math.log(65)) < 0.1


@pytest.mark.parametrize("preset, params", [
    (gpt_nano, 28_064), (gpt_char_small, 809_856), (gpt_char_medium, 10_770_816),
])
def test_presets_have_the_documented_parameter_counts(preset, params):
    config = preset()
    tinytorch.manual_seed(0)
    model = GPT(config)
    assert sum(p.numel() for p in model.parameters()) == params
    e, L = config.n_embd, config.n_layer
    formula = L * (12 * e * e + 13 * e) + config.vocab_size * e + config.block_size * e + 2 * e
    assert params == formula
    assert f"{params:,}" in preset.__doc__


def test_weight_tying_shares_one_matrix():
    model = nano()
    assert model.lm_head.weight is model.wte.weight
    untied = nano(tie_weights=False)
    assert untied.lm_head.weight is not untied.wte.weight
    count = sum(p.numel() for p in untied.parameters())
    assert count == sum(p.numel() for p in model.parameters()) + 65 * 32


def test_tied_gradient_is_the_sum_of_both_uses():
    model = nano()
    rng = np.random.default_rng(2)
    _, loss = model(ids(rng, 2, 8), ids(rng, 2, 8))
    loss.backward()
    g_tied = model.wte.weight.grad.array.copy()
    untied = nano(tie_weights=False)
    untied.load_state_dict(model.state_dict())
    untied.lm_head.weight.array[...] = model.wte.weight.array
    rng = np.random.default_rng(2)
    _, loss2 = untied(ids(rng, 2, 8), ids(rng, 2, 8))
    loss2.backward()
    np.testing.assert_allclose(
        g_tied, untied.wte.weight.grad.array + untied.lm_head.weight.grad.array, atol=1e-6)


@pytest.mark.parametrize("rotary", [False, True])
def test_logits_never_depend_on_future_tokens(rotary):
    model = nano(rotary=rotary)
    rng = np.random.default_rng(3)
    x = rng.integers(0, 65, (2, 12))
    base, _ = model(tinytorch.tensor(x))
    for t in (0, 5, 10):
        x2 = x.copy()
        x2[:, t + 1:] = rng.integers(0, 65, x2[:, t + 1:].shape)
        out, _ = model(tinytorch.tensor(x2))
        np.testing.assert_allclose(out.array[:, :t + 1], base.array[:, :t + 1], atol=1e-6)


def test_rotary_model_has_no_position_table():
    names = {n for n, _ in nano(rotary=True).named_parameters()}
    assert not any(n.startswith("wpe") for n in names)
    assert "wpe.weight" in {n for n, _ in nano().named_parameters()}


def test_generate_is_reproducible_under_manual_seed():
    model = nano()
    model.eval()
    prompt = tinytorch.tensor([[1, 2, 3], [4, 5, 6]])
    tinytorch.manual_seed(7)
    a = model.generate(prompt, 20)
    tinytorch.manual_seed(7)
    b = model.generate(prompt, 20)
    c = model.generate(prompt, 20)
    assert a.shape == (2, 23) and a.dtype == np.int64
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_array_equal(a.array[:, :3], prompt.array)
    assert not np.array_equal(a.array, c.array)


def test_top_k_one_is_greedy_argmax_decoding():
    model = nano()
    model.eval()
    seq = np.array([[3, 1, 4], [1, 5, 9]])
    out = model.generate(tinytorch.tensor(seq), 25, top_k=1)   # crosses block_size=16
    for _ in range(25):
        logits, _ = model(tinytorch.tensor(seq[:, -16:]))
        seq = np.concatenate([seq, logits.array[:, -1].argmax(-1)[:, None]], axis=1)
    np.testing.assert_array_equal(out.array, seq)


def test_top_k_samples_only_from_the_k_most_likely_tokens():
    model = nano()
    model.eval()
    tinytorch.manual_seed(3)
    out = model.generate(tinytorch.tensor(np.zeros((16, 1), np.int64)), 1, top_k=3)
    logits, _ = model(tinytorch.tensor(np.zeros((1, 1), np.int64)))
    top3 = set(np.argsort(logits.array[0, -1])[-3:].tolist())
    assert set(out.array[:, 1].tolist()) <= top3


def test_low_temperature_concentrates_on_the_argmax():
    model = nano()
    model.eval()
    tinytorch.manual_seed(4)
    prompt = tinytorch.tensor(np.zeros((32, 1), np.int64))
    cold = model.generate(prompt, 1, temperature=1e-4).array[:, 1]
    greedy = model.generate(prompt, 1, top_k=1).array[:, 1]
    np.testing.assert_array_equal(cold, greedy)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"temperature": 0.0}, ValueError, "temperature"),
    ({"temperature": -1.0}, ValueError, "temperature"),
    ({"temperature": float("nan")}, ValueError, "temperature"),
    ({"temperature": float("inf")}, ValueError, "temperature"),
    ({"top_k": 0}, ValueError, "top_k must be at least 1"),
    ({"top_k": 2.5}, TypeError, "top_k must be an int"),
    ({"max_new_tokens": -3}, ValueError, "max_new_tokens must be >= 0, got -3"),
    ({"max_new_tokens": 2.0}, TypeError, "max_new_tokens must be an int"),
])
def test_generate_validates_arguments(kwargs, error, message):
    model = nano()
    args = {"idx": tinytorch.tensor([[1]]), "max_new_tokens": 3, **kwargs}
    with pytest.raises(error, match=message):
        model.generate(**args)


def test_generate_raises_on_non_finite_logits_instead_of_sampling():
    model = nano()
    model.eval()
    model.ln_f.weight.array[0] = np.nan
    with pytest.raises(RuntimeError, match=r"logits at step 0 are not finite .* rows \[0, 1\]"):
        model.generate(tinytorch.tensor([[1, 2], [3, 4]]), 5)


def test_generate_rejects_a_float_prompt_instead_of_truncating_it():
    with pytest.raises(RuntimeError, match="integer token ids .* got tinytorch.float32"):
        nano().generate(tinytorch.tensor([[1.7, 2.2]]), 2)


def test_generate_needs_one_token_of_context_per_row():
    model = nano()
    empty = tinytorch.zeros(2, 0, dtype=tinytorch.int64)
    with pytest.raises(ValueError, match=r"idx of shape \(2, 0\) has no tokens"):
        model.generate(empty, 3)
    assert model.generate(empty, 0).shape == (2, 0)


def test_forward_on_an_empty_sequence_gives_empty_logits_and_a_nan_loss_as_torch_does():
    empty = tinytorch.zeros(2, 0, dtype=tinytorch.int64)
    logits, loss = nano()(empty, empty)
    assert logits.shape == (2, 0, 65) and math.isnan(loss.item())


def test_zero_new_tokens_returns_a_copy_of_the_prompt():
    prompt = tinytorch.tensor([[5, 6, 7]])
    out = nano().generate(prompt, 0)
    np.testing.assert_array_equal(out.array, prompt.array)
    assert out.array is not prompt.array


def test_longer_than_block_size_raises():
    with pytest.raises(ValueError, match="block size is only 16"):
        nano()(tinytorch.zeros(1, 17, dtype=tinytorch.int64))


def test_config_validation():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="even head size"):
        GPTConfig(n_embd=12, n_head=4, rotary=True)


def test_saved_state_dict_loads_into_a_fresh_model(tmp_path):
    model = nano()
    rng = np.random.default_rng(5)
    x, y = ids(rng, 2, 16), ids(rng, 2, 16)
    opt = tinytorch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):  # move away from the initialisation
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    tinytorch.save(model.state_dict(), tmp_path / "gpt.pt")
    tinytorch.manual_seed(99)
    fresh = GPT(gpt_nano())
    fresh.load_state_dict(tinytorch.load(tmp_path / "gpt.pt"))
    assert fresh.lm_head.weight is fresh.wte.weight
    np.testing.assert_array_equal(fresh(x)[0].array, model(x)[0].array)


def test_dropout_config_is_stochastic_in_training_and_off_in_eval():
    model = nano(dropout=0.2)
    x = tinytorch.tensor(np.arange(16)[None] % 65)
    assert not np.allclose(model(x)[0].array, model(x)[0].array)
    model.eval()
    np.testing.assert_array_equal(model(x)[0].array, model(x)[0].array)


@pytest.mark.parametrize("rotary", [False, True])
def test_adamw_learns_a_repeating_sequence(rotary):
    model = nano(rotary=rotary)
    text = np.array([(7 * i) % 13 for i in range(40)])
    x = tinytorch.tensor(np.stack([text[i:i + 16] for i in range(0, 24, 3)]))
    y = tinytorch.tensor(np.stack([text[i + 1:i + 17] for i in range(0, 24, 3)]))
    opt = tinytorch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        _, loss = model(x, y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 4.0 and loss.item() < 0.5


def test_flops_per_token_formula():
    model = GPT(gpt_char_small())
    assert model.flops_per_token() == 4 * (24 * 128 * 128 + 4 * 64 * 128) + 2 * 128 * 65
