"""AdaptiveMaxPool2d / adaptive_max_pool2d: hand-worked windows, indices, gradients shared
by overlapping windows, gradcheck, errors and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.adaptive_pooling import AdaptiveMaxPool2d, adaptive_max_pool2d


def t64(a, grad=False):
    return tinytorch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def test_overlapping_windows_take_their_maxima_and_share_the_gradient():
    # width 5 to 3: windows [0, 2), [1, 4), [3, 5)
    x = t64([[[[1, 5, 2, 4, 3]]]], True)
    out, idx = adaptive_max_pool2d(x, (1, 3), return_indices=True)
    np.testing.assert_array_equal(out.detach().numpy().ravel(), [5, 5, 4])
    np.testing.assert_array_equal(idx.numpy().ravel(), [1, 1, 3])
    assert idx.dtype == tinytorch.int64
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [0, 2, 0, 1, 0])


def test_ties_go_to_the_first_position_in_row_major_order_and_nan_wins():
    x = t64([[[[7, 7], [7, 7]]], [[[1, np.nan], [np.nan, 2]]]])
    out, idx = adaptive_max_pool2d(x, 1, return_indices=True)
    assert idx.numpy().ravel().tolist() == [0, 1]
    assert out.numpy()[0].item() == 7 and np.isnan(out.numpy()[1].item())


def test_output_size_none_keeps_that_dimension_and_unbatched_input_works():
    x = tinytorch.randn(3, 6, 5)
    out = AdaptiveMaxPool2d((2, None))(x)
    assert tuple(out.shape) == (3, 2, 5)
    np.testing.assert_allclose(out.numpy(), x.numpy().reshape(3, 2, 3, 5).max(axis=2))


@pytest.mark.parametrize("size", [(3, 4), 1, (5, 2), (9, 11)])
def test_adaptive_max_pool2d_passes_gradcheck(size):
    x = t64(np.random.default_rng(0).permutation(2 * 2 * 7 * 9).reshape(2, 2, 7, 9) / 10, True)
    assert tinytorch.gradcheck(lambda a: adaptive_max_pool2d(a, size), (x,))


def test_bad_inputs_raise():
    with pytest.raises(RuntimeError, match="3D .*or 4D"):
        adaptive_max_pool2d(tinytorch.randn(4, 4), 2)
    with pytest.raises(RuntimeError, match="must be positive"):
        adaptive_max_pool2d(tinytorch.randn(1, 1, 4, 4), 0)
    with pytest.raises(RuntimeError, match="floating-point"):
        adaptive_max_pool2d(tinytorch.ones(1, 1, 4, 4, dtype=tinytorch.int64), 2)


@pytest.mark.parametrize("size", [(3, 4), (1, 1), (7, 9), (5, 2), (10, 12)])
def test_matches_pytorch(size):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 9))
    ours, theirs = t64(x, True), torch.tensor(x, requires_grad=True)
    out, idx = adaptive_max_pool2d(ours, size, return_indices=True)
    tout, tidx = torch.nn.functional.adaptive_max_pool2d(theirs, size, return_indices=True)
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    g = rng.standard_normal(tuple(tout.shape))
    out.backward(t64(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-12)
