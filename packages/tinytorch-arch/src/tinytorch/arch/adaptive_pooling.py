"""Adaptive max pooling: ``AdaptiveMaxPool2d`` and ``adaptive_max_pool2d``.

The output size is fixed and the windows adapt: output cell ``i`` of ``out`` covers input rows
``[floor(i·H/out), ceil((i+1)·H/out))`` (PyTorch's rule, ``_spatial.adaptive_ranges``), so
windows may differ in size by one and may overlap.

Systems view, for x (N, C, H, W) pooled to (N, C, H_out, W_out) with windows of at most
``kH × kW`` (``kH = ceil(H/H_out)`` or one more): windows of unequal size do not fit one
strided view, so the row and column indices of every window are gathered instead, each
window padded to ``kH × kW`` by repeating its last row/column (a repeat cannot change a
maximum, and it comes after the original, so ties still go to the first position in row-major
order as in PyTorch). That is one gather of ``N·C·H_out·kH·W_out·kW`` elements, about the
input's size when the windows do not overlap, then one ``argmax`` over each window. Backward
sends each output gradient to its winner with one ``bincount`` over flat indices, which sums
gradients where overlapping windows share a winner: ``O(N·C·H·W)`` work, no loop at all.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.arch import _spatial as sp
from tinytorch.core.function import Function
from tinytorch.core.tensor import Tensor
from tinytorch.nn.module import Module


def _window_index(size: int, out: int) -> np.ndarray:
    """(out, k) input positions of each adaptive window, the last one repeated to width k."""
    start, end = sp.adaptive_ranges(size, out)
    k = int((end - start).max())
    return np.minimum(start[:, None] + np.arange(k), end[:, None] - 1)


def _winners(x: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """x (N, C, H, W) -> flat index ``h·W + w`` of each window's maximum, (N, C, Ho, Wo)."""
    w = x.shape[-1]
    rows = _window_index(x.shape[-2], out_hw[0])                        # (Ho, kH)
    cols = _window_index(w, out_hw[1])                                  # (Wo, kW)
    flat = rows[:, None, :, None] * w + cols[None, :, None, :]          # (Ho, Wo, kH, kW)
    flat = flat.reshape(*out_hw, -1)                                    # (Ho, Wo, kH·kW)
    values = x.reshape(*x.shape[:2], -1)[:, :, flat]                    # (N, C, Ho, Wo, k)
    best = values.argmax(axis=-1)                  # (N, C, Ho, Wo); NaN wins, as in torch
    return flat[np.arange(out_hw[0])[:, None], np.arange(out_hw[1]), best]


class AdaptiveMaxPool2dFunction(Function):
    """Gathers the winners forward; routes each gradient to its winner backward."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        # x: (N, C, H, W); index: (N, C, Ho, Wo) flat h·W + w -> (N, C, Ho, Wo)
        n, c = x.shape[:2]
        planes = x.reshape(n, c, -1)
        ctx.save_for_backward(index)
        ctx.shape = x.shape
        return np.take_along_axis(planes, index.reshape(n, c, -1), axis=-1).reshape(index.shape)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray, None]:
        # grad: (N, C, Ho, Wo) -> (N, C, H, W), summed where windows share a winner
        (index,) = ctx.saved_tensors
        n, c, h, w = ctx.shape
        plane = np.arange(n * c).reshape(n, c, 1, 1) * (h * w)
        dx = np.bincount((index + plane).ravel(), weights=grad.ravel(), minlength=n * c * h * w)
        return dx.astype(grad.dtype, copy=False).reshape(ctx.shape), None


def _output_size(output_size: Any, x: np.ndarray) -> tuple[int, int]:
    """int, (h, w) or (h, None): None keeps that input dimension."""
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        return (x.shape[-2] if output_size[0] is None else int(output_size[0]),
                x.shape[-1] if output_size[1] is None else int(output_size[1]))
    return sp.pair(output_size, "output_size")


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max over PyTorch's adaptive windows: (N, C, H, W) -> (N, C, *output_size).

    Also takes unbatched (C, H, W). With ``return_indices`` also returns the int64 flat index
    (``h·W + w``) of each maximum in its input plane, like PyTorch.
    """
    x = input.array
    sp.spatial_dims(x, "adaptive_max_pool2d")
    if x.dtype.kind != "f":
        raise RuntimeError(f"adaptive_max_pool2d: expected a floating-point input, got dtype "
                           f"{x.dtype}")
    out_hw = _output_size(output_size, x)
    if min(out_hw) <= 0 or min(x.shape[-2:]) <= 0:
        raise RuntimeError(f"adaptive_max_pool2d: output_size {out_hw} and the spatial size "
                           f"of the input {tuple(x.shape)} must be positive")
    batched = input if x.ndim == 4 else input.unsqueeze(0)
    index = _winners(batched.array, out_hw)
    out = AdaptiveMaxPool2dFunction.apply(batched, index)
    if x.ndim == 3:
        out, index = out.squeeze(0), index[0]
    return (out, Tensor._wrap(index)) if return_indices else out


class AdaptiveMaxPool2d(Module):
    """Adaptive max pooling to a fixed output size, PyTorch's ``nn.AdaptiveMaxPool2d``."""

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:
        return adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
