"""Channel dropout: ``Dropout2d`` and ``dropout2d`` zero whole feature maps at random.

Systems view: neighbouring pixels of a feature map are strongly correlated, so dropping single
pixels (``Dropout``) barely regularises a convolution; dropping an entire channel does. The
mask has one entry per (sample, channel) — ``N·C`` random draws instead of ``N·C·H·W`` — and
is broadcast over the spatial axes: forward and backward are one multiply each (``N·C·H·W``
FLOPs), and the saved state is the ``(N, C, 1, 1)`` scaled mask. Evaluation is the identity.
"""

from __future__ import annotations

import warnings

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.tensor import Tensor
from tinytorch.nn.functional._pointwise import apply_inplace
from tinytorch.nn.functional.dropout import dropout_mask
from tinytorch.nn.module import Module


class Dropout2dFunction(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, p: float) -> np.ndarray:
        # x: (N, C, *) -> (N, C, *); mask (N, C, 1, ...) scaled by 1/(1-p)
        mask = dropout_mask(x.shape[:2] + (1,) * (x.ndim - 2), p, x.dtype)
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (mask,) = ctx.saved_tensors
        return grad * mask


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero each channel ``input[n, c]`` with probability ``p``; (N, C, H, W) -> same shape.

    Like PyTorch, a 3-D input is read as (N, C, L) (channel-wise 1-D dropout), with a warning.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that "
                      "channel-wise 1D dropout behavior is desired - input is interpreted as "
                      "shape (N, C, L), where C is the channel dim.", stacklevel=2)
    elif input.ndim != 4:
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which expects "
                      "3D or 4D inputs (N, C, H, W).", stacklevel=2)
    if not training or p == 0.0:
        return input
    if input.ndim < 2:
        raise RuntimeError(f"dropout2d: expected an input with a channel dimension (N, C, *), "
                           f"got shape {tuple(input.shape)}")
    if input.array.dtype.kind != "f":
        raise RuntimeError(f"dropout2d: expected a floating-point input, got dtype "
                           f"{input.array.dtype}")
    if p == 1.0:
        def op(t: Tensor) -> Tensor:
            return t * 0.0
    else:
        def op(t: Tensor) -> Tensor:
            return Dropout2dFunction.apply(t, p=float(p))
    return apply_inplace(input, op) if inplace else op(input)


class Dropout2d(Module):
    """Zero whole channels with probability ``p`` while training, PyTorch's ``nn.Dropout2d``."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return dropout2d(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
