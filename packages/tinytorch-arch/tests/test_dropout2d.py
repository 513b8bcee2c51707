"""Dropout2d / dropout2d: whole channels dropped, survivors scaled, identity in eval."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.dropout2d import Dropout2d, dropout2d


def channel_planes(y):
    """(N, C, H, W) -> (N·C, H·W), one row per channel plane."""
    return y.reshape(y.shape[0] * y.shape[1], -1)


def test_drops_whole_channels_and_scales_the_rest():
    tinytorch.manual_seed(0)
    x = tinytorch.ones(64, 32, 3, 4)
    y = channel_planes(dropout2d(x, p=0.25).numpy())
    dropped = (y == 0).all(axis=1)
    kept = np.isclose(y, 1 / 0.75).all(axis=1)
    assert (dropped | kept).all()          # no plane is partly dropped
    assert 0.2 < dropped.mean() < 0.3      # 2048 planes: p = 0.25 within ±0.05


def test_backward_zeroes_dropped_channels_and_scales_kept_ones():
    tinytorch.manual_seed(1)
    x = tinytorch.randn(8, 6, 5, 5, requires_grad=True)
    y = dropout2d(x, p=0.5)
    y.sum().backward()
    grad = channel_planes(x.grad.numpy())
    out = channel_planes(y.detach().numpy())
    dropped = (out == 0).all(axis=1)
    np.testing.assert_array_equal(grad[dropped], 0.0)
    np.testing.assert_allclose(grad[~dropped], 2.0)


def test_gradcheck_with_a_fixed_mask():
    x = tinytorch.tensor(np.random.default_rng(2).standard_normal((2, 3, 2, 2)),
                         requires_grad=True)

    def fn(a):
        tinytorch.manual_seed(3)  # the same channels are dropped on every evaluation
        return dropout2d(a, p=0.4)

    assert tinytorch.gradcheck(fn, (x,))


def test_eval_and_p_zero_are_the_identity_and_p_one_zeroes_everything():
    x = tinytorch.randn(2, 3, 4, 4)
    layer = Dropout2d(0.5).eval()
    assert layer(x) is x
    assert dropout2d(x, p=0.0) is x
    assert not dropout2d(x, p=1.0).numpy().any()


def test_same_seed_same_mask_and_dtype_kept():
    x = tinytorch.randn(4, 8, 3, 3)
    tinytorch.manual_seed(7)
    a = dropout2d(x, 0.5)
    tinytorch.manual_seed(7)
    b = dropout2d(x, 0.5)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == np.float32


def test_inplace_writes_into_the_input():
    tinytorch.manual_seed(4)
    x = tinytorch.ones(4, 8, 2, 2)
    y = Dropout2d(0.5, inplace=True)(x)
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert (x.numpy() == 0).any()


def test_3d_input_is_channelwise_over_n_c_l_with_a_warning():
    tinytorch.manual_seed(5)
    with pytest.warns(UserWarning, match="interpreted as shape \\(N, C, L\\)"):
        y = dropout2d(tinytorch.ones(16, 8, 6), 0.5).numpy()
    rows = y.reshape(-1, 6)
    assert ((rows == 0).all(axis=1) | (rows == 2).all(axis=1)).all()


def test_invalid_probability_raises_value_error():
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        Dropout2d(1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        dropout2d(tinytorch.ones(1, 1, 2, 2), -0.1)
    assert repr(Dropout2d(0.2)) == "Dropout2d(p=0.2, inplace=False)"
