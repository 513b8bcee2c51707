"""The int8 layers of ``tinytorch.perf`` in QDQ form: QuantizeLinear/DequantizeLinear pairs.

QDQ is ONNX's portable way to write a quantized model. Every integer tensor of the layer is
stored as an integer initializer (or produced by a QuantizeLinear node) and turned back into
float32 by a DequantizeLinear node right before the float op that uses it:

    x ─Q(s_in, z_in)─DQ─┐
    W int8 ─DQ(s_w, axis)─ Gemm / Conv ─Q(s_out, z_out)─DQ─> y
    bias int32 ─DQ(s_in·s_w, axis)─┘

Read naively this is float arithmetic on values that happen to be exact multiples of their
scales, and that is what the model *means*. onnxruntime's graph optimiser (at its default
level, ``ORT_ENABLE_ALL``) recognises each ``DQ -> Gemm/Conv -> Q`` group and replaces it with
one integer kernel (``QGemm`` / ``QLinearConv``): uint8 activations times int8 per-channel
weights into int32 accumulators, the int32 bias added, and the requantization
``saturate(round_half_even(acc · s_in·s_w / s_out) + z_out)`` — the arithmetic of
``tinytorch.perf.quantization`` step for step, so the uint8 outputs are equal bit for bit.
Between two layers with the same calibrated range the ``DQ -> Q`` pair cancels and activations
stay uint8.

The choices, made so that nothing reaches a kernel onnxruntime's CPU provider lacks:

- **Types.** uint8 activations (asymmetric, per tensor) with int8 weights (symmetric, zero
  point 0, one scale per output channel through the ``axis`` attribute, opset 13+) and an int32
  bias: the ``U8S8`` combination every onnxruntime integer kernel runs.
- **Linear is a Gemm** (``transB=1``, the weight kept in its ``(out, in)`` layout and
  ``state_dict`` name). An input of rank other than 2 is reshaped to ``(M, in)`` before the
  QuantizeLinear and back afterwards: a ``MatMul + Add`` on 3-D input would become onnxruntime's
  ``MatMulIntegerToFloat`` followed by a *float* bias add, no longer the integer accumulator.
- **A fused ReLU** is the output QuantizeLinear's own saturation when the output zero point is
  0 (always, after calibration on a ReLU's outputs): ``Q(relu(y)) = max(Q(y), z_out)``, and with
  ``z_out = 0`` that bound is the uint8 floor. Only a hand-made zero point above 0 needs an
  explicit ``Relu`` node, which then makes onnxruntime run that one layer in float (its outputs
  still agree within one quantization step).
- **Padding modes** other than zeros pad the float input *before* the QuantizeLinear, which
  commutes with any padding that copies values; the Conv itself then has no pads.
- **Dynamic Linear** is onnxruntime's dynamic pattern: ``DynamicQuantizeLinear`` (uint8, the
  batch range widened to contain 0, round half to even: ``affine.activation_qparams``) ->
  ``MatMulInteger`` (int32, exact) -> ``Cast`` -> ``Mul`` by ``s·s_w`` -> ``Add`` float bias,
  which the optimiser fuses into ``DynamicQuantizeMatMul``.

Cost: the file holds one byte per weight, four per bias entry and scale; the graph adds
``O(numel)`` quantize/dequantize passes at each layer boundary, which the fused kernels absorb.
"""

from __future__ import annotations

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.onnx.graph import GraphBuilder
from tinytorch.onnx.registry import register_module
from tinytorch.perf.quantization import affine
from tinytorch.perf.quantization.dynamic_linear import DynamicQuantizedLinear
from tinytorch.perf.quantization.quantized_conv import QuantizedConv2d
from tinytorch.perf.quantization.quantized_linear import QuantizedLinear
from tinytorch.perf.quantization.quantized_module import QuantizedModule

_TENSOR_FLOAT = 1                           # onnx.TensorProto.FLOAT
_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
_WRAP_PAD_OPSET = 19                        # Pad's mode="wrap" arrived in opset 19


