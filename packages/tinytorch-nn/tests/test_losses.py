"""Losses: hand-computed values, edge cases (ignored targets, one class, extreme logits),
reductions, gradients against finite differences, and PyTorch's errors."""

from __future__ import annotations

import math
import warnings
from functools import partial

import numpy as np
import pytest

import tinytorch
import tinytorch.nn as nn
import tinytorch.nn.functional as F

LOGP_123 = np.array([1.0, 2.0, 3.0]) - math.log(math.exp(1) + math.exp(2) + math.exp(3))
SOFTMAX_123 = np.exp(LOGP_123)


def _t(values, dtype=tinytorch.float32, requires_grad=False):
    return tinytorch.tensor(values, dtype=dtype, requires_grad=requires_grad)


def _f64(*shape, seed=0, scale=1.0):
    a = np.random.default_rng(seed).standard_normal(shape) * scale
    return tinytorch.tensor(a, dtype=tinytorch.float64, requires_grad=True)


def _no_warnings(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn()


# ---------------------------------------------------------------------------- cross-entropy
def test_cross_entropy_value_and_gradient_by_hand():
    x = _t([[1.0, 2.0, 3.0]], requires_grad=True)
    loss = nn.CrossEntropyLoss()(x, tinytorch.tensor([2]))
    assert loss.shape == ()
    assert loss.item() == pytest.approx(-LOGP_123[2], rel=1e-6)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy()[0], SOFTMAX_123 - [0, 0, 1], rtol=1e-6, atol=1e-7)


def test_cross_entropy_label_smoothing_by_hand():
    loss = F.cross_entropy(_t([[1.0, 2.0, 3.0]]), tinytorch.tensor([2]), label_smoothing=0.3)
    expected = 0.7 * -LOGP_123[2] + 0.1 * -LOGP_123.sum()
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_class_weights_normalise_the_mean_by_total_weight():
    x = np.random.default_rng(0).standard_normal((2, 3))
    per_row = F.cross_entropy(_t(x), tinytorch.tensor([0, 1]), reduction="none").numpy()
    loss = F.cross_entropy(_t(x), tinytorch.tensor([0, 1]), weight=_t([2.0, 1.0, 1.0]))
    assert loss.item() == pytest.approx((2 * per_row[0] + per_row[1]) / 3, rel=1e-6)


def test_cross_entropy_ignored_rows_do_not_count_or_get_gradient():
    x = _t([[1.0, 2.0, 3.0], [5.0, -1.0, 0.0]], requires_grad=True)
    loss = F.cross_entropy(x, tinytorch.tensor([2, -100]))
    assert loss.item() == pytest.approx(-LOGP_123[2], rel=1e-6)
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy()[1], 0)
    custom = F.cross_entropy(x, tinytorch.tensor([2, 0]), ignore_index=0, reduction="none")
    np.testing.assert_allclose(custom.detach().numpy(), [-LOGP_123[2], 0.0], rtol=1e-6)


def test_cross_entropy_all_targets_ignored_gives_nan_mean_and_zero_gradient():
    for smoothing in (0.0, 0.2):
        x = _t(np.ones((3, 4)), requires_grad=True)
        loss = _no_warnings(partial(F.cross_entropy, x, tinytorch.tensor([-100] * 3),
                                    label_smoothing=smoothing))
        assert math.isnan(loss.item())
        _no_warnings(loss.backward)
        np.testing.assert_array_equal(x.grad.numpy(), 0)
        total = F.cross_entropy(x, tinytorch.tensor([-100] * 3), reduction="sum")
        assert total.item() == 0.0


def test_cross_entropy_single_class_is_zero_loss_and_zero_gradient():
    x = _t([[3.0], [-7.0]], requires_grad=True)
    loss = F.cross_entropy(x, tinytorch.tensor([0, 0]))
    loss.backward()
    assert loss.item() == 0.0
    np.testing.assert_array_equal(x.grad.numpy(), 0)


def test_cross_entropy_extreme_logits_stay_finite():
    x = _t([[1e30, -1e30, 0.0], [-1e4, 1e4, 3.0], [88.0, 89.0, -88.0]], requires_grad=True)
    for smoothing in (0.0, 0.1):
        x.grad = None
        loss = _no_warnings(partial(F.cross_entropy, x, tinytorch.tensor([0, 1, 1]),
                                    label_smoothing=smoothing))
        loss.backward()
        assert math.isfinite(loss.item()) and np.isfinite(x.grad.numpy()).all()
    right = F.cross_entropy(_t([[1e4, -1e4]]), tinytorch.tensor([0]))
    wrong = F.cross_entropy(_t([[1e4, -1e4]]), tinytorch.tensor([1]))
    assert right.item() == 0.0 and wrong.item() == pytest.approx(2e4)


