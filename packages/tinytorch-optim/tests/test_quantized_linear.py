"""QuantizedLinear and DynamicQuantizedLinear: exact integer cores, ONNX's formulas, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch
from tinytorch import nn
from tinytorch.perf import DynamicQuantizedLinear, QuantizedLinear
from tinytorch.perf.quantization import affine


def linear(in_features: int, out_features: int, seed: int = 0, bias: bool = True) -> nn.Linear:
    tinytorch.manual_seed(seed)
    return nn.Linear(in_features, out_features, bias=bias)


def static_layer(layer: nn.Linear, x: np.ndarray, relu: bool = False) -> QuantizedLinear:
    with tinytorch.no_grad():
        y = layer(tinytorch.from_numpy(x)).numpy()
    if relu:
        y = np.maximum(y, 0)
    ranges = (affine.activation_qparams(x.min(), x.max()),
              affine.activation_qparams(y.min(), y.max()))
    return QuantizedLinear.from_float(layer, *ranges, relu=relu)


def reference_forward(q: QuantizedLinear, x: np.ndarray) -> np.ndarray:
    """QLinearMatMul with an int32 bias, written out in int64 and float32."""
    s_in, z_in = q.input_scale.numpy(), q.input_zero_point.numpy()
    s_out, z_out = q.output_scale.numpy(), q.output_zero_point.numpy()
    qx = np.clip(np.rint(x / s_in) + z_in, 0, 255).astype(np.int64)
    acc = (qx - int(z_in)) @ q.weight.numpy().astype(np.int64).T + q.bias.numpy()
    m = (s_in * q.weight_scale.numpy()) / s_out
    y = np.clip(np.rint(acc.astype(np.float32) * m) + z_out, int(z_out) if q.relu else 0, 255)
    return ((y - z_out) * s_out).astype(np.float32)


def test_state_dict_holds_real_integers():
    q = static_layer(linear(6, 4), np.random.default_rng(0).normal(size=(5, 6)).astype("f4"))
    sd = q.state_dict()
    assert {k: str(v.dtype) for k, v in sd.items()} == {
        "weight": "int8", "weight_scale": "float32", "bias": "int32",
        "input_scale": "float32", "input_zero_point": "uint8",
        "output_scale": "float32", "output_zero_point": "uint8"}
    assert list(q.parameters()) == []


def test_accumulators_equal_int64_reference_for_extreme_inputs():
    # K = 1101 inputs at 255 against weights at ±127: sums far beyond float32's 2^24
    layer = linear(1101, 3)
    layer.weight.array[...] = np.where(np.arange(3)[:, None] == 1, -1.0, 1.0)
    x = np.full((2, 1101), 5.0, np.float32)
    q = QuantizedLinear.from_float(layer, (np.float32(5 / 255), np.uint8(0)),
                                   (np.float32(1.0), np.uint8(0)))
    qx = affine.quantize(x, q.input_scale.numpy(), q.input_zero_point.numpy())
    assert (qx == 255).all() and set(np.abs(q.weight.numpy()).ravel()) == {127}
    acc = q.accumulate(qx)
    expected = qx.astype(np.int64) @ q.weight.numpy().astype(np.int64).T + q.bias.numpy()
    assert abs(expected).max() > 2 ** 24
    assert acc.dtype == np.int32 and np.array_equal(acc, expected)


@given(st.integers(1, 40), st.integers(1, 12), st.integers(1, 5), st.booleans(),
       st.integers(0, 2 ** 31))
@settings(max_examples=40, deadline=None)
def test_forward_is_qlinearmatmul_bit_for_bit(k, n, m, relu, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, k)).astype(np.float32) + rng.uniform(-1, 1)
    q = static_layer(linear(k, n, seed % 1000), x, relu=relu)
    y = q(tinytorch.from_numpy(x)).numpy()
    assert np.array_equal(y, reference_forward(q, x))


def test_forward_is_close_to_float():
    layer = linear(64, 32)
    x = np.random.default_rng(3).normal(size=(50, 64)).astype(np.float32)
    q = static_layer(layer, x)
    with tinytorch.no_grad():
        want = layer(tinytorch.from_numpy(x)).numpy()
    got = q(tinytorch.from_numpy(x)).numpy()
    assert np.abs(got - want).max() < 0.02 * np.abs(want).max()


def test_fused_relu_outputs_no_negative_values():
    layer = linear(16, 16)
    x = np.random.default_rng(4).normal(size=(20, 16)).astype(np.float32)
    q = static_layer(layer, x, relu=True)
    y = q(tinytorch.from_numpy(x)).numpy()
    assert y.min() == 0.0 and (y > 0).any()


def test_leading_dims_are_kept():
    layer = linear(8, 5)
    x = np.random.default_rng(5).normal(size=(2, 3, 8)).astype(np.float32)
    q = static_layer(layer, x.reshape(-1, 8))
    y = q(tinytorch.from_numpy(x))
    assert y.shape == (2, 3, 5)
    np.testing.assert_array_equal(y.numpy().reshape(6, 5),
                                  q(tinytorch.from_numpy(x.reshape(6, 8))).numpy())


def test_layer_without_bias():
    layer = linear(8, 4, bias=False)
    x = np.random.default_rng(6).normal(size=(3, 8)).astype(np.float32)
    q = static_layer(layer, x)
    assert q.bias is None and "bias" not in q.state_dict()
    assert q(tinytorch.from_numpy(x)).shape == (3, 4)


def test_wrong_input_width_names_the_shapes():
    q = static_layer(linear(8, 4), np.ones((2, 8), np.float32))
    with pytest.raises(RuntimeError, match=r"\(3x7 and 8x4\)"):
        q(tinytorch.ones(3, 7))


@pytest.mark.parametrize("make", ["static", "dynamic"])
def test_layers_are_inference_only(make):
    layer = linear(4, 2)
    q = static_layer(layer, np.ones((2, 4), np.float32)) if make == "static" \
        else DynamicQuantizedLinear.from_float(layer)
    x = tinytorch.ones(2, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="inference-only"):
        q(x)
    with tinytorch.no_grad():
        assert not q(x).requires_grad
    with pytest.raises(RuntimeError, match="floating-point input, got int64"):
        q(tinytorch.ones(2, 4, dtype=tinytorch.int64))


def test_dynamic_quantizes_each_batch_with_its_own_range():
    layer = linear(32, 8)
    q = DynamicQuantizedLinear.from_float(layer)
    assert {k: str(v.dtype) for k, v in q.state_dict().items()} == {
        "weight": "int8", "weight_scale": "float32", "bias": "float32"}
    rng = np.random.default_rng(7)
    for spread in (0.1, 10.0):
        x = (rng.normal(size=(6, 32)) * spread).astype(np.float32)
        s, z = q.input_qparams(x)
        assert (s, z) == affine.activation_qparams(float(x.min()), float(x.max()))
        qx = np.clip(np.rint(x / s) + z, 0, 255).astype(np.int64)
        acc = (qx - int(z)) @ q.weight.numpy().astype(np.int64).T
        want = acc.astype(np.float32) * (s * q.weight_scale.numpy()) + q.bias.numpy()
        got = q(tinytorch.from_numpy(x)).numpy()
        assert np.array_equal(got, want)
        with tinytorch.no_grad():
            fl = layer(tinytorch.from_numpy(x)).numpy()
        assert np.abs(got - fl).max() < 0.02 * np.abs(fl).max()


def test_dynamic_handles_an_empty_batch_and_constant_input():
    q = DynamicQuantizedLinear.from_float(linear(4, 3))
    assert q(tinytorch.zeros(0, 4)).shape == (0, 3)
    np.testing.assert_allclose(q(tinytorch.zeros(2, 4)).numpy(),
                               np.broadcast_to(q.bias.numpy(), (2, 3)))
