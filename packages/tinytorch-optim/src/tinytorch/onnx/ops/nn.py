"""ONNX translations of ``tinytorch.nn``'s functional ops: linear, normalization, activations.

Reference and kernel versions of an op compute the same function, so both register the same
handler (``LayerNorm`` and ``LayerNormKernel``; ``Gelu``, ``GeluTanh``, ``Silu`` and the
blocked ``Pointwise`` kernel that stands for all three).

- ``linear``: ``Gemm`` (transB) for 2-D input, else ``MatMul`` by the transposed weight plus
  ``Add``; onnxruntime folds the weight's transpose once when it loads the file.
- ``layer_norm``: ``LayerNormalization`` (opset 17). ``rms_norm`` has no ONNX op before 23 and
  is composed: ``x · 1/sqrt(mean(x²) + eps) · w``.
- GELU: ``Gelu`` from opset 20; before, exact GELU is ``0.5·x·(1 + erf(x/√2))`` and the tanh
  form ``0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))``. ``Mish`` is an op from opset 18.
- dropout is the identity: export traces in eval mode; so are the gates that full backward
  hooks put around a module's tensors (``Join``/``Pass``), which only route gradients.

Cost: one node per op where ONNX has it; GELU before opset 20 is five to eight nodes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinytorch.nn._kernels import layer_norm as ln_kernels
from tinytorch.nn._kernels.pointwise import Pointwise
from tinytorch.nn.functional import activation as act
from tinytorch.nn.functional import normalization
from tinytorch.nn.functional.dropout import Dropout
from tinytorch.nn.functional.linear import Linear
from tinytorch.nn.hooks import Join, Pass
from tinytorch.onnx.graph import GraphBuilder
from tinytorch.onnx.ops.basic import reduce_node
from tinytorch.onnx.registry import register_op


# -------------------------------------------------------------------------------- linear
@register_op(Linear)
def _linear(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # x: (*, in), w: (out, in), b: (out,) or None -> (*, out)
    x, w, b = args
    if x.ndim == 2:
        inputs = [g.value(x), g.value(w)] + ([g.value(b)] if b is not None else [])
        return g.node("Gemm", inputs, transB=1)
    out = g.node("MatMul", [g.value(x), g.node("Transpose", [g.value(w)], perm=[1, 0])])
    return out if b is None else g.node("Add", [out, g.value(b)])


@register_op(Dropout)
def _dropout(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    return g.node("Identity", [g.value(args[0])])


@register_op(Join)
def _join(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    return g.node("Identity", [g.value(args[0])], hint="hook_token")


@register_op(Pass)
def _pass(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    return g.node("Identity", [g.value(args[1])])


# ------------------------------------------------------------------------- normalization
@register_op(normalization.LayerNorm, ln_kernels.LayerNormKernel)
def _layer_norm(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                result: Any) -> str:
    # x: (*, D...) normalized over the last len(shape) dims; w, b: (D...) or None
    x, w, b = args
    shape, dtype = kwargs["shape"], result.array.dtype
    scale = g.value(w) if w is not None else g.constant(np.ones(shape, dtype), "ln_scale")
    inputs = [g.value(x), scale] + ([g.value(b)] if b is not None else [])
    return g.node("LayerNormalization", inputs, axis=-len(shape), epsilon=kwargs["eps"])


@register_op(normalization.RMSNorm, ln_kernels.RMSNormKernel)
def _rms_norm(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # y = x / sqrt(mean(x²) + eps) · w over the last len(shape) dims
    x, w = args
    dtype = result.array.dtype
    axes = tuple(range(x.ndim - len(kwargs["shape"]), x.ndim))
    xv = g.value(x)
    mean_sq = reduce_node(g, "ReduceMean", g.node("Mul", [xv, xv]), axes, True)
    rms = g.node("Sqrt", [g.node("Add", [mean_sq, g.value(kwargs["eps"], dtype)])])
    out = g.node("Div", [xv, rms])
    return out if w is None else g.node("Mul", [out, g.value(w)])


# --------------------------------------------------------------------------- activations
def gelu(g: GraphBuilder, x: str, dtype: np.dtype, approximate: str) -> str:
    """GELU of value ``x``: the ``Gelu`` op from opset 20, else composed from primitives."""
    if g.opset >= 20:
        return g.node("Gelu", [x], approximate=approximate)
    half = g.node("Mul", [x, g.value(0.5, dtype)])
    if approximate == "tanh":
        cube = g.node("Mul", [g.node("Mul", [x, x]), x])
        inner = g.node("Add", [x, g.node("Mul", [cube, g.value(0.044715, dtype)])])
        core = g.node("Tanh", [g.node("Mul", [inner, g.value(math.sqrt(2 / math.pi), dtype)])])
    else:
        core = g.node("Erf", [g.node("Div", [x, g.value(math.sqrt(2.0), dtype)])])
    return g.node("Mul", [half, g.node("Add", [core, g.value(1.0, dtype)])])


def silu(g: GraphBuilder, x: str) -> str:
    """``x · sigmoid(x)`` of value ``x``."""
    return g.node("Mul", [x, g.node("Sigmoid", [x])])


_POINTWISE = {"gelu": lambda g, x, d: gelu(g, x, d, "none"),
              "gelu_tanh": lambda g, x, d: gelu(g, x, d, "tanh"),
              "silu": lambda g, x, d: silu(g, x)}


@register_op(Pointwise)
def _pointwise(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
               result: Any) -> str:
    return _POINTWISE[kwargs["kernel"]](g, g.value(args[0]), result.array.dtype)


@register_op(act.Gelu)
def _gelu(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    return gelu(g, g.value(args[0]), result.array.dtype, "none")


@register_op(act.GeluTanh)
def _gelu_tanh(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
               result: Any) -> str:
    return gelu(g, g.value(args[0]), result.array.dtype, "tanh")


@register_op(act.Silu)
def _silu(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    return silu(g, g.value(args[0]))


@register_op(act.LeakyRelu)
def _leaky_relu(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                result: Any) -> str:
    return g.node("LeakyRelu", [g.value(args[0])], alpha=kwargs["slope"])


@register_op(act.Elu)
def _elu(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    return g.node("Elu", [g.value(args[0])], alpha=kwargs["alpha"])


@register_op(act.Hardtanh)
def _hardtanh(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
              result: Any) -> str:
    dtype = result.array.dtype
    return g.node("Clip", [g.value(args[0]), g.value(kwargs["min_val"], dtype),
                           g.value(kwargs["max_val"], dtype)])


def softplus(g: GraphBuilder, x: str) -> str:
    """``log(1 + exp(x))`` of value ``x``."""
    return g.node("Softplus", [x])


@register_op(act.Softplus)
def _softplus(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
              result: Any) -> str:
    # PyTorch's form: log(1 + exp(β·x))/β, and x itself where β·x > threshold
    dtype = result.array.dtype
    x = g.value(args[0])
    beta = g.value(kwargs["beta"], dtype)
    bx = g.node("Mul", [x, beta])
    soft = g.node("Div", [softplus(g, bx), beta])
    linear_part = g.node("Greater", [bx, g.value(kwargs["threshold"], dtype)])
    return g.node("Where", [linear_part, x, soft])


@register_op(act.Mish)
def _mish(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    x = g.value(args[0])
    if g.opset >= 18:
        return g.node("Mish", [x])
    return g.node("Mul", [x, g.node("Tanh", [softplus(g, x)])])


@register_op(act.PRelu)
def _prelu(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # slope w: (C,) along dim 1 of x: (N, C, *), or (1,) shared
    x, w = args
    slope = g.value(w)
    if w.array.size > 1 and x.ndim > 2:
        slope = g.node("Unsqueeze", [slope, g.ints(range(1, x.ndim - 1), "axes")])
    elif w.array.size == 1:
        slope = g.node("Reshape", [slope, g.ints([], "scalar_shape")])
    return g.node("PRelu", [g.value(x), slope])
