"""``F.unfold`` / ``F.fold`` (``nn.Unfold`` / ``nn.Fold``): im2col and col2im as ops of their own.

``unfold`` copies every kH×kW sliding block of a (N, C, H, W) input into a column: the result
is ``(N, C·kH·kW, L)`` with ``L = H_out·W_out`` blocks, column entries ordered (channel, kernel
row, kernel column), the matrix a convolution multiplies its weight with. ``fold`` is its
adjoint: it adds each column back into the block it came from, summing where blocks overlap.
So each one's backward is the other, and ``fold(unfold(x))`` multiplies every pixel by the
number of blocks that cover it.

Systems view, for ``K = kH·kW``: ``unfold`` is one padded copy (``N·C·Hp·Wp`` elements) plus a
zero-copy strided view of it (``_spatial.kernel_major_windows``) copied once into the columns,
``N·C·K·L`` elements, which is ``K`` times the input at stride 1: memory is the price of
turning a convolution into one matrix product. ``fold`` writes a zeroed padded image and adds
one strided window per kernel offset: ``K`` vectorised adds of ``N·C·L`` elements each, a loop
over kernel offsets and never over pixels; where blocks overlap the adds accumulate.
``im2col`` and ``col2im`` are also the halves of ``ConvTranspose2d`` (conv_transpose.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.arch import _spatial as sp
from tinytorch.core.function import Function
from tinytorch.core.tensor import Tensor
from tinytorch.nn.module import Module

Pair = tuple[int, int]


def im2col(x: np.ndarray, kernel: Pair, dilation: Pair, pads: sp.Pads, stride: Pair,
           out_hw: Pair) -> np.ndarray:
    """x (N, C, H, W) -> columns (N, C·kH·kW, H_out·W_out), zero padding ``pads``.

    Column ``oh·W_out + ow`` holds the block whose top-left corner is
    ``(oh·sH - top, ow·sW - left)``; only the first ``out_hw`` blocks are taken.
    """
    n, c = x.shape[:2]
    xp = sp.pad_constant(x, pads, 0.0)                                   # (N, C, Hp, Wp)
    view = sp.kernel_major_windows(xp, kernel, stride, dilation, out_hw)  # (kH,kW,N,C,Ho,Wo)
    cols = view.transpose(2, 3, 0, 1, 4, 5)                              # (N,C,kH,kW,Ho,Wo)
    return cols.reshape(n, c * kernel[0] * kernel[1], out_hw[0] * out_hw[1])


def col2im(cols: np.ndarray, size: Pair, kernel: Pair, dilation: Pair, pads: sp.Pads,
           stride: Pair, out_hw: Pair) -> np.ndarray:
    """columns (N, C·kH·kW, H_out·W_out) -> image (N, C, H, W): the adjoint of ``im2col``.

    Every column entry is added at the pixel ``im2col`` read it from; entries that fell on the
    padding are dropped.
    """
    n = cols.shape[0]
    kh, kw = kernel
    c = cols.shape[1] // (kh * kw)
    blocks = cols.reshape(n, c, kh, kw, *out_hw)
    hp, wp = size[0] + pads[0] + pads[1], size[1] + pads[2] + pads[3]
    xp = np.zeros((n, c, hp, wp), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xp[sp.window_slice(i, j, stride, dilation, out_hw)] += blocks[:, :, i, j]
    return xp[:, :, pads[0]:pads[0] + size[0], pads[2]:pads[2] + size[1]]


class UnfoldFunction(Function):
    """im2col forward, col2im backward."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, kernel: Pair, dilation: Pair, pads: sp.Pads,
                stride: Pair, out_hw: Pair) -> np.ndarray:
        # x: (N, C, H, W) -> (N, C·kH·kW, L)
        ctx.size = x.shape[-2:]
        ctx.geometry = (kernel, dilation, pads, stride, out_hw)
        return im2col(x, kernel, dilation, pads, stride, out_hw)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: (N, C·kH·kW, L) -> (N, C, H, W)
        kernel, dilation, pads, stride, out_hw = ctx.geometry
        return col2im(grad, ctx.size, kernel, dilation, pads, stride, out_hw)


class FoldFunction(Function):
    """col2im forward, im2col backward."""

    @staticmethod
    def forward(ctx: Function, cols: np.ndarray, *, size: Pair, kernel: Pair, dilation: Pair,
                pads: sp.Pads, stride: Pair, out_hw: Pair) -> np.ndarray:
        # cols: (N, C·kH·kW, L) -> (N, C, H, W)
        ctx.geometry = (kernel, dilation, pads, stride, out_hw)
        return np.ascontiguousarray(col2im(cols, size, kernel, dilation, pads, stride, out_hw))

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: (N, C, H, W) -> (N, C·kH·kW, L)
        kernel, dilation, pads, stride, out_hw = ctx.geometry
        return im2col(grad, kernel, dilation, pads, stride, out_hw)


