"""The pooling kernels: ``pooling.py``'s references with kernel-major windows, a branch-free
running maximum, direct writes where windows do not overlap, and adaptive windows as GEMMs.

What they do differently from the references in ``pooling.py``, and why:

- **Kernel-major windows.** The references copy the windows window-major, (N, C, H_out,
  W_out, kH·kW), and reduce over the last, short axis. Here the copy is kernel-major,
  (kH·kW, N, C, H_out, W_out) (``_spatial.kernel_major_windows``; for the usual 2×2 stride-2
  pool one copy of the input), so every kernel offset is one contiguous block and each step
  of the reduction runs at full memory speed instead of walking short strided rows.
- **A branch-free running maximum.** Instead of ``argmax`` over the window axis, max pooling
  keeps a running maximum and the offset that won with arithmetic only (no masked writes,
  which are slow), and stores the winner in 1 byte per output (2 past 255 offsets) instead
  of 8: all backward needs.
- **Direct writes.** When windows do not overlap (stride ≥ dilated kernel), every padded
  position belongs to at most one window, so backward writes each kernel offset's share
  instead of adding it into a zeroed array.
- **Adaptive windows as two GEMMs.** The reference averages each output cell's window in a
  loop over the H_out·W_out cells. Here the windows become two averaging matrices,
  ``out = A_H @ x @ A_Wᵀ`` (row ``i`` of ``A`` averages window ``i``), so the whole op is two
  matrix products: ``2·N·C·(H·W·W_out + H·W_out·H_out)`` FLOPs; backward is
  ``A_Hᵀ @ dY @ A_W``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.arch import _spatial as sp
from tinytorch.core.function import Function


def _overlapping(kernel: tuple[int, int], stride: tuple[int, int],
                 dilation: tuple[int, int]) -> bool:
    """Whether neighbouring windows share input positions (stride < dilated kernel extent)."""
    return any(s < d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))


def max_windows(x: np.ndarray, geom: sp.PoolGeometry) -> tuple[np.ndarray, np.ndarray]:
    """The window maxima (N, C, Ho, Wo) and the winning kernel offset ``i·kW + j`` (uint8/16).

    NaN wins, as in PyTorch; ties go to the first offset in row-major order.
    """
    kernel, stride, dil, pads, out_hw = geom
    xp = sp.pad_constant(sp.batched(x), pads, -np.inf)
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


class MaxPool2dKernel(Function):
    """Routes each output's gradient to the input element that won its window."""

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
        kernel, stride, dil, pads, out_hw = ctx.geom
        g = sp.batched(grad)
        h, w = ctx.shape[-2:]
        dxp = sp.padded_zeros(g, pads, h, w)
        overlap = _overlapping(kernel, stride, dil)
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                window = dxp[sp.window_slice(i, j, stride, dil, out_hw)]
                won = winner == i * kernel[1] + j
                if overlap:
                    window += g * won
                else:  # every padded position belongs to at most one window: write directly
                    np.multiply(g, won, out=window)
        dx = sp.unpad(dxp, pads, h, w)
        return (dx[0] if len(ctx.shape) == 3 else dx), None, None


class AvgPool2dKernel(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, geom: sp.PoolGeometry,
                divisor: np.ndarray) -> np.ndarray:
        # x: (N, C, H, W) or (C, H, W) -> (N, C, Ho, Wo): window sums / divisor
        kernel, stride, dil, pads, out_hw = geom
        xp = sp.pad_constant(sp.batched(x), pads, 0.0)
        win = sp.kernel_major_windows(xp, kernel, stride, dil, out_hw)
        total = win.reshape(kernel[0] * kernel[1], -1).sum(axis=0).reshape(xp.shape[:2] + out_hw)
        total /= divisor
        ctx.save_for_backward(divisor)
        ctx.geom, ctx.shape = geom, x.shape
        return total[0] if x.ndim == 3 else total

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: (N, C, Ho, Wo) -> (N, C, H, W): each input gets grad/divisor from every window
        (divisor,) = ctx.saved_tensors
        kernel, stride, dil, pads, out_hw = ctx.geom
        share = sp.batched(grad) / divisor
        h, w = ctx.shape[-2:]
        dxp = sp.padded_zeros(share, pads, h, w)
        overlap = _overlapping(kernel, stride, dil)
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                window = dxp[sp.window_slice(i, j, stride, dil, out_hw)]
                if overlap:
                    window += share
                else:
                    window[...] = share
        dx = sp.unpad(dxp, pads, h, w)
        return dx[0] if len(ctx.shape) == 3 else dx


def _averaging_matrix(size: int, out: int, dtype: np.dtype) -> np.ndarray:
    """(out, size) matrix whose row ``i`` averages PyTorch's adaptive window ``i``."""
    start, end = sp.adaptive_ranges(size, out)
    pos = np.arange(size)
    inside = (pos >= start[:, None]) & (pos < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


class AdaptiveAvgPool2dKernel(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, out_hw: tuple[int, int]) -> np.ndarray:
        # x: (..., H, W) -> (..., Ho, Wo) = A_H @ x @ A_Wᵀ, as two GEMMs
        a_h = _averaging_matrix(x.shape[-2], out_hw[0], x.dtype)    # (Ho, H)
        a_w = _averaging_matrix(x.shape[-1], out_hw[1], x.dtype)    # (Wo, W)
        ctx.save_for_backward(a_h, a_w)
        t = np.tensordot(x, a_w, axes=([-1], [1]))                   # (..., H, Wo)
        out = np.tensordot(t, a_h, axes=([-2], [1]))                 # (..., Wo, Ho)
        return np.ascontiguousarray(np.swapaxes(out, -1, -2))

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: (..., Ho, Wo) -> (..., H, W) = A_Hᵀ @ grad @ A_W
        a_h, a_w = ctx.saved_tensors
        t = np.tensordot(grad, a_w, axes=([-1], [0]))                # (..., Ho, W)
        return np.swapaxes(np.tensordot(t, a_h, axes=([-2], [0])), -1, -2)
