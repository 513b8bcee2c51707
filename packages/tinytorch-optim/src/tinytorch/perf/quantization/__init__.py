"""INT8 quantization with real integer arithmetic.

| file | what it holds |
|---|---|
| affine.py | the float <-> uint8/int8/int32 maps: scales, zero points, rounding, saturation |
| integer_matmul.py | exact int32 accumulators of 8-bit products on float32 BLAS |
| observers.py | ``MinMaxObserver``, ``PercentileObserver``: calibrated activation ranges |
| quantized_module.py | ``QuantizedModule``: integer buffers, inference only |
| quantized_linear.py | ``QuantizedLinear``: static int8 Linear (QLinearMatMul) |
| dynamic_linear.py | ``DynamicQuantizedLinear``: per-batch activations (MatMulInteger) |
| quantized_conv.py | ``QuantizedConv2d``: static int8 Conv2d (QLinearConv), im2col + integer GEMM |
| fusion.py | which layers to quantize; Conv2d+BatchNorm2d+ReLU and Linear+ReLU fusion |
| quantize_model.py | ``quantize_dynamic``, ``quantize_static`` |
"""

from tinytorch.perf.quantization.dynamic_linear import DynamicQuantizedLinear
from tinytorch.perf.quantization.integer_matmul import matmul_int32
from tinytorch.perf.quantization.observers import MinMaxObserver, PercentileObserver
from tinytorch.perf.quantization.quantize_model import quantize_dynamic, quantize_static
from tinytorch.perf.quantization.quantized_conv import QuantizedConv2d
from tinytorch.perf.quantization.quantized_linear import QuantizedLinear
from tinytorch.perf.quantization.quantized_module import QuantizedModule

__all__ = [
    "DynamicQuantizedLinear", "MinMaxObserver", "PercentileObserver", "QuantizedConv2d",
    "QuantizedLinear", "QuantizedModule", "matmul_int32", "quantize_dynamic", "quantize_static",
]
