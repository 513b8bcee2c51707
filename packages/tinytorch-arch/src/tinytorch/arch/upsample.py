"""Resizing images: ``F.interpolate`` and ``Upsample``, modes ``'nearest'`` and ``'bilinear'``.

Both modes are *separable*: every output row is a fixed mix of input rows and every output
column a fixed mix of input columns, so resizing (N, C, H, W) to (N, C, H_out, W_out) is
``out = A_H @ x @ A_Wᵀ`` with an interpolation matrix ``A`` of shape (out, in) per axis.
Nearest puts a single 1 in each row of ``A`` (output pixel ``i`` copies input pixel
``floor(i·scale)``); bilinear puts two weights ``1-λ`` and ``λ`` on the two input pixels that
bracket the output pixel's source position. The backward pass is the transpose,
``dx = A_Hᵀ @ dy @ A_W``, which sums the gradient of every output pixel that read an input
pixel. PyTorch's source positions: ``align_corners=True`` maps the corner pixels' centres onto
each other, ``src = i·(in-1)/(out-1)``; ``False`` maps the pixel edges,
``src = (i + 0.5)·scale - 0.5`` clamped at 0, with ``scale = 1/scale_factor`` when a scale
factor was given and ``in/out`` otherwise.

Systems view: two GEMMs, ``2·N·C·(H·W·W_out + H·W_out·H_out)`` FLOPs, forward and backward
alike, plus the two small matrices (``H_out·H + W_out·W`` elements). A gather would do the
nearest forward in ``N·C·H_out·W_out`` copies, but then its backward needs a scatter-add;
the matrices give both directions, both modes and every scale with one short piece of code,
and BLAS runs them at full speed at the image sizes used here. The trade-off is that the
FLOPs grow with the image side (``A`` is dense), so very large images would want the sparse
form instead.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.tensor import Tensor
from tinytorch.nn.module import Module

MODES = ("nearest", "bilinear")


def interpolation_matrix(size: int, out: int, mode: str, align_corners: bool,
                         scale: float | None) -> np.ndarray:
    """The (out, size) matrix that resizes one axis; ``scale`` is 1/scale_factor if given."""
    dst = np.arange(out)
    a = np.zeros((out, size))
    if mode == "nearest":
        # PyTorch computes this index in float32; so do we, to pick the same pixels
        step = np.float32(scale if scale is not None else size / out)
        src = np.minimum(np.floor(dst.astype(np.float32) * step).astype(np.int64), size - 1)
        a[dst, src] = 1.0
        return a
    if align_corners:
        pos = dst * ((size - 1) / (out - 1) if out > 1 else 0.0)
    else:
        step = scale if scale is not None else size / out
        pos = np.maximum((dst + 0.5) * step - 0.5, 0.0)
    low = np.minimum(pos.astype(np.int64), size - 1)
    high = np.minimum(low + 1, size - 1)
    frac = pos - low
    np.add.at(a, (dst, low), 1.0 - frac)          # low == high at the last pixel: weights add
    np.add.at(a, (dst, high), frac)
    return a


class SeparableResize(Function):
    """``A_H @ x @ A_Wᵀ`` forward, ``A_Hᵀ @ dy @ A_W`` backward."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, a_h: np.ndarray,
                a_w: np.ndarray) -> np.ndarray:
        # x: (N, C, H, W); a_h: (Ho, H); a_w: (Wo, W) -> (N, C, Ho, Wo)
        ctx.save_for_backward(a_h, a_w)
        t = np.tensordot(x, a_w, axes=([-1], [1]))                       # (N, C, H, Wo)
        out = np.tensordot(t, a_h, axes=([-2], [1]))                     # (N, C, Wo, Ho)
        return np.ascontiguousarray(np.swapaxes(out, -1, -2))

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: (N, C, Ho, Wo) -> (N, C, H, W)
        a_h, a_w = ctx.saved_tensors
        t = np.tensordot(grad, a_w, axes=([-1], [0]))                    # (N, C, Ho, W)
        return np.swapaxes(np.tensordot(t, a_h, axes=([-2], [0])), -1, -2)


