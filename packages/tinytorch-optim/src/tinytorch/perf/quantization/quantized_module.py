"""``QuantizedModule``: what the quantized layers share — integer buffers and inference only.

A quantized layer holds no Parameters. Its weights are int8 buffers, its bias an int32 (or
float32) buffer and its scales and zero points float32 / uint8 buffers, so ``state_dict`` and
``tinytorch.save`` store the integers themselves: one byte per weight instead of four.

The layers are inference-only, like PyTorch's quantized modules: rounding has no useful
gradient, so they record no autograd graph. An input that requires grad while grad mode is on
is refused with an error instead of silently cutting the graph.
"""

from __future__ import annotations

import numpy as np

from tinytorch.core.grad_mode import is_grad_enabled
from tinytorch.core.tensor import Tensor
from tinytorch.nn.module import Module
from tinytorch.perf.quantization import affine

QParams = tuple[np.float32, np.uint8]                # (scale, zero point) of a uint8 tensor


class QuantizedModule(Module):
    """Base of ``QuantizedLinear``, ``DynamicQuantizedLinear`` and ``QuantizedConv2d``."""

    def _store(self, name: str, array: np.ndarray | None) -> None:
        """Register ``array`` (kept as it is: int8, int32, uint8, float32) as a buffer."""
        self.register_buffer(name, None if array is None else Tensor._wrap(array))

    def _store_static_placeholders(self, weight_shape: tuple[int, ...], bias: bool) -> None:
        """Register the buffers ``_quantize_static`` fills, as zeros and ones of their final
        dtypes and shapes (weight (C_out, ...)), so ``load_state_dict`` can fill them too."""
        out = weight_shape[0]
        self._store("weight", np.zeros(weight_shape, affine.WEIGHT_DTYPE))
        self._store("weight_scale", np.ones(out, np.float32))
        self._store("bias", np.zeros(out, affine.BIAS_DTYPE) if bias else None)
        for side in ("input", "output"):
            self._store(f"{side}_scale", np.array(1, np.float32))
            self._store(f"{side}_zero_point", np.array(0, affine.ACTIVATION_DTYPE))

    def _quantize_static(self, weight: np.ndarray, bias: np.ndarray | None,
                         input_qparams: QParams, output_qparams: QParams) -> None:
        """Store float ``weight`` (C_out, ...) as int8 per channel, ``bias`` as int32 with
        scale ``s_in·s_w``, and the input and output (scale, zero point)."""
        q_w, w_scale = affine.quantize_weight(weight)
        (s_in, z_in), (s_out, z_out) = input_qparams, output_qparams
        self._store("weight", q_w)
        self._store("weight_scale", w_scale)
        if bias is not None:
            self._store("bias", affine.quantize_bias(bias, s_in, w_scale))
        self._store("input_scale", np.array(s_in, np.float32))
        self._store("input_zero_point", np.array(z_in, affine.ACTIVATION_DTYPE))
        self._store("output_scale", np.array(s_out, np.float32))
        self._store("output_zero_point", np.array(z_out, affine.ACTIVATION_DTYPE))

    def _requantize_output(self, acc: np.ndarray, channel_axis: int, relu: bool) -> Tensor:
        """int32 accumulators -> uint8 at the output (scale, zero point) -> float32 Tensor."""
        m = affine.requantize_multiplier(self._array("input_scale"),
                                         self._array("weight_scale"),
                                         self._array("output_scale"))
        m = m.reshape(m.shape + (1,) * (-1 - channel_axis))     # broadcast along the channels
        z_out = self._array("output_zero_point")
        y = affine.requantize(acc, m, z_out, relu=relu)
        return Tensor._wrap(affine.dequantize(y, self._array("output_scale"), z_out))

    def _array(self, name: str) -> np.ndarray:
        return self._buffers[name].array

    def _float_input(self, input: Tensor) -> np.ndarray:
        """The input's float array; refuses inputs that want a gradient."""
        if not isinstance(input, Tensor):
            raise TypeError(f"{type(self).__name__}: expected a Tensor input, got "
                            f"{type(input).__name__}")
        if input.requires_grad and is_grad_enabled():
            raise RuntimeError(
                f"{type(self).__name__} is inference-only: its integer arithmetic has no "
                "gradient, and the input requires grad. Run the quantized model under "
                "tinytorch.no_grad(), or on inputs that do not require grad")
        x = input.array
        if x.dtype.kind != "f":
            raise RuntimeError(f"{type(self).__name__}: expected a floating-point input, got "
                               f"{x.dtype} of shape {tuple(x.shape)}")
        return x
