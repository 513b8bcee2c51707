"""Activation functions: ``relu``, ``leaky_relu``, ``gelu``, ``silu``, ``sigmoid``, ``tanh``,
``softmax``, ``log_softmax``.

Systems view (``n`` = number of elements): every activation is one pass of O(n) work with no
parameters, and keeps one array of ``n`` elements for backward. GELU and SiLU are fused: the
forward pass computes the output *and* its derivative ``dy/dx`` in one cache-blocked sweep
(``_pointwise.blocked``, on ``tinytorch.set_num_threads`` threads), saves only ``dy/dx``
(n elements, the same memory as saving the input), and the backward is a single multiply
``grad · dy/dx`` — no recomputation of ``erf`` or ``exp`` — split among the threads too and
written into ``dy/dx`` itself on its last use (``ctx.last_use``), so backward allocates
nothing. When no gradient will be needed (``no_grad``, eval) the derivative is not computed.
Exact GELU costs about 29 in-cache passes forward (20 of them for Φ) and one memory-bound
pass backward.

- exact GELU ``x·Φ(x)``: Φ from ``_special.normal_cdf_into``; ``dy/dx = Φ(x) + x·φ(x)``.
- tanh GELU ``x/2·(1 + tanh(a))``, ``a = √(2/π)(x + 0.044715x³)``, evaluated as the identical
  ``x·σ(2a)`` (one ``exp`` instead of a slower ``tanh``); ``dy/dx = σ + x·σ(1-σ)·2a'``.
- SiLU ``x·σ(x)``; ``dy/dx = σ + y(1 - σ)``.

``relu``, ``sigmoid``, ``tanh``, ``softmax`` and ``log_softmax`` are core's fused ops
(``tinytorch.core.ops``); this module gives them PyTorch's functional signatures.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.grad_mode import is_grad_enabled
from tinytorch.core.ops import elementwise
from tinytorch.core.ops import softmax as _softmax
from tinytorch.core.tensor import Tensor
from tinytorch.nn.functional._pointwise import apply_inplace, blocked, multiply
from tinytorch.nn.functional._special import normal_cdf_into

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_SQRT_2_OVER_PI = 2.0 * math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


def _float_input(name: str, input: Tensor) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.array.dtype.kind != "f":
        raise RuntimeError(f"{name}(): expected a floating-point input, got dtype "
                           f"{input.array.dtype} with shape {tuple(input.shape)}")


def _gelu_exact_kernel(x: np.ndarray, outs: list[np.ndarray], tmp: list[np.ndarray]) -> None:
    y = outs[0]
    gauss, t, u, positive = tmp
    normal_cdf_into(x, y, gauss, t, u, positive)     # y = Φ(x), gauss = exp(-x²/2)
    if len(outs) == 2:
        dydx = outs[1]
        np.multiply(x, gauss, out=dydx)
        dydx *= _INV_SQRT_2PI
        dydx += y                                     # Φ(x) + x·φ(x)
    y *= x


def _gelu_tanh_kernel(x: np.ndarray, outs: list[np.ndarray], tmp: list[np.ndarray]) -> None:
    y = outs[0]
    poly, sig = tmp
    np.multiply(x, x, out=poly)
    poly *= _GELU_CUBIC
    poly += 1.0                                       # 1 + c·x²
    np.multiply(poly, x, out=sig)
    sig *= -_TWO_SQRT_2_OVER_PI                       # -2a
    np.exp(sig, out=sig)                              # inf for very negative x: σ becomes 0
    sig += 1.0
    np.divide(1.0, sig, out=sig)                      # σ(2a)
    np.multiply(x, sig, out=y)
    if len(outs) == 2:
        dydx = outs[1]
        np.clip(x, -1e4, 1e4, out=dydx)               # beyond ±1e4, σ(1-σ) is exactly 0
        np.multiply(dydx, dydx, out=poly)
        poly *= 3 * _GELU_CUBIC * _TWO_SQRT_2_OVER_PI
        poly += _TWO_SQRT_2_OVER_PI                   # 2a' = 2√(2/π)(1 + 3c·x²)
        poly *= dydx
        poly *= sig                                   # x·σ·2a', finite for any x
        np.subtract(1.0, sig, out=dydx)
        dydx *= poly
        dydx += sig                                   # σ + x·σ(1-σ)·2a'


def _silu_kernel(x: np.ndarray, outs: list[np.ndarray], tmp: list[np.ndarray]) -> None:
    y = outs[0]
    (sig,) = tmp
    np.negative(x, out=sig)
    np.exp(sig, out=sig)
    sig += 1.0
    np.divide(1.0, sig, out=sig)                      # σ(x)
    np.multiply(x, sig, out=y)
    if len(outs) == 2:
        dydx = outs[1]
        np.subtract(1.0, sig, out=dydx)
        dydx *= y
        dydx += sig                                   # σ + y(1 - σ)


_KERNELS = {  # name -> (kernel, float scratch arrays, bool scratch arrays)
    "gelu": (_gelu_exact_kernel, 3, 1),
    "gelu_tanh": (_gelu_tanh_kernel, 2, 0),
    "silu": (_silu_kernel, 1, 0),
}


class Pointwise(Function):
    """``y = f(x)`` for a kernel that also yields ``dy/dx``; backward is ``grad · dy/dx``."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, kernel: str, need_grad: bool) -> np.ndarray:
        # x: (*) -> y: (*); saves dy/dx: (*)
        fn, n_scratch, n_bool = _KERNELS[kernel]
        # x² and exp(-x) may overflow to inf for huge |x|; every kernel is written to turn
        # that into the right saturated value (0, 1 or x), so the warning is noise here
        with np.errstate(over="ignore"):
            outs = blocked(fn, x, 2 if need_grad else 1, n_scratch, n_bool)
        ctx.saved_tensors = (outs[1],) if need_grad else ()
        return outs[0]

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: (*) -> (*)
        (dydx,) = ctx.saved_tensors
        out = dydx if ctx.last_use else np.empty_like(dydx)   # dy/dx dies here: reuse it
        return multiply(grad, dydx, out=out)


