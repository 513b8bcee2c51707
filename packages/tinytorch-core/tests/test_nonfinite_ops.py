"""``isnan``, ``isinf``, ``isfinite`` and ``nan_to_num``: masks and replacements by hand, the
gradient (through finite elements only) against finite differences, and against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch as tt

NAN, INF = float("nan"), float("inf")


def test_masks_by_hand() -> None:
    x = tt.tensor([1.0, NAN, INF, -INF, 0.0])
    assert tt.isnan(x).tolist() == [False, True, False, False, False]
    assert x.isinf().tolist() == [False, False, True, True, False]
    assert tt.isfinite(x).tolist() == [True, False, False, False, True]
    assert tt.isnan(x).dtype == tt.bool


def test_integer_inputs_are_always_finite() -> None:
    x = tt.tensor([1, 2])
    assert tt.isnan(x).tolist() == [False, False] and tt.isinf(x).tolist() == [False, False]
    assert tt.isfinite(x).tolist() == [True, True]
    assert tt.nan_to_num(x, nan=3.0).tolist() == [1, 2]


def test_nan_to_num_defaults_and_explicit_replacements() -> None:
    x = tt.tensor([NAN, INF, -INF, 1.5])
    big = float(np.finfo(np.float32).max)
    assert tt.nan_to_num(x).tolist() == [0.0, big, -big, 1.5]
    assert x.nan_to_num(nan=3.0, posinf=7, neginf=-7.0).tolist() == [3.0, 7.0, -7.0, 1.5]
    assert tt.nan_to_num(x).dtype == tt.float32
    assert np.isnan(x.numpy()[0])                           # out of place


def test_nan_to_num_gradient_passes_only_through_finite_elements() -> None:
    x = tt.tensor([NAN, 2.0, INF], requires_grad=True)
    (tt.nan_to_num(x, posinf=1.0) * 3).sum().backward()
    assert x.grad.tolist() == [0.0, 3.0, 0.0]


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
                  elements=st.sampled_from([0.5, -1.25, 3.0, NAN, INF, -INF])))
def test_masks_partition_the_elements_and_nan_to_num_is_finite(a: np.ndarray) -> None:
    x = tt.tensor(a)
    nan, inf, fin = tt.isnan(x).numpy(), tt.isinf(x).numpy(), tt.isfinite(x).numpy()
    assert nan.shape == inf.shape == fin.shape == a.shape
    assert np.all(nan.astype(int) + inf.astype(int) + fin.astype(int) == 1)
    out = tt.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0).numpy()
    assert np.all(np.isfinite(out)) and np.array_equal(out[fin], a[fin])


def test_nan_to_num_gradcheck_on_finite_points() -> None:
    x = tt.tensor(np.random.default_rng(13).standard_normal((3, 4)), requires_grad=True)
    assert tt.gradcheck(lambda t: tt.nan_to_num(t, nan=1.0), (x,))


def test_nonfinite_ops_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, NAN, INF], [-INF, -2.0, 0.0]])
    for name in ("isnan", "isinf", "isfinite"):
        np.testing.assert_array_equal(getattr(tt, name)(tt.tensor(a)).numpy(),
                                      getattr(torch, name)(torch.tensor(a)).numpy())
    x, y = tt.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    o, r = tt.nan_to_num(x, posinf=9.0), torch.nan_to_num(y, posinf=9.0)
    np.testing.assert_array_equal(o.detach().numpy(), r.detach().numpy())
    o.sum().backward()
    r.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.grad.numpy())
