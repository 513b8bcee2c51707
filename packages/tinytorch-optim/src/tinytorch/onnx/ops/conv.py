"""ONNX translations of ``tinytorch.arch``'s spatial layers: convolution, pooling, batch norm.

- ``conv2d``: ``Conv`` with zero padding in its ``pads``; the other padding modes (reflect,
  replicate, circular) pad first with a ``Pad`` node, exactly as the layer itself does.
- ``batch_norm`` in eval: ``BatchNormalization`` on the running statistics. With
  ``export(..., fold_batchnorm=True)`` a batch norm right after a ``Conv`` is folded into it:
  ``w' = w·γ/√(var+ε)`` per output channel, ``b' = (b - mean)·γ/√(var+ε) + β``, one node fewer
  and no extra pass over the activations at inference (the unfolded conv is pruned).
- max pooling: ``MaxPool``; the ceil-mode overhang becomes ``ceil_mode=1``. Average pooling is
  written as a zero ``Pad``, an ``AveragePool`` over whole windows and one rescale by
  ``kH·kW / divisor``, so every ``count_include_pad``/``ceil_mode``/``divisor_override``
  combination gives TinyTorch's divisor exactly.
- adaptive pooling: ``Global*Pool`` for a 1x1 output and a plain pool when the input divides
  evenly. Otherwise the windows differ in size, which no ONNX pool takes: the average is
  ``P_H @ x @ P_Wᵀ`` with two averaging matrices (as for ``interpolate``, the spatial size is
  fixed to the traced one), the max a ``Slice`` + ``ReduceMax`` per output row, then per
  output column (``Ho + Wo`` small nodes, exact).
- ``interpolate``/``Upsample``: TinyTorch computes it as ``A_H @ x @ A_Wᵀ`` with two small
  interpolation matrices, and so does the file (two ``MatMul``), which makes every mode and
  ``align_corners`` setting agree by construction; it costs ``O(Ho·H + Wo·W)`` extra weights.
- ``unfold``/``fold`` (im2col and its adjoint) have no ONNX op: they are a grouped ``Conv`` and
  ``ConvTranspose`` whose kernels are one-hot (each output channel copies one kernel offset of
  one input channel), which moves the same values and adds the same overlaps.
- ``embedding``: ``Gather`` on the weight; ``group_norm``/``instance_norm``: composed.

Cost: one node per layer, plus a ``Pad`` or a rescale where PyTorch semantics need them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.arch import _spatial as sp
from tinytorch.arch import (
    adaptive_pooling,
    batchnorm,
    conv,
    conv_transpose,
    dropout2d,
    embedding,
    fold,
    groupnorm,
    pooling,
    upsample,
)
from tinytorch.arch._kernels import batchnorm as bn_kernels
from tinytorch.arch._kernels import conv as conv_kernels
from tinytorch.arch._kernels import pooling as pool_kernels
from tinytorch.onnx.graph import GraphBuilder
from tinytorch.onnx.ops.basic import reduce_node
from tinytorch.onnx.ops.shape import pad
from tinytorch.onnx.registry import UnsupportedOperatorError, register_op


def _batched(g: GraphBuilder, x: Any) -> tuple[str, bool]:
    """``x``'s value with a batch axis: unbatched (C, H, W) inputs get one (then squeezed)."""
    name = g.value(x)
    if x.ndim == 3:
        return g.node("Unsqueeze", [name, g.ints([0], "axes")]), True
    return name, False


def _unbatched(g: GraphBuilder, y: str, squeeze: bool) -> str:
    return g.node("Squeeze", [y, g.ints([0], "axes")]) if squeeze else y


def _onnx_pads(pads: tuple[int, int, int, int]) -> list[int]:
    top, bottom, left, right = pads
    return [top, left, bottom, right]


