"""``LayerNorm`` and ``RMSNorm``: per-example normalisation over the trailing dimensions.

Systems view, for ``R`` rows of ``D = prod(normalized_shape)`` elements:

- LayerNorm: parameters ``2·D`` (weight, bias); forward about ``7·R·D`` FLOPs, backward about
  ``8·R·D``; saved for backward ``R·D`` (normalised input) + ``R`` (1/σ). Unlike BatchNorm it
  has no running statistics and behaves the same in train and eval, and works at batch size 1
  — which is why transformers use it.
- RMSNorm: parameters ``D``; skips the mean and the bias (about 30% fewer FLOPs); used by
  recent LLMs.

Both are single fused ops with a hand-written backward (``functional/normalization.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.tensor import Tensor
from tinytorch.core.types import DTypeLike
from tinytorch.nn import init
from tinytorch.nn.functional.normalization import layer_norm, rms_norm
from tinytorch.nn.linear import _check_device
from tinytorch.nn.module import Module
from tinytorch.nn.parameter import Parameter


def _shape(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(normalized_shape, (int, np.integer)):
        return (int(normalized_shape),)
    return tuple(int(s) for s in normalized_shape)


def _param(shape: tuple[int, ...], dtype: DTypeLike) -> Parameter:
    return Parameter(Tensor._wrap(np.empty(shape, dtype=dtypes.as_dtype(dtype))))


class LayerNorm(Module):
    """``(x - mean) / sqrt(var + eps) · weight + bias`` over the last ``len(shape)`` dims."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: Any = None,
                 dtype: DTypeLike = None) -> None:
        super().__init__()
        _check_device(device)
        self.normalized_shape = _shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = _param(self.normalized_shape, dtype)
            if bias:
                self.bias = _param(self.normalized_shape, dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class RMSNorm(Module):
    """``x / sqrt(mean(x²) + eps) · weight`` over the last ``len(shape)`` dims.

    ``eps=None`` uses the machine epsilon of the input's dtype, as PyTorch does.
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float | None = None,
                 elementwise_affine: bool = True, device: Any = None,
                 dtype: DTypeLike = None) -> None:
        super().__init__()
        _check_device(device)
        self.normalized_shape = _shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = _param(self.normalized_shape, dtype)
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input: Tensor) -> Tensor:
        return rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
