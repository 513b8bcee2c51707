"""Low-rank factorization: the truncated SVD as two Linears, its error and its savings."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch as tt
from tinytorch import nn
from tinytorch.perf import LowRankLinear, low_rank, low_rank_model


def linear_with_singular_values(values: list[float], out_features: int, in_features: int,
                                seed: int = 0) -> nn.Linear:
    """A Linear whose weight has exactly the given singular values (the rest 0)."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((out_features, out_features)))
    v, _ = np.linalg.qr(rng.standard_normal((in_features, in_features)))
    s = np.zeros((out_features, in_features))
    s[range(len(values)), range(len(values))] = values
    layer = nn.Linear(in_features, out_features, dtype=tt.float64)
    with tt.no_grad():
        layer.weight.copy_(tt.tensor(u @ s @ v.T))
    return layer


@settings(max_examples=25, deadline=None)
@given(shape=st.tuples(st.integers(1, 12), st.integers(1, 12)), data=st.data())
def test_the_error_is_the_discarded_share_of_the_singular_values(shape, data):
    out_features, in_features = shape
    rank = data.draw(st.integers(1, min(shape)))
    tt.manual_seed(data.draw(st.integers(0, 1000)))
    layer = nn.Linear(in_features, out_features, dtype=tt.float64)
    factored = low_rank(layer, rank=rank)
    s = np.linalg.svd(layer.weight.array, compute_uv=False)
    expected = np.sqrt(np.sum(s[rank:] ** 2) / np.sum(s ** 2))
    w = layer.weight.array
    product = factored[1].weight.array @ factored[0].weight.array
    assert factored.relative_error == pytest.approx(expected, abs=1e-9)
    assert factored.relative_error == pytest.approx(
        np.linalg.norm(w - product) / np.linalg.norm(w), abs=1e-12)


def test_full_rank_reproduces_the_layer():
    tt.manual_seed(0)
    layer = nn.Linear(20, 12)
    factored = low_rank(layer, rank=12)
    x = tt.randn(5, 20)
    np.testing.assert_allclose(factored(x).array, layer(x).array, rtol=1e-5, atol=1e-5)
    assert factored.relative_error < 1e-6
    assert factored[1].bias is not None and factored[0].bias is None
    np.testing.assert_array_equal(factored[1].bias.array, layer.bias.array)


def test_energy_picks_the_smallest_rank_that_keeps_it():
    layer = linear_with_singular_values([4.0, 2.0, 1.0, 0.5], 6, 8)
    # squared: 16, 4, 1, 0.25 of 21.25 -> cumulative 0.753, 0.941, 0.988, 1.0
    assert low_rank(layer, energy=0.75).rank == 1
    assert low_rank(layer, energy=0.9).rank == 2
    assert low_rank(layer, energy=0.95).rank == 3
    assert low_rank(layer, energy=1.0).rank == 4
    factored = low_rank(layer, energy=0.9)
    assert factored.energy == pytest.approx(20 / 21.25)
    assert factored.relative_error == pytest.approx(np.sqrt(1.25 / 21.25))


def test_parameters_and_savings_are_reported():
    layer = nn.Linear(100, 60)
    factored = low_rank(layer, rank=10)
    assert factored.params_before == 100 * 60 + 60
    assert factored.params_after == 10 * (100 + 60) + 60
    assert factored.parameter_savings == 6060 - 1660
    assert "rank=10" in repr(factored)
    assert isinstance(factored, nn.Sequential) and len(factored) == 2


def test_the_factors_keep_the_dtype_and_the_original_stays():
    layer = nn.Linear(6, 4, dtype=tt.float64)
    before = layer.weight.array.copy()
    factored = low_rank(layer, rank=2)
    assert factored[0].weight.dtype == tt.float64 and factored[1].weight.dtype == tt.float64
    np.testing.assert_array_equal(layer.weight.array, before)


def test_low_rank_model_replaces_the_linears_that_save_parameters():
    tt.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    text = repr(model)
    new = low_rank_model(model, rank=8)
    assert isinstance(new[0], LowRankLinear) and new[0].rank == 8
    assert isinstance(new[2], nn.Linear)          # rank 2 would not save anything
    assert repr(model) == text
    assert new(tt.randn(3, 64)).shape == (3, 2)


def test_low_rank_model_replaces_a_shared_linear_in_both_places():
    shared = nn.Linear(32, 32)
    model = nn.Sequential(nn.Sequential(shared), nn.Sequential(shared))
    new = low_rank_model(copy.deepcopy(model), rank=4)
    assert isinstance(new[0][0], LowRankLinear) and new[0][0] is new[1][0]


@pytest.mark.parametrize("kwargs, message", [
    ({"rank": 0}, r"rank must be an int in \[1, 4\]"),
    ({"rank": 5}, r"rank must be an int in \[1, 4\] for a weight of shape \(4, 6\)"),
    ({"rank": 2.0}, "rank must be an int"),
    ({"energy": 0.0}, r"energy must be in \(0, 1\]"),
    ({"energy": 1.5}, r"energy must be in \(0, 1\]"),
])
def test_bad_rank_or_energy_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        low_rank(nn.Linear(6, 4), **kwargs)


def test_only_linear_layers_are_factorized():
    with pytest.raises(TypeError, match="expected a tinytorch.nn.Linear, got ReLU"):
        low_rank(nn.ReLU())
    with pytest.raises(ValueError, match="has no Linear layer"):
        low_rank_model(nn.Sequential(nn.ReLU()))


def test_a_bare_linear_is_factorized_only_when_that_saves_parameters():
    assert isinstance(low_rank_model(nn.Linear(64, 64), rank=4), LowRankLinear)
    assert isinstance(low_rank_model(nn.Linear(4, 4), rank=4), nn.Linear)
