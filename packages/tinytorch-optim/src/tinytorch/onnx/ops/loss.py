"""ONNX translations of ``tinytorch.nn``'s losses: regression, binary, KL and class-index losses.

Each loss is one fused ``Function`` in TinyTorch; in the file it becomes the pointwise formula
followed by the reduction (``none``: as is; ``sum``: ``ReduceSum``; ``mean``: ``ReduceMean``,
or a sum divided by the loss's own ``total`` where that is not the element count).

- ``mse_loss``, ``l1_loss``, ``huber_loss``, ``smooth_l1_loss``: ``d = x - y`` and the formula on
  ``d``; the quadratic/linear branch of Huber and smooth L1 is a ``Where`` on ``|d|``.
- ``binary_cross_entropy``: each log clamped at -100 (``Max``), as TinyTorch and PyTorch do;
  ``binary_cross_entropy_with_logits``: ``(1 - y)·x + log(1 + exp(-|x|)) + max(-x, 0)``, the
  same overflow-free form as the op, with ``pos_weight`` scaling the softplus term.
- ``kl_div``: ``exp(y)·(y - x)`` for log targets, else ``y·log y - y·x`` with ``0·log 0 = 0``.
- ``nll_loss``: ``NegativeLogLikelihoodLoss`` (opset 13), whose weighted mean divides by the
  summed weights of the rows that count, like TinyTorch. ``cross_entropy`` on class indices:
  ``SoftmaxCrossEntropyLoss`` (opset 13); with label smoothing, which that op lacks, it is
  composed as ``(1-ε)·NLL(log_softmax(x)) + (ε/C)·(-Σ_c w_c log p_c)`` over the rows that
  count, and a ``mean`` divides by the same weight total. Soft (probability) targets:
  ``-Σ_c w_c·ỹ_c·log p_c`` with ``ỹ = (1-ε)·y + ε/C``.

The class targets travel as index arrays, not Tensors; one that is a model input's array is
that graph input (the exporter binds inputs' arrays), otherwise it is frozen as a constant.

Cost: a handful of elementwise nodes per loss, ``O(n)`` in the loss's elements; cross-entropy
is one node, or about a dozen with label smoothing (one extra pass over the ``R·C`` logits).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.nn._kernels.cross_entropy import CrossEntropyKernel
from tinytorch.nn.functional.cross_entropy import CrossEntropy, CrossEntropyProbs, NLLLoss
from tinytorch.nn.functional.loss import (
    BinaryCrossEntropy,
    BinaryCrossEntropyWithLogits,
    HuberLoss,
    KLDiv,
    L1Loss,
    MSELoss,
    SmoothL1Loss,
)
from tinytorch.onnx.graph import GraphBuilder
from tinytorch.onnx.ops.basic import onnx_type, reduce_node
from tinytorch.onnx.registry import register_op


def _reduce(g: GraphBuilder, per_element: str, ndim: int, reduction: str,
            total: float | None = None, dtype: Any = np.float32) -> str:
    """``reduction`` of the loss value ``per_element`` (``ndim`` dims); ``total``: the divisor
    of a mean when it is not the element count (a 0-d loss is its own sum)."""
    if reduction == "none":
        return per_element
    axes = tuple(range(ndim))
    if reduction == "mean" and total is None:
        return reduce_node(g, "ReduceMean", per_element, axes, False) if ndim else per_element
    summed = reduce_node(g, "ReduceSum", per_element, axes, False) if ndim else per_element
    if reduction == "sum":
        return summed
    return g.node("Div", [summed, g.value(float(total), dtype)])


def _difference(g: GraphBuilder, args: tuple[Any, ...]) -> str:
    return g.node("Sub", [g.value(args[0]), g.value(args[1])])


def _out_ndim(args: tuple[Any, ...]) -> int:
    return len(np.broadcast_shapes(tuple(args[0].shape), tuple(args[1].shape)))


# ------------------------------------------------------------------------ regression losses
@register_op(MSELoss)
def _mse(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # x, y: broadcastable -> () or broadcast shape
    d = _difference(g, args)
    return _reduce(g, g.node("Mul", [d, d]), _out_ndim(args), kwargs["reduction"])


@register_op(L1Loss)
def _l1(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    return _reduce(g, g.node("Abs", [_difference(g, args)]), _out_ndim(args),
                   kwargs["reduction"])


def _quadratic_then_linear(g: GraphBuilder, d: str, limit: float, scale: float,
                           dtype: np.dtype) -> str:
    """``0.5·d²·scale`` where ``|d| < limit``, else ``(|d| - 0.5·limit)·limit·scale``."""
    ad = g.node("Abs", [d])
    quad = g.node("Mul", [g.node("Mul", [d, d]), g.value(0.5 * scale, dtype)])
    lin = g.node("Mul", [g.node("Sub", [ad, g.value(0.5 * limit, dtype)]),
                         g.value(limit * scale, dtype)])
    return g.node("Where", [g.node("Less", [ad, g.value(limit, dtype)]), quad, lin])


@register_op(HuberLoss)
def _huber(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    delta, dtype = kwargs["delta"], result.array.dtype
    per = _quadratic_then_linear(g, _difference(g, args), delta, 1.0, dtype)
    return _reduce(g, per, _out_ndim(args), kwargs["reduction"])


@register_op(SmoothL1Loss)
def _smooth_l1(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
               result: Any) -> str:
    # Huber's loss divided by beta; beta = 0 is plain L1
    beta, dtype = kwargs["beta"], result.array.dtype
    d = _difference(g, args)
    per = (g.node("Abs", [d]) if beta == 0
           else _quadratic_then_linear(g, d, beta, 1.0 / beta, dtype))
    return _reduce(g, per, _out_ndim(args), kwargs["reduction"])


# ---------------------------------------------------------------------------- binary losses
@register_op(BinaryCrossEntropy)
def _bce(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # x: probabilities (*), y: targets (*) -> () or (*)
    x, y = g.value(args[0]), g.value(args[1])
    dtype = result.array.dtype
    one, floor = g.value(1.0, dtype), g.value(-100.0, dtype)
    log_x = g.node("Max", [g.node("Log", [x]), floor])
    log_1mx = g.node("Max", [g.node("Log", [g.node("Sub", [one, x])]), floor])
    ll = g.node("Add", [g.node("Mul", [y, log_x]),
                        g.node("Mul", [g.node("Sub", [one, y]), log_1mx])])
    per = g.node("Neg", [ll])
    if kwargs["weight"] is not None:
        per = g.node("Mul", [per, g.value(kwargs["weight"])])
    return _reduce(g, per, args[0].ndim, kwargs["reduction"])


@register_op(BinaryCrossEntropyWithLogits)
def _bce_logits(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                result: Any) -> str:
    # x: logits (*), y: targets (*) -> () or (*); softplus(-x) without overflow
    x, y = g.value(args[0]), g.value(args[1])
    dtype = result.array.dtype
    one, zero = g.value(1.0, dtype), g.value(0.0, dtype)
    exp_neg_abs = g.node("Exp", [g.node("Neg", [g.node("Abs", [x])])])
    tail = g.node("Log", [g.node("Add", [one, exp_neg_abs])])          # log(1 + exp(-|x|))
    softplus_neg = g.node("Add", [tail, g.node("Max", [g.node("Neg", [x]), zero])])
    if kwargs["pos_weight"] is not None:
        pw_minus_1 = g.node("Sub", [g.value(kwargs["pos_weight"]), one])
        softplus_neg = g.node("Mul", [g.node("Add", [one, g.node("Mul", [pw_minus_1, y])]),
                                      softplus_neg])
    per = g.node("Add", [g.node("Mul", [g.node("Sub", [one, y]), x]), softplus_neg])
    if kwargs["weight"] is not None:
        per = g.node("Mul", [per, g.value(kwargs["weight"])])
    return _reduce(g, per, args[0].ndim, kwargs["reduction"])


@register_op(KLDiv)
def _kl_div(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # x: log-probabilities, y: probabilities or log-probabilities -> () or broadcast shape
    x, y = g.value(args[0]), g.value(args[1])
    dtype = result.array.dtype
    if kwargs["log_target"]:
        per = g.node("Mul", [g.node("Exp", [y]), g.node("Sub", [y, x])])
    else:
        zero = g.value(0.0, dtype)
        y_log_y = g.node("Where", [g.node("Equal", [y, zero]), zero,
                                   g.node("Mul", [y, g.node("Log", [y])])])
        per = g.node("Sub", [y_log_y, g.node("Mul", [y, x])])
    return _reduce(g, per, _out_ndim(args), kwargs["reduction"], kwargs["total"],
                   dtype)


# ------------------------------------------------------------------------ class-index losses
def _class_inputs(g: GraphBuilder, x: Any, target: np.ndarray) -> tuple[str, str, bool]:
    """Logits ``(N, C, d...)`` and int64 targets ``(N, d...)``; unbatched ones get an N of 1."""
    xv, tv = g.value(x), g.value(target)
    if target.dtype != np.int64:
        tv = g.node("Cast", [tv], to=onnx_type(np.int64))
    unbatched = x.ndim == 1
    if unbatched:
        xv = g.node("Unsqueeze", [xv, g.ints([0], "axes")])
        tv = g.node("Unsqueeze", [tv, g.ints([0], "axes")])
    return xv, tv, unbatched


def _class_output(g: GraphBuilder, out: str, unbatched: bool, reduction: str) -> str:
    if unbatched and reduction == "none":
        return g.node("Squeeze", [out, g.ints([0], "axes")])
    return out


@register_op(NLLLoss)
def _nll(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # x: (N, C, d...) log-probabilities or (C,); target: (N, d...) or () -> () or (N, d...)
    xv, tv, unbatched = _class_inputs(g, args[0], kwargs["target"])
    weight = kwargs["weight"]
    inputs = [xv, tv] + ([g.value(weight)] if weight is not None else [])
    out = g.node("NegativeLogLikelihoodLoss", inputs, reduction=kwargs["reduction"],
                 ignore_index=kwargs["ignore_index"])
    return _class_output(g, out, unbatched, kwargs["reduction"])


@register_op(CrossEntropy, CrossEntropyKernel)
def _cross_entropy(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                   result: Any) -> str:
    # x: (N, C, d...) logits or (C,); target: (N, d...) or () -> () or (N, d...)
    x = args[0]
    xv, tv, unbatched = _class_inputs(g, x, kwargs["target"])
    weight, reduction, eps = kwargs["weight"], kwargs["reduction"], kwargs["smoothing"]
    ignore = kwargs["ignore_index"]
    w = [g.value(weight)] if weight is not None else []
    if not eps:
        out = g.node("SoftmaxCrossEntropyLoss", [xv, tv, *w], reduction=reduction,
                     ignore_index=ignore)
        return _class_output(g, out, unbatched, reduction)
    dtype, n_cls, ndim = result.array.dtype, x.shape[0 if unbatched else 1], max(x.ndim, 2)
    logp = g.node("LogSoftmax", [xv], axis=1)                        # (N, C, d...)
    nll = g.node("NegativeLogLikelihoodLoss", [logp, tv, *w], reduction="none",
                 ignore_index=ignore)                                # w_t·(-log p_t), (N, d...)
    counts = g.node("Not", [g.node("Equal", [tv, g.value(ignore)])])
    valid = g.node("Cast", [counts], to=onnx_type(dtype))            # 1/0 per row
    w_logp = logp
    if weight is not None:
        w_c = g.constant(weight.reshape((1, -1) + (1,) * (ndim - 2)), "class_weight")
        w_logp = g.node("Mul", [logp, w_c])
    uniform = g.node("Neg", [reduce_node(g, "ReduceSum", w_logp, (1,), False)])
    per = g.node("Add", [g.node("Mul", [nll, g.value(1.0 - eps, dtype)]),
                         g.node("Mul", [g.node("Mul", [uniform, valid]),
                                        g.value(eps / n_cls, dtype)])])
    if reduction == "mean":                          # divided by the weight of rows that count
        w_t = valid
        if weight is not None:
            safe_t = g.node("Where", [counts, tv, g.value(0)])
            w_t = g.node("Mul", [g.node("Gather", [g.value(weight), safe_t], axis=0), valid])
        axes = tuple(range(ndim - 1))
        out = g.node("Div", [reduce_node(g, "ReduceSum", per, axes, False),
                             reduce_node(g, "ReduceSum", w_t, axes, False)])
    else:
        out = _reduce(g, per, ndim - 1, reduction)
    return _class_output(g, out, unbatched, reduction)


@register_op(CrossEntropyProbs)
def _cross_entropy_probs(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                         result: Any) -> str:
    # x: (N, C, d...) logits or (C,), y: same shape, probabilities -> () or (N, d...)
    x = args[0]
    xv, yv = g.value(x), g.value(args[1])
    eps, weight, reduction = kwargs["smoothing"], kwargs["weight"], kwargs["reduction"]
    dtype, axis = result.array.dtype, 0 if x.ndim == 1 else 1
    wy = yv
    if eps:
        wy = g.node("Add", [g.node("Mul", [yv, g.value(1.0 - eps, dtype)]),
                            g.value(eps / x.shape[axis], dtype)])
    if weight is not None:
        view = (-1,) + (1,) * (x.ndim - 1 - axis)
        wy = g.node("Mul", [wy, g.constant(weight.reshape(view), "class_weight")])
    logp = g.node("LogSoftmax", [xv], axis=axis)
    per = g.node("Neg", [reduce_node(g, "ReduceSum", g.node("Mul", [wy, logp]), (axis,),
                                     False)])
    return _reduce(g, per, x.ndim - 1, reduction)
