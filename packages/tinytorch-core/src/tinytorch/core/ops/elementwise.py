"""Elementwise ops: ``abs``, ``exp``, ``log``, ``sqrt``, ``tanh``, ``sigmoid``, ``relu``,
``clamp``, ``maximum``, ``where``, ``masked_fill``, ``cast``, ``clone`` and friends.

Systems view: each op makes one pass over its input (a few FLOPs per element, one
transcendental for ``exp``/``log``/``tanh``/``sin``) and allocates one output of
``numel * itemsize`` bytes. Backward is one or two more passes. Ops save whichever of
input or output makes the backward cheapest: ``exp``, ``tanh``, ``sigmoid``, ``relu`` and
``sqrt`` save their *output*, which the next layer usually keeps alive anyway, so recording
them costs no extra memory.

Dtypes follow PyTorch: integer and bool inputs to a floating op (``exp``, ``sqrt``,
``sigmoid``...) give the default float dtype (float32); float64 stays float64; Python scalars
never promote a float32 tensor to float64.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, overload

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.function import Function, is_tensor, wrap

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import DTypeLike, Grad, Number, TensorLike


def _floating(a: np.ndarray) -> np.ndarray:
    """``a`` itself if it is floating point, else ``a`` converted to the default float dtype."""
    return a if a.dtype.kind == "f" else a.astype(dtypes.get_default_dtype())


def _arr(x: TensorLike | np.ndarray | None) -> np.ndarray | Number | None:
    return x.array if is_tensor(x) else x


def _category(x: np.ndarray | np.generic | Number | None) -> int:
    """PyTorch's type categories: 0 bool < 1 integer < 2 floating."""
    if isinstance(x, np.ndarray | np.generic):
        return {"b": 0, "i": 1, "u": 1}.get(x.dtype.kind, 2)
    return 0 if isinstance(x, bool) else 1 if isinstance(x, int) else 2


def result_type(*operands: TensorLike | np.ndarray) -> np.dtype:
    """The dtype PyTorch gives an op on these operands (Tensors, arrays or Python scalars).

    Arrays of the highest category decide, dimensioned ones before 0-d ones (a float64 0-d
    tensor does not make a float32 tensor float64); a Python scalar of a higher category than
    every array yields that category's default (float32 for floats, int64 for ints).
    """
    vals = [_arr(x) for x in operands]
    arrays = [v for v in vals if isinstance(v, np.ndarray)]
    top = max(_category(v) for v in vals)
    same = [a for a in arrays if _category(a) == top]
    dimensioned = [a for a in same if a.ndim > 0]   # they outrank 0-d tensors of one category
    if dimensioned:
        return np.result_type(*dimensioned)
    if same:
        return np.result_type(*same)
    return [dtypes.bool, dtypes.int64, dtypes.get_default_dtype()][top]