def test_cross_entropy_reductions_relate_as_sum_and_mean():
    x = _t(np.random.default_rng(1).standard_normal((5, 4)))
    t = tinytorch.tensor([0, 3, 1, 1, 2])
    none = F.cross_entropy(x, t, reduction="none")
    assert none.shape == (5,)
    assert F.cross_entropy(x, t, reduction="sum").item() == pytest.approx(none.numpy().sum(),
                                                                          rel=1e-6)
    assert F.cross_entropy(x, t).item() == pytest.approx(none.numpy().mean(), rel=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("upstream", [1.0, 2.5])
def test_cross_entropy_backward_twice_with_retain_graph(reduction, upstream):
    # Backward may build dx in its saved softmax array on the graph's last use; with
    # retain_graph the saved array must stay intact for the second call.
    x = _f64(6, 5, seed=3)
    t = tinytorch.tensor([0, 4, 2, 2, 1, 3])
    loss = F.cross_entropy(x, t, reduction=reduction, label_smoothing=0.1) * upstream
    if reduction == "none":
        loss = loss.sum()
    loss.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=1e-12)
    fresh = x.detach().requires_grad_()
    (F.cross_entropy(fresh, t, reduction=reduction, label_smoothing=0.1) * upstream
     ).sum().backward()
    np.testing.assert_allclose(fresh.grad.numpy(), first, rtol=1e-12)


def test_cross_entropy_with_spatial_dims_and_unbatched_input():
    x = _t(np.random.default_rng(2).standard_normal((2, 3, 4, 5)))
    t = tinytorch.tensor(np.random.default_rng(3).integers(0, 3, (2, 4, 5)))
    assert F.cross_entropy(x, t, reduction="none").shape == (2, 4, 5)
    flat = F.cross_entropy(x.permute(0, 2, 3, 1).reshape(-1, 3), t.reshape(-1))
    assert F.cross_entropy(x, t).item() == pytest.approx(flat.item(), rel=1e-6)
    single = F.cross_entropy(_t([1.0, 2.0, 3.0]), tinytorch.tensor(2), reduction="none")
    assert single.shape == () and single.item() == pytest.approx(-LOGP_123[2], rel=1e-6)


def test_cross_entropy_with_class_probabilities_by_hand():
    x = _t([[1.0, 2.0, 3.0]], requires_grad=True)
    y = _t([[0.2, 0.3, 0.5]])
    loss = F.cross_entropy(x, y)
    assert loss.item() == pytest.approx(-(np.array([0.2, 0.3, 0.5]) * LOGP_123).sum(), rel=1e-6)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy()[0], SOFTMAX_123 - [0.2, 0.3, 0.5], atol=1e-6)


@pytest.mark.parametrize("kwargs", [
    {}, {"label_smoothing": 0.25}, {"reduction": "sum"}, {"reduction": "none"},
    {"weight": True}, {"weight": True, "label_smoothing": 0.1, "ignore": True},
], ids=["mean", "smoothing", "sum", "none", "weight", "weight_smoothing_ignore"])
def test_cross_entropy_gradients_match_finite_differences(kwargs):
    kwargs = dict(kwargs)
    weight = _t([0.5, 2.0, 1.0, 1.5], tinytorch.float64) if kwargs.pop("weight", False) else None
    t2 = np.array([0, 3, 1, 2, 2])
    t4 = np.random.default_rng(5).integers(0, 4, (2, 3))
    if kwargs.pop("ignore", False):
        t2[1] = -100
        t4[0, 1] = -100
    for x, t in ((_f64(5, 4), t2), (_f64(2, 4, 3, seed=1), t4)):
        assert tinytorch.gradcheck(
            partial(F.cross_entropy, target=tinytorch.tensor(t), weight=weight, **kwargs), (x,))


def test_cross_entropy_probability_targets_gradcheck_in_both_arguments():
    x = _f64(3, 4)
    p = np.random.default_rng(1).random((3, 4))
    y = tinytorch.tensor(p / p.sum(axis=1, keepdims=True), requires_grad=True)
    w = _t([1.0, 2.0, 0.5, 1.0], tinytorch.float64)
    assert tinytorch.gradcheck(
        lambda x, y: F.cross_entropy(x, y, weight=w, label_smoothing=0.2), (x, y))