def _arguments(op: str, kernel_size: Any, dilation: Any, padding: Any,
               stride: Any) -> tuple[Pair, Pair, sp.Pads, Pair]:
    kernel = sp.pair(kernel_size, "kernel_size")
    dil = sp.pair(dilation, "dilation")
    pad = sp.pair(padding, "padding")
    step = sp.pair(stride, "stride")
    if min(kernel) <= 0 or min(dil) <= 0 or min(step) <= 0:
        raise RuntimeError(f"{op}: kernel_size, dilation and stride must be greater than zero, "
                           f"got kernel_size={kernel}, dilation={dil}, stride={step}")
    if min(pad) < 0:
        raise RuntimeError(f"{op}: padding must be non-negative, got padding={pad}")
    return kernel, dil, (pad[0], pad[0], pad[1], pad[1]), step


def _blocks(size: Pair, kernel: Pair, dilation: Pair, pads: sp.Pads, stride: Pair) -> Pair:
    return (sp.out_size(size[0], kernel[0], stride[0], pads[0] + pads[1], dilation[0]),
            sp.out_size(size[1], kernel[1], stride[1], pads[2] + pads[3], dilation[1]))


def unfold(input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
           stride: Any = 1) -> Tensor:
    """Sliding blocks as columns, PyTorch's ``F.unfold``: (N, C, H, W) -> (N, C·kH·kW, L).

    ``L = H_out·W_out`` with ``H_out = floor((H + 2·pH - dH·(kH-1) - 1) / sH) + 1``. An
    unbatched (C, H, W) input gives (C·kH·kW, L).
    """
    kernel, dil, pads, step = _arguments("unfold", kernel_size, dilation, padding, stride)
    if input.ndim not in (3, 4):
        raise RuntimeError(f"unfold: expected a 3D (unbatched) or 4D (batched) input of shape "
                           f"(N, C, H, W), got shape {tuple(input.shape)}")
    out_hw = _blocks(tuple(input.shape[-2:]), kernel, dil, pads, step)
    if min(out_hw) <= 0:
        raise sp.too_small("unfold", tuple(input.shape), pads, kernel, dil)
    x = input.unsqueeze(0) if input.ndim == 3 else input
    out = UnfoldFunction.apply(x, kernel=kernel, dilation=dil, pads=pads, stride=step,
                               out_hw=out_hw)
    return out.squeeze(0) if input.ndim == 3 else out


def fold(input: Tensor, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> Tensor:
    """Sum columns back into an image, PyTorch's ``F.fold``: (N, C·kH·kW, L) -> (N, C, H, W).

    ``output_size`` is (H, W); ``L`` must be the number of blocks ``unfold`` would take from an
    image of that size. An unbatched (C·kH·kW, L) input gives (C, H, W).
    """
    kernel, dil, pads, step = _arguments("fold", kernel_size, dilation, padding, stride)
    size = sp.pair(output_size, "output_size")
    if input.ndim not in (2, 3):
        raise RuntimeError(f"fold: expected a 2D (unbatched) or 3D (batched) input of shape "
                           f"(N, C·kH·kW, L), got shape {tuple(input.shape)}")
    k = kernel[0] * kernel[1]
    if input.shape[-2] % k:
        raise RuntimeError(
            f"fold: expected size of input's dimension {input.ndim - 2} to be divisible by the "
            f"product of kernel_size {kernel}, which is {k}, but got input of shape "
            f"{tuple(input.shape)}")
    out_hw = _blocks(size, kernel, dil, pads, step)
    if min(out_hw) <= 0 or out_hw[0] * out_hw[1] != input.shape[-1]:
        raise RuntimeError(
            f"fold: given output_size={size}, kernel_size={kernel}, dilation={dil}, "
            f"padding={(pads[0], pads[2])}, stride={step}, expected size of input's dimension "
            f"{input.ndim - 1} to match the calculated number of sliding blocks "
            f"{out_hw[0]} * {out_hw[1]} = {out_hw[0] * out_hw[1]}, but got input of shape "
            f"{tuple(input.shape)}")
    cols = input.unsqueeze(0) if input.ndim == 2 else input
    out = FoldFunction.apply(cols, size=size, kernel=kernel, dilation=dil, pads=pads,
                             stride=step, out_hw=out_hw)
    return out.squeeze(0) if input.ndim == 2 else out


class Unfold(Module):
    """``nn.Unfold``: sliding blocks as columns, (N, C, H, W) -> (N, C·kH·kW, L)."""

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """``nn.Fold``: columns summed back into an image, (N, C·kH·kW, L) -> (N, C, H, W)."""

    def __init__(self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        return fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                    self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")
