"""Conv2d / conv2d against a small kernel-offset reference, gradcheck, errors and PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.conv import Conv2d, conv2d

NP_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def reference_conv2d(x, w, b, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1,
                     mode="zeros"):
    """Direct definition: for every kernel offset, a channel contraction of a shifted input."""
    xp = np.pad(x, ((0, 0), (0, 0), pads[:2], pads[2:]), mode=NP_MODES[mode])
    n, _, hp, wp = xp.shape
    o, cg, kh, kw = w.shape
    ho = (hp - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wp - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    og = o // groups
    out = np.zeros((n, o, ho, wo))
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                r, c = i * dilation[0], j * dilation[1]
                patch = xp[:, g * cg:(g + 1) * cg,
                           r:r + stride[0] * (ho - 1) + 1:stride[0],
                           c:c + stride[1] * (wo - 1) + 1:stride[1]]
                out[:, g * og:(g + 1) * og] += np.einsum(
                    "nchw,oc->nohw", patch, w[g * og:(g + 1) * og, :, i, j])
    if b is not None:
        out += b[:, None, None]
    return out


def as_pair(v):
    return (v, v) if isinstance(v, int) else v


def t64(a, grad=False):
    return tinytorch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# (x shape, weight shape, stride, padding, dilation, groups, bias, pads for the reference)
CASES = [
    ((2, 3, 7, 9), (4, 3, 3, 3), 1, 0, 1, 1, True, (0, 0, 0, 0)),
    ((2, 3, 7, 9), (4, 3, 3, 3), 2, 1, 1, 1, True, (1, 1, 1, 1)),        # stride ∤ input
    ((1, 2, 8, 7), (3, 2, 2, 3), (3, 2), (2, 1), 1, 1, False, (2, 2, 1, 1)),
    ((2, 4, 9, 8), (6, 2, 3, 2), 1, 2, (2, 3), 2, True, (2, 2, 2, 2)),   # dilation, groups
    ((1, 6, 5, 5), (6, 1, 3, 3), 1, "same", 1, 6, True, (1, 1, 1, 1)),   # depthwise
    ((1, 2, 6, 7), (3, 2, 4, 2), 1, "same", 1, 1, True, (1, 2, 0, 1)),   # even kernel: odd pad last
    ((1, 2, 6, 7), (3, 2, 3, 3), 1, "same", (2, 1), 1, True, (2, 2, 1, 1)),
    ((2, 3, 5, 4), (5, 3, 3, 2), 1, "valid", 1, 1, True, (0, 0, 0, 0)),
    ((3, 4, 5, 5), (2, 4, 1, 1), 1, 0, 1, 1, True, (0, 0, 0, 0)),        # kernel 1
    ((2, 4, 6, 6), (4, 2, 1, 1), 2, 0, 1, 2, False, (0, 0, 0, 0)),       # 1x1, stride 2, groups
    ((1, 1, 3, 3), (1, 1, 3, 3), 1, 0, 1, 1, True, (0, 0, 0, 0)),        # kernel == input
]


@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups, bias, pads", CASES)
def test_conv2d_matches_reference(xs, ws, stride, padding, dilation, groups, bias, pads):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[0]) if bias else None
    out = conv2d(t64(x), t64(w), None if b is None else t64(b), stride, padding, dilation,
                 groups)
    ref = reference_conv2d(x, w, b, as_pair(stride), pads, as_pair(dilation), groups)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups, bias, pads",
                         [CASES[1], CASES[2], CASES[3], CASES[5], CASES[9]])
def test_conv2d_gradients_pass_gradcheck(xs, ws, stride, padding, dilation, groups, bias, pads):
    rng = np.random.default_rng(1)
    x, w = t64(rng.standard_normal(xs), True), t64(rng.standard_normal(ws), True)
    b = t64(rng.standard_normal(ws[0]), True) if bias else None

    def fn(x, w, b=None):
        return conv2d(x, w, b, stride, padding, dilation, groups)

    assert tinytorch.gradcheck(fn, (x, w, b) if bias else (x, w))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding, pads, kernel", [(2, (2, 2, 2, 2), 3),
                                                   ((1, 2), (1, 1, 2, 2), 3),
                                                   ("same", (1, 2, 1, 2), 4)])
def test_every_padding_mode_matches_reference_and_gradcheck(mode, padding, pads, kernel):
    rng = np.random.default_rng(2)
    conv = Conv2d(2, 3, kernel, padding=padding, padding_mode=mode).double()
    x = rng.standard_normal((2, 2, 4, 5))
    ref = reference_conv2d(x, conv.weight.detach().numpy(), conv.bias.detach().numpy(),
                           pads=pads, mode=mode)
    np.testing.assert_allclose(conv(t64(x)).detach().numpy(), ref, rtol=1e-12, atol=1e-12)
    # gradcheck perturbs the parameters' own arrays, so conv(x) sees every perturbation
    assert tinytorch.gradcheck(lambda a, w, b: conv(a), (t64(x, True), conv.weight, conv.bias))


def test_input_with_and_without_grad_give_the_same_result_and_weight_gradients():
    # an input that needs no gradient takes the batch-major im2col layout, one that does the
    # batch-last layout (fast col2im); both must compute the same convolution
    rng = np.random.default_rng(7)
    conv = Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1),
                  groups=2).double()
    x = rng.standard_normal((3, 4, 7, 6))
    y_plain, y_grad = conv(t64(x)), conv(t64(x, True))
    np.testing.assert_allclose(y_plain.detach().numpy(), y_grad.detach().numpy(), atol=1e-12)
    g = rng.standard_normal(y_plain.shape)
    y_plain.backward(t64(g))
    gw_plain, gb_plain = conv.weight.grad.numpy().copy(), conv.bias.grad.numpy().copy()
    conv.zero_grad()
    y_grad.backward(t64(g))
    np.testing.assert_allclose(gw_plain, conv.weight.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(gb_plain, conv.bias.grad.numpy(), atol=1e-10)
    assert tinytorch.gradcheck(lambda w, b: conv(t64(x)), (conv.weight, conv.bias))


def test_float32_in_float32_out_and_gradients_float32():
    conv = Conv2d(3, 4, 3, padding=1)
    x = tinytorch.randn(2, 3, 6, 6, requires_grad=True)
    y = conv(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and conv.weight.grad.dtype == np.float32
    assert conv.bias.grad.dtype == np.float32


def test_bias_gradient_is_sum_of_output_gradient_and_input_without_grad_is_skipped():
    conv = Conv2d(2, 3, 3).double()
    x = t64(np.random.default_rng(4).standard_normal((2, 2, 5, 5)))
    y = conv(x)
    y.sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(conv.bias.grad.numpy(), np.full(3, 2 * 3 * 3))


def test_unbatched_input_gives_unbatched_output():
    conv = Conv2d(2, 3, 3, padding=1).double()
    x = np.random.default_rng(5).standard_normal((2, 4, 4))
    y = conv(t64(x))
    assert y.shape == (3, 4, 4)
    np.testing.assert_allclose(y.detach().numpy(), conv(t64(x[None])).detach().numpy()[0])
    assert tinytorch.gradcheck(lambda a: conv(a), (t64(x, True),))


def test_input_smaller_than_kernel_raises_runtime_error_naming_shapes():
    conv = Conv2d(1, 1, 5)
    with pytest.raises(RuntimeError, match=r"\(1, 1, 3, 3\).*3 x 3.*kernel 5 x 5"):
        conv(tinytorch.zeros(1, 1, 3, 3))
    dilated = Conv2d(1, 1, 3, dilation=3)  # extent 7
    with pytest.raises(RuntimeError, match="dilated extent 7 x 7"):
        dilated(tinytorch.zeros(1, 1, 6, 8))


def test_wrong_channel_count_raises_runtime_error():
    conv = Conv2d(3, 4, 3)
    with pytest.raises(RuntimeError, match=r"expected input\[1, 2, 8, 8\] to have 3 channels, "
                                           r"but got 2 channels"):
        conv(tinytorch.zeros(1, 2, 8, 8))
    with pytest.raises(RuntimeError, match="Expected 3D .* or 4D"):
        conv(tinytorch.zeros(8, 8))


def test_bad_arguments_raise_pytorch_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="not supported for strided convolutions"):
        Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string 'full'"):
        Conv2d(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        Conv2d(1, 1, 3, padding_mode="mirror")
    x, w = tinytorch.zeros(1, 1, 5, 5), tinytorch.zeros(1, 1, 3, 3)
    with pytest.raises(RuntimeError, match="not supported for strided convolutions"):
        conv2d(x, w, stride=2, padding="same")
    with pytest.raises(RuntimeError, match="non-positive stride"):
        conv2d(x, w, stride=0)
    with pytest.raises(RuntimeError, match=r"input type \(float64\) and weight type "
                                           r"\(float32\)"):
        conv2d(x.double(), w)
    with pytest.raises(RuntimeError, match="padding 3 along H must be less than the input size"):
        Conv2d(1, 1, 3, padding=3, padding_mode="reflect")(tinytorch.zeros(1, 1, 3, 9))


def test_default_init_is_pytorch_kaiming_uniform_and_seeded():
    tinytorch.manual_seed(0)
    a = Conv2d(4, 8, (3, 5), groups=2)
    tinytorch.manual_seed(0)
    b = Conv2d(4, 8, (3, 5), groups=2)
    assert a.weight.shape == (8, 2, 3, 5) and a.bias.shape == (8,)
    assert a.weight.dtype == np.float32
    bound = 1 / math.sqrt(2 * 3 * 5)
    w = a.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.abs(a.bias.detach().numpy()).max() <= bound
    np.testing.assert_array_equal(w, b.weight.detach().numpy())
    assert [n for n, _ in a.named_parameters()] == ["weight", "bias"]
    assert Conv2d(1, 2, 3, bias=False).bias is None


def test_repr_matches_pytorch():
    assert repr(Conv2d(1, 6, 5, padding=2)) == \
        "Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))"
    assert repr(Conv2d(4, 4, 3, 2, 1, 2, 2, False, "reflect")) == (
        "Conv2d(4, 4, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(2, 2), "
        "groups=2, bias=False, padding_mode=reflect)")
    assert repr(Conv2d(1, 1, 3, padding="same")) == \
        "Conv2d(1, 1, kernel_size=(3, 3), stride=(1, 1), padding='same')"


def test_state_dict_round_trip_gives_identical_outputs(tmp_path):
    conv = Conv2d(3, 5, 3, stride=2, padding=1, groups=1)
    tinytorch.save(conv.state_dict(), tmp_path / "conv.tt")
    fresh = Conv2d(3, 5, 3, stride=2, padding=1)
    fresh.load_state_dict(tinytorch.load(tmp_path / "conv.tt"))
    x = tinytorch.randn(2, 3, 9, 9)
    np.testing.assert_array_equal(conv(x).detach().numpy(), fresh(x).detach().numpy())


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_matches_pytorch_module_and_gradients(mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    ours = Conv2d(4, 6, 3, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2,
                  padding_mode=mode).double()
    ref = torch.nn.Conv2d(4, 6, 3, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2,
                          padding_mode=mode).double()
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = rng.standard_normal((2, 4, 7, 8))
    xt, xr = t64(x, True), torch.tensor(x, requires_grad=True)
    y, yr = ours(xt), ref(xr)
    g = rng.standard_normal(tuple(yr.shape))
    y.backward(t64(g))
    yr.backward(torch.tensor(g))
    np.testing.assert_allclose(y.detach().numpy(), yr.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.numpy(), ref.weight.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.bias.grad.numpy(), ref.bias.grad.numpy(), atol=1e-12)