def _pointwise(input: Tensor, kernel: str) -> Tensor:
    need = is_grad_enabled() and input.requires_grad
    return Pointwise.apply(input, kernel=kernel, need_grad=need)


class LeakyRelu(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, slope: float) -> np.ndarray:
        # x: (*) -> (*)
        ctx.saved_tensors = (x, slope)
        return np.where(x > 0, x, x * slope)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        x, slope = ctx.saved_tensors
        return np.where(x > 0, grad, grad * slope)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(x, 0)`` elementwise; (*) -> (*)."""
    if inplace:
        return apply_inplace(input, elementwise.relu)
    return elementwise.relu(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` where ``x > 0``, else ``negative_slope · x``; (*) -> (*)."""
    _float_input("leaky_relu", input)
    op = lambda t: LeakyRelu.apply(t, slope=float(negative_slope))  # noqa: E731
    return apply_inplace(input, op) if inplace else op(input)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """``x · Φ(x)`` (``approximate='none'``) or its tanh approximation; (*) -> (*)."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh, "
                           f"got {approximate!r}")
    _float_input("gelu", input)
    return _pointwise(input, "gelu" if approximate == "none" else "gelu_tanh")


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``x · sigmoid(x)`` (also called swish); (*) -> (*)."""
    _float_input("silu", input)
    op = lambda t: _pointwise(t, "silu")  # noqa: E731
    return apply_inplace(input, op) if inplace else op(input)


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))``; (*) -> (*)."""
    return elementwise.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    """``tanh(x)``; (*) -> (*)."""
    return elementwise.tanh(input)


def _softmax_dim(name: str, ndim: int, dim: int | None) -> int:
    """PyTorch's legacy choice when ``dim`` is omitted (with the same warning)."""
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                  "Change the call to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``; (*) -> (*)."""
    return _softmax.softmax(input, _softmax_dim("softmax", input.ndim, dim), dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: Any = None) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``; (*) -> (*)."""
    return _softmax.log_softmax(input, _softmax_dim("log_softmax", input.ndim, dim),
                                dtype=dtype)
