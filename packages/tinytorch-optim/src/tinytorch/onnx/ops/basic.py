"""ONNX translations of core arithmetic, elementwise functions and reductions.

Each handler maps one ``tinytorch.core.ops`` Function onto the ONNX node(s) that compute the
same values. ONNX's binary ops need both operands in one type, so operands are cast to the
dtype TinyTorch's own promotion produced (the result's), and Python scalars become 0-d
constants of that dtype. Reductions take their axes as an input from opset 18 (ReduceSum from
13), which ``reduce`` hides from the handlers.

Cost: one node per op, except the few without an ONNX twin (``rsqrt``, ``log1p``, ``var``),
which are composed from two to six primitive nodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.core.function import is_tensor
from tinytorch.core.ops import arithmetic as ar
from tinytorch.core.ops import elementwise as ew
from tinytorch.core.ops import linalg, nonfinite, reduce, rounding, scan, softmax, transcendental
from tinytorch.onnx.graph import GraphBuilder
from tinytorch.onnx.registry import UnsupportedOperatorError, register_op


def dtype_of(a: Any) -> np.dtype | None:
    """The dtype of a Tensor or array operand; ``None`` for Python scalars."""
    if is_tensor(a):
        return a.array.dtype
    return a.dtype if isinstance(a, np.ndarray) else None


def operand(g: GraphBuilder, a: Any, dtype: np.dtype) -> str:
    """The ONNX name of ``a`` in ``dtype`` (a Cast node when a tensor's dtype differs)."""
    own = dtype_of(a)
    if own is None:
        return g.value(a, dtype)
    name = g.value(a)
    if own != dtype:
        name = g.node("Cast", [name], to=onnx_type(dtype))
    return name


def onnx_type(dtype: Any) -> int:
    """The ``TensorProto`` element type of a NumPy dtype."""
    from onnx import helper
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def reduce_node(g: GraphBuilder, op: str, x: str, axes: tuple[int, ...], keepdim: bool,
                hint: str | None = None) -> str:
    """``op`` over ``axes``: axes as an input where the opset wants one, else an attribute."""
    as_input = op == "ReduceSum" or g.opset >= 18
    if as_input:
        return g.node(op, [x, g.ints(axes, "axes")], keepdims=int(keepdim), hint=hint)
    return g.node(op, [x], axes=list(axes), keepdims=int(keepdim), hint=hint)


# ---------------------------------------------------------------------------- arithmetic
def _binary(op_type: str):
    def handler(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
        dtype = result.array.dtype
        return g.node(op_type, [operand(g, a, dtype) for a in args])
    return handler


register_op(ar.Add)(_binary("Add"))
register_op(ar.Sub)(_binary("Sub"))
register_op(ar.Mul)(_binary("Mul"))
register_op(ar.Div)(_binary("Div"))
register_op(ar.MatMul)(_binary("MatMul"))
register_op(ew.Maximum)(_binary("Max"))
register_op(ew.Minimum)(_binary("Min"))


@register_op(ar.Pow)
def _pow(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    base, exponent = args
    dtype = result.array.dtype
    if not is_tensor(exponent) and float(exponent) == 2.0:      # x*x: exact, like numpy's
        x = operand(g, base, dtype)
        return g.node("Mul", [x, x])
    return g.node("Pow", [operand(g, base, dtype), operand(g, exponent, dtype)])


@register_op(linalg.AddMatMul)
def _addmm(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # beta·c + alpha·(a @ b); a, b: (n, m), (m, p) or batched
    c, a, b = args
    dtype = result.array.dtype
    prod = g.node("MatMul", [operand(g, a, dtype), operand(g, b, dtype)])
    if kwargs["alpha"] != 1:
        prod = g.node("Mul", [prod, g.value(kwargs["alpha"], dtype)])
    if kwargs["beta"] == 0:
        return prod
    bias = operand(g, c, dtype)
    if kwargs["beta"] != 1:
        bias = g.node("Mul", [bias, g.value(kwargs["beta"], dtype)])
    return g.node("Add", [prod, bias])


@register_op(linalg.Einsum)
def _einsum(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"

    def labels(sub: Any) -> str:
        return "".join(s if isinstance(s, str) else letters[s] for s in sub)

    equation = ",".join(labels(s) for s in kwargs["subs"]) + "->" + labels(kwargs["out"])
    dtype = result.array.dtype
    return g.node("Einsum", [operand(g, a, dtype) for a in args], equation=equation)


# --------------------------------------------------------------------------- elementwise
def _unary(op_type: str):
    def handler(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
        return g.node(op_type, [operand(g, args[0], result.array.dtype)])
    return handler


for _cls, _op in ((ar.Neg, "Neg"), (ew.Abs, "Abs"), (ew.Exp, "Exp"), (ew.Log, "Log"),
                  (ew.Sqrt, "Sqrt"), (ew.Sin, "Sin"), (ew.Cos, "Cos"), (ew.Tanh, "Tanh"),
                  (ew.Sigmoid, "Sigmoid"), (ew.Relu, "Relu"), (ew.Sign, "Sign"),
                  (ew.Clone, "Identity")):
    register_op(_cls)(_unary(_op))


@register_op(ew.Rsqrt)
def _rsqrt(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    x = operand(g, args[0], result.array.dtype)
    return g.node("Reciprocal", [g.node("Sqrt", [x])])


@register_op(transcendental.Log1p)
def _log1p(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    dtype = result.array.dtype
    x = operand(g, args[0], dtype)
    return g.node("Log", [g.node("Add", [x, g.value(1.0, dtype)])])


@register_op(transcendental.Expm1)
def _expm1(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    dtype = result.array.dtype
    x = operand(g, args[0], dtype)
    return g.node("Sub", [g.node("Exp", [x]), g.value(1.0, dtype)])


@register_op(ew.Clamp)
def _clamp(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    a, lo, hi = args
    dtype = result.array.dtype
    out = operand(g, a, dtype)
    if lo is not None:
        out = g.node("Max", [out, operand(g, lo, dtype)])
    if hi is not None:
        out = g.node("Min", [out, operand(g, hi, dtype)])
    return out


@register_op(ew.Where)
def _where(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    cond, x, y = args
    dtype = result.array.dtype
    return g.node("Where", [operand(g, cond, np.dtype(bool)), operand(g, x, dtype),
                            operand(g, y, dtype)])


@register_op(ew.MaskedFill)
def _masked_fill(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                 result: Any) -> str:
    a, mask, value = args
    dtype = result.array.dtype
    return g.node("Where", [operand(g, mask, np.dtype(bool)), operand(g, value, dtype),
                            operand(g, a, dtype)])


@register_op(nonfinite.NanToNum)
def _nan_to_num(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                result: Any) -> str:
    # NaN -> nan, +inf -> posinf, -inf -> neginf (default: the dtype's largest finite values)
    dtype = result.array.dtype
    x = operand(g, args[0], dtype)
    if dtype.kind != "f":
        return g.node("Identity", [x])
    top = np.finfo(dtype).max
    out = g.node("Where", [g.node("IsNaN", [x]), g.value(kwargs["nan"], dtype), x])
    for sign, key, default in ((1, "posinf", top), (0, "neginf", -top)):
        hits = g.node("IsInf", [x], detect_positive=sign, detect_negative=1 - sign)
        value = default if kwargs[key] is None else kwargs[key]
        out = g.node("Where", [hits, g.value(value, dtype), out])
    return out


@register_op(ew.Cast)
def _cast(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    return g.node("Cast", [g.value(args[0])], to=onnx_type(result.array.dtype))


@register_op(rounding.Round)
def _round(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    dtype = result.array.dtype
    x = operand(g, args[0], dtype)
    mode = kwargs["mode"]
    if mode == "floor":
        return g.node("Floor", [x])
    if mode == "ceil":
        return g.node("Ceil", [x])
    if mode == "trunc":                          # toward zero: sign(x)·floor(|x|)
        return g.node("Mul", [g.node("Sign", [x]), g.node("Floor", [g.node("Abs", [x])])])
    decimals = kwargs.get("decimals", 0)
    if not decimals:
        return g.node("Round", [x])              # half to even, as numpy rounds
    scale = g.value(10.0 ** decimals, dtype)
    return g.node("Div", [g.node("Round", [g.node("Mul", [x, scale])]), scale])


@register_op(scan.CumSum)
def _cumsum(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    x = operand(g, args[0], result.array.dtype)
    return g.node("CumSum", [x, g.value(np.int64(kwargs["axis"]))])


# ---------------------------------------------------------------------------- softmax
@register_op(softmax.Softmax)
def _softmax(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    axis = kwargs["axis"]
    return g.node("Softmax", [g.value(args[0])], axis=-1 if axis is None else axis)


@register_op(softmax.LogSoftmax)
def _log_softmax(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                 result: Any) -> str:
    axis = kwargs["axis"]
    return g.node("LogSoftmax", [g.value(args[0])], axis=-1 if axis is None else axis)


@register_op(softmax.LogSumExp)
def _logsumexp(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
               result: Any) -> str:
    return reduce_node(g, "ReduceLogSumExp", g.value(args[0]), kwargs["axes"], kwargs["keepdim"])


# ---------------------------------------------------------------------------- reductions
@register_op(reduce.Sum)
def _sum(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    x = operand(g, args[0], result.array.dtype)
    return reduce_node(g, "ReduceSum", x, kwargs["axes"], kwargs["keepdim"])


@register_op(reduce.Mean)
def _mean(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    x = operand(g, args[0], result.array.dtype)
    return reduce_node(g, "ReduceMean", x, kwargs["axes"], kwargs["keepdim"])


@register_op(reduce.Prod)
def _prod(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    x = operand(g, args[0], result.array.dtype)
    axis = kwargs["axis"]
    axes = tuple(range(args[0].ndim)) if axis is None else (axis,)
    return reduce_node(g, "ReduceProd", x, axes, kwargs["keepdim"] and axis is not None)


@register_op(reduce.Extreme)
def _extreme(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    op = "ReduceMax" if kwargs["largest"] else "ReduceMin"
    return reduce_node(g, op, g.value(args[0]), kwargs["axes"], kwargs["keepdim"])


@register_op(reduce.Select)
def _select(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # max/min along one dim: the traced op only gets the winners' positions, so which of the
    # two it was is read off the values it picked
    a, axis = args[0].array, kwargs["axis"]
    picked = result.array if kwargs["keepdim"] else np.expand_dims(result.array, axis)
    largest = np.array_equal(picked, a.max(axis=axis, keepdims=True), equal_nan=True)
    op = "ReduceMax" if largest else "ReduceMin"
    return reduce_node(g, op, g.value(args[0]), (axis,), kwargs["keepdim"])


@register_op(reduce.Var)
def _var(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # sum((x - mean)²) / (n - correction), then sqrt for std
    dtype = result.array.dtype
    axes, keepdim = kwargs["axes"], kwargs["keepdim"]
    x = operand(g, args[0], dtype)
    n = int(np.prod([args[0].shape[a] for a in axes]))
    centred = g.node("Sub", [x, reduce_node(g, "ReduceMean", x, axes, True)])
    squares = reduce_node(g, "ReduceSum", g.node("Mul", [centred, centred]), axes, keepdim)
    out = g.node("Div", [squares, g.value(max(n - kwargs["correction"], 0), dtype)])
    return g.node("Sqrt", [out]) if kwargs["sqrt"] else out


@register_op(reduce.Norm)
def _norm(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    x = operand(g, args[0], result.array.dtype)
    p, axes, keepdim = kwargs["p"], kwargs["axes"], kwargs["keepdim"]
    if p == 2.0:
        return reduce_node(g, "ReduceL2", x, axes, keepdim)
    if p == 1.0:
        return reduce_node(g, "ReduceL1", x, axes, keepdim)
    if p == float("inf"):
        return reduce_node(g, "ReduceMax", g.node("Abs", [x]), axes, keepdim)
    raise UnsupportedOperatorError(f"ONNX export: norm with p={p} (only 1, 2 and inf), in "
                                   f"module '{g.module_path or '<root>'}'")
