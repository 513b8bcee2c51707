"""Shared pieces of the spatial layers (convolution, pooling): arguments, padding, windows.

Systems view: a sliding-window op looks at its padded input through *strided views* that copy
nothing: the kernel axes get the strides of one input row/column step (times the dilation),
the output axes the strides of one stride step. ``windows`` is that view in the layout the
convolution kernel wants, (C, kH, kW, H_out, W_out, N), which one reshape copies into the im2col
matrix; ``kernel_major_windows`` is the (kH, kW, N, C, H_out, W_out) layout pooling copies once
so that every kernel offset is one contiguous block; ``window_slice`` is the view of one kernel
offset, used by the backward passes to add gradients back. Padding goes through
``tinytorch.core.padding`` (the one implementation, shared with ``F.pad``): one new array of
``N·C·Hp·Wp`` elements, a fill plus one slice assignment for ``'zeros'`` (and pooling's
``-inf``), a gather per padded axis for the other modes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tinytorch.core import padding

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

Pads = tuple[int, int, int, int]  # (top, bottom, left, right)

# a pooling window's (kernel, stride, dilation, pads, out_hw); pads include ceil-mode overhang
PoolGeometry = tuple[tuple[int, int], tuple[int, int], tuple[int, int], Pads, tuple[int, int]]


def pair(value: Any, name: str) -> tuple[int, int]:
    """``3 -> (3, 3)``, ``(2, 3) -> (2, 3)``; anything else raises naming the argument."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return int(value[0]), int(value[1])
    if isinstance(value, (tuple, list)) and len(value) == 1:
        return pair(value[0], name)
    raise TypeError(f"{name} must be an int or a tuple of two ints, got {value!r}")


def batched(x: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (1, C, H, W); a batched (N, C, H, W) input as it is."""
    return x[None] if x.ndim == 3 else x


def padded_zeros(g: np.ndarray, pads: Pads, h: int, w: int) -> np.ndarray:
    """Zeros (N, C, h + top + bottom, w + left + right) in the dtype of g (N, C, ...): the
    padded input gradient a backward adds window gradients into, before ``unpad``."""
    return np.zeros(g.shape[:2] + (h + pads[0] + pads[1], w + pads[2] + pads[3]), g.dtype)


def unpad(xp: np.ndarray, pads: Pads, h: int, w: int) -> np.ndarray:
    """The (N, C, H, W) interior of a padded (N, C, Hp, Wp) array (a view)."""
    return xp[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w]


def spatial_dims(x: np.ndarray, op: str) -> None:
    """Spatial ops take ``(N, C, H, W)`` or unbatched ``(C, H, W)`` inputs."""
    if x.ndim not in (3, 4):
        raise RuntimeError(
            f"{op}: expected a 3D (unbatched) or 4D (batched) input of shape (N, C, H, W), "
            f"got shape {tuple(x.shape)}")


def out_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int,
             ceil_mode: bool = False, pad_before: int = 0) -> int:
    """PyTorch's output length: ``floor((size + pads - dilation·(k-1) - 1) / stride) + 1``.

    With ``ceil_mode`` the division rounds up, but the last window must still start inside
    the input or its left padding (PyTorch's rule), so it never covers only overhang.
    """
    span = size + pad_total - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    n = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (n - 1) * stride >= size + pad_before:
        n -= 1
    return n


def widths(pads: Pads) -> padding.Widths:
    """(top, bottom, left, right) -> ``core.padding``'s (before, after) for each NCHW axis."""
    return ((0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3]))


def pad_constant(x: np.ndarray, pads: Pads, value: float) -> np.ndarray:
    """``x`` (N, C, H, W) -> (N, C, H + top + bottom, W + left + right), filled with ``value``
    (``x`` itself when every pad is 0)."""
    return padding.pad(x, widths(pads), "constant", value)


def check_pad_mode(shape: tuple[int, ...], pads: Pads, mode: str) -> None:
    """PyTorch's limits: reflect needs pad < size, circular needs pad <= size."""
    h, w = shape[-2], shape[-1]
    for p, size, dim in ((pads[0], h, "H"), (pads[1], h, "H"), (pads[2], w, "W"),
                         (pads[3], w, "W")):
        if (mode == "reflect" and p >= size) or (mode == "circular" and p > size):
            limit = "less than" if mode == "reflect" else "at most"
            raise RuntimeError(
                f"padding_mode='{mode}': padding {p} along {dim} must be {limit} the input "
                f"size {size} (input shape {tuple(shape)}, pads (top, bottom, left, right) = "
                f"{pads})")


def pad_gather(x: np.ndarray, pads: Pads, mode: str) -> np.ndarray:
    """Reflect/replicate/circular padding: (N, C, H, W) -> (N, C, Hp, Wp)."""
    return padding.pad(x, widths(pads), mode)


def pad_gather_backward(grad: np.ndarray, pads: Pads, mode: str) -> np.ndarray:
    """Backward of ``pad_gather``: (N, C, Hp, Wp) -> (N, C, H, W), summing duplicated pixels."""
    return padding.pad_backward(grad, widths(pads), mode)


def windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int], out_hw: tuple[int, int],
            batch_last: bool) -> np.ndarray:
    """Zero-copy im2col view of a padded input, channels first, kernel offsets next.

    ``batch_last``: ``xp`` (C, Hp, Wp, N) -> (C, kH, kW, H_out, W_out, N); otherwise
    ``xp`` (C, N, Hp, Wp) -> (C, kH, kW, N, H_out, W_out). Element ``[c, i, j, ..]`` at output
    position (oh, ow) is ``xp[c, oh·sH + i·dH, ow·sW + j·dW]`` of its sample. Read-only. With
    the batch axis innermost, one output row of one channel, ``(W_out, N)``, is a single
    contiguous run at stride 1, so copying the view and adding back into it move long runs.
    """
    if batch_last:
        sc, sh, sw, sn = xp.strides
        c, n = xp.shape[0], xp.shape[3]
        return as_strided(
            xp, (c, kernel[0], kernel[1], out_hw[0], out_hw[1], n),
            (sc, sh * dilation[0], sw * dilation[1], sh * stride[0], sw * stride[1], sn),
            writeable=False)
    sc, sn, sh, sw = xp.strides
    c, n = xp.shape[:2]
    return as_strided(
        xp, (c, kernel[0], kernel[1], n, out_hw[0], out_hw[1]),
        (sc, sh * dilation[0], sw * dilation[1], sn, sh * stride[0], sw * stride[1]),
        writeable=False)


