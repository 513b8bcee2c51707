"""Transposed 2-D convolution: ``ConvTranspose2d`` and ``conv_transpose2d``, the adjoint of conv.

A convolution maps an image to a smaller grid of window sums; its transpose maps each input
pixel to a whole kernel-sized *patch* of the output, scaled by that pixel, and sums the patches
where they overlap. It is exactly the backward pass of ``conv2d`` with respect to its input,
which is why decoders use it to go up in resolution: with stride ``s`` the output is about
``s`` times larger, ``H_out = (H-1)·sH - 2·pH + dH·(kH-1) + output_padding_H + 1``.

Systems view, for x (N, C_in, H, W), weight (C_in, C_out/G, kH, kW), ``K = (C_out/G)·kH·kW``
and ``P = H·W`` input pixels:

- forward: one GEMM ``Wᵀ (G, K, C_in/G) @ x (N, G, C_in/G, P)`` gives every pixel's patch as a
  column, (N, C_out·kH·kW, P), and ``col2im`` (fold.py) adds the columns into the output with
  one strided add per kernel offset. FLOPs ``2·N·C_in·K·P``, the same as the conv it
  transposes; extra memory: the columns, ``N·C_out·kH·kW·P`` elements.
- backward: ``im2col`` of the output gradient (the forward of a conv) and two GEMMs:
  ``dx = W @ cols`` and ``dW = Σ_n x @ colsᵀ``; ``db`` sums the gradient over N, H, W.

The trade-off is the one conv2d makes: the columns cost ``kH·kW`` times the input's memory in
exchange for one large GEMM, instead of scattering every pixel's patch with its own small
product. ``output_padding`` only says which of the ``s`` possible output sizes to produce (a
conv with stride ``s`` maps all of them to the same size); the extra rows and columns receive
no patch and hold only the bias. Parameters use PyTorch's names, layout and initialisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.arch import _spatial as sp
from tinytorch.arch.conv import check_conv_arguments, register_conv_parameters
from tinytorch.arch.fold import col2im, im2col
from tinytorch.core import dtypes
from tinytorch.core.function import Function
from tinytorch.core.tensor import Tensor
from tinytorch.nn import init
from tinytorch.nn.module import Module

Pair = tuple[int, int]


class ConvTranspose2dFunction(Function):
    """GEMM then col2im forward; im2col then two GEMMs backward."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, *,
                stride: Pair, padding: Pair, dilation: Pair, groups: int,
                out_hw: Pair) -> np.ndarray:
        # x: (N, C_in, H, W); weight: (C_in, C_out/G, kH, kW) -> (N, C_out, H_out, W_out)
        n, c_in, h, w = x.shape
        kernel = weight.shape[2:]
        pads = (padding[0], padding[0], padding[1], padding[1])
        x4 = x.reshape(n, groups, c_in // groups, h * w)                 # (N, G, C_in/G, P)
        w3 = weight.reshape(groups, c_in // groups, -1)                  # (G, C_in/G, K)
        cols = np.matmul(w3.transpose(0, 2, 1), x4)                      # (N, G, K, P)
        cols = cols.reshape(n, -1, h * w)                                # (N, C_out·kH·kW, P)
        out = np.ascontiguousarray(col2im(cols, out_hw, kernel, dilation, pads, stride, (h, w)))
        if bias is not None:
            out += bias.reshape(1, -1, 1, 1)
        ctx.save_for_backward(x, weight)
        ctx.geometry = (stride, pads, dilation, groups)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any, Any]:
        # grad: (N, C_out, H_out, W_out) -> dx (N, C_in, H, W), dW (C_in, C_out/G, kH, kW), db
        x, weight = ctx.saved_tensors
        stride, pads, dilation, groups = ctx.geometry
        n, c_in, h, w = x.shape
        cols = im2col(grad, weight.shape[2:], dilation, pads, stride, (h, w))
        cols = cols.reshape(n, groups, -1, h * w)                        # (N, G, K, P)
        w3 = weight.reshape(groups, c_in // groups, -1)                  # (G, C_in/G, K)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = np.matmul(w3, cols).reshape(x.shape)                    # (N, G, C_in/G, P)
        if ctx.needs_input_grad[1]:
            x4 = x.reshape(n, groups, c_in // groups, h * w)
            gw = np.matmul(x4, cols.transpose(0, 1, 3, 2)).sum(axis=0).reshape(weight.shape)
        if ctx.needs_input_grad[2]:
            gb = grad.sum(axis=(0, 2, 3))
        return gx, gw, gb


def _output_hw(size: Pair, kernel: Pair, stride: Pair, padding: Pair, output_padding: Pair,
               dilation: Pair) -> Pair:
    return tuple(  # type: ignore[return-value]
        (size[i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (kernel[i] - 1)
        + output_padding[i] + 1 for i in range(2))


def _positive(value: Any, name: str) -> Pair:
    v = sp.pair(value, name)
    if min(v) <= 0:
        raise RuntimeError(f"non-positive {name} is not supported, got {name}={value!r}")
    return v


def _non_negative(value: Any, name: str) -> Pair:
    v = sp.pair(value, name)
    if min(v) < 0:
        raise RuntimeError(f"negative {name} is not supported, got {name}={value!r}")
    return v


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: Any = 1, padding: Any = 0, output_padding: Any = 0,
                     groups: int = 1, dilation: Any = 1) -> Tensor:
    """Transposed 2-D convolution, PyTorch's ``F.conv_transpose2d``.

    input (N, C_in, H, W) or (C_in, H, W); weight (C_in, C_out/groups, kH, kW); bias (C_out,)
    -> (N, C_out, H_out, W_out) with
    ``H_out = (H-1)·sH - 2·pH + dH·(kH-1) + output_padding_H + 1``. ``output_padding`` must be
    smaller than the stride or the dilation.
    """
    stride_ = _positive(stride, "stride")
    dilation_ = _positive(dilation, "dilation")
    padding_ = _non_negative(padding, "padding")
    out_pad = _non_negative(output_padding, "output_padding")
    x, wt = input.array, weight.array
    if x.ndim not in (3, 4):
        raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, "
                           f"but got input of size: {list(x.shape)}")
    if wt.ndim != 4:
        raise RuntimeError(f"conv_transpose2d: expected a 4D weight (in_channels, "
                           f"out_channels/groups, kH, kW), got weight of size {list(wt.shape)}")
    if not isinstance(groups, int) or groups <= 0:
        raise RuntimeError(f"non-positive groups is not supported, got groups={groups}")
    if x.shape[-3] != wt.shape[0] or wt.shape[0] % groups:
        raise RuntimeError(f"Given transposed=1, weight of size {list(wt.shape)}, expected "
                           f"input{list(x.shape)} to have {wt.shape[0]} channels (divisible "
                           f"by groups={groups}), but got {x.shape[-3]} channels instead")
    c_out = wt.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (c_out,):
        raise RuntimeError(f"Given transposed=1, weight of size {list(wt.shape)} and "
                           f"groups={groups}, expected bias to be 1D with {c_out} elements, but "
                           f"got bias of size {list(bias.shape)} instead")
    if x.dtype.kind != "f":
        raise RuntimeError(f"conv_transpose2d: expected a floating-point input, got {x.dtype}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.array.dtype != x.dtype:
            raise RuntimeError(f"conv_transpose2d: input type ({x.dtype}) and {name} type "
                               f"({t.array.dtype}) should be the same")
    for i in range(2):
        if out_pad[i] >= stride_[i] and out_pad[i] >= dilation_[i]:
            raise RuntimeError(f"output padding must be smaller than either stride or dilation, "
                               f"but got output_padding={out_pad}, stride={stride_}, "
                               f"dilation={dilation_}")
    kernel = (wt.shape[2], wt.shape[3])
    out_hw = _output_hw(x.shape[-2:], kernel, stride_, padding_, out_pad, dilation_)
    if min(out_hw) <= 0:
        raise RuntimeError(f"conv_transpose2d: input of size {list(x.shape)} with kernel "
                           f"{kernel}, stride {stride_}, padding {padding_}, dilation "
                           f"{dilation_} and output_padding {out_pad} gives the output size "
                           f"{out_hw}, which is too small")
    batched = input if x.ndim == 4 else input.unsqueeze(0)
    out = ConvTranspose2dFunction.apply(batched, weight, bias, stride=stride_, padding=padding_,
                                        dilation=dilation_, groups=groups, out_hw=out_hw)
    return out if x.ndim == 4 else out.squeeze(0)


class ConvTranspose2d(Module):
    """Transposed 2-D convolution layer, PyTorch's ``nn.ConvTranspose2d``.

    (N, C_in, H, W) -> (N, C_out, H_out, W_out). Parameters: ``weight`` (C_in, C_out/groups,
    kH, kW) and ``bias`` (C_out), initialised like PyTorch: ``kaiming_uniform_(weight, a=√5)``
    (fan_in = ``C_out/groups·kH·kW``, dimension 1 of the weight) and the bias from
    U(-1/√fan_in, 1/√fan_in). ``forward(input, output_size)`` may ask for one of the ``stride``
    possible output sizes instead of giving ``output_padding``. Zero padding only.
    Cost per sample: ``2·C_in·(C_out/groups)·kH·kW·H·W`` FLOPs forward, twice that backward.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        check_conv_arguments(in_channels, out_channels, groups, device)
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for ConvTranspose2d, '
                             f"got padding_mode='{padding_mode}'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = sp.pair(kernel_size, "kernel_size")
        self.stride = sp.pair(stride, "stride")
        self.padding = sp.pair(padding, "padding")
        self.output_padding = sp.pair(output_padding, "output_padding")
        self.dilation = sp.pair(dilation, "dilation")
        self.groups = groups
        self.padding_mode = padding_mode
        d = dtypes.as_dtype(dtype)
        shape = (in_channels, out_channels // groups, *self.kernel_size)
        register_conv_parameters(self, shape, out_channels, bias, d)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.linear_like_(self.weight, self.bias)

    def _output_padding(self, input: Tensor, output_size: Any) -> Pair:
        """The ``output_padding`` that makes the output ``output_size`` (PyTorch's rule)."""
        if output_size is None:
            return self.output_padding
        size = [int(s) for s in output_size]
        if len(size) == input.ndim:
            size = size[-2:]
        if len(size) != 2:
            raise ValueError(f"ConvTranspose2d: output_size must have 2 or {input.ndim} "
                             f"elements (got {len(size)})")
        smallest = _output_hw(tuple(input.shape[-2:]), self.kernel_size, self.stride,
                              self.padding, (0, 0), self.dilation)
        for i in range(2):
            largest = smallest[i] + self.stride[i] - 1
            if not smallest[i] <= size[i] <= largest:
                raise ValueError(
                    f"requested an output size of {size}, but valid sizes range from "
                    f"{list(smallest)} to {[s + t - 1 for s, t in zip(smallest, self.stride)]} "
                    f"(for an input of {list(input.shape[-2:])})")
        return (size[0] - smallest[0], size[1] - smallest[1])

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        return conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                self._output_padding(input, output_size), self.groups,
                                self.dilation)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
