"""PixelShuffle / PixelUnshuffle: hand-worked layout, inverse pair, gradcheck, errors, PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.pixel_shuffle import (
    PixelShuffle,
    PixelUnshuffle,
    pixel_shuffle,
    pixel_unshuffle,
)


def t64(a, grad=False):
    return tinytorch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def test_four_channels_become_one_two_by_two_block():
    x = t64(np.arange(1, 9).reshape(1, 8, 1, 1))          # 2 output channels
    out = pixel_shuffle(x, 2).numpy()[0]
    np.testing.assert_array_equal(out, [[[1, 2], [3, 4]], [[5, 6], [7, 8]]])


def test_unshuffle_inverts_shuffle_with_extra_batch_dims():
    x = tinytorch.randn(2, 3, 8, 4, 5)
    assert tuple(PixelShuffle(2)(x).shape) == (2, 3, 2, 8, 10)
    np.testing.assert_array_equal(PixelUnshuffle(2)(PixelShuffle(2)(x)).numpy(), x.numpy())


def test_pixel_shuffle_and_unshuffle_pass_gradcheck():
    rng = np.random.default_rng(0)
    assert tinytorch.gradcheck(lambda a: pixel_shuffle(a, 3),
                               (t64(rng.standard_normal((1, 9, 2, 2)), True),))
    assert tinytorch.gradcheck(lambda a: pixel_unshuffle(a, 2),
                               (t64(rng.standard_normal((2, 1, 4, 6)), True),))


def test_bad_sizes_raise_like_pytorch():
    with pytest.raises(RuntimeError, match="divisible by the square of upscale_factor"):
        pixel_shuffle(tinytorch.randn(1, 5, 2, 2), 2)
    with pytest.raises(RuntimeError, match="height to be divisible"):
        pixel_unshuffle(tinytorch.randn(1, 1, 3, 4), 2)
    with pytest.raises(RuntimeError, match="at least 3 dimensions"):
        pixel_shuffle(tinytorch.randn(4, 4), 2)


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((2, 2, 8, 4, 6))
    np.testing.assert_array_equal(pixel_shuffle(t64(x), 2).numpy(),
                                  torch.nn.functional.pixel_shuffle(torch.tensor(x), 2).numpy())
    np.testing.assert_array_equal(
        pixel_unshuffle(t64(x), 2).numpy(),
        torch.nn.functional.pixel_unshuffle(torch.tensor(x), 2).numpy())
