"""TransformerBlock: pre-norm wiring against a NumPy reference, causality, gradients, torch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.transformer import TransformerBlock


def layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def reference_block(block, x):
    """x + attn(ln_1(x)), then + mlp(ln_2(.)), causal, from the block's parameters."""
    p = {n: t.array for n, t in block.named_parameters()}
    n, t, e = x.shape
    h = block.attn.num_heads
    d = e // h
    a = layer_norm(x, p["ln_1.weight"], p["ln_1.bias"])
    qkv = a @ p["attn.in_proj_weight"].T + p["attn.in_proj_bias"]
    q, k, v = (qkv[..., i * e:(i + 1) * e].reshape(n, t, h, d) for i in range(3))
    s = np.einsum("nlhd,nshd->nhls", q, k) / math.sqrt(d) + np.triu(np.full((t, t), -np.inf), 1)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    att = np.einsum("nhls,nshd->nlhd", w, v).reshape(n, t, e)
    x = x + att @ p["attn.out_proj.weight"].T + p["attn.out_proj.bias"]
    m = layer_norm(x, p["ln_2.weight"], p["ln_2.bias"])
    m = gelu_tanh(m @ p["mlp.fc.weight"].T + p["mlp.fc.bias"])
    return x + m @ p["mlp.proj.weight"].T + p["mlp.proj.bias"]


def make_block(embed_dim=8, num_heads=2, **kwargs):
    tinytorch.manual_seed(0)
    block = TransformerBlock(embed_dim, num_heads, **kwargs).double()
    rng = np.random.default_rng(0)
    for param in block.parameters():  # make biases and LayerNorm affine matter
        if param.ndim == 1:
            param.array[...] += 0.1 * rng.standard_normal(param.shape)
    return block


def test_parameters_follow_the_documented_layout():
    block = TransformerBlock(16, 4)
    shapes = {n: tuple(p.shape) for n, p in block.named_parameters()}
    assert shapes == {
        "ln_1.weight": (16,), "ln_1.bias": (16,),
        "attn.in_proj_weight": (48, 16), "attn.in_proj_bias": (48,),
        "attn.out_proj.weight": (16, 16), "attn.out_proj.bias": (16,),
        "ln_2.weight": (16,), "ln_2.bias": (16,),
        "mlp.fc.weight": (64, 16), "mlp.fc.bias": (64,),
        "mlp.proj.weight": (16, 64), "mlp.proj.bias": (16,),
    }
    e = 16
    assert sum(p.numel() for p in block.parameters()) == 12 * e * e + 13 * e


def test_matches_numpy_reference():
    block = make_block()
    x = np.random.default_rng(1).standard_normal((2, 5, 8))
    np.testing.assert_allclose(block(tinytorch.tensor(x)).array, reference_block(block, x),
                               atol=1e-10)


def test_later_tokens_do_not_change_earlier_outputs():
    block = make_block()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 7, 8))
    base = block(tinytorch.tensor(x)).array
    for t in range(6):
        x2 = x.copy()
        x2[:, t + 1:] = rng.standard_normal(x2[:, t + 1:].shape)
        out = block(tinytorch.tensor(x2)).array
        np.testing.assert_allclose(out[:, :t + 1], base[:, :t + 1], atol=1e-12)
        assert not np.allclose(out[:, t + 1:], base[:, t + 1:])


def test_non_causal_block_sees_the_whole_sequence():
    block = make_block(causal=False)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 4, 8))
    x2 = x.copy()
    x2[:, -1] = rng.standard_normal(8)
    assert not np.allclose(block(tinytorch.tensor(x)).array[:, 0],
                           block(tinytorch.tensor(x2)).array[:, 0])


def test_key_padding_mask_hides_padded_keys():
    block = make_block(causal=False)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 5, 8))
    pad = tinytorch.tensor(np.array([[False, False, False, True, True]]))
    base = block(tinytorch.tensor(x), key_padding_mask=pad).array
    x2 = x.copy()
    x2[:, 3:] = rng.standard_normal((1, 2, 8))
    out = block(tinytorch.tensor(x2), key_padding_mask=pad).array
    np.testing.assert_allclose(out[:, :3], base[:, :3], atol=1e-12)


def test_gradcheck_input_and_parameters():
    block = make_block(embed_dim=4, num_heads=2)
    x = tinytorch.tensor(np.random.default_rng(5).standard_normal((2, 3, 4)), requires_grad=True)
    assert tinytorch.gradcheck(block, (x,))
    assert tinytorch.gradcheck(lambda _: block(x), (block.mlp.fc.weight,))
    assert tinytorch.gradcheck(lambda _: block(x), (block.ln_1.weight,))


def test_dropout_is_active_in_training_only():
    tinytorch.manual_seed(0)
    block = TransformerBlock(8, 2, dropout=0.3)
    x = tinytorch.randn(2, 6, 8)
    a, b = block(x).array, block(x).array
    assert not np.allclose(a, b)
    block.eval()
    np.testing.assert_array_equal(block(x).array, block(x).array)


def test_matches_torch_modules_with_the_same_weights():
    torch = pytest.importorskip("torch")
    block = make_block()
    nn = torch.nn
    ln_1, ln_2 = nn.LayerNorm(8).double(), nn.LayerNorm(8).double()
    attn = nn.MultiheadAttention(8, 2, batch_first=True).double()
    fc, proj = nn.Linear(8, 32).double(), nn.Linear(32, 8).double()
    p = {n: torch.tensor(t.array) for n, t in block.named_parameters()}
    ln_1.load_state_dict({"weight": p["ln_1.weight"], "bias": p["ln_1.bias"]})
    ln_2.load_state_dict({"weight": p["ln_2.weight"], "bias": p["ln_2.bias"]})
    attn.load_state_dict({k[5:]: v for k, v in p.items() if k.startswith("attn.")})
    fc.load_state_dict({"weight": p["mlp.fc.weight"], "bias": p["mlp.fc.bias"]})
    proj.load_state_dict({"weight": p["mlp.proj.weight"], "bias": p["mlp.proj.bias"]})
    x = np.random.default_rng(6).standard_normal((3, 6, 8))
    tx = torch.tensor(x)
    h = ln_1(tx)
    causal = torch.triu(torch.ones(6, 6, dtype=torch.bool), 1)
    tx = tx + attn(h, h, h, need_weights=False, attn_mask=causal)[0]
    tx = tx + proj(nn.functional.gelu(fc(ln_2(tx)), approximate="tanh"))
    np.testing.assert_allclose(block(tinytorch.tensor(x)).array, tx.detach().numpy(), atol=1e-10)