def test_cross_entropy_errors_match_pytorch():
    x = tinytorch.randn(3, 4)
    with pytest.raises(ValueError, match=r"batch_size \(3\) to match target batch_size \(2\)"):
        F.cross_entropy(x, tinytorch.tensor([0, 1]))
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        F.cross_entropy(x, tinytorch.tensor([0, 1, 5]))
    with pytest.raises(RuntimeError, match=r"Expected target size \[3, 5\], got \[3, 4\]"):
        F.cross_entropy(tinytorch.randn(3, 4, 5), tinytorch.zeros(3, 4, dtype=tinytorch.int64))
    with pytest.raises(RuntimeError, match="class indices"):
        F.cross_entropy(x, tinytorch.zeros(3))
    with pytest.raises(RuntimeError, match="for all 4 classes"):
        F.cross_entropy(x, tinytorch.tensor([0, 1, 2]), weight=tinytorch.ones(3))
    with pytest.raises(RuntimeError, match="label_smoothing"):
        F.cross_entropy(x, tinytorch.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.cross_entropy(x, tinytorch.tensor([0, 1, 2]), reduction="avg")


def test_legacy_size_average_and_reduce_flags_map_to_reduction():
    x, t = tinytorch.randn(4, 3), tinytorch.tensor([0, 1, 2, 0])
    with pytest.warns(UserWarning, match="reduction='sum'"):
        summed = F.cross_entropy(x, t, size_average=False)
    assert summed.item() == pytest.approx(F.cross_entropy(x, t, reduction="sum").item())
    with pytest.warns(UserWarning):
        assert nn.MSELoss(reduce=False).reduction == "none"


# ---------------------------------------------------------------------------- NLL
def test_nll_loss_by_hand():
    x = _t([[-1.0, -2.0], [-0.5, -3.0]], requires_grad=True)
    loss = nn.NLLLoss()(x, tinytorch.tensor([1, 0]))
    assert loss.item() == pytest.approx(1.25)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, -0.5], [-0.5, 0]])


def test_nll_loss_of_log_softmax_equals_cross_entropy():
    x = tinytorch.randn(6, 5)
    t = tinytorch.tensor([0, 4, 2, 2, 1, 3])
    w = tinytorch.rand(5)
    a = F.nll_loss(F.log_softmax(x, dim=1), t, weight=w)
    assert a.item() == pytest.approx(F.cross_entropy(x, t, weight=w).item(), rel=1e-5)


def test_nll_loss_all_ignored_is_nan_and_gradcheck():
    assert math.isnan(F.nll_loss(tinytorch.randn(2, 3), tinytorch.tensor([-100, -100])).item())
    t = tinytorch.tensor([[0, 2], [-100, 1]])
    w = _t([1.0, 3.0, 0.5], tinytorch.float64)
    for reduction in ("mean", "sum", "none"):
        assert tinytorch.gradcheck(
            partial(F.nll_loss, target=t, weight=w, reduction=reduction), (_f64(2, 3, 2),))


# ---------------------------------------------------------------------------- regression
def test_mse_l1_and_huber_by_hand():
    x = _t([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = _t([1.0, 0.0, 5.0, 3.5])
    cases = [
        (nn.MSELoss(), (0 + 4 + 4 + 0.25) / 4, [0, 1.0, -1.0, 0.25]),
        (nn.L1Loss(), (0 + 2 + 2 + 0.5) / 4, [0, 0.25, -0.25, 0.25]),
        (nn.HuberLoss(delta=1.0), (0 + 1.5 + 1.5 + 0.125) / 4, [0, 0.25, -0.25, 0.125]),
    ]
    for loss_fn, value, grad in cases:
        x.grad = None
        loss = loss_fn(x, y)
        loss.backward()
        assert loss.item() == pytest.approx(value)
        np.testing.assert_allclose(x.grad.numpy(), grad, atol=1e-7)
    assert nn.MSELoss(reduction="sum")(x, y).item() == pytest.approx(8.25)
    assert nn.L1Loss(reduction="none")(x, y).shape == (4,)


def test_regression_losses_gradcheck_in_input_and_target():
    x, y = _f64(3, 4), _f64(3, 4, seed=1)
    for fn in (F.mse_loss, F.l1_loss, lambda a, b, **k: F.huber_loss(a, b, delta=0.5, **k)):
        for reduction in ("mean", "sum", "none"):
            assert tinytorch.gradcheck(partial(fn, reduction=reduction), (x, y))


def test_mse_loss_warns_when_shapes_broadcast():
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(tinytorch.randn(3, 1), tinytorch.randn(3))


def test_huber_loss_rejects_non_positive_delta():
    with pytest.raises(RuntimeError, match="delta"):
        F.huber_loss(tinytorch.randn(2), tinytorch.randn(2), delta=0.0)


# ---------------------------------------------------------------------------- binary
def test_bce_by_hand_and_clamped_logs():
    x = _t([0.5, 0.9], requires_grad=True)
    loss = nn.BCELoss()(x, _t([1.0, 0.0]))
    assert loss.item() == pytest.approx((math.log(2) - math.log(0.1)) / 2, rel=1e-6)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 5.0], rtol=1e-5)
    edge = _no_warnings(lambda: F.binary_cross_entropy(_t([0.0, 1.0]), _t([1.0, 0.0]),
                                                       reduction="none"))
    np.testing.assert_array_equal(edge.numpy(), [100.0, 100.0])


