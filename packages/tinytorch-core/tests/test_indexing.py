"""Indexing and index assignment: values, views, gradients (with repeats) and graph semantics."""

import numpy as np
import pytest

import tinytorch
from tinytorch.core.gradcheck import gradcheck


def _t(shape, seed=0):
    rng = np.random.default_rng(seed)
    return tinytorch.tensor(rng.standard_normal(shape), dtype=tinytorch.float64,
                            requires_grad=True)


@pytest.mark.parametrize("index", [
    0, -1, (1, 2), slice(1, None), (slice(None), 2), (None, 1), (Ellipsis, 1),
    (1, Ellipsis, None), (slice(None, None, 2), slice(3, 0, -1)), [0, 1, 0],
    (slice(None), [1, 1, 2]), ([0, 1], [2, 1]), ([[0, 1], [1, 0]],), (0, [1, 1]),
])
def test_getitem_matches_numpy_and_gradchecks(index):
    x = _t((2, 3, 4))
    np.testing.assert_array_equal(x[index].detach().numpy(), x.detach().numpy()[index])
    assert gradcheck(lambda a: a[index], (x,))


def test_basic_indexing_returns_a_view():
    x = tinytorch.arange(12).reshape(3, 4)
    row = x[1]
    row[0] = 100
    assert x[1, 0].item() == 100
    scalar = x[2, 3]
    assert scalar.shape == ()
    scalar.fill_(-5)
    assert x[2, 3].item() == -5


def test_repeated_integer_indices_accumulate_gradient():
    x = tinytorch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[tinytorch.tensor([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


def test_bool_mask_selects_and_routes_gradient():
    x = tinytorch.tensor([[1.0, -2.0], [-3.0, 4.0]], requires_grad=True)
    picked = x[x > 0]
    np.testing.assert_array_equal(picked.detach().numpy(), [1.0, 4.0])
    (picked * tinytorch.tensor([10.0, 20.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[10.0, 0.0], [0.0, 20.0]])


def test_numpy_bool_mask_and_row_mask():
    x = tinytorch.arange(6).reshape(3, 2)
    rows = x[np.array([True, False, True])]
    np.testing.assert_array_equal(rows.numpy(), [[0, 1], [4, 5]])
    assert x[tinytorch.tensor([False, True, False])].shape == (1, 2)


def test_mixed_slice_and_integer_tensor_index():
    x = _t((3, 4), seed=1)
    idx = tinytorch.tensor([[3, 3], [0, 1]])
    assert x[1:, idx].shape == (2, 2, 2)
    assert gradcheck(lambda a: a[1:, idx], (x,))


def test_float_index_tensor_is_rejected():
    x = tinytorch.zeros(3)
    with pytest.raises(IndexError, match="long, int or bool"):
        x[tinytorch.tensor([0.0, 1.0])]


def test_out_of_range_index_raises_index_error():
    with pytest.raises(IndexError):
        tinytorch.zeros(3)[5]


def test_setitem_writes_in_place_when_nothing_requires_grad():
    x = tinytorch.zeros(2, 3)
    base = x.array
    x[0, 1:] = 7.0
    x[1] = tinytorch.tensor([1.0, 2.0, 3.0])
    assert x.array is base
    np.testing.assert_array_equal(x.numpy(), [[0.0, 7.0, 7.0], [1.0, 2.0, 3.0]])


def test_setitem_under_no_grad_mutates_a_leaf_that_requires_grad():
    w = tinytorch.ones(3, requires_grad=True)
    with tinytorch.no_grad():
        w[1] = 5.0
    np.testing.assert_array_equal(w.detach().numpy(), [1.0, 5.0, 1.0])
    assert w.is_leaf and w.grad_fn is None


def test_setitem_on_leaf_requiring_grad_raises():
    w = tinytorch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w[0] = 2.0


def test_recorded_setitem_routes_gradients_to_both_operands():
    a = tinytorch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    v = tinytorch.tensor([10.0, 20.0], requires_grad=True)
    b = a * 2
    b[1:3] = v
    assert b.grad_fn is not None
    np.testing.assert_array_equal(b.detach().numpy(), [2.0, 10.0, 20.0, 8.0])
    (b * tinytorch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 0.0, 0.0, 8.0])
    np.testing.assert_array_equal(v.grad.numpy(), [2.0, 3.0])


def test_setitem_on_a_tensor_saved_for_backward_raises_in_backward():
    a = tinytorch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = a * 1
    c = b * b                   # saves b's values before the assignment
    b[0] = 0.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (c.sum() + b.sum()).backward()


def test_recorded_setitem_writes_into_memory_and_keeps_consumers_that_saved_nothing_right():
    a = tinytorch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = a * 1
    c = b + 1                   # saves nothing: the assignment cannot make it wrong
    view = b[1:]
    b[0] = 0.0
    b[2] = 5.0
    np.testing.assert_array_equal(view.detach().numpy(), [2.0, 5.0])
    (c.sum() + (b * 3).sum()).backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 4.0, 1.0])


def test_setitem_gradchecks_with_broadcast_value():
    def put(a, v):
        b = a * 1
        b[[0, 2], 1:] = v
        return b * b

    assert gradcheck(put, (_t((3, 4)), _t((3,), seed=2)))


def test_gradcheck_reports_a_wrong_gradient():
    class Wrong(tinytorch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 3

    with pytest.raises(RuntimeError, match="input 0"):
        gradcheck(Wrong.apply, (_t((2, 2)),))
    assert gradcheck(Wrong.apply, (_t((2, 2)),), raise_exception=False) is False


def test_gradcheck_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="require"):
        gradcheck(lambda a: a * 2, (tinytorch.ones(2, dtype=tinytorch.float64),))
