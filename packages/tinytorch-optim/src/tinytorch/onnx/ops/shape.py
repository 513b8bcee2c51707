"""ONNX translations of the shape ops: reshape/view, permute, expand, cat/stack, indexing, pad.

Shapes are the one place where a traced graph can freeze more than it should: a ``view(B, T,
C)`` traced at batch 2 says ``2``. When the export has dynamic axes, ``reshape`` therefore
rebuilds its target from the input's runtime ``Shape``: it lines the input's dims up with the
output's (groups whose sizes multiply to the same number), copies dims that pass through,
multiplies dims that merge, and keeps constants only for dims that split (one of them as -1).
Without dynamic axes every target is a constant, the simplest graph. ``expand`` writes 1 for
the dims it keeps, which ONNX's two-way broadcasting reads as "keep the input's size"; slices
keep ``None`` bounds open (``INT64_MAX``), never the traced size.

Basic indexing becomes ``Slice`` + ``Squeeze`` + ``Unsqueeze``; one integer-array index becomes
``Gather`` on its axis. Boolean masks (data-dependent shapes) are refused.

Cost: each op is one node; a dynamic reshape adds a ``Shape`` and a few tiny int64 nodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.core.ops import elementwise, indexing, reorder, select
from tinytorch.core.ops import shape as sh
from tinytorch.onnx.graph import GraphBuilder
from tinytorch.onnx.ops.basic import operand, reduce_node
from tinytorch.onnx.registry import UnsupportedOperatorError, register_op

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def _refuse(g: GraphBuilder, what: str) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(f"ONNX export: {what}, in module "
                                    f"'{g.module_path or '<root>'}'")


# ------------------------------------------------------------------------------- reshape
def _groups(src: tuple[int, ...], dst: tuple[int, ...]) -> list[tuple[list[int], list[int]]]:
    """Line ``src`` dims up with ``dst`` dims: ``(src axes, dst axes)`` of equal products.

    A size-1 dim on either side forms a group of its own with nothing on the other side.
    """
    groups: list[tuple[list[int], list[int]]] = []
    i = j = 0
    while i < len(src) or j < len(dst):
        if j < len(dst) and dst[j] == 1 and (i == len(src) or src[i] != 1):
            groups.append(([], [j]))
            j += 1
        elif i < len(src) and src[i] == 1 and (j == len(dst) or dst[j] != 1):
            groups.append(([i], []))
            i += 1
        else:
            si, dj = [i], [j]
            ps, pd = src[i], dst[j]
            i, j = i + 1, j + 1
            while ps != pd:
                if ps < pd:
                    ps *= src[i]
                    si.append(i)
                    i += 1
                else:
                    pd *= dst[j]
                    dj.append(j)
                    j += 1
            groups.append((si, dj))
    return groups


def reshape(g: GraphBuilder, x: str, src: tuple[int, ...], dst: tuple[int, ...]) -> str:
    """``Reshape`` of value ``x`` (traced shape ``src``) to ``dst``, dynamic-axis aware."""
    if not g.dynamic or 0 in src or not src:
        return g.node("Reshape", [x, g.ints(dst, "shape")])
    shape = g.shape_of(x)
    parts: list[str] = []
    inferred = False
    for s_axes, d_axes in _groups(src, dst):
        if not d_axes:
            continue
        if len(d_axes) == 1 and s_axes:
            dims = g.node("Gather", [shape, g.ints(s_axes, "axes")], axis=0)
            if len(s_axes) > 1:
                dims = reduce_node(g, "ReduceProd", dims, (0,), True)
            parts.append(dims)
            continue
        sizes = [dst[d] for d in d_axes]
        if s_axes and not inferred:            # a split dim: let Reshape infer one part
            sizes[0], inferred = -1, True
        parts.append(g.ints(sizes, "dims"))
    target = g.node("Concat", parts, axis=0, hint="shape") if len(parts) > 1 else parts[0]
    return g.node("Reshape", [x, target])


@register_op(sh.View)
def _view(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    return reshape(g, g.value(args[0]), tuple(args[0].shape), tuple(result.shape))


@register_op(sh.Permute)
def _permute(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    return g.node("Transpose", [g.value(args[0])], perm=list(kwargs["dims"]))


@register_op(sh.Expand)
def _expand(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    src, dst = tuple(args[0].shape), kwargs["shape"]
    aligned = (1,) * (len(dst) - len(src)) + src
    target = [1 if a == d else d for a, d in zip(aligned, dst)]   # 1: keep the input's size
    return g.node("Expand", [g.value(args[0]), g.ints(target, "shape")])


@register_op(sh.Repeat)
def _repeat(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    x, reps = g.value(args[0]), kwargs["reps"]
    extra = len(reps) - args[0].ndim
    if extra > 0:
        x = g.node("Unsqueeze", [x, g.ints(range(extra), "axes")])
    return g.node("Tile", [x, g.ints(reps, "repeats")])


@register_op(sh.Cat)
def _cat(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    dtype = result.array.dtype
    return g.node("Concat", [operand(g, a, dtype) for a in args], axis=kwargs["axis"])


@register_op(sh.Stack)
def _stack(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    dtype, axis = result.array.dtype, kwargs["axis"]
    axes = g.ints([axis], "axes")
    parts = [g.node("Unsqueeze", [operand(g, a, dtype), axes]) for a in args]
    return g.node("Concat", parts, axis=axis)


@register_op(sh.Tri)
def _tri(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    k = g.value(np.int64(kwargs["k"]))
    return g.node("Trilu", [g.value(args[0]), k], upper=int(not kwargs["lower"]))


@register_op(reorder.Flip)
def _flip(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    axes = kwargs["axes"]
    if not axes:
        return g.node("Identity", [g.value(args[0])])
    n = len(axes)
    return g.node("Slice", [g.value(args[0]), g.ints([-1] * n, "starts"),
                            g.ints([INT64_MIN] * n, "ends"), g.ints(axes, "axes"),
                            g.ints([-1] * n, "steps")])


# ------------------------------------------------------------------------------ padding
def _slice(g: GraphBuilder, x: str, starts: list[int], ends: list[int], axes: list[int],
           steps: list[int] | None = None) -> str:
    inputs = [x, g.ints(starts, "starts"), g.ints(ends, "ends"), g.ints(axes, "axes")]
    if steps is not None:
        inputs.append(g.ints(steps, "steps"))
    return g.node("Slice", inputs)


def pad(g: GraphBuilder, x: str, widths: list[tuple[int, int]], mode: str, value: Any,
        dtype: np.dtype) -> str:
    """Pad value ``x`` by ``widths`` (one ``(before, after)`` per axis; negative crops)."""
    crops = [(a, max(-b, 0), max(-e, 0)) for a, (b, e) in enumerate(widths) if b < 0 or e < 0]
    if crops:
        x = _slice(g, x, [c[1] for c in crops], [-c[2] if c[2] else INT64_MAX for c in crops],
                   [c[0] for c in crops])
    grow = [(max(b, 0), max(e, 0)) for b, e in widths]
    if not any(b or e for b, e in grow):
        return x
    if mode == "circular" and g.opset < 19:          # 'wrap' is opset 19: tail, x, head
        for axis, (b, e) in enumerate(grow):
            parts = []
            if b:
                parts.append(_slice(g, x, [-b], [INT64_MAX], [axis]))
            parts.append(x)
            if e:
                parts.append(_slice(g, x, [0], [e], [axis]))
            if len(parts) > 1:
                x = g.node("Concat", parts, axis=axis)
        return x
    pads = g.ints([b for b, _ in grow] + [e for _, e in grow], "pads")
    onnx_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
                 "circular": "wrap"}[mode]
    inputs = [x, pads]
    if mode == "constant":
        inputs.append(g.value(value, dtype))
    return g.node("Pad", inputs, mode=onnx_mode)


@register_op(sh.Pad)
def _pad(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    return pad(g, g.value(args[0]), list(kwargs["widths"]), kwargs["mode"], kwargs["value"],
               result.array.dtype)


# ----------------------------------------------------------------------------- indexing
@register_op(indexing.Index)
def _index(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # x[index]: slices first (rank kept), then a Gather for an integer array, then ints
    # squeezed away and Nones inserted where they stand in the output
    ndim = args[0].ndim
    items = list(kwargs["index"])
    used = sum(1 for i in items if i is not None and i is not Ellipsis)
    at = next((k for k, i in enumerate(items) if i is Ellipsis), None)
    if at is not None:
        items[at:at + 1] = [slice(None)] * (ndim - used)
    items += [slice(None)] * (ndim - sum(1 for i in items if i is not None))
    arrays = [i for i in items if isinstance(i, np.ndarray)]
    if any(a.dtype == bool for a in arrays):
        raise _refuse(g, "boolean-mask indexing gives a data-dependent shape and cannot export")
    if len(arrays) > 1 or (arrays and any(isinstance(i, (int, np.integer)) for i in items)):
        raise _refuse(g, "indexing with several integer arrays (or arrays mixed with ints) "
                         "is not supported; index one axis at a time")
    starts, ends, axes, steps, squeeze = [], [], [], [], []
    out_axes: list[int] = []           # where each None lands in the output
    axis = out = 0
    gather: tuple[int, np.ndarray] | None = None
    for item in items:
        if item is None:
            out_axes.append(out)
            out += 1
            continue
        if isinstance(item, slice):
            if item != slice(None):
                step = 1 if item.step is None else int(item.step)
                lo = item.start if item.start is not None else (0 if step > 0 else -1)
                hi = item.stop if item.stop is not None else (INT64_MAX if step > 0
                                                              else INT64_MIN)
                starts.append(int(lo))
                ends.append(int(hi))
                axes.append(axis)
                steps.append(step)
            out += 1
        elif isinstance(item, np.ndarray):
            gather = (axis, item)
            out += item.ndim
        else:                                       # an int: keep the axis until the squeeze
            i = int(item)
            starts.append(i)
            ends.append(i + 1 if i != -1 else INT64_MAX)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        axis += 1
    x = g.value(args[0])
    if axes:
        x = _slice(g, x, starts, ends, axes, steps)
    if gather is not None:
        x = g.node("Gather", [x, g.value(gather[1].astype(np.int64))], axis=gather[0])
        shift = gather[1].ndim - 1
        squeeze = [a + shift if a > gather[0] else a for a in squeeze]
    if squeeze:
        x = g.node("Squeeze", [x, g.ints(squeeze, "axes")])
    if out_axes:
        x = g.node("Unsqueeze", [x, g.ints(out_axes, "axes")])
    if x == g.value(args[0]):
        x = g.node("Identity", [x])
    return x


@register_op(select.IndexSelect)
def _index_select(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                  result: Any) -> str:
    index = g.value(np.asarray(kwargs["index"], dtype=np.int64))
    return g.node("Gather", [g.value(args[0]), index], axis=kwargs["axis"])


@register_op(select.TakeAlongDim)
def _take_along_dim(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
                    result: Any) -> str:
    index = np.asarray(kwargs["index"], dtype=np.int64)
    if index.ndim != args[0].ndim:
        raise _refuse(g, f"take_along_dim with an index of rank {index.ndim} on an input of "
                         f"rank {args[0].ndim}")
    return g.node("GatherElements", [g.value(args[0]), g.value(index)], axis=kwargs["axis"])


@register_op(sh.Gather)
def _gather(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # torch.gather: one index array per dim, open grids (aranges) on every dim but ``dim``;
    # the dim whose component is not its own arange is the one gathered along
    shape = result.shape
    grids = [np.broadcast_to(c, shape) for c in kwargs["index"]]
    axis = 0
    for d, comp in enumerate(grids):
        arange = np.arange(shape[d]).reshape([-1 if i == d else 1 for i in range(len(shape))])
        if not np.array_equal(comp, np.broadcast_to(arange, shape)):
            axis = d
            break
    index = g.value(np.ascontiguousarray(grids[axis], dtype=np.int64))
    return g.node("GatherElements", [g.value(args[0]), index], axis=axis)


@register_op(reorder.Roll)
def _roll(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # each axis: the last ``shift`` elements move to the front (Slice + Concat)
    x, shape = g.value(args[0]), tuple(args[0].shape)
    axes, shifts = kwargs["axes"], kwargs["shifts"]
    if axes is None:
        x = g.node("Reshape", [x, g.ints([-1], "shape")])
        axes, dims = (0,), (int(np.prod(shape)),)
    else:
        dims = tuple(shape[a] for a in axes)
    for shift, axis, n in zip(shifts, axes, dims):
        k = shift % n if n else 0
        if k:
            x = g.node("Concat", [_slice(g, x, [-k], [INT64_MAX], [axis]),
                                  _slice(g, x, [0], [-k], [axis])], axis=axis)
    if kwargs["axes"] is None:
        x = g.node("Reshape", [x, g.ints(shape, "shape")])
    return x if x != g.value(args[0]) else g.node("Identity", [x])


@register_op(elementwise.Copy)
def _copy(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    # dst.copy_(src): src cast to dst's dtype and broadcast to its shape
    src = operand(g, args[1], np.dtype(kwargs["dtype"]))
    return g.node("Expand", [src, g.ints(kwargs["shape"], "shape")])


@register_op(indexing.IndexPut)
def _index_put(g: GraphBuilder, args: tuple[Any, ...], kwargs: dict[str, Any],
               result: Any) -> str:
    # out = a with a[index] = value: Where(mask, value placed on a's grid, a); the mask is a
    # constant of a's traced shape. A tensor value is placed by padding (basic boxes only)
    a, value = args
    dtype, shape = result.array.dtype, tuple(a.shape)
    index = kwargs["index"]
    mask = np.zeros(shape, bool)
    mask[index] = True
    region = np.zeros(shape, bool)[index].shape
    v = operand(g, value, dtype)
    if getattr(value, "ndim", 0) and tuple(value.shape) != ():
        box = _box(index, shape)
        if box is None:
            raise _refuse(g, "writing a tensor into an advanced index (a[idx] = t)")
        v = g.node("Expand", [v, g.ints(region, "shape")])
        v = pad(g, v, box, "constant", 0, dtype)
    return g.node("Where", [g.constant(mask, "index_mask"), v, g.value(a)])


def _box(index: Any, shape: tuple[int, ...]) -> list[tuple[int, int]] | None:
    """``(before, after)`` per axis of a basic index that selects a box, else ``None``.

    Integer entries keep their axis as size 1, which ``IndexPut``'s value never has; so only
    slices (step 1) and a trailing ``...`` count as boxes.
    """
    items = [i for i in index if i is not Ellipsis]
    if any(not isinstance(i, slice) or i.step not in (None, 1) for i in items):
        return None
    out = []
    for axis, n in enumerate(shape):
        lo, hi, _ = (items[axis] if axis < len(items) else slice(None)).indices(n)
        out.append((lo, n - max(hi, lo)))
    return out
