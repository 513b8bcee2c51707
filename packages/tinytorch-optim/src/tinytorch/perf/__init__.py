"""tinytorch.perf: the Optimization tier (distribution tinytorch-optim).

Not to be confused with ``tinytorch.optim``, the optimizers (SGD, Adam), at PyTorch's path.
This tier makes trained models smaller and faster and measures what each change buys, after
checking that it still gives the same answer.

| sub-package | what it holds |
|---|---|
| profiler/ | ``profile``: parameters, FLOPs, saved memory and time per layer; ``Profile`` (table, JSON, roofline plot) |
| quantization/ | INT8 quantization with real integer arithmetic: ``quantize_dynamic``, ``quantize_static``, ``QuantizedLinear``, ``DynamicQuantizedLinear``, ``QuantizedConv2d`` |
"""

from tinytorch.perf import profiler, quantization
from tinytorch.perf.profiler import LayerProfile, Profile, profile
from tinytorch.perf.quantization import (
    DynamicQuantizedLinear,
    QuantizedConv2d,
    QuantizedLinear,
    matmul_int32,
    quantize_dynamic,
    quantize_static,
)

__version__ = "0.1.0"

__all__ = [
    "DynamicQuantizedLinear", "QuantizedConv2d", "QuantizedLinear", "matmul_int32",
    "quantization", "quantize_dynamic", "quantize_static",
    "LayerProfile", "Profile", "profile", "profiler",
]
