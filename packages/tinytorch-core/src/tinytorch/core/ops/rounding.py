"""Rounding: ``floor``, ``ceil``, ``round`` (half to even, with ``decimals``) and ``trunc``.

Systems view: one pass over the input and one output of ``numel * itemsize`` bytes. The
result is a step function of the input, so its derivative is zero wherever it exists; PyTorch
defines the gradient as zero everywhere (a straight-through estimator is a choice a model
makes explicitly, not something rounding does). The op is still recorded, so a graph through
it is well formed and sends zeros back.

``round`` rounds halves to the even neighbour (``0.5 -> 0``, ``1.5 -> 2``, ``2.5 -> 2``), as
PyTorch and NumPy do; with ``decimals=d`` it rounds ``x * 10**d`` and divides back, so the
result is the float nearest to the decimal answer, not always that answer exactly. Integer
inputs come back unchanged (as new tensors), as in PyTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.function import Function

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor

_MODES = {"floor": np.floor, "ceil": np.ceil, "trunc": np.trunc}


class Round(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, mode: str, decimals: int = 0) -> np.ndarray:
        # a: (...) -> same shape and dtype, whole numbers (or `decimals` places)
        if a.dtype.kind != "f":
            return a.copy()
        if mode == "round":
            return np.round(a, decimals)
        return _MODES[mode](a)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        return np.zeros_like(grad)                  # a step function: zero gradient


def floor(input: Tensor) -> Tensor:
    """The largest whole number ``<= x``, elementwise; zero gradient."""
    return Round.apply(input, mode="floor")


def ceil(input: Tensor) -> Tensor:
    """The smallest whole number ``>= x``, elementwise; zero gradient."""
    return Round.apply(input, mode="ceil")


def trunc(input: Tensor) -> Tensor:
    """``x`` with its fractional part dropped (rounded toward zero); zero gradient."""
    return Round.apply(input, mode="trunc")


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """Round to the nearest whole number (or to ``decimals`` places), halves to even; zero
    gradient."""
    if decimals and input.array.dtype.kind != "f":
        raise RuntimeError(f"round(): decimals={decimals} needs a floating-point input, got "
                           f"{dtypes.dtype_name(input.array.dtype)}")
    return Round.apply(input, mode="round", decimals=int(decimals))
