"""Learned, sinusoidal and rotary position encodings against the formulas, with gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    sinusoidal_encoding,
)


@pytest.mark.parametrize("dim", [6, 7])
def test_sinusoidal_table_matches_the_2017_formula(dim):
    table = sinusoidal_encoding(12, dim, dtype=np.float64).array
    for pos in range(12):
        for i in range(dim):
            angle = pos / 10000 ** ((i - i % 2) / dim)
            want = math.sin(angle) if i % 2 == 0 else math.cos(angle)
            assert table[pos, i] == pytest.approx(want, abs=1e-12)


def test_sinusoidal_module_adds_rows_from_offset_and_has_no_parameters():
    enc = SinusoidalPositionalEncoding(4, max_len=20)
    assert list(enc.parameters()) == [] and enc.state_dict() == {}
    x = tinytorch.tensor(np.random.default_rng(0).standard_normal((2, 5, 4)))
    table = sinusoidal_encoding(20, 4, dtype=np.float64).array
    np.testing.assert_allclose(enc(x).array, x.array + table[:5], atol=1e-12)
    np.testing.assert_allclose(enc(x, offset=3).array, x.array + table[3:8], atol=1e-12)
    assert enc(x.float()).dtype == np.float32


def test_learned_embedding_adds_table_and_sums_gradient_over_the_batch():
    tinytorch.manual_seed(0)
    pos = LearnedPositionalEmbedding(6, 3, dtype=np.float64)
    x = tinytorch.tensor(np.random.default_rng(1).standard_normal((4, 2, 3)), requires_grad=True)
    out = pos(x, offset=1)
    np.testing.assert_allclose(out.array, x.array + pos.weight.array[1:3], atol=1e-12)
    g = np.random.default_rng(2).standard_normal(out.shape)
    out.backward(tinytorch.tensor(g))
    want = np.zeros((6, 3))
    want[1:3] = g.sum(axis=0)
    np.testing.assert_allclose(pos.weight.grad.array, want, atol=1e-12)
    np.testing.assert_array_equal(x.grad.array, g)


def test_learned_embedding_gradcheck():
    tinytorch.manual_seed(0)
    pos = LearnedPositionalEmbedding(5, 2, dtype=np.float64)
    x = tinytorch.tensor(np.random.default_rng(3).standard_normal((2, 3, 2)), requires_grad=True)
    assert tinytorch.gradcheck(lambda a, _: pos(a, offset=2), (x, pos.weight))


def test_positions_past_the_table_raise_index_error():
    with pytest.raises(IndexError, match="positions 4..7"):
        LearnedPositionalEmbedding(6, 3)(tinytorch.zeros(1, 4, 3), offset=4)
    with pytest.raises(IndexError, match="table of 2 positions"):
        SinusoidalPositionalEncoding(3, max_len=2)(tinytorch.zeros(3, 3))
    with pytest.raises(IndexError, match="max_seq_len"):
        RotaryEmbedding(4, max_seq_len=3)(tinytorch.zeros(1, 4, 4))


def reference_rotary(x, base=10000.0):
    """Rotate every pair (i, i + D/2) at position t by t / base^(2i/D), one pair at a time."""
    out = np.empty_like(x)
    d = x.shape[-1]
    h = d // 2
    for t in range(x.shape[-2]):
        for i in range(h):
            theta = t / base ** (2 * i / d)
            a, b = x[..., t, i], x[..., t, i + h]
            out[..., t, i] = a * math.cos(theta) - b * math.sin(theta)
            out[..., t, i + h] = b * math.cos(theta) + a * math.sin(theta)
    return out


def test_rotary_matches_pairwise_rotation_and_preserves_norms():
    rope = RotaryEmbedding(6)
    x = np.random.default_rng(4).standard_normal((2, 3, 5, 6))
    out = rope(tinytorch.tensor(x)).array
    np.testing.assert_allclose(out, reference_rotary(x), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(x, axis=-1))


def test_rotary_scores_depend_only_on_relative_position():
    rope = RotaryEmbedding(8, max_seq_len=64)
    rng = np.random.default_rng(5)
    q, k = rng.standard_normal(8), rng.standard_normal(8)

    def score(m, n):
        qm = rope(tinytorch.tensor(np.tile(q, (m + 1, 1)))).array[m]
        kn = rope(tinytorch.tensor(np.tile(k, (n + 1, 1)))).array[n]
        return qm @ kn
    assert score(7, 3) == pytest.approx(score(24, 20), abs=1e-10)
    assert score(7, 3) != pytest.approx(score(7, 5), abs=1e-6)


def test_rotary_offset_continues_the_positions():
    rope = RotaryEmbedding(4)
    x = np.random.default_rng(6).standard_normal((1, 6, 4))
    full = rope(tinytorch.tensor(x)).array
    np.testing.assert_allclose(rope(tinytorch.tensor(x[:, 4:]), offset=4).array, full[:, 4:],
                               atol=1e-12)


def test_rotary_gradcheck():
    rope = RotaryEmbedding(4)
    x = tinytorch.tensor(np.random.default_rng(7).standard_normal((2, 3, 4)), requires_grad=True)
    assert tinytorch.gradcheck(rope, (x,))


def test_rotary_needs_an_even_matching_dimension():
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding(5)
    with pytest.raises(ValueError, match=r"\(\.\.\., T, 4\)"):
        RotaryEmbedding(4)(tinytorch.zeros(2, 3, 6))
