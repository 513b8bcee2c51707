"""ConvTranspose2d / conv_transpose2d: hand-worked values, the adjoint identity with conv2d,
gradcheck, output_size, errors and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch
from tinytorch.arch.conv import conv2d
from tinytorch.arch.conv_transpose import ConvTranspose2d, conv_transpose2d


def t64(a, grad=False):
    return tinytorch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def test_stride_one_sums_overlapping_kernel_patches():
    x = t64([[[[1, 2], [3, 4]]]])
    out = conv_transpose2d(x, t64(np.ones((1, 1, 2, 2))))
    np.testing.assert_array_equal(out.numpy()[0, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]])


def test_stride_two_places_one_patch_per_pixel_and_output_padding_adds_bias_only_rows():
    x = t64([[[[1, 2], [3, 4]]]])
    out = conv_transpose2d(x, t64(np.ones((1, 1, 2, 2))), t64([0.5]), stride=2,
                           output_padding=1)
    expected = np.full((5, 5), 0.5)
    expected[:4, :4] += np.kron([[1, 2], [3, 4]], np.ones((2, 2)))
    np.testing.assert_array_equal(out.numpy()[0, 0], expected)


def test_padding_crops_the_border_of_the_full_output():
    x = t64([[[[1, 2], [3, 4]]]])
    out = conv_transpose2d(x, t64(np.ones((1, 1, 2, 2))), padding=1)
    np.testing.assert_array_equal(out.numpy()[0, 0], [[10]])


@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, 0, 1, 1), (2, 1, 1, 1), ((2, 3), (1, 0), (1, 2), 2), (3, 2, 2, 2)])
def test_conv_transpose_is_the_adjoint_of_conv2d(stride, padding, dilation, groups):
    rng = np.random.default_rng(0)
    w = t64(rng.standard_normal((4, 6 // groups, 3, 2)))
    x = t64(rng.standard_normal((2, 6, 9, 8)))
    y = conv2d(x, w, None, stride, padding, dilation, groups)
    z = t64(rng.standard_normal(tuple(y.shape)))
    # <conv(x), z> = <x, conv_transpose(z)> when conv_transpose lands back on x's size
    back = conv_transpose2d(z, w, None, stride, padding, 0, groups, dilation)
    diff = [a - b for a, b in zip(x.shape[2:], back.shape[2:])]
    back = conv_transpose2d(z, w, None, stride, padding, tuple(diff), groups, dilation)
    np.testing.assert_allclose((y.numpy() * z.numpy()).sum(),
                               (x.numpy() * back.numpy()).sum(), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 5), kernel=st.integers(1, 4), stride=st.integers(1, 3),
       padding=st.integers(0, 2), dilation=st.integers(1, 2), groups=st.sampled_from([1, 2]),
       data=st.data())
def test_output_size_formula_and_adjointness_hold_for_generated_geometries(
        size, kernel, stride, padding, dilation, groups, data):
    output_padding = data.draw(st.integers(0, max(stride, dilation) - 1))
    out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out <= 0:
        return
    rng = np.random.default_rng(size * 100 + kernel)
    w = t64(rng.standard_normal((2 * groups, 3, kernel, kernel)))
    x = t64(rng.standard_normal((2, 2 * groups, size, size)))
    y = conv_transpose2d(x, w, None, stride, padding, output_padding, groups, dilation)
    assert tuple(y.shape) == (2, 3 * groups, out, out)
    # adjoint: <conv_transpose(x), z> = <x, conv2d(z)> over the same geometry
    z = t64(rng.standard_normal(tuple(y.shape)))
    back = conv2d(z, w, None, stride, padding, dilation, groups)[:, :, :size, :size]
    np.testing.assert_allclose((y.numpy() * z.numpy()).sum(), (x.numpy() * back.numpy()).sum(),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("stride,padding,output_padding,groups,dilation", [
    (1, 0, 0, 1, 1), (2, 1, 1, 1, 1), ((2, 3), (0, 1), (1, 2), 2, 1), (1, 1, 1, 1, 2)])
def test_conv_transpose2d_gradients_pass_gradcheck(stride, padding, output_padding, groups,
                                                   dilation):
    rng = np.random.default_rng(1)
    x = t64(rng.standard_normal((2, 4, 3, 4)), True)
    w = t64(rng.standard_normal((4, 3, 2, 3)), True)
    b = t64(rng.standard_normal(3 * groups), True)
    assert tinytorch.gradcheck(
        lambda a, k, c: conv_transpose2d(a, k, c, stride, padding, output_padding, groups,
                                         dilation), (x, w, b))


def test_unbatched_input_gives_unbatched_output():
    layer = ConvTranspose2d(3, 2, 3, stride=2)
    x = tinytorch.randn(3, 4, 5)
    out = layer(x)
    assert tuple(out.shape) == (2, 9, 11)
    np.testing.assert_allclose(out.detach().numpy(), layer(x.unsqueeze(0))[0].detach().numpy())


def test_layer_has_pytorch_parameter_shapes_and_init_bounds():
    layer = ConvTranspose2d(8, 6, (3, 2), groups=2)
    assert tuple(layer.weight.shape) == (8, 3, 3, 2) and tuple(layer.bias.shape) == (6,)
    bound = 1 / np.sqrt(3 * 3 * 2)                       # fan_in is dimension 1 of the weight
    assert np.abs(layer.weight.detach().numpy()).max() <= bound
    assert np.abs(layer.bias.detach().numpy()).max() <= bound
    assert ConvTranspose2d(2, 2, 3, bias=False).bias is None


def test_output_size_selects_among_the_stride_possible_sizes():
    layer = ConvTranspose2d(1, 1, 3, stride=2, padding=1)
    x = tinytorch.randn(1, 1, 4, 4)
    assert tuple(layer(x).shape) == (1, 1, 7, 7)
    assert tuple(layer(x, output_size=(8, 7)).shape) == (1, 1, 8, 7)
    assert tuple(layer(x, output_size=[1, 1, 8, 8]).shape) == (1, 1, 8, 8)
    with pytest.raises(ValueError, match="valid sizes range from"):
        layer(x, output_size=(9, 7))


def test_bad_arguments_raise_like_pytorch():
    x, w = tinytorch.randn(1, 4, 3, 3), tinytorch.randn(4, 2, 3, 3)
    with pytest.raises(RuntimeError, match="output padding must be smaller"):
        conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(RuntimeError, match="expected input"):
        conv_transpose2d(tinytorch.randn(1, 3, 3, 3), w)
    with pytest.raises(RuntimeError, match="bias"):
        conv_transpose2d(x, w, tinytorch.randn(3))
    with pytest.raises(ValueError, match="divisible by groups"):
        ConvTranspose2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="zeros"):
        ConvTranspose2d(2, 2, 3, padding_mode="reflect")


@pytest.mark.parametrize("stride,padding,output_padding,groups,dilation", [
    (1, 0, 0, 1, 1), (2, 1, 1, 1, 1), ((3, 2), (2, 1), (2, 1), 2, 1), (2, 1, 0, 2, 2),
    (1, 0, 1, 1, 2)])
def test_matches_pytorch_values_and_gradients(stride, padding, output_padding, groups,
                                              dilation):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x, w, b = (rng.standard_normal(s) for s in ((2, 4, 5, 6), (4, 3, 3, 2), (3 * groups,)))
    ours = [t64(a, True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    args = (stride, padding, output_padding, groups, dilation)
    y = conv_transpose2d(*ours, *args)
    ty = torch.nn.functional.conv_transpose2d(*theirs, *args)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), atol=1e-12)
    g = rng.standard_normal(tuple(ty.shape))
    y.backward(t64(g))
    ty.backward(torch.tensor(g))
    for a, ta in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), atol=1e-12)


def test_layer_loads_a_pytorch_state_dict_and_gives_its_output():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    ours = ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    ours.load_state_dict({k: tinytorch.tensor(v.detach().numpy())
                          for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((2, 4, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(ours(tinytorch.tensor(x)).detach().numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), atol=1e-5)
