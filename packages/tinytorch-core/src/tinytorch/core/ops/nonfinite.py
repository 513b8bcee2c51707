"""Non-finite values: ``isnan``, ``isinf``, ``isfinite`` and ``nan_to_num``.

The tools for the first question of a diverging run ("where did the NaN come from?"): the
three tests give bool masks (one byte per element, no graph), and ``nan_to_num`` replaces NaN,
+inf and -inf by finite numbers (by default 0 and the dtype's largest and smallest finite
values). Each is one pass over the input.

``nan_to_num`` is differentiable as in PyTorch: the gradient passes through where the input
was finite and is zero where a value was replaced (the replacement is a constant). It saves
only the bool mask of finite elements, not the input. Integer and bool inputs hold no NaN or
inf: the tests give all False (all True for ``isfinite``) and ``nan_to_num`` returns a copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tinytorch.core.function import Function, wrap

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor


def isnan(input: Tensor) -> Tensor:
    """True where the element is NaN (bool, same shape)."""
    return wrap(np.isnan(input.array) if input.array.dtype.kind == "f"
                else np.zeros(input.shape, np.bool_))


def isinf(input: Tensor) -> Tensor:
    """True where the element is +inf or -inf (bool, same shape)."""
    return wrap(np.isinf(input.array) if input.array.dtype.kind == "f"
                else np.zeros(input.shape, np.bool_))


def isfinite(input: Tensor) -> Tensor:
    """True where the element is neither NaN nor infinite (bool, same shape)."""
    return wrap(np.isfinite(input.array) if input.array.dtype.kind == "f"
                else np.ones(input.shape, np.bool_))


class NanToNum(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, nan: float, posinf: float | None,
                neginf: float | None) -> np.ndarray:
        # a: (...) -> same shape and dtype, every element finite
        ctx.save_for_backward(np.isfinite(a))
        return np.nan_to_num(a, copy=True, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (finite,) = ctx.saved_tensors
        return np.where(finite, grad, grad.dtype.type(0))


def nan_to_num(input: Tensor, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """``input`` with NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf``
    (default: 0, and the largest and smallest finite values of the dtype)."""
    if input.array.dtype.kind != "f":
        return wrap(input.array.copy())
    return NanToNum.apply(input, nan=float(nan), posinf=_opt(posinf), neginf=_opt(neginf))


def _opt(x: float | None) -> float | None:
    return None if x is None else float(x)
