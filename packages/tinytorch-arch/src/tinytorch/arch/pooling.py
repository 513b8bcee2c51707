"""2-D pooling: ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d`` and their functional forms.

The algorithms (the references here), for x (N, C, H, W) pooled to (N, C, H_out, W_out) with
a kH×kW window:

- max and average pooling pad the input (``-inf`` for max, zeros for average, as in PyTorch),
  look at it through a strided view of every window (no copy), and reduce each window: a
  ``max``/``argmax`` or a sum divided by the window's count. Cost: about
  ``kH·kW·N·C·H_out·W_out`` comparisons or adds. Max pooling keeps which offset won each
  window (``i·kW + j``), all its backward needs: each output's gradient goes to its winner.
  Average pooling's backward spreads ``grad / count`` over the window. Both backward passes
  add one kernel offset at a time into the padded gradient (a loop over the kH·kW offsets,
  never over pixels; overlapping windows simply accumulate).
- adaptive average pooling has windows of varying size, PyTorch's cell ``i`` covering
  ``[floor(i·H/H_out), ceil((i+1)·H/H_out))``; the reference averages each cell in a loop
  over the H_out·W_out output cells, each a vectorised mean over N·C.

``ceil_mode`` adds bottom/right overhang that no window counts (max) or divides by (average).
By default each op runs its kernel (``_kernels/pooling.py``: kernel-major windows, a
branch-free running maximum, adaptive windows as two GEMMs);
``tinytorch.use_reference_kernels(True)`` runs the references.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinytorch.arch import _spatial as sp
from tinytorch.arch._kernels import pooling as kernels
from tinytorch.core.function import Function
from tinytorch.core.reference import reference_kernels_enabled
from tinytorch.core.tensor import Tensor
from tinytorch.nn.module import Module


def _geometry(x: np.ndarray, op: str, kernel_size: Any, stride: Any, padding: Any,
              dilation: Any, ceil_mode: bool) -> sp.PoolGeometry:
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


def _windows(xp: np.ndarray, geom: sp.PoolGeometry) -> np.ndarray:
    """Every window of a padded (N, C, Hp, Wp) input, copied: (N, C, Ho, Wo, kH·kW)."""
    (kh, kw), (sh, sw), (dh, dw), _, (ho, wo) = geom
    view = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    view = view[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :ho, :wo]   # strides, then dilation
    return view.reshape(*view.shape[:4], kh * kw)


# ----------------------------------------------------------------------------- max pooling
def max_windows(x: np.ndarray, geom: sp.PoolGeometry) -> tuple[np.ndarray, np.ndarray]:
    """The reference: window maxima (N, C, Ho, Wo) and the winning offset ``i·kW + j``.

    ``argmax`` takes NaN as the maximum and the first of equal values, as PyTorch does.
    """
    xp = sp.pad_constant(sp.batched(x), geom[3], -np.inf)             # (N, C, Hp, Wp)
    win = _windows(xp, geom)                                          # (N, C, Ho, Wo, kH·kW)
    winner = win.argmax(axis=-1)                                      # (N, C, Ho, Wo)
    return np.take_along_axis(win, winner[..., None], axis=-1)[..., 0], winner


class MaxPool2dReference(Function):
    """Routes each output's gradient to the input element that won its window.

    The maxima and winners are computed before the op is recorded, because the winners are
    also a user-visible output (``return_indices``); the op itself records the routing.
    """

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, pooled: np.ndarray, winner: np.ndarray, *,
                geom: sp.PoolGeometry) -> np.ndarray:
        # x: (N, C, H, W) or (C, H, W) -> pooled (N, C, Ho, Wo) (already computed)
        ctx.save_for_backward(winner)
        ctx.geom, ctx.shape = geom, x.shape
        return pooled[0] if x.ndim == 3 else pooled

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, None, None]:
        # grad: (N, C, Ho, Wo) -> (N, C, H, W)
        (winner,) = ctx.saved_tensors
        (kh, kw), stride, dil, pads, out_hw = ctx.geom
        h, w = ctx.shape[-2:]
        g = sp.batched(grad)
        dxp = sp.padded_zeros(g, pads, h, w)
        for i in range(kh):              # each kernel offset sends the gradient of the
            for j in range(kw):          # outputs it won to its (strided) window
                dxp[sp.window_slice(i, j, stride, dil, out_hw)] += g * (winner == i * kw + j)
        dx = sp.unpad(dxp, pads, h, w)
        return (dx[0] if len(ctx.shape) == 3 else dx), None, None


def _flat_indices(winner: np.ndarray, geom: sp.PoolGeometry, w: int) -> np.ndarray:
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
    if reference_kernels_enabled():
        pooled, winner = max_windows(x, geom)
        out = MaxPool2dReference.apply(input, pooled, winner, geom=geom)
    else:
        pooled, winner = kernels.max_windows(x, geom)
        out = kernels.MaxPool2dKernel.apply(input, pooled, winner, geom=geom)
    if not return_indices:
        return out
    idx = _flat_indices(winner, geom, x.shape[-1])
    return out, Tensor._wrap(idx[0] if x.ndim == 3 else idx)


# ----------------------------------------------------------------------------- average pooling
def _divisor(h: int, w: int, geom: sp.PoolGeometry, pad: tuple[int, int], count_include_pad: bool,
             divisor_override: int | None, dtype: np.dtype) -> np.ndarray:
    """How many elements each output averages: 0-d, or an (Ho, Wo) array at the borders.

    PyTorch's rule: windows are clipped to the padded input (never the ceil-mode overhang);
    with ``count_include_pad=False`` they are clipped to the input itself.
    """
    if divisor_override is not None:
        return np.asarray(divisor_override, dtype=dtype)
    kernel, stride, _, _, out_hw = geom
    counts = []
    for size, k, s, p, n in zip((h, w), kernel, stride, pad, out_hw):
        start = np.arange(n) * s - p
        end = np.minimum(start + k, size + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        counts.append(end - start)
    return np.multiply.outer(counts[0], counts[1]).astype(dtype)


class AvgPool2dReference(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, geom: sp.PoolGeometry,
                divisor: np.ndarray) -> np.ndarray:
        # x: (N, C, H, W) or (C, H, W) -> (N, C, Ho, Wo): window sums / divisor
        xp = sp.pad_constant(sp.batched(x), geom[3], 0.0)             # (N, C, Hp, Wp)
        out = _windows(xp, geom).sum(axis=-1) / divisor               # (N, C, Ho, Wo)
        ctx.save_for_backward(divisor)
        ctx.geom, ctx.shape = geom, x.shape
        return out[0] if x.ndim == 3 else out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: (N, C, Ho, Wo) -> (N, C, H, W): each input gets grad/divisor from every window
        (divisor,) = ctx.saved_tensors
        (kh, kw), stride, dil, pads, out_hw = ctx.geom
        h, w = ctx.shape[-2:]
        share = sp.batched(grad) / divisor
        dxp = sp.padded_zeros(share, pads, h, w)
        for i in range(kh):              # every kernel offset's window gets its share;
            for j in range(kw):          # overlapping windows add up
                dxp[sp.window_slice(i, j, stride, dil, out_hw)] += share
        dx = sp.unpad(dxp, pads, h, w)
        return dx[0] if len(ctx.shape) == 3 else dx


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
    op = AvgPool2dReference if reference_kernels_enabled() else kernels.AvgPool2dKernel
    return op.apply(input, geom=geom, divisor=divisor)


# ----------------------------------------------------------------------------- adaptive average
class AdaptiveAvgPool2dReference(Function):
    """Each output cell is the mean of its adaptive window: a loop over the output cells."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, out_hw: tuple[int, int]) -> np.ndarray:
        # x: (..., H, W) -> (..., Ho, Wo)
        rows = sp.adaptive_ranges(x.shape[-2], out_hw[0])            # (starts, ends), (Ho,)
        cols = sp.adaptive_ranges(x.shape[-1], out_hw[1])            # (Wo,)
        out = np.empty(x.shape[:-2] + out_hw, x.dtype)
        for i, (r0, r1) in enumerate(zip(*rows)):
            for j, (c0, c1) in enumerate(zip(*cols)):
                out[..., i, j] = x[..., r0:r1, c0:c1].mean(axis=(-2, -1))
        ctx.shape, ctx.rows, ctx.cols = x.shape, rows, cols
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: (..., Ho, Wo) -> (..., H, W): each cell's gradient spread over its window
        dx = np.zeros(ctx.shape, grad.dtype)
        for i, (r0, r1) in enumerate(zip(*ctx.rows)):
            for j, (c0, c1) in enumerate(zip(*ctx.cols)):
                dx[..., r0:r1, c0:c1] += grad[..., i, j, None, None] / ((r1 - r0) * (c1 - c0))
        return dx


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
    if reference_kernels_enabled():
        return AdaptiveAvgPool2dReference.apply(input, out_hw=out_hw)
    return kernels.AdaptiveAvgPool2dKernel.apply(input, out_hw=out_hw)


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