# ---------------------------------------------------------------------------- unary math
class Abs(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (a,) = ctx.saved_tensors
        return grad * np.sign(a)


class Exp(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray) -> np.ndarray:
        out = np.exp(_floating(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return grad * out


class Log(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray) -> np.ndarray:
        a = _floating(a)
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(a)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (a,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad / a


class Sqrt(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            out = np.sqrt(_floating(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad / (2 * out)


class Rsqrt(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 1 / np.sqrt(_floating(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return grad * (-0.5 * out * out * out)    # d(x^-1/2) = -1/2 x^-3/2


class Sin(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray) -> np.ndarray:
        a = _floating(a)
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (a,) = ctx.saved_tensors
        return grad * np.cos(a)


class Cos(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray) -> np.ndarray:
        a = _floating(a)
        ctx.save_for_backward(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (a,) = ctx.saved_tensors
        return -grad * np.sin(a)


class Tanh(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray) -> np.ndarray:
        out = np.tanh(_floating(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


class Sigmoid(Function):
    """``1 / (1 + exp(-x))``: exp overflows to inf for x < -88 (float32), giving exactly 0."""

    @staticmethod
    def forward(ctx: Function, a: np.ndarray) -> np.ndarray:
        a = _floating(a)
        out = np.negative(a, out=np.empty_like(a))       # an array even when `a` is 0-d
        with np.errstate(over="ignore"):
            np.exp(out, out=out)
        out += 1
        np.reciprocal(out, out=out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return grad * (out * (1 - out))


class Relu(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray) -> np.ndarray:
        out = np.maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return grad * (out > 0)


class Sign(Function):
    """``sign(x)``: its gradient is zero almost everywhere (and defined as zero at 0)."""

    @staticmethod
    def forward(ctx: Function, a: np.ndarray) -> np.ndarray:
        return np.sign(a)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        return np.zeros_like(grad)


# ---------------------------------------------------------------------------- binary
class Clamp(Function):
    """``min(max(x, lo), hi)``; ``lo``/``hi`` are None, Python numbers or arrays."""

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, lo: np.ndarray | float | None,
                hi: np.ndarray | float | None) -> np.ndarray:
        # a: (...), lo/hi: broadcastable -> broadcast shape
        ctx.save_for_backward(a, lo, hi)
        out = a if lo is None else np.maximum(a, lo)
        return out if hi is None else np.minimum(out, hi)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad, Grad]:
        a, lo, hi = ctx.saved_tensors
        need_a, need_lo, need_hi = ctx.needs_input_grad
        low = a if lo is None else np.maximum(a, lo)   # the value before the upper clamp
        keep_low = True if hi is None else low <= hi    # grad reaches `low` here
        ga = glo = ghi = None
        if need_a:
            ga = grad * (keep_low & (True if lo is None else a >= lo))
        if need_lo:
            glo = grad * (keep_low & (a < lo))
        if need_hi:
            ghi = grad * (low > hi)
        return ga, glo, ghi


class _Extremum(Function):
    """``maximum``/``minimum`` of two operands; on ties each side gets half the gradient."""

    pick = staticmethod(np.maximum)

    @classmethod
    def forward(cls, ctx: Function, a: Any, b: Any) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return cls.pick(a, b)

    @classmethod
    def backward(cls, ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad]:
        a, b = ctx.saved_tensors
        wins = cls.pick(a, b) == a                 # where a is the result
        tie = np.equal(a, b)
        share = np.where(tie, 0.5, wins).astype(grad.dtype)
        need_a, need_b = ctx.needs_input_grad
        ga = grad * share if need_a else None
        gb = grad * (1 - share) if need_b else None
        return ga, gb


class Maximum(_Extremum):
    pick = staticmethod(np.maximum)


class Minimum(_Extremum):
    pick = staticmethod(np.minimum)


class Where(Function):
    @staticmethod
    def forward(ctx: Function, cond: np.ndarray, x: np.ndarray | float, y: np.ndarray | float, *,
                dtype: np.dtype) -> np.ndarray:
        # cond, x, y: broadcastable -> broadcast shape
        ctx.save_for_backward(cond)
        if isinstance(x, np.ndarray) and x.dtype != dtype:
            x = x.astype(dtype)
        if isinstance(y, np.ndarray) and y.dtype != dtype:
            y = y.astype(dtype)
        return np.where(cond, x, y).astype(dtype, copy=False)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[None, Grad, Grad]:
        (cond,) = ctx.saved_tensors
        _, need_x, need_y = ctx.needs_input_grad
        zero = grad.dtype.type(0)
        gx = np.where(cond, grad, zero) if need_x else None
        gy = np.where(cond, zero, grad) if need_y else None
        return None, gx, gy


class MaskedFill(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, mask: np.ndarray,
                value: np.ndarray | float) -> np.ndarray:
        # a: (...), mask: broadcastable to a, value: scalar or 0-d -> a's shape and dtype
        ctx.save_for_backward(mask)
        fill = np.asarray(value).astype(a.dtype)
        return np.where(mask, fill, a)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, None, Grad]:
        (mask,) = ctx.saved_tensors
        need_a, _, need_v = ctx.needs_input_grad
        zero = grad.dtype.type(0)
        ga = np.where(mask, zero, grad) if need_a else None
        gv = np.where(mask, grad, zero).sum(dtype=grad.dtype) if need_v else None
        return ga, None, gv


class Cast(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray, *, dtype: np.dtype) -> np.ndarray:
        ctx.src_dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        src = ctx.src_dtype
        return grad.astype(src)


class Copy(Function):
    """``dst.copy_(src)`` recorded: the new values are ``src`` broadcast to ``dst``'s shape and
    cast to its dtype. The overwritten values get no gradient; ``src`` gets all of it."""

    @staticmethod
    def forward(ctx: Function, old: np.ndarray, src: np.ndarray, *, shape: tuple[int, ...],
                dtype: np.dtype) -> np.ndarray:
        # old: shape, src: broadcastable to shape -> shape, dtype
        return np.array(np.broadcast_to(src, shape), dtype=dtype)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[None, np.ndarray]:
        return None, grad  # the engine sums over broadcast dims and casts to src's dtype


class Clone(Function):
    @staticmethod
    def forward(ctx: Function, a: np.ndarray) -> np.ndarray:
        return np.array(a, copy=True, order="C")

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        return grad


# ---------------------------------------------------------------------------- wrappers
def abs(input: Tensor) -> Tensor:
    """``|x|``, same shape and dtype."""
    return Abs.apply(input)


def exp(input: Tensor) -> Tensor:
    """``e**x``, same shape; integer input gives float32."""
    return Exp.apply(input)


def log(input: Tensor) -> Tensor:
    """Natural log (``-inf`` at 0, ``nan`` below), same shape."""
    return Log.apply(input)


def sqrt(input: Tensor) -> Tensor:
    """``sqrt(x)`` (``nan`` below 0); integer input gives float32."""
    return Sqrt.apply(input)


def rsqrt(input: Tensor) -> Tensor:
    """``1 / sqrt(x)``."""
    return Rsqrt.apply(input)


def sin(input: Tensor) -> Tensor:
    """Sine, elementwise."""
    return Sin.apply(input)


def cos(input: Tensor) -> Tensor:
    """Cosine, elementwise."""
    return Cos.apply(input)


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent, elementwise."""
    return Tanh.apply(input)


def sigmoid(input: Tensor) -> Tensor:
    """Logistic function, numerically stable for large ``|x|``."""
    return Sigmoid.apply(input)


def relu(input: Tensor) -> Tensor:
    """``max(x, 0)``; the gradient at 0 is 0, as in PyTorch."""
    return Relu.apply(input)


def sign(input: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of each element, in the input's dtype."""
    return Sign.apply(input)


def clamp(input: Tensor, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:
    """Clamp every element into ``[min, max]``; bounds are numbers, tensors or None."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    a = input.array
    if a.dtype.kind != "f" and any(_category(_arr(b)) == 2 for b in (min, max) if b is not None):
        input = cast(input, dtypes.get_default_dtype())
    return Clamp.apply(input, min, max)


clip = clamp


def maximum(input: Tensor, other: TensorLike) -> Tensor:
    """Elementwise max with broadcasting; ties split the gradient evenly."""
    return Maximum.apply(*_promoted(input, other))


def minimum(input: Tensor, other: TensorLike) -> Tensor:
    """Elementwise min with broadcasting; ties split the gradient evenly."""
    return Minimum.apply(*_promoted(input, other))


def _promoted(a: TensorLike, b: TensorLike) -> tuple[TensorLike, TensorLike]:
    d = result_type(a, b)
    a = cast(a, d) if is_tensor(a) and a.dtype != d else a
    b = cast(b, d) if is_tensor(b) and b.dtype != d else b
    return a, b


@overload
def where(condition: Tensor) -> tuple[Tensor, ...]: ...


@overload
def where(condition: Tensor, input: TensorLike, other: TensorLike) -> Tensor: ...


def where(condition: Tensor, input: Any = None, other: Any = None) -> Tensor | tuple[Tensor, ...]:
    """``input`` where ``condition`` else ``other`` (either may be a Python scalar).

    ``where(condition)`` alone returns the tuple of index tensors of the True elements.
    """
    cond = np.asarray(_arr(condition))
    if input is None and other is None:
        return tuple(wrap(i.astype(np.int64)) for i in np.nonzero(cond))
    if cond.dtype != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor "
                           f"with dtype {dtypes.dtype_name(cond.dtype)}")
    return Where.apply(cond, input, other, dtype=result_type(input, other))


def masked_fill(input: Tensor, mask: Tensor, value: TensorLike) -> Tensor:
    """Copy of ``input`` with ``value`` where the bool ``mask`` (broadcastable) is True."""
    m = np.asarray(_arr(mask))
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{dtypes.dtype_name(m.dtype)}")
    if is_tensor(value) and value.ndim != 0:
        raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got "
                           f"tensor with {value.ndim} dimension(s).")
    return MaskedFill.apply(input, m, value)


def cast(input: Tensor, dtype: DTypeLike) -> Tensor:
    """``input`` converted to ``dtype``; differentiable between floating dtypes."""
    d = dtypes.as_dtype(dtype)
    if d == input.array.dtype:
        return input
    if d.kind != "f":
        return wrap(input.array.astype(d))
    return Cast.apply(input, dtype=d)


def clone(input: Tensor) -> Tensor:
    """A differentiable copy with its own (C-contiguous) memory."""
    return Clone.apply(input)