def test_bce_gradient_at_the_edges_is_finite_like_pytorch():
    x = _t([0.0, 1.0, 0.5], requires_grad=True)
    F.binary_cross_entropy(x, _t([1.0, 0.0, 1.0]), reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1e12, 1e12, -2.0], rtol=1e-6)


def test_bce_with_logits_by_hand_and_extreme_logits():
    x = _t([0.0, 2.0], requires_grad=True)
    loss = nn.BCEWithLogitsLoss(reduction="none")(x, _t([1.0, 0.0]))
    np.testing.assert_allclose(loss.detach().numpy(), [math.log(2), math.log1p(math.exp(2))],
                               rtol=1e-6)
    big = _t([1e4, -1e4, 1e30], requires_grad=True)
    loss = _no_warnings(lambda: F.binary_cross_entropy_with_logits(big, _t([0.0, 1.0, 1.0]),
                                                                   reduction="none"))
    np.testing.assert_allclose(loss.detach().numpy(), [1e4, 1e4, 0.0])
    loss.sum().backward()
    np.testing.assert_allclose(big.grad.numpy(), [1.0, -1.0, 0.0])


def test_bce_with_logits_pos_weight_scales_positive_terms():
    loss = F.binary_cross_entropy_with_logits(_t([[0.0, 0.0]]), _t([[1.0, 0.0]]),
                                              pos_weight=_t([3.0, 3.0]), reduction="none")
    np.testing.assert_allclose(loss.numpy(), [[3 * math.log(2), math.log(2)]], rtol=1e-6)


def test_binary_losses_gradcheck_with_weights():
    rng = np.random.default_rng(3)
    p = tinytorch.tensor(rng.uniform(0.05, 0.95, (3, 4)), requires_grad=True)
    y = tinytorch.tensor(rng.random((3, 4)), requires_grad=True)
    w = tinytorch.tensor(rng.random(4))
    pw = tinytorch.tensor(rng.uniform(0.5, 3, 4))
    for reduction in ("mean", "sum", "none"):
        assert tinytorch.gradcheck(
            partial(F.binary_cross_entropy, weight=w, reduction=reduction), (p, y))
        assert tinytorch.gradcheck(
            partial(F.binary_cross_entropy_with_logits, weight=w, pos_weight=pw,
                    reduction=reduction), (_f64(3, 4, scale=3), y))


def test_binary_loss_errors_match_pytorch():
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(_t([1.5]), _t([1.0]))
    with pytest.raises(ValueError, match="different to the input size"):
        F.binary_cross_entropy(tinytorch.rand(3), tinytorch.rand(3, 1))
    with pytest.raises(ValueError, match="must be the same as input size"):
        F.binary_cross_entropy_with_logits(tinytorch.rand(3), tinytorch.rand(3, 1))


def test_losses_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 5)).astype(np.float32) * 3
    t = rng.integers(0, 5, 6)
    t[2] = -100
    w = rng.random(5).astype(np.float32)
    for kwargs in ({}, {"label_smoothing": 0.1}, {"reduction": "sum"}):
        a = tinytorch.tensor(x, requires_grad=True)
        b = torch.tensor(x, requires_grad=True)
        ours = F.cross_entropy(a, tinytorch.tensor(t), weight=tinytorch.tensor(w), **kwargs)
        theirs = torch.nn.functional.cross_entropy(b, torch.tensor(t), weight=torch.tensor(w),
                                                   **kwargs)
        ours.backward()
        theirs.backward()
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-6)
