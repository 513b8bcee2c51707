"""The float <-> integer maps: ONNX's formulas, round half to even, saturation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch.perf.quantization import affine

finite = st.floats(-1e4, 1e4, allow_nan=False, width=32)


@given(finite, finite)
@settings(max_examples=200, deadline=None)
def test_activation_range_represents_zero_exactly(a, b):
    lo, hi = min(a, b), max(a, b)
    scale, zp = affine.activation_qparams(lo, hi)
    assert scale.dtype == np.float32 and zp.dtype == np.uint8 and scale > 0
    assert affine.dequantize(affine.quantize(np.zeros(3, np.float32), scale, zp), scale, zp) \
        .tolist() == [0.0, 0.0, 0.0]


def test_activation_qparams_follow_dynamic_quantize_linear():
    # DynamicQuantizeLinear: s = (max(0, hi) - min(0, lo)) / 255, z = round(-min(0, lo) / s)
    scale, zp = affine.activation_qparams(-1.0, 3.0)
    assert scale == np.float32(4.0) / np.float32(255)
    assert zp == round(1.0 / float(scale))
    scale, zp = affine.activation_qparams(2.0, 5.0)       # all positive: the range starts at 0
    assert scale == np.float32(5.0) / np.float32(255) and zp == 0
    scale, zp = affine.activation_qparams(-6.0, -1.0)     # all negative: it ends at 0
    assert zp == 255


def test_all_zero_range_gets_a_usable_scale():
    scale, zp = affine.activation_qparams(0.0, 0.0)
    assert scale == 1 and zp == 0


def test_non_finite_range_is_refused():
    with pytest.raises(ValueError, match="non-finite"):
        affine.activation_qparams(0.0, float("inf"))


def test_quantize_rounds_half_to_even_then_saturates():
    x = np.array([0.5, 1.5, 2.5, -0.5, 300.0, -300.0], np.float32)
    q = affine.quantize(x, np.float32(1.0), np.uint8(10))
    assert q.dtype == np.uint8
    assert q.tolist() == [10, 12, 12, 10, 255, 0]


def test_quantize_dequantize_error_is_at_most_half_a_step():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 3, 1000).astype(np.float32)
    scale, zp = affine.activation_qparams(float(x.min()), float(x.max()))
    err = np.abs(affine.dequantize(affine.quantize(x, scale, zp), scale, zp) - x)
    assert err.max() <= scale / 2 * (1 + 1e-5)


def test_weights_are_int8_symmetric_per_output_channel():
    w = np.array([[0.5, -1.0, 0.25], [10.0, 5.0, -2.5], [0.0, 0.0, 0.0]], np.float32)
    q, scale = affine.quantize_weight(w)
    assert q.dtype == np.int8 and scale.dtype == np.float32 and scale.shape == (3,)
    np.testing.assert_allclose(scale[:2], [1.0 / 127, 10.0 / 127], rtol=1e-6)
    assert q[0].tolist() == [64, -127, 32] and q[1].tolist() == [127, 64, -32]
    assert q[2].tolist() == [0, 0, 0] and scale[2] == 1
    assert np.abs(q).max() <= 127


def test_conv_weight_keeps_its_shape():
    w = np.random.default_rng(1).normal(size=(4, 2, 3, 3)).astype(np.float32)
    q, scale = affine.quantize_weight(w)
    assert q.shape == w.shape and scale.shape == (4,)
    np.testing.assert_allclose(q * scale[:, None, None, None], w, atol=scale.max() / 2 + 1e-7)


def test_non_finite_weight_is_refused():
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        affine.quantize_weight(np.array([[1.0, np.nan], [0.0, 1.0]], np.float32))


def test_bias_is_int32_with_scale_input_times_weight():
    q = affine.quantize_bias(np.array([1.0, -2.0], np.float32), np.float32(0.1),
                             np.array([0.5, 0.25], np.float32))
    assert q.dtype == np.int32
    assert q.tolist() == [20, -80]


def test_requantize_rounds_half_to_even_saturates_and_fuses_relu():
    acc = np.array([1, 3, 5, -1000, 1000, -3], np.int32)
    y = affine.requantize(acc, np.float32(0.5), np.uint8(100))
    assert y.dtype == np.uint8
    assert y.tolist() == [100, 102, 102, 0, 255, 98]          # 0.5 -> 0, 1.5 -> 2, 2.5 -> 2
    relu = affine.requantize(acc, np.float32(0.5), np.uint8(100), relu=True)
    assert relu.tolist() == [100, 102, 102, 100, 255, 100]    # nothing below the zero point


def test_requantize_multiplier_is_float32():
    m = affine.requantize_multiplier(np.float32(0.02), np.array([0.5, 0.1], np.float32),
                                     np.float32(0.04))
    assert m.dtype == np.float32
    np.testing.assert_allclose(m, [0.25, 0.05], rtol=1e-6)
