"""2-D pooling: ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d`` and their functional forms.

Systems view, for x (N, C, H, W) pooled to (N, C, H_out, W_out) with a kH×kW window:

- max and average pooling copy the windows once, kernel-major, into (kH·kW, N, C, H_out,
  W_out) (``_spatial.kernel_major_windows``; for the usual 2×2 stride-2 pool that is one copy
  of the input), so every kernel offset is one contiguous block. Max pooling then keeps a
  running maximum and the offset that won, with branch-free arithmetic (1 byte per output
  element: all backward needs); average pooling sums the blocks. Cost: about
  ``kH·kW·N·C·H_out·W_out`` comparisons or adds. Backward routes (max) or spreads (average)
  the gradient with one strided write per kernel offset, an add where windows overlap
  (stride < kernel): a loop over the kH·kW offsets, never over pixels.
- adaptive average pooling has windows of varying size, so it is written as two small
  averaging matrices, ``out = A_H @ x @ A_Wᵀ`` (rows of ``A`` sum to 1), i.e. two GEMMs:
  ``2·N·C·(H·W·W_out + H·W_out·H_out)`` FLOPs; backward is ``A_Hᵀ @ dY @ A_W``.

Padding is ``-inf`` for max pooling and zeros for average pooling, as in PyTorch;
``ceil_mode`` adds bottom/right overhang that no window counts (max) or divides by (average).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.arch import _spatial as sp
from tinytorch.core.function import Function
from tinytorch.core.tensor import Tensor
from tinytorch.nn.module import Module

Geometry = tuple[tuple[int, int], tuple[int, int], tuple[int, int], sp.Pads, tuple[int, int]]


def _geometry(x: np.ndarray, op: str, kernel_size: Any, stride: Any, padding: Any,
              dilation: Any, ceil_mode: bool) -> Geometry:
    """Check the arguments like PyTorch; return (kernel, stride, dilation, pads, out_hw).

    ``pads`` includes the ceil-mode overhang on the bottom/right.
    """
    sp.spatial_dims(x, op)
    kernel = sp.pair(kernel_size, "kernel_size")
    stride_ = kernel if stride is None or stride == () else sp.pair(stride, "stride")
    pad = sp.pair(padding, "padding")
    dil = sp.pair(dilation, "dilation")
    if min(kernel) <= 0 or min(stride_) <= 0 or min(dil) <= 0:
        raise RuntimeError(f"{op}: kernel_size, stride and dilation must be positive, got "
                           f"kernel_size={kernel}, stride={stride_}, dilation={dil}")
    for p, k, d in zip(pad, kernel, dil):
        if p < 0 or 2 * p > d * (k - 1) + 1:
            raise RuntimeError(f"{op}: pad should be at most half of effective kernel size, "
                               f"but got pad={p}, kernel_size={k} and dilation={d}")
    h, w = x.shape[-2:]
    out_hw = (sp.out_size(h, kernel[0], stride_[0], 2 * pad[0], dil[0], ceil_mode, pad[0]),
              sp.out_size(w, kernel[1], stride_[1], 2 * pad[1], dil[1], ceil_mode, pad[1]))
    if min(out_hw) <= 0:
        raise sp.too_small(op, x.shape, (pad[0], pad[0], pad[1], pad[1]), kernel, dil)
    # overhang: how far the last window reaches past the padded input (ceil_mode only)
    extra_h = max(0, (out_hw[0] - 1) * stride_[0] + dil[0] * (kernel[0] - 1) + 1 - h - 2 * pad[0])
    extra_w = max(0, (out_hw[1] - 1) * stride_[1] + dil[1] * (kernel[1] - 1) + 1 - w - 2 * pad[1])
    pads = (pad[0], pad[0] + extra_h, pad[1], pad[1] + extra_w)
    return kernel, stride_, dil, pads, out_hw


def _overlapping(kernel: tuple[int, int], stride: tuple[int, int],
                 dilation: tuple[int, int]) -> bool:
    """Whether neighbouring windows share input positions (stride < dilated kernel extent)."""
    return any(s < d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))


def _batched(x: np.ndarray) -> np.ndarray:
    return x[None] if x.ndim == 3 else x


def _unpad(dxp: np.ndarray, pads: sp.Pads, h: int, w: int) -> np.ndarray:
    return dxp[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w]


# ----------------------------------------------------------------------------- max pooling
def _max_windows(x: np.ndarray, geom: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """The window maxima (N, C, Ho, Wo) and the winning kernel offset ``i·kW + j`` (uint8/16).

    NaN wins, as in PyTorch; ties go to the first offset in row-major order. The windows are
    first copied kernel-major (one pass), then each offset is a contiguous block, and the
    running max/argmax uses branch-free arithmetic (no masked writes, which are slow).
    """
    kernel, stride, dil, pads, out_hw = geom
    xp = sp.pad_constant(_batched(x), pads, -np.inf)
    kk = kernel[0] * kernel[1]
    win = sp.kernel_major_windows(xp, kernel, stride, dil, out_hw).reshape(kk, -1)
    best = win[0].copy()
    arg = np.zeros(best.shape, np.uint8 if kk < 256 else np.uint16)
    for k in range(1, kk):
        v = win[k]
        wins = v > best
        wins |= v != v                                          # NaN wins and then stays
        np.maximum(best, v, out=best)
        arg += wins.view(np.uint8) * (arg.dtype.type(k) - arg)  # arg = k where wins (mod 2^b)
    shape = xp.shape[:2] + out_hw
    return best.reshape(shape), arg.reshape(shape)


class MaxPool2dFunction(Function):
    """Routes each output's gradient to the input element that won its window.

    The maxima and winners are computed by ``_max_windows`` before the op is recorded, because
    the winners are also a user-visible output (``return_indices``); the op itself records only
    the gradient routing, saving the winner offsets (1 byte per output element).
    """

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, pooled: np.ndarray, winner: np.ndarray, *,
                geom: Geometry) -> np.ndarray:
        # x: (N, C, H, W) or (C, H, W) -> pooled (N, C, Ho, Wo) (already computed)
        ctx.saved_tensors = (winner,)
        ctx.geom = (geom, x.shape)
        return pooled[0] if x.ndim == 3 else pooled

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, None, None]:
        # grad: (N, C, Ho, Wo) -> (N, C, H, W)
        (winner,) = ctx.saved_tensors
        (kernel, stride, dil, pads, out_hw), shape = ctx.geom
        g = _batched(grad)
        n, c = g.shape[:2]
        h, w = shape[-2:]
        dxp = np.zeros((n, c, h + pads[0] + pads[1], w + pads[2] + pads[3]), grad.dtype)
        overlap = _overlapping(kernel, stride, dil)
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                window = dxp[sp.window_slice(i, j, stride, dil, out_hw)]
                won = winner == i * kernel[1] + j
                if overlap:
                    window += g * won
                else:  # every padded position belongs to at most one window: write directly
                    np.multiply(g, won, out=window)
        dx = _unpad(dxp, pads, h, w)
        return (dx[0] if len(shape) == 3 else dx), None, None


def _flat_indices(winner: np.ndarray, geom: Geometry, w: int) -> np.ndarray:
    """Winner offsets -> PyTorch's indices: flat positions ``h·W + w`` in each input plane."""
    kernel, stride, dil, pads, out_hw = geom
    oh = np.arange(out_hw[0])[:, None] * stride[0] - pads[0]
    ow = np.arange(out_hw[1])[None, :] * stride[1] - pads[2]
    win = winner.astype(np.int64)
    return (oh + (win // kernel[1]) * dil[0]) * w + ow + (win % kernel[1]) * dil[1]


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Max over kH×kW windows: (N, C, H, W) -> (N, C, Ho, Wo), padding with -inf.

    ``stride`` defaults to ``kernel_size``. With ``return_indices`` also returns the int64
    flat index (``h·W + w``) of each maximum in its input plane, like PyTorch.
    """
    x = input.array
    if x.dtype.kind != "f":
        raise RuntimeError(f"max_pool2d: expected a floating-point input, got dtype {x.dtype}")
    geom = _geometry(x, "max_pool2d", kernel_size, stride, padding, dilation, ceil_mode)
    pooled, winner = _max_windows(x, geom)
    out = MaxPool2dFunction.apply(input, pooled, winner, geom=geom)
    if not return_indices:
        return out
    idx = _flat_indices(winner, geom, x.shape[-1])
    return out, Tensor._wrap(idx[0] if x.ndim == 3 else idx)


# ----------------------------------------------------------------------------- average pooling
def _divisor(h: int, w: int, geom: Geometry, pad: tuple[int, int], count_include_pad: bool,
             divisor_override: int | None, dtype: np.dtype) -> Any:
    """How many elements each output averages: a scalar, or an (Ho, Wo) array at the borders.

    PyTorch's rule: windows are clipped to the padded input (never the ceil-mode overhang);
    with ``count_include_pad=False`` they are clipped to the input itself.
    """
    if divisor_override is not None:
        return dtype.type(divisor_override)
    kernel, stride, _, _, out_hw = geom
    counts = []
    for size, k, s, p, n in zip((h, w), kernel, stride, pad, out_hw):
        start = np.arange(n) * s - p
        end = np.minimum(start + k, size + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        counts.append(end - start)
    return np.multiply.outer(counts[0], counts[1]).astype(dtype)


class AvgPool2dFunction(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, geom: Geometry, divisor: Any) -> np.ndarray:
        # x: (N, C, H, W) or (C, H, W) -> (N, C, Ho, Wo): window sums / divisor
        kernel, stride, dil, pads, out_hw = geom
        xp = sp.pad_constant(_batched(x), pads, 0.0)
        win = sp.kernel_major_windows(xp, kernel, stride, dil, out_hw)
        total = win.reshape(kernel[0] * kernel[1], -1).sum(axis=0).reshape(xp.shape[:2] + out_hw)
        total /= divisor
        ctx.geom = (geom, divisor, x.shape)
        return total[0] if x.ndim == 3 else total

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: (N, C, Ho, Wo) -> (N, C, H, W): each input gets grad/divisor from every window
        (kernel, stride, dil, pads, out_hw), divisor, shape = ctx.geom
        share = _batched(grad) / divisor
        n, c = share.shape[:2]
        h, w = shape[-2:]
        dxp = np.zeros((n, c, h + pads[0] + pads[1], w + pads[2] + pads[3]), grad.dtype)
        overlap = _overlapping(kernel, stride, dil)
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                window = dxp[sp.window_slice(i, j, stride, dil, out_hw)]
                if overlap:
                    window += share
                else:
                    window[...] = share
        dx = _unpad(dxp, pads, h, w)
        return dx[0] if len(shape) == 3 else dx


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over kH×kW windows: (N, C, H, W) -> (N, C, Ho, Wo), zero padding.

    ``count_include_pad`` counts padded zeros in the divisor; ``divisor_override`` replaces it.
    """
    x = input.array
    if x.dtype.kind != "f":
        raise RuntimeError(f"avg_pool2d: expected a floating-point input, got dtype {x.dtype}")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("avg_pool2d: divisor must be not zero")
    geom = _geometry(x, "avg_pool2d", kernel_size, stride, padding, 1, ceil_mode)
    pad = (geom[3][0], geom[3][2])
    divisor = _divisor(x.shape[-2], x.shape[-1], geom, pad, count_include_pad,
                       divisor_override, x.dtype)
    return AvgPool2dFunction.apply(input, geom=geom, divisor=divisor)


# ----------------------------------------------------------------------------- adaptive average
def _averaging_matrix(size: int, out: int, dtype: np.dtype) -> np.ndarray:
    """(out, size) matrix whose row ``i`` averages PyTorch's adaptive window ``i``."""
    start, end = sp.adaptive_ranges(size, out)
    pos = np.arange(size)
    inside = (pos >= start[:, None]) & (pos < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


class AdaptiveAvgPool2dFunction(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, out_hw: tuple[int, int]) -> np.ndarray:
        # x: (..., H, W) -> (..., Ho, Wo) = A_H @ x @ A_Wᵀ, as two GEMMs
        a_h = _averaging_matrix(x.shape[-2], out_hw[0], x.dtype)    # (Ho, H)
        a_w = _averaging_matrix(x.shape[-1], out_hw[1], x.dtype)    # (Wo, W)
        ctx.saved_tensors = (a_h, a_w)
        t = np.tensordot(x, a_w, axes=([-1], [1]))                   # (..., H, Wo)
        out = np.tensordot(t, a_h, axes=([-2], [1]))                 # (..., Wo, Ho)
        return np.ascontiguousarray(np.swapaxes(out, -1, -2))

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: (..., Ho, Wo) -> (..., H, W) = A_Hᵀ @ grad @ A_W
        a_h, a_w = ctx.saved_tensors
        t = np.tensordot(grad, a_w, axes=([-1], [0]))                # (..., Ho, W)
        return np.swapaxes(np.tensordot(t, a_h, axes=([-2], [0])), -1, -2)


def _adaptive_size(output_size: Any, x: np.ndarray) -> tuple[int, int]:
    """int, (h, w) or (h, None): None keeps that input dimension."""
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        return (x.shape[-2] if output_size[0] is None else int(output_size[0]),
                x.shape[-1] if output_size[1] is None else int(output_size[1]))
    return sp.pair(output_size, "output_size")


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average over PyTorch's adaptive windows: (N, C, H, W) -> (N, C, *output_size)."""
    x = input.array
    sp.spatial_dims(x, "adaptive_avg_pool2d")
    if x.dtype.kind != "f":
        raise RuntimeError(f"adaptive_avg_pool2d: expected a floating-point input, got dtype "
                           f"{x.dtype}")
    out_hw = _adaptive_size(output_size, x)
    if min(out_hw) <= 0 or min(x.shape[-2:]) <= 0:
        raise RuntimeError(f"adaptive_avg_pool2d: output_size {out_hw} and the spatial size "
                           f"of the input {tuple(x.shape)} must be positive")
    return AdaptiveAvgPool2dFunction.apply(input, out_hw=out_hw)


# ----------------------------------------------------------------------------- modules
class MaxPool2d(Module):
    """Max pooling, PyTorch's ``nn.MaxPool2d``: (N, C, H, W) -> (N, C, Ho, Wo). No parameters."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Any:
        return max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Average pooling, PyTorch's ``nn.AvgPool2d``: (N, C, H, W) -> (N, C, Ho, Wo)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Adaptive average pooling to a fixed output size, PyTorch's ``nn.AdaptiveAvgPool2d``."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
