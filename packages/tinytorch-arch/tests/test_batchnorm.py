"""BatchNorm1d/2d and batch_norm: formulas, running statistics, train/eval, gradcheck, PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.batchnorm import BatchNorm1d, BatchNorm2d, batch_norm


def t64(a, grad=False):
    return tinytorch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def reference(x, mean, var, w, b, eps):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * w.reshape(shape) \
        + b.reshape(shape)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (4, 3, 5, 6)])
def test_training_normalizes_with_batch_statistics(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 3 + 2
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    axes = (0,) + tuple(range(2, len(shape)))
    out = batch_norm(t64(x), None, None, t64(w), t64(b), training=True, eps=1e-5)
    ref = reference(x, x.mean(axis=axes), x.var(axis=axes), w, b, 1e-5)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-10)


def test_running_statistics_use_momentum_and_unbiased_variance():
    bn = BatchNorm2d(3, momentum=0.3).double()
    rng = np.random.default_rng(1)
    mean, var = np.zeros(3), np.ones(3)
    for _ in range(3):
        x = rng.standard_normal((4, 3, 2, 5)) * 2 + 1
        bn(t64(x))
        m = x.size // 3
        mean = 0.7 * mean + 0.3 * x.mean(axis=(0, 2, 3))
        var = 0.7 * var + 0.3 * x.var(axis=(0, 2, 3)) * m / (m - 1)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-12)
    assert bn.num_batches_tracked.item() == 3


def test_momentum_none_is_a_cumulative_average():
    bn = BatchNorm1d(2, momentum=None).double()
    rng = np.random.default_rng(2)
    batches = [rng.standard_normal((6, 2)) + i for i in range(4)]
    for x in batches:
        bn(t64(x))
    np.testing.assert_allclose(bn.running_mean.numpy(),
                               np.mean([x.mean(axis=0) for x in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(),
                               np.mean([x.var(axis=0, ddof=1) for x in batches], axis=0),
                               rtol=1e-12)


def test_eval_uses_running_statistics_and_does_not_update_them():
    bn = BatchNorm2d(2).double()
    rng = np.random.default_rng(3)
    bn(t64(rng.standard_normal((5, 2, 3, 3)) * 4))
    bn.eval()
    rm, rv = bn.running_mean.numpy().copy(), bn.running_var.numpy().copy()
    x = rng.standard_normal((2, 2, 3, 3))
    out = bn(t64(x))
    ref = reference(x, rm, rv, np.ones(2), np.zeros(2), bn.eps)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean.numpy(), rm)
    assert bn.num_batches_tracked.item() == 1


def test_without_tracking_eval_still_uses_batch_statistics():
    bn = BatchNorm2d(2, track_running_stats=False, affine=False).double().eval()
    assert bn.running_mean is None and list(bn.state_dict()) == []
    x = np.random.default_rng(4).standard_normal((3, 2, 4, 4))
    ref = reference(x, x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)), np.ones(2), np.zeros(2),
                    1e-5)
    np.testing.assert_allclose(bn(t64(x)).numpy(), ref, rtol=1e-10)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_gradcheck_in_training_and_eval(training, affine):
    rng = np.random.default_rng(5)
    x = t64(rng.standard_normal((3, 2, 3, 2)), True)
    rm, rv = t64(rng.standard_normal(2)), t64(rng.random(2) + 0.5)
    params = (t64(rng.standard_normal(2), True), t64(rng.standard_normal(2), True))

    def fn(x, w=None, b=None):
        # running stats are not passed in training, so repeated calls change nothing
        return batch_norm(x, None if training else rm, None if training else rv, w, b,
                          training=training)

    assert tinytorch.gradcheck(fn, (x, *params) if affine else (x,))


def test_gradcheck_batchnorm1d_on_3d_input():
    bn = BatchNorm1d(3).double()
    x = t64(np.random.default_rng(6).standard_normal((4, 3, 5)), True)
    assert tinytorch.gradcheck(lambda a, w, b: bn(a), (x, bn.weight, bn.bias))


def test_float32_stays_float32():
    bn = BatchNorm2d(4)
    x = tinytorch.randn(8, 4, 5, 5, requires_grad=True)
    y = bn(x)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == bn.weight.grad.dtype == np.float32
    assert bn.running_mean.dtype == bn.running_var.dtype == np.float32
    assert bn.num_batches_tracked.dtype == np.int64


def test_parameters_buffers_and_state_dict_names_match_pytorch():
    bn = BatchNorm2d(5)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(bn.weight.detach().numpy(), np.ones(5))
    np.testing.assert_array_equal(bn.bias.detach().numpy(), np.zeros(5))
    assert repr(bn) == ("BatchNorm2d(5, eps=1e-05, momentum=0.1, affine=True, "
                        "track_running_stats=True)")


def test_state_dict_round_trip_gives_identical_eval_outputs(tmp_path):
    bn = BatchNorm2d(3)
    for _ in range(3):
        bn(tinytorch.randn(4, 3, 5, 5) * 2 + 1)
    tinytorch.save(bn.state_dict(), tmp_path / "bn.tt")
    fresh = BatchNorm2d(3)
    fresh.load_state_dict(tinytorch.load(tmp_path / "bn.tt"))
    bn.eval()
    fresh.eval()
    x = tinytorch.randn(2, 3, 5, 5)
    np.testing.assert_array_equal(bn(x).detach().numpy(), fresh(x).detach().numpy())
    assert fresh.num_batches_tracked.item() == 3


def test_errors_name_shapes():
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        BatchNorm2d(3)(tinytorch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        BatchNorm1d(3)(tinytorch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        BatchNorm1d(3)(tinytorch.zeros(1, 3))
    with pytest.raises(RuntimeError, match=r"expected input with 3 channels, got input of "
                                           r"shape \(2, 4, 5, 5\)"):
        BatchNorm2d(3)(tinytorch.zeros(2, 4, 5, 5))
    with pytest.raises(RuntimeError, match="running_mean should have 2 elements"):
        batch_norm(tinytorch.zeros(2, 2), tinytorch.zeros(3), tinytorch.ones(2))


@pytest.mark.parametrize("momentum", [0.1, None])
def test_matches_pytorch_over_train_and_eval(momentum):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    ours, ref = BatchNorm2d(3, momentum=momentum).double(), \
        torch.nn.BatchNorm2d(3, momentum=momentum).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(rng.standard_normal(3)))
        ref.bias.copy_(torch.tensor(rng.standard_normal(3)))
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    for step in range(3):
        x = rng.standard_normal((4, 3, 3, 5)) * (step + 1)
        xt, xr = t64(x, True), torch.tensor(x, requires_grad=True)
        y, yr = ours(xt), ref(xr)
        g = rng.standard_normal(x.shape)
        y.backward(t64(g))
        yr.backward(torch.tensor(g))
        np.testing.assert_allclose(y.detach().numpy(), yr.detach().numpy(), atol=1e-10)
        np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(ours.weight.grad.numpy(), ref.weight.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(ours.running_var.numpy(), ref.running_var.numpy(), atol=1e-12)
    ours.eval()
    ref.eval()
    x = rng.standard_normal((2, 3, 3, 5))
    np.testing.assert_allclose(ours(t64(x)).detach().numpy(),
                               ref(torch.tensor(x)).detach().numpy(), atol=1e-12)
