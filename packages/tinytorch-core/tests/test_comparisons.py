"""Non-differentiable ops: comparisons, logic, argmax/argmin, max/min indices, isclose, one_hot."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch as tt
from tinytorch.core.ops.compare import one_hot

COMPARISONS = {
    "eq": (lambda a, b: a == b, np.equal, tt.eq),
    "ne": (lambda a, b: a != b, np.not_equal, tt.ne),
    "lt": (lambda a, b: a < b, np.less, tt.lt),
    "le": (lambda a, b: a <= b, np.less_equal, tt.le),
    "gt": (lambda a, b: a > b, np.greater, tt.gt),
    "ge": (lambda a, b: a >= b, np.greater_equal, tt.ge),
}


@pytest.mark.parametrize("name", sorted(COMPARISONS))
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4),
       seed=st.integers(0, 2**32 - 1))
def test_comparisons_broadcast_and_give_bool_without_a_graph(name: str, shapes, seed: int) -> None:
    op, ref, fn = COMPARISONS[name]
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 3, shapes.input_shapes[0]).astype(np.float32)
    b = rng.integers(0, 3, shapes.input_shapes[1]).astype(np.float32)
    ta = tt.tensor(a, requires_grad=True)
    for out in (op(ta, tt.tensor(b)), fn(ta, tt.tensor(b)), op(ta, 1.0)):
        assert out.dtype == tt.bool
        assert not out.requires_grad and out.grad_fn is None
    np.testing.assert_array_equal(op(ta, tt.tensor(b)).numpy(), ref(a, b))
    np.testing.assert_array_equal(op(ta, 1.0).numpy(), ref(a, np.float32(1.0)))


def test_reflected_comparison_with_a_python_number() -> None:
    x = tt.tensor([1, 2, 3])
    assert (2 < x).tolist() == [False, False, True]
    assert (2 == x).tolist() == [False, True, False]


def test_logical_and_bitwise_ops_on_bool_tensors() -> None:
    a = tt.tensor([True, True, False, False])
    b = tt.tensor([True, False, True, False])
    assert tt.logical_and(a, b).tolist() == [True, False, False, False]
    assert tt.logical_or(a, b).tolist() == [True, True, True, False]
    assert tt.logical_xor(a, b).tolist() == [False, True, True, False]
    assert tt.logical_not(a).tolist() == [False, False, True, True]
    assert (a & b).tolist() == [True, False, False, False]
    assert (a | b).tolist() == [True, True, True, False]
    assert (a ^ b).tolist() == [False, True, True, False]
    assert (~a).tolist() == [False, False, True, True]


def test_argmax_argmin_with_and_without_dim() -> None:
    x = tt.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]])
    assert x.argmax().item() == 3 and x.argmax().dtype == tt.int64
    assert x.argmin().item() == 4
    assert x.argmax(dim=1).tolist() == [1, 0]          # the first of tied maxima
    assert tt.argmin(x, dim=0).tolist() == [0, 1, 0]
    assert x.argmax(dim=1, keepdim=True).shape == (2, 1)
    assert x.argmax(dim=-1).tolist() == [1, 0]


def test_max_min_with_dim_return_values_and_int64_indices() -> None:
    x = tt.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    out = x.max(dim=1)
    values, indices = out
    assert out.values is values and out.indices is indices
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    assert indices.dtype == tt.int64 and not indices.requires_grad
    low = tt.min(x, dim=0, keepdim=True)
    assert low.values.tolist() == [[1.0, 0.0, 2.0]] and low.indices.tolist() == [[0, 1, 0]]
    assert x.max().item() == 7.0 and x.min().item() == 0.0


def test_max_of_two_tensors_is_elementwise_maximum() -> None:
    a, b = tt.tensor([1.0, 4.0]), tt.tensor([3.0, 2.0])
    assert tt.max(a, b).tolist() == [3.0, 4.0]
    assert tt.min(a, b).tolist() == [1.0, 2.0]


def test_isclose_allclose_and_equal() -> None:
    a = tt.tensor([1.0, 2.0, float("nan")])
    b = tt.tensor([1.0 + 1e-7, 2.1, float("nan")])
    assert tt.isclose(a, b).tolist() == [True, False, False]
    assert a.isclose(b, equal_nan=True).tolist() == [True, False, True]
    assert tt.allclose(tt.tensor([1.0, 2.0]), tt.tensor([1.0, 2.0 + 1e-6]))
    assert not tt.allclose(tt.tensor([1.0, 2.0]), tt.tensor([1.0, 2.1]))
    assert tt.allclose(a, b, atol=0.2, equal_nan=True)
    assert tt.equal(tt.tensor([1, 2]), tt.tensor([1, 2]))
    assert not tt.equal(tt.tensor([1, 2]), tt.tensor([1, 3]))
    assert not tt.equal(tt.tensor([1, 2]), tt.tensor([[1, 2]]))


def test_all_any_and_sign() -> None:
    m = tt.tensor([[True, False], [True, True]])
    assert not m.all().item() and m.any().item()
    assert m.all(dim=1).tolist() == [False, True]
    assert tt.tensor([-2.0, 0.0, 3.0]).sign().tolist() == [-1.0, 0.0, 1.0]


def test_one_hot_shape_dtype_and_errors() -> None:
    out = one_hot(tt.tensor([0, 2, 1]), 4)
    assert out.dtype == tt.int64
    assert out.tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]]
    assert one_hot(tt.tensor([[1], [3]])).shape == (2, 1, 4)   # classes = max + 1
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        one_hot(tt.tensor([0, 5]), 3)
    with pytest.raises(RuntimeError, match="non-negative"):
        one_hot(tt.tensor([-1, 0]), 3)
    with pytest.raises(RuntimeError, match="LongTensor|int"):
        one_hot(tt.tensor([0.0, 1.0]), 2)
