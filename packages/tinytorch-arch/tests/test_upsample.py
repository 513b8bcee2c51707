"""F.interpolate / Upsample (nearest, bilinear, align_corners): hand-worked values,
gradcheck, errors and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.upsample import (
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
    interpolate,
)


def t64(a, grad=False):
    return tinytorch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def test_nearest_doubling_copies_each_pixel_into_a_block():
    x = t64([[[[1, 2], [3, 4]]]])
    out = interpolate(x, scale_factor=2).numpy()[0, 0]
    np.testing.assert_array_equal(out, np.kron([[1, 2], [3, 4]], np.ones((2, 2))))


def test_nearest_downsizing_picks_floor_of_scaled_positions():
    x = t64(np.arange(5.0).reshape(1, 1, 1, 5))
    np.testing.assert_array_equal(interpolate(x, size=(1, 3)).numpy().ravel(), [0, 1, 3])


def test_bilinear_half_pixel_centres_and_aligned_corners():
    x = t64([[[[0.0, 4.0]]]])
    # align_corners=False: sources -0.25 (clamped to 0), 0.25, 0.75, 1.25 (past the last pixel)
    np.testing.assert_allclose(interpolate(x, size=(1, 4), mode="bilinear").numpy().ravel(),
                               [0, 1, 3, 4])
    # align_corners=True: sources 0, 1/3, 2/3, 1
    out = interpolate(x, size=(1, 4), mode="bilinear", align_corners=True)
    np.testing.assert_allclose(out.numpy().ravel(), [0, 4 / 3, 8 / 3, 4])


def test_gradient_of_nearest_upsampling_sums_each_block():
    x = t64([[[[1, 2], [3, 4]]]], True)
    interpolate(x, scale_factor=3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((1, 1, 2, 2), 9.0))


@pytest.mark.parametrize("kwargs", [
    dict(scale_factor=2), dict(size=(3, 5)), dict(size=(7, 4), mode="bilinear"),
    dict(scale_factor=1.5, mode="bilinear", align_corners=True)])
def test_interpolate_passes_gradcheck(kwargs):
    x = t64(np.random.default_rng(0).standard_normal((2, 2, 4, 3)), True)
    assert tinytorch.gradcheck(lambda a: interpolate(a, **kwargs), (x,))


def test_modules_and_their_presets():
    x = tinytorch.randn(1, 2, 3, 3)
    np.testing.assert_allclose(Upsample(scale_factor=2)(x).numpy(),
                               UpsamplingNearest2d(scale_factor=2)(x).numpy())
    np.testing.assert_allclose(
        UpsamplingBilinear2d(size=5)(x).numpy(),
        interpolate(x, size=5, mode="bilinear", align_corners=True).numpy())
    assert "scale_factor=2.0" in repr(Upsample(scale_factor=2))


def test_bad_arguments_raise_like_pytorch():
    x = tinytorch.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        interpolate(x, size=2, scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor"):
        interpolate(x)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(NotImplementedError, match="bicubic"):
        interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(NotImplementedError, match="4-D"):
        interpolate(tinytorch.randn(1, 4, 4), scale_factor=2)


@pytest.mark.parametrize("kwargs", [
    dict(scale_factor=2), dict(size=(8, 3)), dict(scale_factor=(1.7, 0.6)),
    dict(size=(11, 13), mode="bilinear"),
    dict(size=(11, 13), mode="bilinear", align_corners=True),
    dict(scale_factor=2.3, mode="bilinear"), dict(size=(3, 4), mode="bilinear"),
    dict(scale_factor=2.3, mode="bilinear", recompute_scale_factor=True)])
def test_matches_pytorch(kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5, 7))
    ours, theirs = t64(x, True), torch.tensor(x, requires_grad=True)
    y, ty = interpolate(ours, **kwargs), torch.nn.functional.interpolate(theirs, **kwargs)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), atol=1e-12)
    g = rng.standard_normal(tuple(ty.shape))
    y.backward(t64(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-12)