# ----------------------------------------------------------------------------- conv
@register_op(conv.Conv2dReference, conv_kernels.Conv2dKernel)
def _conv2d(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # x: (N, C, H, W) or (C, H, W); w: (O, C/G, kH, kW); b: (O,) -> (N, O, Ho, Wo)
    x, w, b = args
    xv, squeeze = _batched(g, x)
    pads = kwargs["pads"]
    if kwargs["padding_mode"] != "zeros" and any(pads):
        top, bottom, left, right = pads
        xv = pad(g, xv, [(0, 0), (0, 0), (top, bottom), (left, right)], kwargs["padding_mode"],
                 0, x.array.dtype)
        pads = (0, 0, 0, 0)
    inputs = [xv, g.value(w)] + ([g.value(b)] if b is not None else [])
    y = g.node("Conv", inputs, kernel_shape=list(w.shape[2:]), strides=list(kwargs["stride"]),
               dilations=list(kwargs["dilation"]), group=kwargs["groups"],
               pads=_onnx_pads(pads))
    return _unbatched(g, y, squeeze)


@register_op(conv_transpose.ConvTranspose2dFunction)
def _conv_transpose2d(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                      result: Any) -> str:
    # x: (N, C_in, H, W); w: (C_in, C_out/G, kH, kW) -> (N, C_out, Ho, Wo)
    x, w, b = args
    kernel, stride, padding, dil = w.shape[2:], kwargs["stride"], kwargs["padding"], \
        kwargs["dilation"]
    natural = [(x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dil[i] * (kernel[i] - 1) + 1
               for i in range(2)]
    extra = [kwargs["out_hw"][i] - natural[i] for i in range(2)]
    inputs = [g.value(x), g.value(w)] + ([g.value(b)] if b is not None else [])
    return g.node("ConvTranspose", inputs, kernel_shape=list(kernel), strides=list(stride),
                  dilations=list(dil), group=kwargs["groups"],
                  pads=[padding[0], padding[1], padding[0], padding[1]],
                  output_padding=extra if any(extra) else None)


# ----------------------------------------------------------------------- batch norm
def _producer(g: GraphBuilder, name: str) -> Any:
    for node in reversed(g.nodes):
        if name in node.output:
            return node
    return None


def _initializer(g: GraphBuilder, name: str) -> np.ndarray | None:
    from onnx import numpy_helper
    for t in g.initializers:
        if t.name == name:
            return numpy_helper.to_array(t)
    return None


def _fold_into_conv(g: GraphBuilder, x: str, scale: np.ndarray, shift: np.ndarray) -> str | None:
    """A new ``Conv`` computing ``conv(x)·scale + shift`` per channel, if ``x`` is a Conv's."""
    from onnx import helper
    node = _producer(g, x)
    if node is None or node.op_type != "Conv":
        return None
    w = _initializer(g, node.input[1])
    b = _initializer(g, node.input[2]) if len(node.input) > 2 else np.zeros(len(scale), w.dtype)
    if w is None or b is None:
        return None
    folded_w = (w * scale.reshape(-1, 1, 1, 1)).astype(w.dtype)
    folded_b = (b * scale + shift).astype(w.dtype)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    inputs = [node.input[0], g.constant(folded_w, f"{node.input[1]}_folded"),
              g.constant(folded_b, f"{node.input[1][:-len('weight')] or 'conv.'}bias_folded")]
    return g.node("Conv", inputs, hint="conv_bn", **attrs)


@register_op(batchnorm.BatchNormReference, bn_kernels.BatchNormKernel)
def _batch_norm(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                result: Any) -> str:
    # x: (N, C, *); weight, bias, running statistics: (C,)
    x, w, b = args
    if kwargs["training"]:
        raise UnsupportedOperatorError(
            f"ONNX export: batch_norm with batch statistics (track_running_stats=False) in "
            f"module '{g.module_path or '<root>'}'; export needs running statistics")
    c, dtype = x.shape[1], result.array.dtype
    mean, var, eps = kwargs["running_mean"], kwargs["running_var"], kwargs["eps"]
    gamma = w.array if w is not None else np.ones(c, dtype)
    beta = b.array if b is not None else np.zeros(c, dtype)
    if g.options.get("fold_batchnorm"):
        scale = gamma / np.sqrt(var + eps)
        folded = _fold_into_conv(g, g.value(x), scale, beta - mean * scale)
        if folded is not None:
            return folded
    scale_v = g.value(w) if w is not None else g.constant(gamma, "bn_scale")
    bias_v = g.value(b) if b is not None else g.constant(beta, "bn_bias")
    return g.node("BatchNormalization", [g.value(x), scale_v, bias_v, g.value(mean),
                                         g.value(var)], epsilon=eps)


@register_op(groupnorm.GroupNormFunction)
def _group_norm(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                result: Any) -> str:
    # x: (N, C, *) seen as (N, G, C/G·*) normalized over the last axis; then w, b per channel
    x, w, b = args
    dtype, groups = result.array.dtype, kwargs["groups"]
    xv = g.value(x)
    grouped = g.node("Reshape", [xv, g.ints([0, groups, -1], "shape")])
    centred = g.node("Sub", [grouped, reduce_node(g, "ReduceMean", grouped, (2,), True)])
    var = reduce_node(g, "ReduceMean", g.node("Mul", [centred, centred]), (2,), True)
    std = g.node("Sqrt", [g.node("Add", [var, g.value(kwargs["eps"], dtype)])])
    y = g.node("Reshape", [g.node("Div", [centred, std]), g.shape_of(xv)])
    spatial = g.ints(range(1, x.ndim - 1), "axes")
    if w is not None:
        y = g.node("Mul", [y, g.node("Unsqueeze", [g.value(w), spatial]) if x.ndim > 2
                           else g.value(w)])
    if b is not None:
        y = g.node("Add", [y, g.node("Unsqueeze", [g.value(b), spatial]) if x.ndim > 2
                           else g.value(b)])
    return y


@register_op(dropout2d.Dropout2dFunction)
def _dropout2d(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
               result: Any) -> str:
    return g.node("Identity", [g.value(args[0])])


# --------------------------------------------------------------------------- pooling
@register_op(pooling.MaxPool2dReference, pool_kernels.MaxPool2dKernel)
def _max_pool2d(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                result: Any) -> str:
    # x: (N, C, H, W) or (C, H, W) -> (N, C, Ho, Wo); pads padded with -inf
    kernel, stride, dil, pads, _ = kwargs["geom"]
    xv, squeeze = _batched(g, args[0])
    top, bottom, left, right = pads
    ceil = bottom != top or right != left                 # the ceil-mode overhang
    y = g.node("MaxPool", [xv], kernel_shape=list(kernel), strides=list(stride),
               dilations=list(dil), pads=[top, left, top, left], ceil_mode=int(ceil))
    return _unbatched(g, y, squeeze)


@register_op(pooling.AvgPool2dReference, pool_kernels.AvgPool2dKernel)
def _avg_pool2d(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                result: Any) -> str:
    # x: (N, C, H, W) -> window sums / divisor: zero Pad, AveragePool, rescale
    kernel, stride, _, pads, _ = kwargs["geom"]
    divisor = np.asarray(kwargs["divisor"])
    dtype = result.array.dtype
    xv, squeeze = _batched(g, args[0])
    top, bottom, left, right = pads
    xv = pad(g, xv, [(0, 0), (0, 0), (top, bottom), (left, right)], "constant", 0, dtype)
    y = g.node("AveragePool", [xv], kernel_shape=list(kernel), strides=list(stride))
    area = kernel[0] * kernel[1]
    if not (divisor.ndim == 0 and float(divisor) == area):
        y = g.node("Mul", [y, g.constant((area / divisor).astype(dtype), "pool_rescale")])
    return _unbatched(g, y, squeeze)


def _adaptive(g: GraphBuilder, x: Any, out_hw: tuple[int, int], kind: str) -> str:
    xv, squeeze = _batched(g, x)
    h, w = x.shape[-2:]
    if tuple(out_hw) == (1, 1):
        y = g.node(f"Global{kind}Pool", [xv])
    elif h % out_hw[0] == 0 and w % out_hw[1] == 0:
        k = [h // out_hw[0], w // out_hw[1]]
        y = g.node(f"{kind}Pool", [xv], kernel_shape=k, strides=k)
    elif kind == "Average":
        # (Ho, H) @ x: (N, C, H, W) -> (N, C, Ho, W); then @ (W, Wo) -> (N, C, Ho, Wo)
        rows = g.node("MatMul", [g.constant(_mean_matrix(h, out_hw[0], x.array.dtype),
                                            "adaptive_rows"), xv])
        y = g.node("MatMul", [rows, g.constant(_mean_matrix(w, out_hw[1], x.array.dtype).T,
                                               "adaptive_cols")])
    else:
        # a window's max is the max over its columns of the max over its rows
        y = _window_max(g, _window_max(g, xv, 2, h, out_hw[0]), 3, w, out_hw[1])
    return _unbatched(g, y, squeeze)


def _mean_matrix(size: int, out: int, dtype: np.dtype) -> np.ndarray:
    """(out, size): row i averages PyTorch's adaptive window i of an axis of ``size``."""
    start, end = sp.adaptive_ranges(size, out)
    cols = np.arange(size)
    inside = (cols >= start[:, None]) & (cols < end[:, None])
    return np.ascontiguousarray(inside / (end - start)[:, None], dtype=dtype)


def _window_max(g: GraphBuilder, x: str, axis: int, size: int, out: int) -> str:
    """Max of value ``x`` over each adaptive window of ``axis``: a Slice + ReduceMax per cell."""
    start, end = sp.adaptive_ranges(size, out)
    cells = [reduce_node(g, "ReduceMax", g.node("Slice", [x, g.ints([s]), g.ints([e]),
                                                          g.ints([axis], "axes")]),
                         (axis,), True) for s, e in zip(start, end)]
    return g.node("Concat", cells, axis=axis)


@register_op(pooling.AdaptiveAvgPool2dReference, pool_kernels.AdaptiveAvgPool2dKernel)
def _adaptive_avg_pool2d(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                         result: Any) -> str:
    return _adaptive(g, args[0], kwargs["out_hw"], "Average")


@register_op(adaptive_pooling.AdaptiveMaxPool2dFunction)
def _adaptive_max_pool2d(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                         result: Any) -> str:
    return _adaptive(g, args[0], tuple(result.shape[-2:]), "Max")


# ------------------------------------------------------------------ resize, embedding
@register_op(upsample.SeparableResize)
def _resize(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # (Ho, H) @ x: (N, C, H, W) -> (N, C, Ho, W); then @ A_Wᵀ: (W, Wo) -> (N, C, Ho, Wo)
    rows = g.node("MatMul", [g.constant(kwargs["a_h"], "resize_rows"), g.value(args[0])])
    return g.node("MatMul", [rows, g.constant(np.ascontiguousarray(kwargs["a_w"].T),
                                              "resize_cols")])


@register_op(embedding.EmbeddingFunction)
def _embedding(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
               result: Any) -> str:
    # weight: (V, D), indices: (*) -> (*, D)
    weight, indices = args
    return g.node("Gather", [g.value(weight), g.value(indices)], axis=0)


# ------------------------------------------------------------------------ unfold, fold
def _one_hot_kernels(channels: int, kernel: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """(C·kH·kW, 1, kH, kW): channel ``c·kH·kW + i·kW + j`` picks offset (i, j) of channel c."""
    kh, kw = kernel
    eye = np.eye(kh * kw, dtype=dtype).reshape(kh * kw, 1, kh, kw)
    return np.tile(eye, (channels, 1, 1, 1))


@register_op(fold.UnfoldFunction)
def _unfold(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # x: (N, C, H, W) -> grouped one-hot Conv (N, C·kH·kW, Ho, Wo) -> (N, C·kH·kW, L)
    x = args[0]
    c, kernel, dtype = x.shape[1], kwargs["kernel"], result.array.dtype
    weight = g.constant(_one_hot_kernels(c, kernel, dtype), "unfold_kernels")
    blocks = g.node("Conv", [g.value(x), weight], kernel_shape=list(kernel),
                    strides=list(kwargs["stride"]), dilations=list(kwargs["dilation"]),
                    pads=_onnx_pads(kwargs["pads"]), group=c)
    return g.node("Reshape", [blocks, g.ints([0, 0, -1], "shape")])


@register_op(fold.FoldFunction)
def _fold(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # cols: (N, C·kH·kW, L) -> (N, C·kH·kW, Ho, Wo) -> one-hot ConvTranspose -> (N, C, H, W)
    cols = args[0]
    kernel, stride, dil, pads = kwargs["kernel"], kwargs["stride"], kwargs["dilation"], \
        kwargs["pads"]
    out_hw, size, dtype = kwargs["out_hw"], kwargs["size"], result.array.dtype
    c = cols.shape[1] // (kernel[0] * kernel[1])
    grid = g.node("Reshape", [g.value(cols), g.ints([0, 0, *out_hw], "shape")])
    weight = g.constant(_one_hot_kernels(c, kernel, dtype), "fold_kernels")
    # the rows/columns past the last block get nothing: output_padding (< stride) adds them
    natural = [(out_hw[i] - 1) * stride[i] - pads[2 * i] - pads[2 * i + 1]
               + dil[i] * (kernel[i] - 1) + 1 for i in range(2)]
    extra = [size[i] - natural[i] for i in range(2)]
    return g.node("ConvTranspose", [grid, weight], kernel_shape=list(kernel),
                  strides=list(stride), dilations=list(dil), pads=_onnx_pads(pads), group=c,
                  output_padding=extra if any(extra) else None)
