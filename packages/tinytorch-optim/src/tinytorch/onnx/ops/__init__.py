"""ONNX translations, one module per family; importing this package registers them all."""

from tinytorch.onnx.ops import attention, basic, conv, loss, nn, quantized, shape  # noqa: F401
