"""QuantizedConv2d: exact accumulators for every Conv2d option, zero padding at the zero point."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch
from tinytorch.arch import Conv2d
from tinytorch.perf import QuantizedConv2d
from tinytorch.perf.quantization import affine

NP_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def reference_accumulate(q: QuantizedConv2d, qx: np.ndarray) -> np.ndarray:
    """int64, one kernel offset at a time, padding the *shifted* input with zeros."""
    z = int(q.input_zero_point.numpy())
    x = qx.astype(np.int64) - z
    t, b, l, r = q.pads
    x = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), mode=NP_MODES[q.padding_mode])
    w = q.weight.numpy().astype(np.int64)
    n, _, hp, wp = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (dh, dw), g = q.stride, q.dilation, q.groups
    ho, wo = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    og = o // g
    out = np.zeros((n, o, ho, wo), np.int64)
    for gi in range(g):
        for i in range(kh):
            for j in range(kw):
                patch = x[:, gi * cg:(gi + 1) * cg, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                          j * dw:j * dw + sw * (wo - 1) + 1:sw]
                out[:, gi * og:(gi + 1) * og] += np.einsum("nchw,oc->nohw", patch,
                                                           w[gi * og:(gi + 1) * og, :, i, j])
    if q.bias is not None:
        out += q.bias.numpy()[:, None, None]
    return out


def quantized(conv: Conv2d, x: np.ndarray, relu: bool = False) -> QuantizedConv2d:
    with tinytorch.no_grad():
        y = conv(tinytorch.from_numpy(x)).numpy()
    if relu:
        y = np.maximum(y, 0)
    return QuantizedConv2d.from_float(conv, affine.activation_qparams(x.min(), x.max()),
                                      affine.activation_qparams(y.min(), y.max()), relu=relu)


@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 2, 3]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    mode = draw(st.sampled_from(list(NP_MODES)))
    if stride == (1, 1) and draw(st.booleans()):
        padding = draw(st.sampled_from(["same", "valid"]))
    else:
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    size = (draw(st.integers(7, 10)), draw(st.integers(7, 10)))   # >= the dilated kernel
    return dict(in_channels=c_in, out_channels=c_out, kernel_size=kernel, stride=stride,
                padding=padding, dilation=dilation, groups=groups, padding_mode=mode,
                bias=draw(st.booleans())), size, draw(st.integers(0, 2 ** 31))


@given(conv_cases())
@settings(max_examples=60, deadline=None)
def test_accumulators_equal_int64_reference_for_every_option(case):
    options, (h, w), seed = case
    tinytorch.manual_seed(seed % 10_000)
    conv = Conv2d(**options)
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(2, options["in_channels"], h, w)) + rng.uniform(-1, 1)).astype("f4")
    q = quantized(conv, x)
    qx = affine.quantize(x, q.input_scale.numpy(), q.input_zero_point.numpy())
    acc = q.accumulate(qx)
    assert acc.dtype == np.int32
    assert np.array_equal(acc, reference_accumulate(q, qx))
    with tinytorch.no_grad():
        want = conv(tinytorch.from_numpy(x)).numpy()
    got = q(tinytorch.from_numpy(x)).numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 0.05 * np.abs(want).max() + 1e-6


def test_zero_padding_pads_with_the_zero_point():
    # all-positive inputs get zero point 0 only if 0 is in the range: shift it with a negative
    conv = Conv2d(1, 1, 3, padding=1, bias=False)
    conv.weight.array[...] = 1.0
    x = np.full((1, 1, 4, 4), 2.0, np.float32)
    x[0, 0, 0, 0] = -1.0                                  # zero point well above 0
    q = quantized(conv, x)
    assert int(q.input_zero_point.numpy()) > 0
    got = q(tinytorch.from_numpy(x)).numpy()
    with tinytorch.no_grad():
        want = conv(tinytorch.from_numpy(x)).numpy()
    # a corner sees 4 pixels and 5 zeros of padding: padding with integer 0 would add -5·z·s
    np.testing.assert_allclose(got, want, atol=float(q.output_scale.numpy()) * 1.01)


def test_accumulators_exact_past_two_to_the_24():
    # K = 64 channels · 5 · 5 = 1600 terms of 255 · 127
    conv = Conv2d(64, 2, 5, bias=False)
    conv.weight.array[...] = 1.0
    conv.weight.array[1] = -1.0
    x = np.full((1, 64, 5, 5), 1.0, np.float32)
    q = QuantizedConv2d.from_float(conv, (np.float32(1 / 255), np.uint8(0)),
                                   (np.float32(1.0), np.uint8(0)))
    qx = affine.quantize(x, q.input_scale.numpy(), q.input_zero_point.numpy())
    acc = q.accumulate(qx)
    assert abs(int(acc[0, 0, 0, 0])) > 2 ** 24
    assert np.array_equal(acc, reference_accumulate(q, qx))


def test_unbatched_input_and_fused_relu():
    tinytorch.manual_seed(1)
    conv = Conv2d(3, 4, 3, padding=1)
    x = np.random.default_rng(2).normal(size=(3, 6, 6)).astype(np.float32)
    q = quantized(conv, x[None], relu=True)
    y = q(tinytorch.from_numpy(x))
    assert y.shape == (4, 6, 6) and y.numpy().min() == 0.0
    np.testing.assert_array_equal(y.numpy(), q(tinytorch.from_numpy(x[None])).numpy()[0])
    assert q.state_dict()["weight"].dtype == tinytorch.int8


def test_bad_inputs_name_the_shapes():
    q = quantized(Conv2d(3, 4, 3), np.ones((1, 3, 5, 5), np.float32))
    with pytest.raises(RuntimeError, match=r"3 channels, got input of shape \(1, 2, 5, 5\)"):
        q(tinytorch.ones(1, 2, 5, 5))
    with pytest.raises(RuntimeError, match="smaller than the kernel"):
        q(tinytorch.ones(1, 3, 2, 2))
    with pytest.raises(RuntimeError, match=r"got input of size: \[3, 5\]"):
        q(tinytorch.ones(3, 5))
