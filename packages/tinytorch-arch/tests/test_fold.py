"""F.unfold / F.fold and nn.Unfold / nn.Fold: hand-worked columns, adjointness, gradcheck,
errors and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.fold import Fold, Unfold, fold, unfold


def t64(a, grad=False):
    return tinytorch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def test_unfold_puts_each_block_in_a_column_channel_then_kernel_order():
    x = t64(np.arange(9).reshape(1, 1, 3, 3))
    cols = unfold(x, 2).numpy()[0]
    # blocks at (0,0), (0,1), (1,0), (1,1); rows are the kernel offsets (0,0), (0,1), (1,0), (1,1)
    np.testing.assert_array_equal(cols, [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7],
                                         [4, 5, 7, 8]])


def test_fold_of_unfold_counts_how_many_blocks_cover_each_pixel():
    ones = t64(np.ones((1, 2, 3, 3)))
    counts = fold(unfold(ones, 2), (3, 3), 2).numpy()
    np.testing.assert_array_equal(counts[0, 1], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_padding_and_stride_pick_the_right_blocks():
    x = t64(np.arange(1, 5).reshape(1, 1, 2, 2))
    cols = unfold(x, 2, padding=1, stride=2).numpy()[0]
    # four blocks, each holding one pixel of x at the opposite corner
    np.testing.assert_array_equal(cols, [[0, 0, 0, 4], [0, 0, 3, 0], [0, 2, 0, 0],
                                         [1, 0, 0, 0]])


@pytest.mark.parametrize("kernel,dilation,padding,stride", [
    (2, 1, 0, 1), ((2, 3), (1, 2), 1, (2, 1)), (3, 2, (2, 1), 3)])
def test_fold_is_the_adjoint_of_unfold(kernel, dilation, padding, stride):
    rng = np.random.default_rng(0)
    x = t64(rng.standard_normal((2, 3, 7, 8)))
    cols = unfold(x, kernel, dilation, padding, stride)
    c = t64(rng.standard_normal(tuple(cols.shape)))
    back = fold(c, (7, 8), kernel, dilation, padding, stride)
    np.testing.assert_allclose((cols.numpy() * c.numpy()).sum(),
                               (x.numpy() * back.numpy()).sum(), rtol=1e-12)


@pytest.mark.parametrize("kernel,dilation,padding,stride", [
    (2, 1, 0, 1), ((2, 3), (1, 2), 1, (2, 1))])
def test_unfold_and_fold_pass_gradcheck(kernel, dilation, padding, stride):
    rng = np.random.default_rng(1)
    x = t64(rng.standard_normal((2, 2, 5, 6)), True)
    assert tinytorch.gradcheck(lambda a: unfold(a, kernel, dilation, padding, stride), (x,))
    cols = unfold(x.detach(), kernel, dilation, padding, stride)
    c = t64(rng.standard_normal(tuple(cols.shape)), True)
    assert tinytorch.gradcheck(lambda a: fold(a, (5, 6), kernel, dilation, padding, stride),
                               (c,))


def test_unbatched_inputs_and_modules():
    x = tinytorch.randn(2, 4, 4)
    cols = Unfold(2, stride=2)(x)
    assert tuple(cols.shape) == (8, 4)
    np.testing.assert_allclose(Fold((4, 4), 2, stride=2)(cols).numpy(), x.numpy())


def test_fold_rejects_a_block_count_that_does_not_match_output_size():
    with pytest.raises(RuntimeError, match="calculated number of sliding blocks"):
        fold(tinytorch.randn(1, 4, 5), (3, 3), 2)
    with pytest.raises(RuntimeError, match="divisible by the product of kernel_size"):
        fold(tinytorch.randn(1, 5, 4), (3, 3), 2)
    with pytest.raises(RuntimeError, match="smaller than the kernel"):
        unfold(tinytorch.randn(1, 1, 2, 2), 3)


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal((2, 3, 7, 8))
    args = dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
    ours, theirs = unfold(t64(x), **args), torch.nn.functional.unfold(torch.tensor(x), **args)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_allclose(fold(ours, (7, 8), **args).numpy(),
                               torch.nn.functional.fold(theirs, (7, 8), **args).numpy())
