"""GroupNorm / group_norm and InstanceNorm2d / instance_norm: hand-worked values, running
statistics, gradcheck, errors and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.groupnorm import GroupNorm, InstanceNorm2d, group_norm, instance_norm


def t64(a, grad=False):
    return tinytorch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def test_one_group_normalizes_each_sample_over_all_its_channels():
    x = t64([[[1.0], [2.0], [3.0], [4.0]]])              # N=1, C=4, L=1
    out = group_norm(x, 1, eps=0.0).numpy().ravel()
    np.testing.assert_allclose(out, (np.array([1, 2, 3, 4]) - 2.5) / np.sqrt(1.25))


def test_groups_are_normalized_separately_then_the_affine_is_per_channel():
    x = t64([[[0.0, 2.0], [4.0, 6.0], [1.0, 1.0], [5.0, 9.0]]])  # C=4 in 2 groups of 2
    w, b = t64([1, 2, 3, 4]), t64([0, 0, 1, -1])
    out = group_norm(x, 2, w, b, eps=0.0).numpy()[0]
    g1 = (np.array([[0, 2], [4, 6]]) - 3) / np.sqrt(5)
    g2 = (np.array([[1, 1], [5, 9]]) - 4) / np.sqrt(11)
    np.testing.assert_allclose(out, np.vstack([g1 * [[1], [2]], g2 * [[3], [4]] + [[1], [-1]]]))


@pytest.mark.parametrize("groups,affine", [(1, True), (3, True), (6, False)])
def test_group_norm_passes_gradcheck(groups, affine):
    rng = np.random.default_rng(0)
    x = t64(rng.standard_normal((2, 6, 3, 2)), True)
    if affine:
        w, b = t64(rng.standard_normal(6), True), t64(rng.standard_normal(6), True)
        assert tinytorch.gradcheck(lambda a, c, d: group_norm(a, groups, c, d), (x, w, b))
    else:
        assert tinytorch.gradcheck(lambda a: group_norm(a, groups), (x,))


def test_instance_norm_is_group_norm_with_one_channel_per_group():
    x = tinytorch.randn(2, 3, 4, 5)
    np.testing.assert_allclose(InstanceNorm2d(3)(x).numpy(), group_norm(x, 3).numpy(),
                               atol=1e-6)


def test_instance_norm_running_statistics_average_the_instances():
    x = t64([[[[0.0, 2.0]]], [[[4.0, 8.0]]]])            # N=2, C=1, per-instance means 1, 6
    rm, rv = t64([0.0]), t64([1.0])
    instance_norm(x, rm, rv, momentum=0.5)
    # mean of means 3.5; unbiased variances 2 and 8, mean 5
    np.testing.assert_allclose(rm.numpy(), [1.75])
    np.testing.assert_allclose(rv.numpy(), [3.0])


def test_instance_norm2d_defaults_and_eval_with_tracked_statistics():
    layer = InstanceNorm2d(3)
    assert layer.weight is None and layer.running_mean is None
    tracked = InstanceNorm2d(3, affine=True, track_running_stats=True)
    assert sorted(tracked.state_dict()) == ["bias", "num_batches_tracked", "running_mean",
                                            "running_var", "weight"]
    x = tinytorch.randn(4, 3, 5, 5) * 2 + 1
    tracked(x)
    tracked.eval()
    mean, var = tracked.running_mean.numpy(), tracked.running_var.numpy()
    expected = (x.numpy() - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)
    np.testing.assert_allclose(tracked(x).detach().numpy(), expected, atol=1e-5)
    unbatched = tinytorch.randn(3, 4, 4)
    np.testing.assert_allclose(layer(unbatched).numpy(), layer(unbatched.unsqueeze(0))[0].numpy())


def test_bad_arguments_raise_like_pytorch():
    with pytest.raises(ValueError, match="divisible by num_groups"):
        GroupNorm(4, 6)
    with pytest.raises(RuntimeError, match="divisible by num_groups"):
        group_norm(tinytorch.randn(2, 6, 3), 4)
    with pytest.raises(RuntimeError, match="weight of shape"):
        group_norm(tinytorch.randn(2, 6, 3), 3, tinytorch.ones(5))
    with pytest.raises(ValueError, match="expected 3D or 4D input"):
        InstanceNorm2d(3)(tinytorch.randn(2, 3))


def test_group_norm_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((3, 6, 4, 5)), rng.standard_normal(6), rng.standard_normal(6)
    ours = [t64(a, True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y, ty = group_norm(ours[0], 3, *ours[1:]), torch.nn.functional.group_norm(theirs[0], 3,
                                                                             *theirs[1:])
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), atol=1e-12)
    g = rng.standard_normal(x.shape)
    y.backward(t64(g))
    ty.backward(torch.tensor(g))
    for a, ta in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), atol=1e-12)


def test_instance_norm2d_matches_pytorch_in_train_and_eval():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.InstanceNorm2d(4, affine=True, track_running_stats=True,
                                     dtype=torch.float64)
    ours = InstanceNorm2d(4, affine=True, track_running_stats=True, dtype=tinytorch.float64)
    rng = np.random.default_rng(2)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(rng.standard_normal(4)))
        theirs.bias.copy_(torch.tensor(rng.standard_normal(4)))
    ours.load_state_dict({k: t64(v.numpy()) for k, v in theirs.state_dict().items()})
    for _ in range(2):
        x = rng.standard_normal((3, 4, 5, 6)) * 3 + 1
        np.testing.assert_allclose(ours(t64(x)).detach().numpy(),
                                   theirs(torch.tensor(x)).detach().numpy(), atol=1e-12)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(ours, name).numpy(),
                                   getattr(theirs, name).numpy(), atol=1e-12)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((2, 4, 3, 3))
    np.testing.assert_allclose(ours(t64(x)).detach().numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), atol=1e-12)
