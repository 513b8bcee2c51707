"""Gradients worked out by hand, and PyTorch's conventions at the points where ops have kinks."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinytorch as tt


def leaf(values, dtype=tt.float64) -> tt.Tensor:
    return tt.tensor(values, dtype=dtype, requires_grad=True)


def grad_of(fn, values) -> np.ndarray:
    x = leaf(values)
    out = fn(x)
    (out if out.ndim == 0 else out.sum()).backward()
    return x.grad.numpy()


def test_cubic_plus_linear_at_two_is_fourteen() -> None:
    # d/dx (x^3 + 2x) = 3x^2 + 2 = 14 at x = 2
    x = leaf(2.0)
    (x ** 3 + 2 * x).backward()
    assert x.grad.item() == 14.0


def test_product_rule_and_quotient_rule() -> None:
    # f = x*y + x/y at (3, 2): df/dx = y + 1/y = 2.5, df/dy = x - x/y^2 = 2.25
    x, y = leaf(3.0), leaf(2.0)
    (x * y + x / y).backward()
    assert x.grad.item() == 2.5
    assert y.grad.item() == 2.25


def test_chain_rule_through_exp_log_sqrt_sin() -> None:
    # f = sqrt(exp(2x)) = e^x ; g = log(x^2) = 2 log x ; h = sin(x)^2
    assert grad_of(lambda x: tt.sqrt(tt.exp(2 * x)), 1.5) == pytest.approx(math.exp(1.5))
    assert grad_of(lambda x: tt.log(x * x), 4.0) == pytest.approx(0.5)
    assert grad_of(lambda x: x.sin() ** 2, 0.3) == pytest.approx(2 * math.sin(0.3) * math.cos(0.3))


def test_known_derivatives_at_simple_points() -> None:
    assert grad_of(tt.sigmoid, 0.0) == 0.25
    assert grad_of(tt.tanh, 0.0) == 1.0
    assert grad_of(tt.sqrt, 4.0) == 0.25
    assert grad_of(tt.rsqrt, 4.0) == pytest.approx(-0.5 * 4.0 ** -1.5)
    assert grad_of(tt.cos, math.pi / 2) == pytest.approx(-1.0)
    assert grad_of(lambda x: 2.0 ** x, 3.0) == pytest.approx(8.0 * math.log(2.0))
    assert grad_of(lambda x: 1.0 / x, 2.0) == -0.25


def test_softmax_gradient_of_a_known_vector() -> None:
    # s = softmax([1, 2, 3]); d s_0 / d x = s_0 * (e_0 - s)
    e = [math.exp(v) for v in (1.0, 2.0, 3.0)]
    s = [v / sum(e) for v in e]
    x = leaf([1.0, 2.0, 3.0])
    probs = tt.softmax(x, dim=0)
    np.testing.assert_allclose(probs.detach().numpy(), s, rtol=1e-12)
    probs[0].backward()
    expected = [s[0] * (1 - s[0]), -s[0] * s[1], -s[0] * s[2]]
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_log_softmax_gradient_is_onehot_minus_softmax() -> None:
    e = [math.exp(v) for v in (0.0, 1.0, -1.0)]
    s = [v / sum(e) for v in e]
    x = leaf([[0.0, 1.0, -1.0]])
    x.log_softmax(dim=1)[0, 1].backward()
    np.testing.assert_allclose(x.grad.numpy(), [[-s[0], 1 - s[1], -s[2]]], rtol=1e-12)


def test_matmul_gradient_values() -> None:
    # L = sum(X @ W): dL/dX = 1 @ W^T (row sums of W), dL/dW = X^T @ 1 (column sums of X)
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    w = leaf([[5.0, 6.0], [7.0, 8.0]])
    (x @ w).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[11.0, 15.0], [11.0, 15.0]])
    np.testing.assert_array_equal(w.grad.numpy(), [[4.0, 4.0], [6.0, 6.0]])


def test_matrix_vector_and_dot_gradients() -> None:
    a = leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    v = leaf([1.0, 0.0, -1.0])
    (a @ v).sum().backward()  # a @ v = [-2, -2]
    np.testing.assert_array_equal(a.grad.numpy(), [[1.0, 0.0, -1.0], [1.0, 0.0, -1.0]])
    np.testing.assert_array_equal(v.grad.numpy(), [5.0, 7.0, 9.0])


def test_broadcast_bias_gradient_sums_over_the_batch() -> None:
    x = tt.ones(4, 3, dtype=tt.float64)
    b = leaf([0.0, 0.0, 0.0])
    (x + b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [4.0, 4.0, 4.0])
    c = leaf([[2.0]])
    (x * c).sum().backward()
    assert c.grad.shape == (1, 1) and c.grad.item() == 12.0


def test_mean_var_std_gradients() -> None:
    v = [1.0, 2.0, 3.0, 6.0]  # mean 3, deviations -2 -1 0 3, sum of squares 14
    np.testing.assert_allclose(grad_of(lambda x: x.mean(), v), [0.25] * 4)
    # unbiased var = 14 / 3; d var / d x_i = 2 (x_i - mean) / 3
    np.testing.assert_allclose(grad_of(lambda x: x.var(), v), [-4 / 3, -2 / 3, 0.0, 2.0])
    # std = sqrt(14/3); d std = d var / (2 std)
    std = math.sqrt(14 / 3)
    np.testing.assert_allclose(grad_of(lambda x: x.std(), v),
                               [d / (2 * std) for d in (-4 / 3, -2 / 3, 0.0, 2.0)])
    np.testing.assert_allclose(grad_of(lambda x: x.var(correction=0), v),
                               [-1.0, -0.5, 0.0, 1.5])


def test_norm_and_logsumexp_gradients() -> None:
    np.testing.assert_allclose(grad_of(lambda x: x.norm(), [3.0, 4.0]), [0.6, 0.8])
    np.testing.assert_allclose(grad_of(lambda x: x.norm(p=1), [3.0, -4.0]), [1.0, -1.0])
    # logsumexp of equal entries: gradient is uniform
    np.testing.assert_allclose(grad_of(lambda x: x.logsumexp(dim=0), [0.5] * 4), [0.25] * 4)


def test_indexing_gradient_scatters_back_and_adds_repeats() -> None:
    x = leaf([10.0, 20.0, 30.0])
    x[tt.tensor([0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 1.0])


def test_gather_and_cat_gradients() -> None:
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    x.gather(1, tt.tensor([[1, 1], [0, 1]])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 2.0], [1.0, 1.0]])
    a, b = leaf([1.0]), leaf([2.0, 3.0])
    (tt.cat([a, b]) * tt.tensor([1.0, 2.0, 3.0], dtype=tt.float64)).sum().backward()
    assert a.grad.tolist() == [1.0] and b.grad.tolist() == [2.0, 3.0]


# ------------------------------------------------------------ PyTorch's choices at kinks and ties
def test_relu_and_abs_have_zero_gradient_at_zero() -> None:
    np.testing.assert_array_equal(grad_of(tt.relu, [-1.0, 0.0, 1.0]), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(grad_of(tt.abs, [-1.0, 0.0, 1.0]), [-1.0, 0.0, 1.0])


def test_clamp_passes_gradient_on_the_boundary() -> None:
    np.testing.assert_array_equal(grad_of(lambda x: x.clamp(0.0, 1.0), [-1.0, 0.0, 1.0, 2.0]),
                                  [0.0, 1.0, 1.0, 0.0])


def test_max_of_all_elements_and_amax_split_the_gradient_between_ties() -> None:
    np.testing.assert_array_equal(grad_of(lambda x: x.max(), [1.0, 3.0, 3.0, 2.0]),
                                  [0.0, 0.5, 0.5, 0.0])
    np.testing.assert_array_equal(grad_of(lambda x: x.amax(0), [1.0, 3.0, 3.0, 2.0]),
                                  [0.0, 0.5, 0.5, 0.0])


def test_max_with_dim_sends_the_gradient_to_the_returned_index() -> None:
    x = leaf([[1.0, 3.0, 3.0], [5.0, 0.0, 5.0]])
    values, indices = x.max(dim=1)
    values.sum().backward()
    chosen = np.zeros((2, 3))
    chosen[np.arange(2), indices.numpy()] = 1.0
    np.testing.assert_array_equal(x.grad.numpy(), chosen)
    assert x.grad.numpy().sum() == 2.0


def test_maximum_of_equal_values_splits_the_gradient() -> None:
    a, b = leaf([1.0, 2.0]), leaf([1.0, 3.0])
    tt.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 0.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.5, 1.0])


def test_where_sends_zero_to_the_side_not_taken() -> None:
    a, b = leaf([1.0, 2.0, 3.0]), leaf([4.0, 5.0, 6.0])
    tt.where(tt.tensor([True, False, True]), a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.0, 1.0, 0.0])


def test_gradient_dtype_follows_the_input_dtype() -> None:
    for dtype in (tt.float32, tt.float64):
        x = tt.tensor([1.0, 2.0], dtype=dtype, requires_grad=True)
        (x.exp() * 1.5).sum().backward()
        assert x.grad.dtype == dtype
    h = tt.tensor([1.0, 2.0], dtype=tt.float32, requires_grad=True)
    (h.double() * 2).sum().backward()
    assert h.grad.dtype == tt.float32 and h.grad.tolist() == [2.0, 2.0]
