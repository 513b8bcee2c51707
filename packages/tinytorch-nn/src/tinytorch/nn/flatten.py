"""``Flatten`` and ``Unflatten``: reshape between a conv stack and a linear head.

Systems view: no parameters and no FLOPs. On a contiguous input both are views (0 bytes
copied; the gradient is a reshape too); a non-contiguous input is copied once (``numel``
elements).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tinytorch.core.tensor import Tensor
from tinytorch.nn.module import Module


class Flatten(Module):
    """Merge dims ``start_dim..end_dim`` into one: (N, C, H, W) -> (N, C·H·W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size``: (N, 50) -> (N, 2, 25) with dim=1."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError("unflattened_size must be tuple of ints, but found type "
                            f"{type(unflattened_size).__name__}")
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        shape = tuple(input.shape)
        if not -len(shape) <= self.dim < len(shape):
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-len(shape)}, {len(shape) - 1}], but got {self.dim})")
        d = self.dim % len(shape)
        sizes = list(self.unflattened_size)
        if sizes.count(-1) > 1:
            raise RuntimeError(f"unflatten: only one dimension can be inferred, got {sizes}")
        known = math.prod(s for s in sizes if s != -1)
        fits = (known == shape[d]) if -1 not in sizes else (known and shape[d] % known == 0)
        if not fits:
            raise RuntimeError(f"unflatten: Provided sizes {sizes} don't multiply up to the "
                               f"size of dim {self.dim} ({shape[d]}) in the input tensor")
        return input.reshape(*shape[:d], *sizes, *shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
