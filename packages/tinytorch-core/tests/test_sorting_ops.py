"""``sort``, ``argsort`` and ``topk``: values, indices, stability and NaN order by hand,
gradients against finite differences, shapes from hypothesis, and agreement with PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch as tt

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)


def test_sort_returns_values_and_indices_as_a_named_tuple() -> None:
    out = tt.sort(tt.tensor([3.0, 1.0, 2.0]))
    values, indices = out
    assert values.tolist() == [1.0, 2.0, 3.0] and indices.tolist() == [1, 2, 0]
    assert out.values is values and out.indices is indices and type(out).__name__ == "sort"
    assert indices.dtype == tt.int64


def test_sort_is_stable_ascending_and_descending() -> None:
    x = tt.tensor([3.0, 1.0, 2.0, 1.0])
    assert x.sort(stable=True).indices.tolist() == [1, 3, 2, 0]
    assert x.sort(descending=True).indices.tolist() == [0, 2, 1, 3]
    assert x.argsort(descending=True).tolist() == [0, 2, 1, 3]


def test_nan_sorts_as_the_largest_value() -> None:
    x = tt.tensor([1.0, float("nan"), 0.0])
    assert x.sort().indices.tolist() == [2, 0, 1]
    assert x.sort(descending=True).indices.tolist() == [1, 0, 2]
    assert math.isnan(x.topk(1).values.item())


def test_sort_along_a_dim_by_hand() -> None:
    x = tt.tensor([[5, 1, 3], [0, 9, 2]])
    assert tt.sort(x, dim=0).values.tolist() == [[0, 1, 2], [5, 9, 3]]
    assert tt.argsort(x, dim=1).tolist() == [[1, 2, 0], [0, 2, 1]]


def test_sort_gradient_goes_back_to_the_original_positions() -> None:
    x = tt.tensor([3.0, 1.0, 2.0], requires_grad=True)
    (x.sort().values * tt.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert x.grad.tolist() == [100.0, 1.0, 10.0]


def test_topk_by_hand() -> None:
    x = tt.tensor([[1.0, 5.0, 3.0], [2.0, 0.0, 9.0]])
    top = tt.topk(x, 2)
    assert type(top).__name__ == "topk"
    assert top.values.tolist() == [[5.0, 3.0], [9.0, 2.0]]
    assert top.indices.tolist() == [[1, 2], [2, 0]]
    low = x.topk(1, dim=0, largest=False)
    assert low.values.tolist() == [[1.0, 0.0, 3.0]] and low.indices.tolist() == [[0, 1, 0]]


def test_topk_gradient_reaches_only_the_selected_elements() -> None:
    x = tt.tensor([1.0, 5.0, 3.0, 4.0], requires_grad=True)
    x.topk(2).values.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0, 1.0]


def test_topk_edge_cases() -> None:
    assert tt.topk(tt.ones(3), 0).values.shape == (0,)
    assert tt.topk(tt.tensor(2.0), 1).values.item() == 2.0
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        tt.topk(tt.ones(2), 3)


def test_zero_dimensional_and_empty_inputs_sort() -> None:
    assert tt.sort(tt.tensor(3.0)).indices.item() == 0
    empty = tt.sort(tt.zeros(0))
    assert empty.values.shape == (0,) and empty.indices.dtype == tt.int64


@given(shapes, st.data())
def test_sort_orders_each_slice_and_its_indices_reproduce_the_values(
        shape: tuple, data: st.DataObject) -> None:
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    descending = data.draw(st.booleans())
    a = np.random.default_rng(data.draw(st.integers(0, 2**31))).integers(0, 4, shape)
    values, indices = tt.sort(tt.tensor(a), dim, descending)
    v = values.numpy()
    step = np.diff(v, axis=dim)
    assert np.all(step <= 0) if descending else np.all(step >= 0)
    np.testing.assert_array_equal(np.take_along_axis(a, indices.numpy(), dim), v)
    assert np.all(np.sort(indices.numpy(), axis=dim) == np.arange(shape[dim]).reshape(
        (-1,) + (1,) * (len(shape) - 1 - dim % len(shape))))


@given(shapes, st.data())
def test_topk_values_are_the_k_extremes_and_pass_gradcheck(shape: tuple,
                                                           data: st.DataObject) -> None:
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    k = data.draw(st.integers(0, shape[dim]))
    largest = data.draw(st.booleans())
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    a = rng.permutation(int(np.prod(shape))).reshape(shape) + rng.random(shape) * 0.5  # no ties
    x = tt.tensor(a, requires_grad=True)
    values = tt.topk(x, k, dim, largest).values
    expected = np.flip(np.sort(a, axis=dim), dim) if largest else np.sort(a, axis=dim)
    np.testing.assert_array_equal(values.detach().numpy(),
                                  np.take(expected, np.arange(k), axis=dim))
    assert tt.gradcheck(lambda t: tt.topk(t, k, dim, largest).values, (x,))
    assert tt.gradcheck(lambda t: tt.sort(t, dim, largest).values, (x,))


def test_sort_argsort_and_topk_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    a = rng.integers(0, 3, (4, 6)).astype(np.float64)     # many ties: stability matters
    a[1, 2] = np.nan
    for descending in (False, True):
        for dim in (0, 1):
            o = tt.sort(tt.tensor(a), dim, descending, stable=True)
            r = torch.sort(torch.tensor(a), dim=dim, descending=descending, stable=True)
            np.testing.assert_array_equal(o.indices.numpy(), r.indices.numpy())
            np.testing.assert_array_equal(o.values.numpy(), r.values.numpy())
            np.testing.assert_array_equal(
                tt.argsort(tt.tensor(a), dim, descending, stable=True).numpy(),
                torch.argsort(torch.tensor(a), dim=dim, descending=descending,
                              stable=True).numpy())
    b = rng.standard_normal((3, 7))
    x, y = tt.tensor(b, requires_grad=True), torch.tensor(b, requires_grad=True)
    o, r = tt.topk(x, 3, dim=1, largest=False), torch.topk(y, 3, dim=1, largest=False)
    np.testing.assert_array_equal(o.indices.numpy(), r.indices.numpy())
    w = rng.standard_normal((3, 3))
    (o.values * tt.tensor(w)).sum().backward()
    (r.values * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.grad.numpy())
