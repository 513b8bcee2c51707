"""``QuantizedConv2d``: a statically quantized ``Conv2d``, as im2col plus one exact integer GEMM.

For x (N, C, H, W), weight (O, C/G, kH, kW), G groups, ``K = (C/G)·kH·kW`` and
``P = H_out·W_out``:

1. quantize x with the calibrated (scale, zero point) -> uint8, and shift: ``q - z`` (exact
   small integers, held in float32 for BLAS);
2. pad the shifted input. Zero padding pads with 0 in the *shifted* domain, which is the zero
   point in the uint8 domain: the integer that stands for 0.0. (Padding a uint8 input with
   the integer 0 would pad with ``-z·s`` instead, a classic quantized-convolution bug.)
   Reflect, replicate and circular padding copy values, so they commute with quantization;
3. im2col (``tinytorch.arch.fold.im2col``): columns (N, G, K, P);
4. ``acc = W (G, O/G, K) @ cols + q_bias``: int32 (N, O, P), exact (``integer_matmul``);
5. requantize to the calibrated output (round half to even, saturate, a fused ReLU as the
   lower bound at the zero point) and dequantize to float32 for the next layer.

This is onnxruntime's ``QLinearConv`` with per-channel int8 weights and an int32 bias.
Cost: ``2·N·O·K·P`` FLOPs in float32 BLAS, like the float convolution; memory: the columns,
``N·C·kH·kW·P`` float32 values, and ``O·K`` bytes of weights instead of ``4·O·K``.
Stride, padding (ints, pairs, ``'same'``, ``'valid'``), dilation, groups and every
``padding_mode`` of ``tinytorch.arch.Conv2d`` are supported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.arch.conv import Conv2d
from tinytorch.arch.fold import im2col
from tinytorch.core import padding
from tinytorch.core.tensor import Tensor
from tinytorch.perf.quantization import affine
from tinytorch.perf.quantization.integer_matmul import exact_matmul
from tinytorch.perf.quantization.quantized_linear import SHIFTED_BOUND, WEIGHT_BOUND
from tinytorch.perf.quantization.quantized_module import QParams, QuantizedModule

Pads = tuple[int, int, int, int]                       # (top, bottom, left, right)
NO_PADS: Pads = (0, 0, 0, 0)


def resolve_pads(pad: Any, kernel: tuple[int, int], dilation: tuple[int, int]) -> Pads:
    """``Conv2d.padding`` (a pair, ``'valid'`` or ``'same'``) -> (top, bottom, left, right).

    ``'same'`` pads ``dilation·(kernel - 1)`` in total per axis, the odd pixel at the end,
    as PyTorch does.
    """
    if pad == "valid":
        return NO_PADS
    if pad == "same":
        th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
        return th // 2, th - th // 2, tw // 2, tw - tw // 2
    ph, pw = pad
    return ph, ph, pw, pw


def _out_size(size: int, kernel: int, stride: int, pads: int, dilation: int) -> int:
    return (size + pads - dilation * (kernel - 1) - 1) // stride + 1


class QuantizedConv2d(QuantizedModule):
    """Static int8 ``Conv2d``: float (N, C_in, H, W) or (C_in, H, W) -> float (N, C_out, Ho, Wo).

    Buffers: ``weight`` int8 (C_out, C_in/groups, kH, kW), ``weight_scale`` float32 (C_out,),
    ``bias`` int32 (C_out,) or None, ``input_scale`` / ``output_scale`` float32 scalars,
    ``input_zero_point`` / ``output_zero_point`` uint8 scalars. ``relu=True``: a fused ReLU.
    Inference only. Build one with ``from_float`` or ``tinytorch.perf.quantize_static``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int],
                 stride: tuple[int, int] = (1, 1), padding: Any = (0, 0),
                 dilation: tuple[int, int] = (1, 1), groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", relu: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.padding_mode = padding_mode
        self.relu = relu
        self.pads = resolve_pads(padding, self.kernel_size, self.dilation)
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self._store_static_placeholders(shape, bias)

    @classmethod
    def from_float(cls, conv: Conv2d, input_qparams: QParams, output_qparams: QParams,
                   relu: bool = False, weight: np.ndarray | None = None,
                   bias: np.ndarray | None = None) -> QuantizedConv2d:
        """Quantize ``conv`` for the given ranges.

        ``weight`` / ``bias`` replace the layer's own (a BatchNorm folded into them).
        """
        w = conv.weight.array if weight is None else weight
        if bias is None and conv.bias is not None:
            bias = conv.bias.array
        q = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                conv.padding, conv.dilation, conv.groups, bias is not None, conv.padding_mode,
                relu)
        q._quantize_static(w, bias, input_qparams, output_qparams)
        return q

    def _check(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """Validate an input shape like ``conv2d`` does; returns (H_out, W_out)."""
        if len(shape) not in (3, 4):
            raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to conv2d, but "
                               f"got input of size: {list(shape)}")
        if shape[-3] != self.in_channels:
            raise RuntimeError(f"{type(self).__name__}: expected input with "
                               f"{self.in_channels} channels, got input of shape "
                               f"{tuple(shape)}")
        t, b, l, r = self.pads
        out = (_out_size(shape[-2], self.kernel_size[0], self.stride[0], t + b,
                         self.dilation[0]),
               _out_size(shape[-1], self.kernel_size[1], self.stride[1], l + r,
                         self.dilation[1]))
        if out[0] <= 0 or out[1] <= 0:
            raise RuntimeError(f"{type(self).__name__}: input of shape {tuple(shape)} padded "
                               f"by {self.pads} is smaller than the kernel "
                               f"{self.kernel_size} with dilation {self.dilation}")
        return out

    def accumulate(self, q: np.ndarray) -> np.ndarray:
        """The integer core: uint8 (N, C, H, W) -> int32 accumulators (N, O, Ho, Wo), bias added."""
        out_hw = self._check(q.shape)
        unbatched = q.ndim == 3
        a = (q[None] if unbatched else q).astype(np.float32)        # (N, C, H, W)
        a -= np.float32(self._array("input_zero_point"))             # exact small integers
        t, b, l, r = self.pads
        mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
        a = padding.pad(a, ((0, 0), (0, 0), (t, b), (l, r)), mode)   # 0 here is the zero point
        n, g, o = a.shape[0], self.groups, self.out_channels
        cols = im2col(a, self.kernel_size, self.dilation, NO_PADS, self.stride, out_hw)
        cols = cols.reshape(n, g, -1, out_hw[0] * out_hw[1])          # (N, G, K, P)
        w3 = self._array("weight").reshape(g, o // g, -1).astype(np.float32)  # (G, O/G, K)
        acc = exact_matmul(w3, cols, WEIGHT_BOUND, SHIFTED_BOUND)     # (N, G, O/G, P)
        acc = acc.reshape(n, o, *out_hw)
        if self.bias is not None:
            acc += self._array("bias")[:, None, None]
        return acc[0] if unbatched else acc

    def forward(self, input: Tensor) -> Tensor:
        # x: (N, C, H, W) float -> uint8 -> int32 (N, O, Ho, Wo) -> uint8 -> float32
        x = self._float_input(input)
        q = affine.quantize(x, self._array("input_scale"), self._array("input_zero_point"))
        return self._requantize_output(self.accumulate(q), -3, self.relu)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}, padding={self.padding!r}")
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s + f", bias={self.bias is not None}, relu={self.relu}"
