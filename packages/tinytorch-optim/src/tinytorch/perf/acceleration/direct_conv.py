"""A direct convolution: one small product per kernel offset, the baseline im2col is measured
against.

For a kernel of ``kH×kW`` offsets, output pixel ``(h, w)`` of channel ``o`` is
``Σ_{i,j,c} W[o, c, i, j] · X[c, h·s + i, w·s + j]``. Taking the offsets ``(i, j)`` as the
outer loop, each offset contributes ``W[:, :, i, j] @ window(i, j)``, where ``window(i, j)`` is
the strided view of the padded input that offset ``(i, j)`` of every output pixel reads.
So the forward pass is ``kH·kW`` products of (O, C) by (C, N·P), with ``P = H_out·W_out``,
summed into one output, in ``kH·kW`` Python iterations (no loop over pixels or samples).

Compared with im2col (``tinytorch.arch.conv``'s reference), which copies the windows into a
column matrix of ``N·C·kH·kW·P`` elements and runs one product of (O, C·kH·kW) by that:

- direct: BLAS needs each strided window as a contiguous operand, so ``tensordot`` copies it,
  ``N·C·P`` elements per offset: the same bytes in all as im2col's columns, but one offset at
  a time, a working set ``kH·kW`` times smaller. The price: ``kH·kW`` products whose inner
  dimension is only ``C`` (each loaded element reused less), and ``kH·kW`` passes adding
  into the output;
- im2col: the whole column matrix at once, then one product with inner dimension
  ``C·kH·kW``, the shape BLAS runs best.

Both do ``2·N·O·C·kH·kW·P`` FLOPs. Which wins depends on ``C`` and the kernel size; the
acceleration report measures it rather than assuming. Forward only, stride and zero padding,
no dilation or groups: it is a baseline, not a layer.
"""

from __future__ import annotations

import numpy as np


def conv2d_direct(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                  stride: int = 1, padding: int = 0) -> np.ndarray:
    """2-D cross-correlation by kernel offsets: x (N, C, H, W), weight (O, C, kH, kW),
    bias (O,) -> (N, O, H_out, W_out), ``H_out = (H + 2·padding - kH) // stride + 1``."""
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d_direct: expected x (N, C, H, W) and weight (O, C, kH, kW) "
                         f"with the same C, got {x.shape} and {weight.shape}")
    if stride < 1 or padding < 0:
        raise ValueError(f"conv2d_direct: stride must be ≥ 1 and padding ≥ 0, got stride="
                         f"{stride}, padding={padding}")
    n, _, h, w = x.shape
    o, _, kh, kw = weight.shape
    h_out, w_out = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    if h_out < 1 or w_out < 1:
        raise ValueError(f"conv2d_direct: kernel {kh}×{kw} is larger than the padded input "
                         f"{h + 2 * padding}×{w + 2 * padding}")
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((o, n, h_out, w_out), dtype=np.result_type(x, weight))   # (O, N, Ho, Wo)
    for i in range(kh):
        for j in range(kw):
            window = xp[:, :, i:i + stride * (h_out - 1) + 1:stride,
                        j:j + stride * (w_out - 1) + 1:stride]          # (N, C, Ho, Wo) view
            out += np.tensordot(weight[:, :, i, j], window, axes=([1], [1]))  # (O, N, Ho, Wo)
    if bias is not None:
        out += bias[:, None, None, None]
    return out.transpose(1, 0, 2, 3)                                         # (N, O, Ho, Wo)
