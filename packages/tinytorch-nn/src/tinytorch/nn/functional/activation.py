"""Activation functions: ``relu``, ``leaky_relu``, ``gelu``, ``silu``, ``sigmoid``, ``tanh``,
``softmax``, ``log_softmax``, ``elu``, ``softplus``, ``hardtanh``, ``mish``, ``prelu``.

Systems view (``n`` = number of elements): every activation is one pass of O(n) work with no
parameters, and keeps one array of ``n`` elements for backward. GELU and SiLU are written here
in their plain form (``Gelu``, ``GeluTanh``, ``Silu``: the *references*), which save ``x`` and
recompute the formula's pieces in backward. By default the public ops run the kernel in
``nn/_kernels/pointwise.py`` instead: the same formulas evaluated in one cache-blocked sweep on
the intra-op threads, computing ``dy/dx`` during forward so that backward is one multiply;
``tinytorch.use_reference_kernels(True)`` runs the references.

- exact GELU ``x·Φ(x)``, ``dy/dx = Φ(x) + x·φ(x)``; NumPy has no ``erf``, so Φ comes from
  ``_special.normal_cdf`` (one polynomial, about 20 passes for float32).
- tanh GELU ``x/2·(1 + tanh(a))``, ``a = √(2/π)(x + 0.044715x³)``,
  ``dy/dx = (1 + tanh(a))/2 + x/2·(1 - tanh²(a))·a'``.
- SiLU ``x·σ(x)``, ``dy/dx = σ(x)·(1 + x·(1 - σ(x)))``.

``relu``, ``sigmoid``, ``tanh``, ``softmax`` and ``log_softmax`` are core's fused ops
(``tinytorch.core.ops``); this module gives them PyTorch's functional signatures.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.grad_mode import is_grad_enabled
from tinytorch.core.ops import elementwise
from tinytorch.core.ops import softmax as _softmax
from tinytorch.core.reference import reference_kernels_enabled
from tinytorch.core.tensor import Tensor
from tinytorch.core.types import DTypeLike, Grad
from tinytorch.nn._kernels.pointwise import Pointwise
from tinytorch.nn.functional._pointwise import apply_inplace
from tinytorch.nn.functional._special import normal_cdf

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715
_TANH_SATURATES = 10.0    # |x| beyond which tanh GELU's tanh(a) is ±1 even in float64


def _float_input(name: str, input: Tensor) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.array.dtype.kind != "f":
        raise RuntimeError(f"{name}(): expected a floating-point input, got dtype "
                           f"{input.array.dtype} with shape {tuple(input.shape)}")


class Gelu(Function):
    """Reference exact GELU: ``y = x·Φ(x)``, ``dy/dx = Φ(x) + x·φ(x)``."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        # x: (*) -> y: (*); saves x
        cdf, _ = normal_cdf(x)                          # Φ(x)
        ctx.save_for_backward(x)
        return x * cdf

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: (*) -> (*)
        (x,) = ctx.saved_tensors
        cdf, gauss = normal_cdf(x)                      # Φ(x), exp(-x²/2)
        return grad * (cdf + x * gauss * _INV_SQRT_2PI)


def _tanh_of_a(x: np.ndarray) -> np.ndarray:
    """``tanh(a)``, ``a = √(2/π)(x + 0.044715x³)``; x is clipped where tanh(a) is ±1 to the
    last bit anyway, so ``x³`` cannot overflow."""
    xc = np.clip(x, -_TANH_SATURATES, _TANH_SATURATES)
    return np.tanh(_SQRT_2_OVER_PI * (xc + _GELU_CUBIC * xc ** 3))


class GeluTanh(Function):
    """Reference tanh GELU: ``y = x/2·(1 + tanh(a))``, ``a = √(2/π)(x + 0.044715x³)``."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        # x: (*) -> y: (*); saves x
        ctx.save_for_backward(x)
        return 0.5 * x * (1.0 + _tanh_of_a(x))

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: (*) -> (*)
        (x,) = ctx.saved_tensors
        th = _tanh_of_a(x)
        xc = np.clip(x, -_TANH_SATURATES, _TANH_SATURATES)  # where 1 - tanh² is 0 anyway
        da = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_CUBIC * xc * xc)        # a'(x)
        return grad * (0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * da)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):                    # exp(-x) -> inf for very negative x
        return 1.0 / (1.0 + np.exp(-x))                 # ... where σ is 0, as it should be


class Silu(Function):
    """Reference SiLU: ``y = x·σ(x)``, ``dy/dx = σ(x)·(1 + x·(1 - σ(x)))``."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        # x: (*) -> y: (*); saves x
        ctx.save_for_backward(x)
        return x * _sigmoid(x)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: (*) -> (*)
        (x,) = ctx.saved_tensors
        s = _sigmoid(x)
        return grad * (s * (1.0 + x * (1.0 - s)))


_REFERENCES = {"gelu": Gelu, "gelu_tanh": GeluTanh, "silu": Silu}


def _pointwise(input: Tensor, kernel: str) -> Tensor:
    """The reference Function for ``kernel`` when asked for, else the blocked kernel."""
    if reference_kernels_enabled():
        return _REFERENCES[kernel].apply(input)
    need = is_grad_enabled() and input.requires_grad
    return Pointwise.apply(input, kernel=kernel, need_grad=need)