def _sizes(shape: tuple[int, ...], size: Any,
           scale_factor: Any) -> tuple[tuple[int, int], tuple[float, float] | None]:
    """The output (H_out, W_out) and the scale factors, if they were given."""
    if (size is None) == (scale_factor is None):
        raise ValueError("either size or scale_factor should be defined" if size is None
                         else "only one of size or scale_factor should be defined")
    if size is not None:
        out = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        if len(out) != 2:
            raise ValueError(f"Input and output must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of "
                             f"{list(shape[2:])} and output size of {list(out)}")
        return (int(out[0]), int(out[1])), None
    factors = (tuple(scale_factor) if isinstance(scale_factor, (tuple, list))
               else (scale_factor, scale_factor))
    if len(factors) != 2:
        raise ValueError(f"Input and scale_factor must have the same number of spatial "
                         f"dimensions, but got input with spatial dimensions of "
                         f"{list(shape[2:])} and scale_factor of shape {list(factors)}")
    f = (float(factors[0]), float(factors[1]))
    return (math.floor(shape[2] * f[0]), math.floor(shape[3] * f[1])), f


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None,
                mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None, antialias: bool = False) -> Tensor:
    """Resize (N, C, H, W) to ``size`` or by ``scale_factor``, PyTorch's ``F.interpolate``.

    ``mode`` is ``'nearest'`` or ``'bilinear'``; ``align_corners`` (bilinear only, default
    False) maps corner pixel centres onto each other. With a ``scale_factor`` the output is
    ``floor(H·scale_factor)`` and the source positions use the factor itself, unless
    ``recompute_scale_factor=True``, which uses ``H/H_out`` as when ``size`` is given.
    """
    if mode not in MODES:
        raise NotImplementedError(f"interpolate: mode '{mode}' is not implemented; "
                                  f"available modes: {', '.join(MODES)}")
    if align_corners is not None and mode == "nearest":
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not implemented")
    if input.ndim != 4:
        raise NotImplementedError(f"interpolate: only 4-D inputs (N, C, H, W) are supported "
                                  f"(bilinear or nearest 2-D), got input of shape "
                                  f"{tuple(input.shape)}")
    if input.dtype.kind != "f":
        raise RuntimeError(f"interpolate: expected a floating-point input, got {input.dtype}")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    out_hw, factors = _sizes(tuple(input.shape), size, scale_factor)
    if min(out_hw) <= 0 or min(input.shape[2:]) <= 0:
        raise RuntimeError(f"interpolate: input {tuple(input.shape)} and output size {out_hw} "
                           f"should be greater than 0")
    scales = (None, None) if factors is None or recompute_scale_factor else \
        (1.0 / factors[0], 1.0 / factors[1])
    corners = bool(align_corners)
    dtype = input.dtype
    a_h = interpolation_matrix(input.shape[2], out_hw[0], mode, corners, scales[0])
    a_w = interpolation_matrix(input.shape[3], out_hw[1], mode, corners, scales[1])
    return SeparableResize.apply(input, a_h=a_h.astype(dtype), a_w=a_w.astype(dtype))


class Upsample(Module):
    """``nn.Upsample``: resize (N, C, H, W) to ``size`` or by ``scale_factor``. No parameters."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.size = size
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) \
            else scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)

    def extra_repr(self) -> str:
        what = f"scale_factor={self.scale_factor}" if self.scale_factor is not None \
            else f"size={self.size}"
        return f"{what}, mode='{self.mode}'"


class UpsamplingNearest2d(Upsample):
    """``nn.UpsamplingNearest2d``: ``Upsample`` with ``mode='nearest'``."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``nn.UpsamplingBilinear2d``: ``Upsample`` with ``mode='bilinear', align_corners=True``."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
