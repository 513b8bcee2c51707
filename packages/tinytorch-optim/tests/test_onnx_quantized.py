"""tinytorch.onnx on tinytorch.perf's int8 layers: QDQ files that onnxruntime runs as integer
kernels, with the same uint8/int32 results as tinytorch's integer path, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import tinytorch  # noqa: E402
from tinytorch import nn  # noqa: E402
from tinytorch.arch import Conv2d  # noqa: E402
from tinytorch.arch.models import MLP, LeNet5  # noqa: E402
from tinytorch.onnx import export, verify  # noqa: E402
from tinytorch.perf import (  # noqa: E402
    DynamicQuantizedLinear,
    QuantizedConv2d,
    QuantizedLinear,
    quantize_dynamic,
    quantize_static,
)
from tinytorch.perf.quantization import affine  # noqa: E402

OPSETS = (17, 18, 21)
FLOAT_KERNELS = {"MatMul", "Gemm", "Conv", "FusedConv", "FusedGemm", "FusedMatMul"}
IN_RANGE, OUT_RANGE = affine.activation_qparams(-2.5, 3.0), affine.activation_qparams(-1.5, 2.0)
RELU_RANGE = affine.activation_qparams(0.0, 2.0)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def session(model: bytes, optimized: str | None = None) -> ort.InferenceSession:
    """onnxruntime on one thread at its full optimisation level (the QDQ fusions)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    if optimized is not None:
        options.optimized_model_filepath = optimized
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def export_proto(model: nn.Module, x: np.ndarray, opset: int, tmp_path) -> onnx.ModelProto:
    """Export with a dynamic batch axis, check it fully, and load it back."""
    path = tmp_path / f"model_{opset}.onnx"
    export(model, (tinytorch.Tensor(x),), str(path), input_names=["x"], output_names=["y"],
           opset_version=opset, dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def with_outputs(proto: onnx.ModelProto, names: list[str]) -> bytes:
    """The model with the intermediate values ``names`` added as graph outputs."""
    inferred = onnx.shape_inference.infer_shapes(proto)
    infos = {v.name: v for v in inferred.graph.value_info}
    extended = onnx.ModelProto()
    extended.CopyFrom(proto)
    for name in names:
        extended.graph.output.append(infos[name])
    return extended.SerializeToString()


def quantize_output_of(proto: onnx.ModelProto, scale_name: str) -> str:
    """The uint8 output of the QuantizeLinear that uses the initializer ``scale_name``."""
    found = [n.output[0] for n in proto.graph.node
             if n.op_type == "QuantizeLinear" and n.input[1] == scale_name]
    assert len(found) == 1, (scale_name, found)
    return found[0]


def run(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with tinytorch.no_grad():
        return model(tinytorch.Tensor(x)).array


def integer_path(layer: QuantizedLinear | QuantizedConv2d, x: np.ndarray) -> tuple:
    """tinytorch.perf's uint8 input and uint8 output of one static layer, for float input x."""
    a = layer._array
    q = affine.quantize(x, a("input_scale"), a("input_zero_point"))
    m = affine.requantize_multiplier(a("input_scale"), a("weight_scale"), a("output_scale"))
    if isinstance(layer, QuantizedConv2d):
        m = m[:, None, None]
    return q, affine.requantize(layer.accumulate(q), m, a("output_zero_point"),
                                relu=layer.relu)


def fused_op_types(proto: onnx.ModelProto, tmp_path) -> list[str]:
    """The node types onnxruntime actually runs after its graph optimisations."""
    path = str(tmp_path / "optimized.onnx")
    session(proto.SerializeToString(), optimized=path)
    return [n.op_type for n in onnx.load(path).graph.node]


# ---------------------------------------------------------------- static Linear
def static_linear(bias: bool = True, relu: bool = False, seed: int = 0) -> QuantizedLinear:
    tinytorch.manual_seed(seed)
    return QuantizedLinear.from_float(nn.Linear(48, 24, bias=bias), IN_RANGE,
                                      RELU_RANGE if relu else OUT_RANGE, relu=relu)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("bias, relu", [(True, False), (False, False), (True, True)])
@pytest.mark.parametrize("shape", [(16, 48), (3, 5, 48)])
def test_quantized_linear_uint8_results_equal_tinytorch_bit_for_bit(tmp_path, opset, bias,
                                                                    relu, shape):
    layer = static_linear(bias, relu).eval()
    x = (rng().standard_normal(shape) * 1.5).astype(np.float32)
    proto = export_proto(layer, x, opset, tmp_path)
    names = [quantize_output_of(proto, "input_scale"), quantize_output_of(proto, "output_scale")]
    y, q_in, q_out = session(with_outputs(proto, names)).run(None, {"x": x})
    want_in, want_out = integer_path(layer, x)
    assert q_in.dtype == np.uint8 and q_out.dtype == np.uint8
    np.testing.assert_array_equal(q_in.reshape(want_in.shape), want_in)
    np.testing.assert_array_equal(q_out.reshape(want_out.shape), want_out)
    np.testing.assert_array_equal(y, run(layer, x))
    assert y.shape == shape[:-1] + (24,)


@pytest.mark.parametrize("opset", OPSETS)
def test_quantized_linear_runs_as_onnxruntime_integer_gemm(tmp_path, opset):
    for shape in [(4, 48), (2, 3, 48)]:
        proto = export_proto(static_linear().eval(), np.zeros(shape, np.float32), opset,
                             tmp_path)
        ops = fused_op_types(proto, tmp_path)
        assert "QGemm" in ops and not FLOAT_KERNELS & set(ops), ops


def test_quantized_linear_stores_u8_activations_s8_per_channel_weights_s32_bias(tmp_path):
    proto = export_proto(static_linear().eval(), np.zeros((2, 48), np.float32), 18, tmp_path)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    assert inits["weight"].dtype == np.int8 and inits["weight"].shape == (24, 48)
    assert inits["bias"].dtype == np.int32
    for side in ("input", "output"):                                   # per tensor: scalars
        assert inits[f"{side}_zero_point"].dtype == np.uint8
        assert inits[f"{side}_zero_point"].shape == inits[f"{side}_scale"].shape == ()
    dq = [n for n in proto.graph.node if n.op_type == "DequantizeLinear"]
    weight_dq = next(n for n in dq if n.input[0] == "weight")
    assert inits[weight_dq.input[1]].shape == (24,)                    # per output channel
    assert next(a.i for a in weight_dq.attribute if a.name == "axis") == 0
    bias_dq = next(n for n in dq if n.input[0] == "bias")
    want = inits["input_scale"] * inits["weight_scale"]
    np.testing.assert_array_equal(inits[bias_dq.input[1]], want)


def test_fused_relu_with_a_zero_point_above_zero_stays_within_one_step(tmp_path):
    tinytorch.manual_seed(3)
    layer = QuantizedLinear.from_float(nn.Linear(48, 24), IN_RANGE, OUT_RANGE, relu=True)
    assert int(layer.output_zero_point.array) > 0
    x = (rng(3).standard_normal((32, 48)) * 1.5).astype(np.float32)
    proto = export_proto(layer.eval(), x, 18, tmp_path)
    (y,) = session(proto.SerializeToString()).run(None, {"x": x})
    want = run(layer, x)
    assert np.abs(y - want).max() <= float(layer.output_scale.array) * 1.0001
    assert (y >= 0).all()


# ---------------------------------------------------------------- static Conv2d
CONV_CASES = {
    "plain": dict(kernel_size=3, padding=1),
    "stride-dilation-groups": dict(kernel_size=3, stride=(2, 1), padding=(2, 1),
                                   dilation=2, groups=2),
    "same-even-kernel": dict(kernel_size=4, padding="same"),
    "valid-no-bias": dict(kernel_size=(3, 2), padding="valid", bias=False),
    "depthwise": dict(kernel_size=3, padding=1, groups=4),
    "reflect": dict(kernel_size=3, padding=2, padding_mode="reflect"),
    "replicate": dict(kernel_size=3, padding=(1, 2), padding_mode="replicate"),
    "circular": dict(kernel_size=3, padding=(2, 1), padding_mode="circular"),
}


def static_conv(case: str, relu: bool = False, out_channels: int = 8) -> QuantizedConv2d:
    tinytorch.manual_seed(1)
    conv = Conv2d(4, out_channels, **CONV_CASES[case])
    return QuantizedConv2d.from_float(conv, IN_RANGE, RELU_RANGE if relu else OUT_RANGE,
                                      relu=relu)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_quantized_conv2d_uint8_results_equal_tinytorch_bit_for_bit(tmp_path, opset, case):
    layer = static_conv(case, relu=case == "plain").eval()
    x = (rng(1).standard_normal((3, 4, 9, 10)) * 1.5).astype(np.float32)
    proto = export_proto(layer, x, opset, tmp_path)
    names = [quantize_output_of(proto, "input_scale"), quantize_output_of(proto, "output_scale")]
    y, q_in, q_out = session(with_outputs(proto, names)).run(None, {"x": x})
    want_in, want_out = integer_path(layer, x)
    if layer.padding_mode == "zeros":
        np.testing.assert_array_equal(q_in, want_in)
    np.testing.assert_array_equal(q_out, want_out)
    np.testing.assert_array_equal(y, run(layer, x))


@pytest.mark.parametrize("opset", OPSETS)
def test_quantized_conv2d_runs_as_onnxruntime_qlinearconv(tmp_path, opset):
    for case in ("plain", "stride-dilation-groups", "circular"):
        proto = export_proto(static_conv(case).eval(), np.zeros((1, 4, 9, 10), np.float32),
                             opset, tmp_path)
        ops = fused_op_types(proto, tmp_path)
        assert "QLinearConv" in ops and not FLOAT_KERNELS & set(ops), (case, ops)


def test_quantized_conv2d_exports_unbatched_input(tmp_path):
    layer = static_conv("plain").eval()
    x = (rng(2).standard_normal((4, 9, 10)) * 1.5).astype(np.float32)
    path = tmp_path / "unbatched.onnx"
    export(layer, (tinytorch.Tensor(x),), str(path), input_names=["x"], output_names=["y"])
    (y,) = session(path.read_bytes()).run(None, {"x": x})
    np.testing.assert_array_equal(y, run(layer, x))


# ---------------------------------------------------------------- dynamic Linear
def dynamic_linear(bias: bool = True) -> DynamicQuantizedLinear:
    tinytorch.manual_seed(2)
    return DynamicQuantizedLinear.from_float(nn.Linear(40, 16, bias=bias)).eval()


def dynamic_outputs(proto: onnx.ModelProto) -> list[str]:
    """The uint8 q, scale and zero point of DynamicQuantizeLinear, and MatMulInteger's int32."""
    dql = next(n for n in proto.graph.node if n.op_type == "DynamicQuantizeLinear")
    mmi = next(n for n in proto.graph.node if n.op_type == "MatMulInteger")
    return [*dql.output, mmi.output[0]]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(8, 40), (2, 3, 40)])
