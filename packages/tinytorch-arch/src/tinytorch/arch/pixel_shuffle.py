"""``PixelShuffle`` / ``PixelUnshuffle``: trade channels for resolution and back.

``pixel_shuffle`` with factor ``r`` turns (N, C·r², H, W) into (N, C, H·r, W·r): the ``r²``
channels of each group become an ``r × r`` block of neighbouring output pixels (channel
``c·r² + i·r + j`` lands at offset ``(i, j)`` of the block). A convolution producing ``C·r²``
channels at low resolution followed by a pixel shuffle upsamples without the checkerboard
overlap of a strided transposed convolution (the "sub-pixel convolution" of super-resolution
networks). ``pixel_unshuffle`` is the exact inverse.

Systems view: no arithmetic at all. Each is one reshape to expose the factors, one axis
permutation and one reshape back; the permutation costs one copy of the tensor (``N·C·H·W``
elements moved). They are composed from the core's ``reshape`` and ``permute``, whose
gradients are the inverse permutation, so no op of their own is needed.
"""

from __future__ import annotations

from tinytorch.core.tensor import Tensor
from tinytorch.nn.module import Module


def _check(op: str, input: Tensor, factor: int, what: str) -> None:
    if not isinstance(factor, int) or isinstance(factor, bool) or factor <= 0:
        raise RuntimeError(f"{op}: expected {what} to be a positive integer, got {factor!r}")
    if input.ndim < 3:
        raise RuntimeError(f"{op} expects input to have at least 3 dimensions, but got input "
                           f"with {input.ndim} dimension(s) (shape {tuple(input.shape)})")


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C·r², H, W) -> (*, C, H·r, W·r), PyTorch's ``F.pixel_shuffle``."""
    _check("pixel_shuffle", input, upscale_factor, "upscale_factor")
    r = upscale_factor
    *batch, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be "
                           f"divisible by the square of upscale_factor, but input.size(-3)={c} "
                           f"is not divisible by {r * r}")
    b = len(batch)
    x = input.reshape(*batch, c // (r * r), r, r, h, w)                # (*, C, r, r, H, W)
    x = x.permute(*range(b), b, b + 3, b + 1, b + 4, b + 2)           # (*, C, H, r, W, r)
    return x.reshape(*batch, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H·r, W·r) -> (*, C·r², H, W), PyTorch's ``F.pixel_unshuffle``."""
    _check("pixel_unshuffle", input, downscale_factor, "downscale_factor")
    r = downscale_factor
    *batch, c, h, w = input.shape
    for name, size, dim in (("height", h, -2), ("width", w, -1)):
        if size % r:
            raise RuntimeError(f"pixel_unshuffle expects {name} to be divisible by "
                               f"downscale_factor, but input.size({dim})={size} is not "
                               f"divisible by {r}")
    b = len(batch)
    x = input.reshape(*batch, c, h // r, r, w // r, r)                 # (*, C, H, r, W, r)
    x = x.permute(*range(b), b, b + 2, b + 4, b + 1, b + 3)           # (*, C, r, r, H, W)
    return x.reshape(*batch, c * r * r, h // r, w // r)


class PixelShuffle(Module):
    """``nn.PixelShuffle``: (*, C·r², H, W) -> (*, C, H·r, W·r). No parameters."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """``nn.PixelUnshuffle``: (*, C, H·r, W·r) -> (*, C·r², H, W). No parameters."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
