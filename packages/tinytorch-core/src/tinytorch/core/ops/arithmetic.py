"""Arithmetic: ``+ - * / **``, negation and matrix products.

Systems view: elementwise ops cost one pass over the broadcast output (1 FLOP per element) and
allocate one output array; their backward costs one or two more passes, and broadcasting is
undone by the engine's ``unbroadcast``. ``matmul`` of (M, K) by (K, N) costs 2·M·K·N FLOPs
forward and twice that backward (grad @ Bᵀ and Aᵀ @ grad), all inside BLAS.

Python scalars stay scalars (never wrapped in arrays), so ``x * 1.5`` keeps x's dtype and costs
no extra allocation. Where NumPy's promotion differs from PyTorch's (NumPy scalars, integer
tensors meeting floats) ``_promote`` converts the operands first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.function import Function, is_tensor, wrap
from tinytorch.core.parallel import blas_for_gemm, blas_for_matmul

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import Grad, Number, TensorLike


def _float_kind(x: Any) -> np.dtype | None:
    """The float dtype ``x`` brings into a mixed int/float op, or None if ``x`` is not float."""
    if type(x) is np.ndarray:
        return x.dtype if x.dtype.kind == "f" else None
    return dtypes.get_default_dtype() if type(x) is float else None


def _promote(a: Any, b: Any) -> tuple[Any, Any]:
    """Apply PyTorch's type promotion where NumPy's differs.

    NumPy scalars act like Python scalars (``float32_tensor * np.float64(2)`` stays float32),
    and an integer or bool tensor meeting a float operand becomes that operand's float dtype
    (float32 for a Python float) instead of NumPy's float64.
    """
    ta, tb = type(a), type(b)
    if ta is np.ndarray:                 # fast exits for the common cases
        if tb is np.ndarray:
            if a.dtype is b.dtype:
                return a, b
            if (a.ndim == 0) != (b.ndim == 0):
                return _zero_dim_follows(a, b)
        elif tb is int or (tb is float and a.dtype.kind == "f"):
            return a, b
    if isinstance(a, np.generic):
        a = a.item()
    if isinstance(b, np.generic):
        b = b.item()
    if type(a) is np.ndarray and a.dtype.kind in "biu":
        f = _float_kind(b)
        if f is not None:
            a = a.astype(f)
    elif type(b) is np.ndarray and b.dtype.kind in "biu":
        f = _float_kind(a)
        if f is not None:
            b = b.astype(f)
    return a, b


_CATEGORY = {"b": 0, "i": 1, "u": 1, "f": 2}


def _zero_dim_follows(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 0-d tensor meeting a dimensioned one takes its dtype unless its own category (bool <
    integer < float) is higher: ``float32 (3,) + float64 0-d`` stays float32, as in PyTorch."""
    zero, dim = (a, b) if a.ndim == 0 else (b, a)
    if _CATEGORY[zero.dtype.kind] <= _CATEGORY[dim.dtype.kind]:
        zero = zero.astype(dim.dtype)
    return (zero, dim) if a.ndim == 0 else (dim, zero)


def _true_div_operands(a: Any, b: Any) -> tuple[Any, Any]:
    """Division of integers gives the default float dtype, as in PyTorch."""
    a, b = _promote(a, b)
    if type(a) is np.ndarray and a.dtype.kind in "biu":
        a = a.astype(dtypes.get_default_dtype())
    if type(b) is np.ndarray and b.dtype.kind in "biu":
        b = b.astype(dtypes.get_default_dtype())
    return a, b