def _hint(g: GraphBuilder, what: str) -> str:
    """A value name inside the module being exported: ``features.0.weight_zero_point``."""
    return f"{g.module_path}.{what}" if g.module_path else what


def _float32_input(g: GraphBuilder, args: tuple, kwargs: dict) -> tuple[Tensor, str]:
    """The layer's input tensor and its ONNX name, cast to float32 when it is another float
    (tinytorch quantizes from float32; QuantizeLinear and DynamicQuantizeLinear take float32)."""
    x = args[0] if args else kwargs["input"]
    name = g.value(x)
    if x.dtype != np.float32:
        name = g.node("Cast", [name], to=_TENSOR_FLOAT)
    return x, name


def _fake_quantize(g: GraphBuilder, x: str, scale: Tensor, zero_point: Tensor,
                   side: str) -> str:
    """float x -> QuantizeLinear (uint8) -> DequantizeLinear -> float holding ``s·(q - z)``."""
    s, z = g.value(scale), g.value(zero_point)
    q = g.node("QuantizeLinear", [x, s, z], hint=_hint(g, f"{side}_uint8"))
    return g.node("DequantizeLinear", [q, s, z], hint=_hint(g, f"{side}_dequantized"))


def _weight(g: GraphBuilder, module: QuantizedModule, axis: int) -> str:
    """The int8 weight buffer -> DequantizeLinear with one scale per output channel."""
    w_scale = module.weight_scale
    zeros = g.constant(np.zeros(w_scale.shape, affine.WEIGHT_DTYPE),
                       _hint(g, "weight_zero_point"))
    return g.node("DequantizeLinear", [g.value(module.weight), g.value(w_scale), zeros],
                  axis=axis, hint=_hint(g, "weight_dequantized"))


def _bias(g: GraphBuilder, module: QuantizedModule) -> str | None:
    """The int32 bias buffer -> DequantizeLinear at scale ``s_in·s_w[o]``, zero point 0."""
    if module.bias is None:
        return None
    w_scale = module.weight_scale.array
    scale = np.float32(module.input_scale.array) * w_scale          # as affine.quantize_bias
    zeros = g.constant(np.zeros(w_scale.shape, affine.BIAS_DTYPE), _hint(g, "bias_zero_point"))
    return g.node("DequantizeLinear",
                  [g.value(module.bias), g.constant(scale, _hint(g, "bias_scale")), zeros],
                  axis=0, hint=_hint(g, "bias_dequantized"))


def _requantize(g: GraphBuilder, module: QuantizedModule, y: str) -> str:
    """The float result of the Gemm/Conv -> Q/DQ at the calibrated output range.

    A fused ReLU costs nothing when the output zero point is 0 (module docstring).
    """
    if module.relu and int(module.output_zero_point.array) != 0:
        y = g.node("Relu", [y])
    return _fake_quantize(g, y, module.output_scale, module.output_zero_point, "output")


@register_module(QuantizedLinear)
def quantized_linear(g: GraphBuilder, module: QuantizedLinear, args: tuple, kwargs: dict,
                     output: Tensor) -> str:
    # x: (*, in) -> Q/DQ -> Gemm(W int8 (out, in) per row, bias int32) -> Q/DQ -> (*, out)
    x_tensor, x = _float32_input(g, args, kwargs)
    flat = x_tensor.ndim != 2
    if flat:
        x = g.node("Reshape", [x, g.ints([-1, module.in_features], _hint(g, "rows"))])
    x = _fake_quantize(g, x, module.input_scale, module.input_zero_point, "input")
    inputs = [x, _weight(g, module, axis=0)]
    bias = _bias(g, module)
    if bias is not None:
        inputs.append(bias)
    y = _requantize(g, module, g.node("Gemm", inputs, transB=1))
    if not flat:
        return y
    lead = g.node("Shape", [g.value(x_tensor)], end=-1)                 # the dims of *
    shape = g.node("Concat", [lead, g.ints([module.out_features], _hint(g, "out_features"))],
                   axis=0)
    return g.node("Reshape", [y, shape])


