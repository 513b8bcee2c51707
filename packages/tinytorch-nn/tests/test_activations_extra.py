"""ELU, Softplus, Hardtanh, Mish and PReLU: values and derivatives worked out by hand,
gradcheck, in-place forms, generated shapes, and a cross-check against PyTorch."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch
import tinytorch.nn as nn
import tinytorch.nn.functional as F


def _f64(values, requires_grad=True):
    return tinytorch.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def _value_and_grad(fn, values):
    x = _f64(values)
    y = fn(x)
    y.sum().backward()
    return y.detach().numpy(), x.grad.numpy()


def test_elu_values_and_gradient_by_hand():
    y, g = _value_and_grad(nn.ELU(), [-1.0, 0.0, 2.0])
    np.testing.assert_allclose(y, [math.exp(-1) - 1, 0.0, 2.0], rtol=1e-15)
    np.testing.assert_allclose(g, [math.exp(-1), 1.0, 1.0], rtol=1e-15)


def test_elu_alpha_scales_the_negative_branch_and_its_slope_at_zero():
    y, g = _value_and_grad(nn.ELU(alpha=0.5), [-1.0, 0.0, 2.0])
    np.testing.assert_allclose(y, [0.5 * (math.exp(-1) - 1), 0.0, 2.0], rtol=1e-15)
    np.testing.assert_allclose(g, [0.5 * math.exp(-1), 0.5, 1.0], rtol=1e-15)


def test_softplus_values_and_gradient_by_hand():
    y, g = _value_and_grad(nn.Softplus(), [0.0, 1.0, -30.0])
    np.testing.assert_allclose(y, [math.log(2), math.log1p(math.e),
                                   math.log1p(math.exp(-30))], rtol=1e-14)
    np.testing.assert_allclose(g, [0.5, 1 / (1 + math.exp(-1)), math.exp(-30)], rtol=1e-12)


def test_softplus_beta_and_threshold_switch_to_the_identity():
    # beta·x = 0.5 is under the threshold 1; beta·x = 2 is above it, so y = x and dy/dx = 1
    y, g = _value_and_grad(nn.Softplus(beta=2, threshold=1), [0.25, 1.0])
    np.testing.assert_allclose(y, [math.log1p(math.exp(0.5)) / 2, 1.0], rtol=1e-15)
    np.testing.assert_allclose(g, [1 / (1 + math.exp(-0.5)), 1.0], rtol=1e-15)


def test_hardtanh_clamps_and_passes_gradient_strictly_inside():
    y, g = _value_and_grad(nn.Hardtanh(), [-2.0, -1.0, 0.5, 1.0, 3.0])
    np.testing.assert_array_equal(y, [-1, -1, 0.5, 1, 1])
    np.testing.assert_array_equal(g, [0, 0, 1, 0, 0])
    y, _ = _value_and_grad(lambda t: F.hardtanh(t, 0.0, 6.0), [-1.0, 3.0, 7.0])
    np.testing.assert_array_equal(y, [0, 3, 6])


def test_hardtanh_rejects_min_above_max_like_pytorch():
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(tinytorch.randn(3), 2.0, 1.0)
    with pytest.raises(AssertionError, match="must be greater than min_val"):
        nn.Hardtanh(1.0, 1.0)


def test_mish_values_and_gradient_by_hand():
    # mish(1) = tanh(log(1 + e)); mish'(0) = tanh(log 2) = (4 - 1) / (4 + 1) = 0.6
    y, g = _value_and_grad(nn.Mish(), [0.0, 1.0])
    np.testing.assert_allclose(y, [0.0, math.tanh(math.log1p(math.e))], rtol=1e-15)
    sp = math.log1p(math.e)
    d1 = math.tanh(sp) + (1 - math.tanh(sp) ** 2) / (1 + math.exp(-1))
    np.testing.assert_allclose(g, [0.6, d1], rtol=1e-14)


def test_prelu_shared_slope_values_and_gradients_by_hand():
    m = nn.PReLU().double()
    x = _f64([-2.0, 3.0, -1.0])
    y = m(x)
    y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), [-0.5, 3.0, -0.25])
    np.testing.assert_allclose(x.grad.numpy(), [0.25, 1.0, 0.25])
    np.testing.assert_allclose(m.weight.grad.numpy(), [-3.0])          # sum of x where x <= 0


def test_prelu_has_one_slope_per_channel_on_dim_1():
    m = nn.PReLU(num_parameters=2, init=0.1).double()
    m.weight.data = tinytorch.tensor([0.1, 0.2], dtype=tinytorch.float64)
    x = _f64([[[-1.0, 2.0], [-3.0, -4.0]]])                           # (N=1, C=2, L=2)
    y = m(x)
    y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), [[[-0.1, 2.0], [-0.6, -0.8]]])
    np.testing.assert_allclose(m.weight.grad.numpy(), [-1.0, -7.0])
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    assert tuple(m.weight.shape) == (2,) and repr(m) == "PReLU(num_parameters=2)"


def test_prelu_rejects_a_weight_that_does_not_match_the_channels():
    with pytest.raises(RuntimeError, match="parameter numbers = 4 and channel size = 3"):
        F.prelu(tinytorch.randn(2, 3), tinytorch.ones(4))
    with pytest.raises(RuntimeError, match="scalar or 1D"):
        F.prelu(tinytorch.randn(2, 3), tinytorch.ones(1, 3))


@pytest.mark.parametrize("make", [
    lambda: nn.ELU(), lambda: nn.ELU(alpha=2.0), lambda: nn.Softplus(),
    lambda: nn.Softplus(beta=3.0, threshold=5.0), lambda: nn.Hardtanh(-0.5, 2.0),
    lambda: nn.Mish(),
], ids=["elu", "elu_alpha", "softplus", "softplus_beta", "hardtanh", "mish"])
def test_gradients_match_finite_differences(make):
    x = np.random.default_rng(0).uniform(-4, 4, (3, 5))
    x[np.abs(x) < 0.05] = 0.3                   # keep clear of the kinks
    x[np.abs(x + 0.5) < 0.05] = 0.3
    x[np.abs(x - 2.0) < 0.05] = 0.3
    x[np.abs(3 * x - 5.0) < 0.05] = 0.3
    assert tinytorch.gradcheck(make(), (_f64(x),))


def test_prelu_gradients_match_finite_differences_for_input_and_weight():
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 3, (2, 3, 4))
    x[np.abs(x) < 0.05] = 0.5
    w = _f64([0.1, -0.3, 0.7])
    assert tinytorch.gradcheck(F.prelu, (_f64(x), w))
    assert tinytorch.gradcheck(F.prelu, (_f64(x), _f64([0.2])))


@pytest.mark.parametrize("fn", [F.elu, F.softplus, F.mish, F.hardtanh],
                         ids=["elu", "softplus", "mish", "hardtanh"])
def test_extreme_inputs_give_finite_values_and_gradients(fn):
    x = tinytorch.tensor([-3e38, -1e4, -100.0, 100.0, 1e4, 3e38], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no overflow warnings either
        y = fn(x)
        y.sum().backward()
    assert np.all(np.isfinite(y.detach().numpy())) and np.all(np.isfinite(x.grad.numpy()))


@pytest.mark.parametrize("fn, kwargs", [(F.elu, {"alpha": 0.7}), (F.hardtanh, {}),
                                        (F.mish, {})], ids=["elu", "hardtanh", "mish"])
def test_inplace_writes_into_the_input_and_keeps_the_gradient(fn, kwargs):
    values = np.array([-1.5, -0.2, 0.4, 2.0])
    expected = fn(_f64(values, requires_grad=False), **kwargs).numpy()
    x = _f64(values, requires_grad=False)
    out = fn(x, inplace=True, **kwargs)
    assert out is x
    np.testing.assert_allclose(x.numpy(), expected)
    leaf = _f64(values)
    ref_leaf = _f64(values)
    fn(leaf * 1, inplace=True, **kwargs).sum().backward()
    fn(ref_leaf, **kwargs).sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), ref_leaf.grad.numpy())


def test_inplace_on_a_leaf_that_requires_grad_is_refused():
    with pytest.raises(RuntimeError, match="leaf Variable"):
        F.elu(_f64([1.0, -1.0]), inplace=True)


def test_reprs_follow_pytorch():
    assert repr(nn.ELU()) == "ELU(alpha=1.0)"
    assert repr(nn.ELU(inplace=True)) == "ELU(alpha=1.0, inplace=True)"
    assert repr(nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    assert repr(nn.Hardtanh()) == "Hardtanh(min_val=-1.0, max_val=1.0)"
    assert repr(nn.Mish()) == "Mish()" and repr(nn.PReLU()) == "PReLU(num_parameters=1)"


_ARRAYS = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5),
                     elements=st.floats(-10, 10))


def _numpy_reference(name, x):
    sp = np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)
    return {"elu": np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
            "softplus": np.where(x > 20, x, sp),
            "hardtanh": np.clip(x, -1, 1),
            "mish": x * np.tanh(sp)}[name]


@settings(max_examples=40, deadline=None)
@given(x=_ARRAYS, name=st.sampled_from(["elu", "softplus", "hardtanh", "mish"]))
def test_any_shape_keeps_its_shape_and_matches_the_formula(x, name):
    t = _f64(x)
    y = getattr(F, name)(t)
    y.sum().backward()
    assert y.shape == t.shape and x.shape == tuple(t.grad.shape)
    np.testing.assert_allclose(y.detach().numpy(), _numpy_reference(name, x), atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(shape=hnp.array_shapes(min_dims=2, max_dims=4, max_side=4), seed=st.integers(0, 99))
def test_prelu_weight_gradient_has_the_weight_shape_for_any_input(shape, seed):
    rng = np.random.default_rng(seed)
    x = _f64(rng.normal(size=shape))
    w = _f64(rng.uniform(0, 1, shape[1]))
    y = F.prelu(x, w)
    y.sum().backward()
    wb = w.detach().numpy().reshape((1, -1) + (1,) * (len(shape) - 2))
    xn = x.detach().numpy()
    np.testing.assert_allclose(y.detach().numpy(), np.where(xn > 0, xn, wb * xn))
    axes = tuple(i for i in range(len(shape)) if i != 1)
    np.testing.assert_allclose(w.grad.numpy(), np.where(xn > 0, 0, xn).sum(axis=axes))


def test_matches_pytorch_values_and_gradients():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).uniform(-5, 5, (4, 3, 2))
    cases = [("elu", {"alpha": 0.8}), ("softplus", {"beta": 2.0, "threshold": 4.0}),
             ("hardtanh", {"min_val": -2.0, "max_val": 0.5}), ("mish", {})]
    for name, kwargs in cases:
        ours = _f64(x)
        y = getattr(F, name)(ours, **kwargs)
        y.sum().backward()
        theirs = torch.tensor(x, requires_grad=True)
        ty = getattr(torch.nn.functional, name)(theirs, **kwargs)
        ty.sum().backward()
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12,
                                   atol=1e-14, err_msg=name)
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12,
                                   atol=1e-14, err_msg=name)
    w = np.array([0.1, 0.5, -0.2])
    ours, ow = _f64(x), _f64(w)
    F.prelu(ours, ow).sum().backward()
    theirs, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    torch.nn.functional.prelu(theirs, tw).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ow.grad.numpy(), tw.grad.numpy(), rtol=1e-12)


def test_inplace_on_a_view_of_a_leaf_that_requires_grad_is_refused():
    leaf = _f64([[1.0, -1.0]])
    for fn in (F.elu, F.hardtanh, F.mish):
        with pytest.raises(RuntimeError, match="view of a leaf Variable"):
            fn(leaf.view(2), inplace=True)
