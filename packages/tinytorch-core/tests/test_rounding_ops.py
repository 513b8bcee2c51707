"""``floor``, ``ceil``, ``round`` (half to even, ``decimals``) and ``trunc``: values by hand, the
zero gradient PyTorch defines, dtypes and shapes, and agreement with PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch as tt

VALUES = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 1.2, -1.7]


def test_rounding_by_hand() -> None:
    x = tt.tensor(VALUES)
    assert tt.floor(x).tolist() == [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 1.0, -2.0]
    assert x.ceil().tolist() == [-2.0, -1.0, -0.0, 1.0, 2.0, 3.0, 2.0, -1.0]
    assert tt.trunc(x).tolist() == [-2.0, -1.0, -0.0, 0.0, 1.0, 2.0, 1.0, -1.0]


def test_round_takes_halves_to_the_even_neighbour() -> None:
    assert tt.round(tt.tensor(VALUES)).tolist() == [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 1.0, -2.0]


def test_round_with_decimals() -> None:
    x = tt.tensor([1234.5678, 0.125, 1250.0], dtype=tt.float64)
    assert tt.round(x, decimals=2).tolist() == [1234.57, 0.12, 1250.0]
    assert x.round(decimals=-2).tolist() == [1200.0, 0.0, 1200.0]


def test_integer_inputs_come_back_unchanged_and_decimals_need_floats() -> None:
    x = tt.tensor([1, -2, 3])
    for fn in (tt.floor, tt.ceil, tt.round, tt.trunc):
        out = fn(x)
        assert out.dtype == tt.int64 and out.tolist() == [1, -2, 3]
    with pytest.raises(RuntimeError, match="decimals=1 needs a floating-point input"):
        tt.round(x, decimals=1)


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "trunc"])
def test_rounding_is_recorded_with_a_zero_gradient(name: str) -> None:
    x = tt.tensor([0.3, 1.7, -2.5], requires_grad=True)
    out = getattr(x, name)()
    assert out.requires_grad and out.grad_fn is not None
    (out * 3).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
                  elements=st.floats(-1e6, 1e6)))
def test_rounded_values_are_whole_numbers_within_one_of_the_input(a: np.ndarray) -> None:
    x = tt.tensor(a)
    for fn, lo, hi in ((tt.floor, -1, 0), (tt.ceil, 0, 1), (tt.round, -0.5, 0.5),
                       (tt.trunc, -1, 1)):
        out = fn(x).numpy()
        assert out.shape == a.shape and out.dtype == a.dtype
        assert np.all(out == np.round(out))
        assert np.all((out - a >= lo) & (out - a <= hi))


def test_rounding_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    a = np.concatenate([np.array(VALUES), np.random.default_rng(12).standard_normal(20) * 10])
    for name in ("floor", "ceil", "round", "trunc"):
        np.testing.assert_array_equal(getattr(tt, name)(tt.tensor(a)).numpy(),
                                      getattr(torch, name)(torch.tensor(a)).numpy())
    for d in (-1, 1, 2):
        np.testing.assert_array_equal(tt.round(tt.tensor(a), decimals=d).numpy(),
                                      torch.round(torch.tensor(a), decimals=d).numpy())