class LeakyRelu(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, slope: float) -> np.ndarray:
        # x: (*) -> (*)
        ctx.save_for_backward(x)
        ctx.slope = slope
        return np.where(x > 0, x, x * slope)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved_tensors
        return np.where(x > 0, grad, grad * ctx.slope)


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
            dtype: DTypeLike = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``; (*) -> (*)."""
    return _softmax.softmax(input, _softmax_dim("softmax", input.ndim, dim), dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: DTypeLike = None) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``; (*) -> (*)."""
    return _softmax.log_softmax(input, _softmax_dim("log_softmax", input.ndim, dim),
                                dtype=dtype)


def _softplus_of(z: np.ndarray) -> np.ndarray:
    """``log(1 + exp(z))`` as ``max(z, 0) + log1p(exp(-|z|))``: exact, never overflows."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _sigmoid_of(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` from ``e = exp(-|z|)`` (in (0, 1]): no overflow for any z."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


class Elu(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, alpha: float) -> np.ndarray:
        # x: (*) -> (*); y = x for x > 0, alpha·(exp(x) - 1) otherwise
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # dy/dx = 1 for x > 0, alpha·exp(x) otherwise (alpha at x = 0, as PyTorch)
        (x,) = ctx.saved_tensors
        return np.where(x > 0, grad, grad * (ctx.alpha * np.exp(np.minimum(x, 0))))


class Softplus(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, beta: float, threshold: float) -> np.ndarray:
        # x: (*) -> (*); y = log(1 + exp(beta·x)) / beta, or x itself where beta·x > threshold
        ctx.save_for_backward(x)
        ctx.beta, ctx.threshold = beta, threshold
        z = beta * x
        return np.where(z > threshold, x, _softplus_of(z) / beta)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # dy/dx = sigmoid(beta·x), or 1 where the linear branch was taken
        (x,) = ctx.saved_tensors
        z = ctx.beta * x
        return np.where(z > ctx.threshold, grad, grad * _sigmoid_of(z))


class Hardtanh(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, min_val: float, max_val: float) -> np.ndarray:
        # x: (*) -> (*); saves a bool mask (1 byte per element) instead of x
        ctx.save_for_backward((x > min_val) & (x < max_val))
        return np.clip(x, min_val, max_val)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # dy/dx = 1 strictly inside (min_val, max_val), 0 elsewhere (also at the edges)
        (inside,) = ctx.saved_tensors
        return np.where(inside, grad, 0).astype(grad.dtype, copy=False)


class Mish(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        # x: (*) -> (*); y = x·tanh(softplus(x))
        ctx.save_for_backward(x)
        return x * np.tanh(_softplus_of(x))

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # dy/dx = tanh(sp) + x·(1 - tanh²(sp))·sigmoid(x), since softplus' = sigmoid
        (x,) = ctx.saved_tensors
        t = np.tanh(_softplus_of(x))
        return grad * (t + x * (1 - t * t) * _sigmoid_of(x))


class PRelu(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        # x: (N, C, *) or (*) and w: (C,) or (1,) -> (N, C, *); w is broadcast along dim 1
        per_channel = w.size > 1
        wb = w.reshape((1, -1) + (1,) * (x.ndim - 2)) if per_channel else w.reshape(())
        ctx.save_for_backward(x, wb)
        ctx.per_channel, ctx.w_shape = per_channel, w.shape
        return np.where(x > 0, x, wb * x)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        x, wb = ctx.saved_tensors
        dx = dw = None
        if ctx.needs_input_grad[0]:
            dx = np.where(x > 0, grad, wb * grad)                   # (N, C, *)
        if ctx.needs_input_grad[1]:
            contrib = np.where(x > 0, 0, x * grad)                  # dy/dw = x where x <= 0
            axes = tuple(i for i in range(x.ndim) if i != 1) if ctx.per_channel else None
            dw = contrib.sum(axis=axes).reshape(ctx.w_shape)        # (C,) or (1,)
        return dx, dw


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` where ``x > 0``, else ``alpha · (exp(x) - 1)``; (*) -> (*)."""
    _float_input("elu", input)
    op = lambda t: Elu.apply(t, alpha=float(alpha))  # noqa: E731
    return apply_inplace(input, op) if inplace else op(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta · x)) / beta``, and ``x`` where ``beta · x > threshold``; (*) -> (*)."""
    _float_input("softplus", input)
    return Softplus.apply(input, beta=float(beta), threshold=float(threshold))


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """``x`` clamped to ``[min_val, max_val]``; (*) -> (*)."""
    if min_val > max_val:
        raise ValueError(f"min_val cannot be greater than max_val, got min_val={min_val} and "
                         f"max_val={max_val}")
    _float_input("hardtanh", input)
    op = lambda t: Hardtanh.apply(t, min_val=min_val, max_val=max_val)  # noqa: E731
    return apply_inplace(input, op) if inplace else op(input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x · tanh(softplus(x))`` (Misra, 2019); (*) -> (*)."""
    _float_input("mish", input)
    return apply_inplace(input, Mish.apply) if inplace else Mish.apply(input)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``x`` where ``x > 0``, else ``weight · x`` with a learned slope per channel (dim 1);
    ``weight``: (1,) shared or (C,) with ``C = input.shape[1]``; (N, C, *) -> (N, C, *)."""
    _float_input("prelu", input)
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: "
                           f"ndim = {weight.ndim}")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() != 1 and weight.numel() != channels:
        raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found "
                           f"parameter numbers = {weight.numel()} and channel size = {channels} "
                           f"(input shape {tuple(input.shape)}).")
    return PRelu.apply(input, weight)