@register_module(DynamicQuantizedLinear)
def dynamic_quantized_linear(g: GraphBuilder, module: DynamicQuantizedLinear, args: tuple,
                             kwargs: dict, output: Tensor) -> str:
    # x: (*, in) float -> uint8 (*, in), s, z -> int32 (*, out) -> float32 (*, out)
    q, scale, zero_point = g.node("DynamicQuantizeLinear",
                                  [_float32_input(g, args, kwargs)[1]], outputs=3)
    w_t = g.constant(module.weight.array.T, _hint(g, "weight_t"))            # int8 (in, out)
    acc = g.node("MatMulInteger", [q, w_t, zero_point])
    y = g.node("Cast", [acc], to=_TENSOR_FLOAT)
    y = g.node("Mul", [y, g.node("Mul", [scale, g.value(module.weight_scale)])])
    if module.bias is not None:
        y = g.node("Add", [y, g.value(module.bias)])
    return y


def _pad_before_quantize(g: GraphBuilder, module: QuantizedConv2d, x: str) -> str:
    """Reflect / replicate / circular padding of the float input (N, C, H, W)."""
    t, b, left, r = module.pads
    if module.padding_mode == "circular" and g.opset < _WRAP_PAD_OPSET:
        return _wrap_by_concat(g, x, (t, b, left, r))
    pads = [0, 0, t, left, 0, 0, b, r]                          # begins then ends, per axis
    return g.node("Pad", [x, g.ints(pads, _hint(g, "pads"))],
                  mode=_PAD_MODES[module.padding_mode])


def _wrap_by_concat(g: GraphBuilder, x: str, pads: tuple[int, int, int, int]) -> str:
    """Circular padding before opset 19: copy the far rows/columns to each side (Slice+Concat)."""
    t, b, left, r = pads
    for axis, before, after in ((-2, t, b), (-1, left, r)):
        parts = []
        if before:
            parts.append(_slice(g, x, -before, np.iinfo(np.int64).max, axis))
        parts.append(x)
        if after:
            parts.append(_slice(g, x, 0, after, axis))
        if len(parts) > 1:
            x = g.node("Concat", parts, axis=axis)
    return x


def _slice(g: GraphBuilder, x: str, start: int, end: int, axis: int) -> str:
    """``x[..., start:end, ...]`` along ``axis``."""
    bounds = [g.ints([v], _hint(g, hint))
              for v, hint in ((start, "starts"), (end, "ends"), (axis, "axes"))]
    return g.node("Slice", [x, *bounds])


@register_module(QuantizedConv2d)
def quantized_conv2d(g: GraphBuilder, module: QuantizedConv2d, args: tuple, kwargs: dict,
                     output: Tensor) -> str:
    # x: (N, C, H, W) or (C, H, W) -> Q/DQ -> Conv(W int8 per channel, bias int32) -> Q/DQ
    x_tensor, x = _float32_input(g, args, kwargs)
    unbatched = x_tensor.ndim == 3
    if unbatched:
        x = g.node("Unsqueeze", [x, g.ints([0], _hint(g, "batch_axis"))])
    pads = [0, 0, 0, 0]
    if module.padding_mode == "zeros":
        t, b, left, r = module.pads
        pads = [t, left, b, r]
    elif any(module.pads):
        x = _pad_before_quantize(g, module, x)
    x = _fake_quantize(g, x, module.input_scale, module.input_zero_point, "input")
    inputs = [x, _weight(g, module, axis=0)]
    bias = _bias(g, module)
    if bias is not None:
        inputs.append(bias)
    y = g.node("Conv", inputs, kernel_shape=list(module.kernel_size),
               strides=list(module.stride), dilations=list(module.dilation),
               group=module.groups, pads=pads)
    y = _requantize(g, module, y)
    if unbatched:
        y = g.node("Squeeze", [y, g.ints([0], _hint(g, "batch_axis"))])
    return y