class Add(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
        # a, b: broadcastable shapes -> broadcast shape
        return np.add(*_promote(a, b))

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        return grad, grad


class Sub(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
        return np.subtract(*_promote(a, b))

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
        a, b = _promote(a, b)
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
        a, b = _true_div_operands(a, b)
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        return np.true_divide(a, b)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = grad / b if need_a else None
        gb = -grad * a / (b * b) if need_b else None
        return ga, gb


class Pow(Function):
    """``a ** b`` with tensor or scalar base and exponent."""

    @staticmethod
    def forward(ctx: Function, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
        a, b = _promote(a, b)
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if need_a:
            if isinstance(b, np.ndarray):
                ga = grad * b * np.power(a, b - 1)
            elif b == 2:
                ga = grad * (2 * a)
            else:
                ga = grad * (b * np.power(a, b - 1))
        if need_b:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0)
            gb = grad * out * log_a
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray) -> np.ndarray:
        return np.negative(a)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        return -grad


class MatMul(Function):
    """``a @ b`` for 1-D, 2-D and batched (broadcast) operands, with NumPy's rules."""

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # a: (..., M, K) @ b: (..., K, N) -> (..., M, N); 1-D operands gain and lose a unit axis
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        ctx.a_shape, ctx.b_shape = a.shape, b.shape
        with blas_for_matmul(a, b):                    # large products get BLAS threads
            return np.matmul(a, b)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        a, b = ctx.saved_tensors            # a is kept only when b needs a gradient, and back
        need_a, need_b = ctx.needs_input_grad
        a_1d, b_1d = len(ctx.a_shape) == 1, len(ctx.b_shape) == 1
        g = grad
        if not (g.flags.c_contiguous or g.flags.f_contiguous):
            # a broadcast gradient (e.g. from sum(): all strides 0) cannot go to BLAS; copy it
            # once here rather than letting both products take NumPy's slow generic path
            g = np.ascontiguousarray(g)
        if b_1d:
            g = np.expand_dims(g, -1)                   # (..., M) -> (..., M, 1)
        if a_1d:
            g = np.expand_dims(g, -2)                   # (..., N) -> (..., 1, N)
        m = 1 if a_1d else ctx.a_shape[-2]
        n = 1 if b_1d else ctx.b_shape[-1]
        ga = gb = None
        with blas_for_gemm(m, ctx.a_shape[-1], n):     # as many BLAS threads as the forward
            if need_a:
                b2 = b[:, None] if b_1d else b           # (K, N=1)
                ga = np.matmul(g, np.swapaxes(b2, -1, -2))   # (..., M, N) @ (..., N, K)
                if a_1d:
                    ga = ga.reshape(-1, ctx.a_shape[0]).sum(0) if ga.ndim > 2 else ga[0]
            if need_b:
                gb = _grad_b(a, g, a_1d, b_1d, ctx.b_shape)
        return ga, gb


def _grad_b(a: np.ndarray, g: np.ndarray, a_1d: bool, b_1d: bool,
            b_shape: tuple[int, ...]) -> np.ndarray:
    """MatMul's gradient for ``b``: ``aᵀ @ grad``, summed over broadcast batch dimensions."""
    a2 = a[None, :] if a_1d else a                       # (M=1, K)
    if a2.ndim > 2 and not b_1d and len(b_shape) == 2:
        # a batched (B..., M, K) against a shared 2-D b (a Linear layer on a sequence): fold
        # the batch into the rows and do one (K, B·M) @ (B·M, N) GEMM
        k = a2.shape[-1]
        gb = a2.reshape(-1, k).T @ g.reshape(-1, g.shape[-1])
    else:
        gb = np.matmul(np.swapaxes(a2, -1, -2), g)       # (..., K, M) @ (..., M, N)
    if b_1d:
        gb = gb.reshape(-1, b_shape[0]).sum(0) if gb.ndim > 2 else gb[:, 0]
    return gb


def add(input: TensorLike, other: TensorLike, *, alpha: Number = 1) -> Tensor:
    """``input + alpha * other``."""
    if alpha != 1:
        other = Mul.apply(other, alpha)
    return Add.apply(input, other)


def sub(input: TensorLike, other: TensorLike, *, alpha: Number = 1) -> Tensor:
    """``input - alpha * other``."""
    if alpha != 1:
        other = Mul.apply(other, alpha)
    return Sub.apply(input, other)


def mul(input: TensorLike, other: TensorLike) -> Tensor:
    return Mul.apply(input, other)


def div(input: TensorLike, other: TensorLike, *, rounding_mode: str | None = None) -> Tensor:
    """True division; ``rounding_mode`` 'floor' or 'trunc' gives a non-differentiable result."""
    if rounding_mode is None:
        return Div.apply(input, other)
    a = input.array if is_tensor(input) else input
    b = other.array if is_tensor(other) else other
    if rounding_mode == "floor":
        return wrap(np.asarray(np.floor_divide(a, b)))
    if rounding_mode == "trunc":
        q = np.trunc(np.true_divide(a, b))
        res = np.asarray(q).astype(np.result_type(a, b), copy=False)
        return wrap(res)
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                     f"but found '{rounding_mode}'")


def floor_divide(input: TensorLike, other: TensorLike) -> Tensor:
    return div(input, other, rounding_mode="floor")


def remainder(input: TensorLike, other: TensorLike) -> Tensor:
    a = input.array if is_tensor(input) else input
    b = other.array if is_tensor(other) else other
    return wrap(np.asarray(np.remainder(a, b)))


def pow(input: TensorLike, exponent: TensorLike) -> Tensor:
    return Pow.apply(input, exponent)


def neg(input: Tensor) -> Tensor:
    return Neg.apply(input)


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with NumPy/PyTorch broadcasting; 0-d operands are an error."""
    a = input.array if is_tensor(input) else np.asarray(input)
    b = other.array if is_tensor(other) else np.asarray(other)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError("both arguments to matmul need to be at least 1D, "
                           f"but they are {a.ndim}D and {b.ndim}D")
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        sa = tuple(a.shape)
        sb = tuple(b.shape)
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sa} and {sb}): "
                           f"inner dimensions {ka} and {kb} differ")
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected both matmul operands to have the same dtype, "
                           f"got {a.dtype} and {b.dtype}")
    return MatMul.apply(input, other)


mm = bmm = matmul
