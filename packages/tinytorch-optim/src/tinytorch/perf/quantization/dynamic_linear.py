"""``DynamicQuantizedLinear``: int8 weights, activations quantized on the fly for each batch.

Dynamic quantization needs no calibration data: the weights are quantized once (int8,
symmetric, per output channel) and each incoming batch is quantized with its own range. For an
input with ``M`` rows, ``K = in_features``, ``N = out_features``:

1. ``s, z`` from the batch's min and max (one pass, ``2·M·K`` comparisons), and ``q`` uint8
   (M, K), exactly as ONNX's ``DynamicQuantizeLinear``;
2. ``acc = (q - z) @ q_wᵀ``: int32 (M, N), exact, as ``MatMulInteger`` (``2·M·N·K`` FLOPs in
   float32 BLAS on small integers, ``integer_matmul``);
3. ``y = acc · (s·s_w) + bias`` in float32, the bias kept in float32 because the input scale
   is known only at run time (onnxruntime's dynamic graphs do the same).

Why uint8 activations with int8 weights: ``DynamicQuantizeLinear`` only produces uint8, and
onnxruntime's CPU integer GEMMs are built for uint8 × int8 (``U8S8``), the combination its
quantizer uses by default. Memory: ``N·K`` bytes of weights plus ``8·N`` for scales and bias;
no output range is stored, so the output keeps float32 precision. This is the usual choice for
Linear-heavy models whose activation ranges vary from input to input (transformers, RNNs).
"""

from __future__ import annotations

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.nn.linear import Linear
from tinytorch.perf.quantization import affine
from tinytorch.perf.quantization.quantized_linear import integer_linear
from tinytorch.perf.quantization.quantized_module import QuantizedModule


class DynamicQuantizedLinear(QuantizedModule):
    """Dynamic int8 ``Linear``: float (*, in_features) -> float32 (*, out_features).

    Buffers: ``weight`` int8 (out, in), ``weight_scale`` float32 (out,), ``bias`` float32
    (out,) or None. Inference only. Build one with ``from_float`` or
    ``tinytorch.perf.quantize_dynamic``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self._store("weight", np.zeros((out_features, in_features), affine.WEIGHT_DTYPE))
        self._store("weight_scale", np.ones(out_features, np.float32))
        self._store("bias", np.zeros(out_features, np.float32) if bias else None)

    @classmethod
    def from_float(cls, linear: Linear) -> DynamicQuantizedLinear:
        """Quantize ``linear``'s weight per output channel; its bias stays float32."""
        w = linear.weight.array
        q = cls(w.shape[1], w.shape[0], bias=linear.bias is not None)
        q_w, w_scale = affine.quantize_weight(w)
        q._store("weight", q_w)
        q._store("weight_scale", w_scale)
        if linear.bias is not None:
            q._store("bias", linear.bias.array.astype(np.float32))
        return q

    def input_qparams(self, x: np.ndarray) -> tuple[np.float32, np.uint8]:
        """The (scale, zero point) of one batch: its whole range, widened to contain 0."""
        if x.size == 0:
            return affine.activation_qparams(0.0, 0.0)
        return affine.activation_qparams(float(x.min()), float(x.max()))

    def accumulate(self, q: np.ndarray, zero_point: affine.ZeroPoint) -> np.ndarray:
        """The integer core: uint8 input (*, in) -> int32 accumulators (*, out)."""
        return integer_linear(q, zero_point, self._array("weight"), None)

    def forward(self, input: Tensor) -> Tensor:
        # x: (*, in) float -> uint8 (batch range) -> int32 (*, out) -> float32 (*, out)
        x = self._float_input(input)
        scale, zero_point = self.input_qparams(x)
        acc = self.accumulate(affine.quantize(x, scale, zero_point), zero_point)
        y = acc.astype(np.float32)
        y *= scale * self._array("weight_scale")
        if self.bias is not None:
            y += self._array("bias")
        return Tensor._wrap(y)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