def test_dynamic_linear_integer_path_equals_tinytorch_bit_for_bit(tmp_path, opset, bias,
                                                                  shape):
    layer = dynamic_linear(bias)
    proto = export_proto(layer, np.zeros(shape, np.float32), opset, tmp_path)
    sess = session(with_outputs(proto, dynamic_outputs(proto)))
    fused = session(proto.SerializeToString())
    gen = rng(4)
    for _ in range(20):
        x = (gen.standard_normal(shape) * gen.uniform(0.01, 10)
             + gen.uniform(-3, 3)).astype(np.float32)
        y, q, scale, zero_point, acc = sess.run(None, {"x": x})
        s, z = layer.input_qparams(x)
        want_q = affine.quantize(x, s, z)
        assert scale == s and zero_point == z and zero_point.dtype == np.uint8
        np.testing.assert_array_equal(q, want_q)
        np.testing.assert_array_equal(acc, layer.accumulate(want_q, z))
        want = run(layer, x)
        np.testing.assert_array_equal(y, want)
        np.testing.assert_allclose(fused.run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("values", [
    np.zeros((2, 40)), np.full((2, 40), 0.75), np.full((2, 40), -2.0),
    np.linspace(0.1, 5.0, 80).reshape(2, 40), np.linspace(-7.0, -0.5, 80).reshape(2, 40),
    np.concatenate([[-1.0, 254.0], np.arange(-0.5, 77.0)]).reshape(2, 40),
], ids=["zeros", "positive-constant", "negative-constant", "positive", "negative", "ties"])
def test_dynamic_quantize_conventions_match_onnxruntime_at_the_edges(tmp_path, values):
    layer = dynamic_linear()
    x = values.astype(np.float32)
    proto = export_proto(layer, x, 18, tmp_path)
    _, q, scale, zero_point, acc = session(with_outputs(proto, dynamic_outputs(proto))).run(
        None, {"x": x})
    s, z = layer.input_qparams(x)
    assert scale == s and zero_point == z
    np.testing.assert_array_equal(q, affine.quantize(x, s, z))
    np.testing.assert_array_equal(acc, layer.accumulate(q, z))


@pytest.mark.parametrize("opset", OPSETS)
def test_dynamic_linear_runs_as_onnxruntime_integer_matmul(tmp_path, opset):
    proto = export_proto(dynamic_linear(), np.zeros((4, 40), np.float32), opset, tmp_path)
    ops = set(fused_op_types(proto, tmp_path))
    assert ops & {"DynamicQuantizeMatMul", "MatMulInteger"} and not FLOAT_KERNELS & ops, ops


# ---------------------------------------------------------------- whole models
def calibration(shape: tuple[int, ...], seed: int = 5) -> list[tinytorch.Tensor]:
    gen = rng(seed)
    return [tinytorch.Tensor(gen.standard_normal((32, *shape)).astype(np.float32))
            for _ in range(4)]


def lenet_with_statistics() -> nn.Module:
    tinytorch.manual_seed(6)
    model = LeNet5(channels=(6, 8), hidden=(32, 16), batch_norm=True)
    model.train()
    with tinytorch.no_grad():
        for x in calibration((1, 28, 28), seed=7):
            model(x)                                      # running BatchNorm statistics
    return model.eval()


def zoo(name: str) -> tuple[nn.Module, tuple[int, ...]]:
    tinytorch.manual_seed(8)
    if name == "mlp-static":
        return quantize_static(MLP(784, (256, 128), 10), calibration((784,))), (784,)
    if name == "mlp-dynamic":
        return quantize_dynamic(MLP(784, (64, 32), 10)), (784,)
    return quantize_static(lenet_with_statistics(), calibration((1, 28, 28))), (1, 28, 28)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", ["mlp-static", "mlp-dynamic", "lenet-static"])
def test_quantized_models_verify_in_onnxruntime_at_several_batch_sizes(tmp_path, opset, name):
    model, shape = zoo(name)
    gen = rng(9)
    proto = export_proto(model, np.zeros((2, *shape), np.float32), opset, tmp_path)
    for batch in (1, 5, 33):
        x = gen.standard_normal((batch, *shape)).astype(np.float32)
        report = verify(model, (tinytorch.Tensor(x),), proto)
        assert report is not None
        (y,) = session(proto.SerializeToString()).run(None, {"x": x})
        np.testing.assert_array_equal(y, run(model, x))
    ops = set(fused_op_types(proto, tmp_path))
    assert not FLOAT_KERNELS & ops, ops


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", ["mlp-static", "lenet-static"])
def test_every_layer_boundary_of_a_static_model_is_the_same_uint8(tmp_path, opset, name):
    model, shape = zoo(name)
    x = rng(10).standard_normal((7, *shape)).astype(np.float32)
    layers = {n: m for n, m in model.named_modules()
              if isinstance(m, (QuantizedLinear, QuantizedConv2d))}
    seen: dict[str, np.ndarray] = {}
    hooks = [m.register_forward_pre_hook(lambda m, args, n=n: seen.__setitem__(n, args[0].array))
             for n, m in layers.items()]
    run(model, x)
    for h in hooks:
        h.remove()
    proto = export_proto(model, x, opset, tmp_path)
    names = [quantize_output_of(proto, f"{n}.{side}_scale") for n in layers
             for side in ("input", "output")]
    got = session(with_outputs(proto, names)).run(None, {"x": x})[1:]
    for i, (n, layer) in enumerate(layers.items()):
        want_in, want_out = integer_path(layer, seen[n])
        np.testing.assert_array_equal(got[2 * i], want_in, err_msg=f"input of {n}")
        np.testing.assert_array_equal(got[2 * i + 1], want_out, err_msg=f"output of {n}")


@pytest.mark.parametrize("layer", [static_linear(), dynamic_linear()], ids=["static", "dynamic"])
def test_float64_input_is_cast_to_float32_before_quantizing(tmp_path, layer):
    x = rng(11).standard_normal((5, layer.in_features))
    path = tmp_path / "float64.onnx"
    export(layer.eval(), (tinytorch.Tensor(x),), str(path), input_names=["x"])
    (y,) = session(path.read_bytes()).run(None, {"x": x})
    np.testing.assert_array_equal(y, run(layer, x))
