"""SmoothL1Loss and KLDivLoss: values and gradients worked out by hand, every reduction,
gradcheck in both arguments, their relation to HuberLoss, and a cross-check against PyTorch."""

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


def test_smooth_l1_values_and_gradient_by_hand():
    # d = [0.5, -2, 1]: 0.5·0.25 = 0.125, |-2| - 0.5 = 1.5, |1| - 0.5 = 0.5
    x = _f64([0.5, -2.0, 1.0])
    loss = nn.SmoothL1Loss()(x, _f64([0.0, 0.0, 0.0], requires_grad=False))
    loss.backward()
    assert loss.item() == pytest.approx(2.125 / 3, rel=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), np.array([0.5, -1.0, 1.0]) / 3, rtol=1e-15)


def test_smooth_l1_beta_divides_the_quadratic_part():
    # beta = 2, d = [1, -3]: 0.5·1/2 = 0.25 and 3 - 1 = 2; slopes 1/2 and -1
    x = _f64([1.0, -3.0])
    loss = F.smooth_l1_loss(x, _f64([0.0, 0.0], requires_grad=False), reduction="sum", beta=2.0)
    loss.backward()
    assert loss.item() == pytest.approx(2.25, rel=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), [0.5, -1.0])


def test_smooth_l1_with_beta_zero_is_l1():
    x, y = _f64([1.5, -0.25, 0.0]), _f64([0.5, 0.5, 0.0], requires_grad=False)
    loss = F.smooth_l1_loss(x, y, reduction="none", beta=0.0)
    np.testing.assert_allclose(loss.detach().numpy(), [1.0, 0.75, 0.0])
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, -1.0, 0.0])


def test_smooth_l1_rejects_negative_beta():
    with pytest.raises(RuntimeError, match="negative values for beta"):
        F.smooth_l1_loss(tinytorch.zeros(2), tinytorch.zeros(2), beta=-1.0)


@settings(max_examples=40, deadline=None)
@given(d=hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=4),
                    elements=st.floats(-5, 5)),
       beta=st.floats(0.1, 3.0))
def test_huber_is_beta_times_smooth_l1_for_any_shape(d, beta):
    x, y = _f64(d, requires_grad=False), _f64(np.zeros_like(d), requires_grad=False)
    smooth = F.smooth_l1_loss(x, y, reduction="none", beta=beta).numpy()
    huber = F.huber_loss(x, y, reduction="none", delta=beta).numpy()
    assert smooth.shape == d.shape
    np.testing.assert_allclose(beta * smooth, huber, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_smooth_l1_gradients_match_finite_differences_in_both_arguments(reduction):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    y[np.abs(np.abs(x - y) - 0.7) < 0.05] += 0.2          # away from the kink at |d| = beta
    assert tinytorch.gradcheck(
        lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=0.7), (_f64(x), _f64(y)))


def test_kl_div_values_and_gradient_by_hand():
    # p = (1/2, 1/2), q = (1/4, 3/4): KL(p || q) = 1/2 log 2 + 1/2 log(2/3)
    p = [[0.5, 0.5], [0.5, 0.5]]
    log_q = _f64(np.log([[0.25, 0.75], [0.25, 0.75]]))
    kl = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    loss = nn.KLDivLoss(reduction="batchmean")(log_q, _f64(p, requires_grad=False))
    loss.backward()
    assert loss.item() == pytest.approx(kl, rel=1e-14)             # sum over 2 rows / 2
    np.testing.assert_allclose(log_q.grad.numpy(), -np.array(p) / 2)


def test_kl_div_reductions_and_zero_target_terms():
    x = _f64([[-1.0, -0.5], [-2.0, -0.1]], requires_grad=False)
    t = _f64([[0.0, 0.5], [0.2, 0.8]], requires_grad=False)
    pointwise = np.array([[0.0, 0.5 * (math.log(0.5) + 0.5)],        # 0·log 0 = 0
                          [0.2 * (math.log(0.2) + 2.0), 0.8 * (math.log(0.8) + 0.1)]])
    np.testing.assert_allclose(F.kl_div(x, t, reduction="none").numpy(), pointwise)
    np.testing.assert_allclose(F.kl_div(x, t, reduction="sum").item(), pointwise.sum())
    np.testing.assert_allclose(F.kl_div(x, t, reduction="batchmean").item(), pointwise.sum() / 2)
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        mean = F.kl_div(x, t)
    np.testing.assert_allclose(mean.item(), pointwise.mean())


def test_kl_div_log_target_equals_the_probability_form():
    x = _f64(np.log([[0.2, 0.3, 0.5]]))
    p = np.array([[0.1, 0.6, 0.3]])
    plain = F.kl_div(x, _f64(p), reduction="sum")
    logged = F.kl_div(x, _f64(np.log(p)), reduction="sum", log_target=True)
    np.testing.assert_allclose(logged.item(), plain.item(), rtol=1e-14)
    np.testing.assert_allclose(logged.item(), float((p * np.log(p / [0.2, 0.3, 0.5])).sum()))


@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "batchmean"])
def test_kl_div_gradients_match_finite_differences(reduction, log_target):
    rng = np.random.default_rng(1)
    x = np.log(rng.dirichlet(np.ones(4), size=3))
    p = rng.dirichlet(np.ones(4), size=3)
    t = np.log(p) if log_target else p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert tinytorch.gradcheck(
            lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
            (_f64(x), _f64(t)))


def test_kl_div_rejects_unknown_reduction_and_module_keeps_batchmean():
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.kl_div(tinytorch.zeros(2), tinytorch.zeros(2), reduction="avg")
    assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"
    assert nn.KLDivLoss(log_target=True).log_target is True


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    for reduction in ("none", "mean", "sum"):
        for beta in (0.0, 0.5, 1.0):
            a, b = _f64(x), _f64(y)
            ours = F.smooth_l1_loss(a, b, reduction=reduction, beta=beta)
            ours.sum().backward()
            ta = torch.tensor(x, requires_grad=True)
            tb = torch.tensor(y, requires_grad=True)
            theirs = torch.nn.functional.smooth_l1_loss(ta, tb, reduction=reduction, beta=beta)
            theirs.sum().backward()
            np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(),
                                       rtol=1e-12)
            np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
            np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-12)
    logq = np.log(rng.dirichlet(np.ones(5), size=4))
    p = rng.dirichlet(np.ones(5), size=4)
    for reduction in ("none", "sum", "batchmean"):
        for log_target in (False, True):
            t = np.log(p) if log_target else p
            a, b = _f64(logq), _f64(t)
            ours = F.kl_div(a, b, reduction=reduction, log_target=log_target)
            ours.sum().backward()
            ta = torch.tensor(logq, requires_grad=True)
            tb = torch.tensor(t, requires_grad=True)
            theirs = torch.nn.functional.kl_div(ta, tb, reduction=reduction,
                                                log_target=log_target)
            theirs.sum().backward()
            np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(),
                                       rtol=1e-12)
            np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
            np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-12)
