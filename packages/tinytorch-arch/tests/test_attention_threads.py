"""Attention split over batch·head rows among threads matches the single-threaded result."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.attention import scaled_dot_product_attention


@pytest.fixture(autouse=True)
def _restore_threads():
    before = tinytorch.get_num_threads()
    yield
    tinytorch.set_num_threads(before)


def _run(threads: int, arrays: list[np.ndarray], is_causal: bool):
    tinytorch.set_num_threads(threads)
    q, k, v = (tinytorch.tensor(a, requires_grad=True) for a in arrays)
    out = scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    (out * out).sum().backward()
    return [out.detach().numpy()] + [t.grad.numpy() for t in (q, k, v)]


@pytest.mark.parametrize("is_causal", [False, True])
def test_attention_is_the_same_on_one_and_two_threads(is_causal: bool) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(4, 8, 16, 8)).astype(np.float32) for _ in range(3)]
    one = _run(1, arrays, is_causal)
    two = _run(2, arrays, is_causal)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_threaded_attention_matches_a_loop_reference() -> None:
    rng = np.random.default_rng(1)
    q, k, v = (rng.normal(size=(2, 16, 5, 4)) for _ in range(3))
    tinytorch.set_num_threads(2)
    out = scaled_dot_product_attention(*(tinytorch.tensor(a) for a in (q, k, v))).numpy()
    for b in range(2):
        for h in range(16):
            s = q[b, h] @ k[b, h].T / np.sqrt(4)
            p = np.exp(s - s.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            np.testing.assert_allclose(out[b, h], p @ v[b, h], rtol=1e-10)