def kernel_major_windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                         dilation: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """Zero-copy view (kH, kW, N, C, H_out, W_out) of a padded NCHW input ``xp``.

    ``view[i, j, n, c, oh, ow] = xp[n, c, oh·sH + i·dH, ow·sW + j·dW]``. Copied once, each
    kernel offset becomes one contiguous block, so pooling's per-offset passes run at full
    memory speed instead of walking short strided rows.
    """
    sn, sc, sh, sw = xp.strides
    n, c = xp.shape[:2]
    return as_strided(
        xp, (kernel[0], kernel[1], n, c, out_hw[0], out_hw[1]),
        (sh * dilation[0], sw * dilation[1], sn, sc, sh * stride[0], sw * stride[1]),
        writeable=False)


def window_slice(i: int, j: int, stride: tuple[int, int], dilation: tuple[int, int],
                 out_hw: tuple[int, int]) -> tuple[slice, slice, slice, slice]:
    """The (N, C, H_out, W_out) slice of a padded NCHW array seen by kernel offset (i, j).

    Its last two entries are the row and column slices, for other layouts. Used by the backward
    passes, which add one kernel offset at a time into the padded gradient: a loop over the
    kH·kW offsets, each a vectorised strided add over N·C·H_out·W_out.
    """
    h0, w0 = i * dilation[0], j * dilation[1]
    return (slice(None), slice(None),
            slice(h0, h0 + stride[0] * (out_hw[0] - 1) + 1, stride[0]),
            slice(w0, w0 + stride[1] * (out_hw[1] - 1) + 1, stride[1]))


def too_small(op: str, shape: tuple[int, ...], pads: Pads, kernel: tuple[int, int],
              dilation: tuple[int, int]) -> RuntimeError:
    """The error for an input smaller than the (dilated) kernel, naming every shape."""
    hp = shape[-2] + pads[0] + pads[1]
    wp = shape[-1] + pads[2] + pads[3]
    kh = dilation[0] * (kernel[0] - 1) + 1
    kw = dilation[1] * (kernel[1] - 1) + 1
    return RuntimeError(
        f"{op}: input of shape {tuple(shape)} padded to {hp} x {wp} is smaller than the "
        f"kernel {kernel[0]} x {kernel[1]} (dilated extent {kh} x {kw}); the kernel size "
        f"can't be greater than the padded input size")


def adaptive_ranges(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's adaptive windows: cell ``i`` is ``[floor(i·size/out), ceil((i+1)·size/out))``."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)
