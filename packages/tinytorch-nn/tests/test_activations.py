"""Activations: values worked out by hand, accuracy of the erf-based GELU, gradients, in-place."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tinytorch
import tinytorch.nn as nn
import tinytorch.nn.functional as F


def _f64(values, requires_grad=True):
    return tinytorch.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def _gelu_ref(x: float) -> float:
    """x·Φ(x) from math.erfc, accurate in both tails."""
    return x * 0.5 * math.erfc(-x / math.sqrt(2))


def test_relu_values_and_gradient():
    x = tinytorch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    y = nn.ReLU()(x)
    y.sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), [0, 0, 2])
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 1])


def test_leaky_relu_values_and_gradient_use_the_slope_at_and_below_zero():
    x = tinytorch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    y = nn.LeakyReLU(0.1)(x)
    y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), [-0.1, 0, 2])
    np.testing.assert_allclose(x.grad.numpy(), [0.1, 0.1, 1])


def test_gelu_exact_matches_hand_values():
    y = nn.GELU()(_f64([-1.0, 0.0, 1.0, 2.0], requires_grad=False)).numpy()
    np.testing.assert_allclose(y, [-0.15865525393145707, 0.0, 0.8413447460685429,
                                   1.9544997361036416], rtol=1e-13, atol=1e-15)


def test_gelu_exact_derivative_matches_hand_values():
    x = _f64([0.0, 1.0])
    F.gelu(x).sum().backward()
    phi1 = math.exp(-0.5) / math.sqrt(2 * math.pi)              # Φ'(1)
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.8413447460685429 + phi1], rtol=1e-12)


def test_gelu_tanh_matches_its_formula():
    xs = np.linspace(-6, 6, 49)
    ref = [0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))) for v in xs]
    y = nn.GELU("tanh")(_f64(xs, requires_grad=False)).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype, tol", [(np.float32, 2.5e-7), (np.float64, 1e-14)])
def test_gelu_exact_is_accurate_across_the_range(dtype, tol):
    xs = np.linspace(-10, 10, 4001).astype(dtype)
    y = F.gelu(tinytorch.tensor(xs)).numpy()
    assert y.dtype == dtype
    ref = np.array([_gelu_ref(float(v)) for v in xs])
    err = np.abs(y - ref) / np.maximum(np.abs(xs.astype(np.float64)), 1.0)
    assert err.max() < tol


def test_gelu_exact_keeps_relative_accuracy_in_the_lower_tail_in_float64():
    xs = np.array([-8.0, -12.0, -20.0])
    y = F.gelu(tinytorch.tensor(xs)).numpy()
    ref = np.array([_gelu_ref(v) for v in xs])
    np.testing.assert_allclose(y, ref, rtol=1e-12)


def test_silu_values():
    y = nn.SiLU()(_f64([-1.0, 0.0, 1.0], requires_grad=False)).numpy()
    s = 1 / (1 + math.exp(-1))
    np.testing.assert_allclose(y, [-(1 - s), 0.0, s], rtol=1e-14)


def test_sigmoid_and_tanh_values():
    x = _f64([-2.0, 0.0, 3.0], requires_grad=False)
    np.testing.assert_allclose(nn.Sigmoid()(x).numpy(), [1 / (1 + math.exp(2)), 0.5,
                                                         1 / (1 + math.exp(-3))])
    np.testing.assert_allclose(nn.Tanh()(x).numpy(), np.tanh([-2.0, 0.0, 3.0]))


@pytest.mark.parametrize("make", [
    lambda: nn.GELU(), lambda: nn.GELU("tanh"), lambda: nn.SiLU(), lambda: nn.Sigmoid(),
    lambda: nn.Tanh(), lambda: nn.LeakyReLU(0.2), lambda: nn.ReLU(),
    lambda: nn.Softmax(dim=1), lambda: nn.LogSoftmax(dim=0),
], ids=["gelu", "gelu_tanh", "silu", "sigmoid", "tanh", "leaky_relu", "relu", "softmax",
        "log_softmax"])
def test_activation_gradients_match_finite_differences(make):
    rng = np.random.default_rng(0)
    x = rng.uniform(-4, 4, (3, 5))
    x[np.abs(x) < 0.05] = 0.3                     # keep clear of the kinks of relu/leaky_relu
    assert tinytorch.gradcheck(make(), (_f64(x),))


@pytest.mark.parametrize("fn", [F.gelu, lambda t: F.gelu(t, approximate="tanh"), F.silu,
                                F.sigmoid], ids=["gelu", "gelu_tanh", "silu", "sigmoid"])
def test_extreme_inputs_give_finite_values_and_gradients(fn):
    x = tinytorch.tensor([-3e38, -1e4, -100.0, 100.0, 1e4, 3e38], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no overflow / invalid-value warnings either
        y = fn(x)
        y.sum().backward()
    assert np.all(np.isfinite(y.detach().numpy())) and np.all(np.isfinite(x.grad.numpy()))


def test_gelu_saturates_like_identity_and_zero():
    y = F.gelu(tinytorch.tensor([-1e4, 1e4])).numpy()
    np.testing.assert_array_equal(y, [0.0, 1e4])


def test_gelu_rejects_unknown_approximation_and_integer_input():
    with pytest.raises(RuntimeError, match="none or tanh"):
        nn.GELU("fast")(tinytorch.randn(2))
    with pytest.raises(RuntimeError, match="floating-point"):
        F.gelu(tinytorch.tensor([1, 2]))


def test_gelu_in_no_grad_records_nothing():
    x = tinytorch.randn(4, requires_grad=True)
    with tinytorch.no_grad():
        y = F.gelu(x)
    assert not y.requires_grad and y.grad_fn is None


def test_inplace_relu_on_a_non_leaf_returns_it_and_keeps_gradients_right():
    x = tinytorch.tensor([-1.0, 2.0, -3.0, 4.0], requires_grad=True)
    h = x * 2
    out = nn.ReLU(inplace=True)(h)
    assert out is h
    np.testing.assert_array_equal(h.detach().numpy(), [0, 4, 0, 8])
    h.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 2, 0, 2])


def test_inplace_activation_on_a_leaf_that_requires_grad_raises():
    with pytest.raises(RuntimeError, match="leaf Variable"):
        F.relu(tinytorch.randn(3, requires_grad=True), inplace=True)


def test_inplace_without_graph_writes_into_the_same_memory():
    x = tinytorch.tensor([-1.0, 1.0])
    view = x.array
    F.leaky_relu(x, 0.5, inplace=True)
    F.silu(x, inplace=True)
    np.testing.assert_allclose(view, [-0.5 / (1 + math.exp(0.5)), 1 / (1 + math.exp(-1))])


def test_softmax_modules_normalise_along_dim():
    x = tinytorch.randn(3, 4)
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).numpy().sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(np.exp(nn.LogSoftmax(dim=0)(x).numpy()).sum(axis=0), 1,
                               rtol=1e-6)


def test_softmax_without_dim_warns_and_uses_pytorchs_legacy_choice():
    x = tinytorch.randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = F.softmax(x)
    np.testing.assert_allclose(y.numpy().sum(axis=1), 1, rtol=1e-6)


def test_activation_reprs():
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.LeakyReLU(0.2, inplace=True)) == "LeakyReLU(negative_slope=0.2, inplace=True)"
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.Softmax(dim=-1)) == "Softmax(dim=-1)"


def test_activations_match_pytorch_in_float32():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((64, 33)).astype(np.float32) * 4
    pairs = [(F.gelu, torch.nn.functional.gelu),
             (lambda t: F.gelu(t, approximate="tanh"),
              lambda t: torch.nn.functional.gelu(t, approximate="tanh")),
             (F.silu, torch.nn.functional.silu)]
    for ours, theirs in pairs:
        a = tinytorch.tensor(x, requires_grad=True)
        b = torch.tensor(x, requires_grad=True)
        ours(a).sum().backward()
        theirs(b).sum().backward()
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy())
        np.testing.assert_allclose(ours(a).detach().numpy(), theirs(b).detach().numpy(),
                                   atol=2e-6, rtol=1e-5)
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=5e-6, rtol=1e-5)
