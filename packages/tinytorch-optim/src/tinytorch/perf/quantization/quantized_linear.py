"""``QuantizedLinear``: a statically quantized ``Linear``, int8 weights and integer arithmetic.

For an input with ``M`` rows (leading dims folded), ``K = in_features``, ``N = out_features``:

1. quantize the float input with the calibrated (scale, zero point): uint8 (M, K);
2. ``acc = (q_in - z_in) @ q_wᵀ + q_bias``: int32 (M, N), exact (``integer_matmul``: float32
   BLAS on small integers, ``2·M·N·K`` FLOPs);
3. requantize to the calibrated output (scale, zero point), round half to even, saturate,
   with ReLU fused as a lower bound at the zero point: uint8 (M, N);
4. dequantize to float32 for the next layer.

This is onnxruntime's ``QLinearMatMul`` with an int32 bias: steps 1 and 4 are the
QuantizeLinear/DequantizeLinear pairs of the QDQ format, so between layers activations
travel as float32 holding exactly the values ``s·(q - z)``, and every step in between is
integer. Memory: ``N·K`` bytes of weights (a quarter of float32's) plus ``8·N`` for the
per-channel scales and int32 bias. Time on NumPy: the weight is widened to float32 for the
BLAS call on every forward (``N·K`` conversions), and the quantize/requantize passes add
``O(M·(K + N))``; the saving is memory, not speed. The speed of integer kernels shows in
onnxruntime.
"""

from __future__ import annotations

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.nn.linear import Linear
from tinytorch.perf.quantization import affine
from tinytorch.perf.quantization.integer_matmul import exact_matmul
from tinytorch.perf.quantization.quantized_module import QParams, QuantizedModule

# |q_in - z_in| <= 255 (uint8 minus a uint8 zero point); |q_w| <= 128 (any int8)
SHIFTED_BOUND, WEIGHT_BOUND = 255, 128


def integer_linear(q: np.ndarray, zero_point: affine.ZeroPoint, weight: np.ndarray,
                   bias: np.ndarray | None) -> np.ndarray:
    """uint8 q (*, K), int8 weight (N, K), int32 bias (N,) -> int32 (*, N), exact.

    ``acc = (q - z) @ weightᵀ (+ bias)``, the accumulator of ``QLinearMatMul`` /
    ``MatMulInteger``.
    """
    k = weight.shape[1]
    if q.shape[-1] != k:
        rows = int(np.prod(q.shape[:-1]))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{q.shape[-1]} "
                           f"and {k}x{weight.shape[0]})")
    a = q.reshape(-1, k).astype(np.float32)                  # (M, K), exact small integers
    a -= np.float32(zero_point)
    acc = exact_matmul(a, weight.T.astype(np.float32), SHIFTED_BOUND, WEIGHT_BOUND)  # (M, N)
    if bias is not None:
        acc += bias
    return acc.reshape(*q.shape[:-1], weight.shape[0])


class QuantizedLinear(QuantizedModule):
    """Static int8 ``Linear``: float (*, in_features) -> float (*, out_features).

    Buffers (the ``state_dict``): ``weight`` int8 (out, in), ``weight_scale`` float32 (out,),
    ``bias`` int32 (out,) or None, ``input_scale`` / ``output_scale`` float32 scalars,
    ``input_zero_point`` / ``output_zero_point`` uint8 scalars. ``relu=True`` means a ReLU
    was fused: outputs saturate below at the output zero point. Inference only.
    Build one with ``from_float`` or ``tinytorch.perf.quantize_static``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 relu: bool = False) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.relu = relu
        self._store_static_placeholders((out_features, in_features), bias)

    @classmethod
    def from_float(cls, linear: Linear, input_qparams: QParams, output_qparams: QParams,
                   relu: bool = False) -> QuantizedLinear:
        """Quantize ``linear``'s weight (per channel) and bias (int32) for the given ranges."""
        w = linear.weight.array
        b = None if linear.bias is None else linear.bias.array
        q = cls(w.shape[1], w.shape[0], bias=b is not None, relu=relu)
        q._quantize_static(w, b, input_qparams, output_qparams)
        return q

    def accumulate(self, q: np.ndarray) -> np.ndarray:
        """The integer core: uint8 input (*, in) -> int32 accumulators (*, out), bias added."""
        bias = None if self.bias is None else self._array("bias")
        return integer_linear(q, self._array("input_zero_point"), self._array("weight"), bias)

    def forward(self, input: Tensor) -> Tensor:
        # x: (*, in) float -> uint8 -> int32 (*, out) -> uint8 -> float32 (*, out)
        x = self._float_input(input)
        q = affine.quantize(x, self._array("input_scale"), self._array("input_zero_point"))
        return self._requantize_output(self.accumulate(q), -1, self.relu)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, relu={self.relu}, "
                f"input_scale={float(self._array('input_scale')):.4g}, "
                f"output_scale={float(self._array('output_scale')):.4g}")
