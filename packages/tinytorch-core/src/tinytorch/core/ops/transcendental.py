"""The transcendental functions that exist for accuracy: ``log1p``, ``expm1`` and ``atan2``.

``log(1 + x)`` and ``exp(x) - 1`` lose every significant digit when ``|x|`` is below the float's
epsilon (``1 + 1e-8`` is exactly 1 in float32), which is where they are used: log-probabilities
of small probabilities, softplus, compound growth. ``log1p``/``expm1`` compute them directly and
stay accurate to the last bit. ``atan(y / x)`` loses the quadrant (and divides by zero on the
y axis); ``atan2(y, x)`` keeps both, giving the angle of the point ``(x, y)`` in ``[-pi, pi]``.

Systems view: one transcendental per element and one output of ``numel * itemsize`` bytes;
backward is one or two passes. ``expm1`` saves its output (``d/dx = out + 1``), ``log1p`` its
input (``d/dx = 1 / (1 + x)``), ``atan2`` both operands (``d/dy = x / r^2``,
``d/dx = -y / r^2``, with ``r^2 = x^2 + y^2``). Integer inputs give the default float dtype.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.function import Function, to_tensor
from tinytorch.core.ops.elementwise import _floating, cast, result_type

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import Grad


class Log1p(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray) -> np.ndarray:
        # a: (...) -> same shape, log(1 + a) (nan below -1, -inf at -1)
        a = _floating(a)
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(a)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (a,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad / (1 + a)


class Expm1(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray) -> np.ndarray:
        # a: (...) -> same shape, exp(a) - 1
        with np.errstate(over="ignore"):
            out = np.expm1(_floating(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return grad * (out + 1)


class Atan2(Function):
    @staticmethod
    def forward(ctx: Function, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        # y, x: broadcastable -> broadcast shape, angles in [-pi, pi]
        ctx.save_for_backward(y, x)
        return np.arctan2(y, x)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        y, x = ctx.saved_tensors
        need_y, need_x = ctx.needs_input_grad
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = grad / (x * x + y * y)           # undefined (nan) at the origin
        return (scale * x if need_y else None), (-scale * y if need_x else None)


def log1p(input: Tensor) -> Tensor:
    """``log(1 + x)``, accurate for small ``|x|``; integer input gives float32."""
    return Log1p.apply(input)


def expm1(input: Tensor) -> Tensor:
    """``exp(x) - 1``, accurate for small ``|x|``; integer input gives float32."""
    return Expm1.apply(input)


def atan2(input: Tensor, other: Tensor) -> Tensor:
    """The angle of the point ``(other, input)`` (``atan(input / other)`` in the right
    quadrant), in ``[-pi, pi]``; the two broadcast."""
    y, x = to_tensor(input), to_tensor(other)
    d = result_type(y, x)
    if d.kind != "f":
        d = dtypes.get_default_dtype()
    return Atan2.apply(cast(y, d), cast(x, d))
