"""Static checks on an untrusted ONNX model: parse, refuse what we will not run, read its layers.

The verifier runs entrants' models, so everything here treats ``model.onnx`` as hostile bytes:

- **Parsing** goes from bytes to a ``ModelProto`` and never through a file path, so nothing in
  the model can make ONNX open another file.
- **External data is refused** everywhere a tensor can live (initializers, sparse
  initializers, Constant and other node attributes, If/Loop/Scan bodies, functions, training
  graphs). ONNX's external-data loader has had path-traversal vulnerabilities (a tensor whose
  ``location`` is ``../../etc/passwd`` or an absolute path made the loader read files outside
  the model's folder). We never resolve those paths: a bundle is one self-contained file, so a
  tensor pointing outside it is rejected by name, with the location it points to.
- **Only the standard operator set** (domain ``""`` / ``"ai.onnx"``) is accepted: any other
  domain (``com.microsoft``, a custom op library) needs code from outside the bundle.
- ``onnx.checker.check_model(full_check=True)`` validates the graph and runs strict shape
  inference on the proto; the node count, subgraphs included, is capped.

``architecture`` reads the weight layers (Gemm/MatMul/Conv and their integer and QLinear forms)
in graph order, tracing each weight back through DequantizeLinear / Transpose / Cast / Identity
to its stored tensor, so a float model and its int8 or pruned export give the same list.
``closed_division_problems`` compares two such lists. Cost: one pass over the nodes, O(nodes);
the checker's full pass dominates (tens of milliseconds for the baselines).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx
from google.protobuf.message import DecodeError
from onnx import AttributeProto, GraphProto, NodeProto, TensorProto

STANDARD_DOMAINS = ("", "ai.onnx")

# op type -> (layer kind, index of the weight input, index of the other operand or -1)
_WEIGHT_OPS: dict[str, tuple[str, int, int]] = {
    "Gemm": ("linear", 1, 0),
    "MatMul": ("linear", 1, 0),
    "MatMulInteger": ("linear", 1, 0),
    "QLinearMatMul": ("linear", 3, 0),
    "Conv": ("conv", 1, -1),
    "ConvInteger": ("conv", 1, -1),
    "QLinearConv": ("conv", 3, -1),
    "ConvTranspose": ("conv_transpose", 1, -1),
    "Einsum": ("einsum", -1, -1),
    "RNN": ("recurrent", 1, -1),
    "GRU": ("recurrent", 1, -1),
    "LSTM": ("recurrent", 1, -1),
}
# ops a weight may pass through between its stored tensor and the layer (input index followed)
_WEIGHT_PATH_OPS = {"DequantizeLinear": 0, "Transpose": 0, "Cast": 0, "Identity": 0}


class ModelRejected(Exception):
    """The model cannot be verified; ``str(e)`` is the reason shown to the entrant."""


@dataclass(frozen=True)
class Layer:
    """One weight layer: ``kind`` ("linear", "conv", ...) and its weight shape as
    ``(out, in)`` or ``(out, in, kh, kw)``; ``()`` when the weight is computed in the graph.
    ``name`` (the stored weight's name) is for messages and does not take part in equality.
    """

    kind: str
    shape: tuple[int, ...]
    name: str = field(default="", compare=False)

    def describe(self) -> str:
        dims = "x".join(str(d) for d in self.shape) if self.shape else "computed weight"
        return f"{self.kind} ({dims})" + (f" '{self.name}'" if self.name else "")


def load_model(model_bytes: bytes, *, max_nodes: int = 10_000) -> onnx.ModelProto:
    """Parse ``model_bytes`` and run every static check; raises ``ModelRejected`` naming the
    problem (external data, a non-standard domain, functions, too many nodes, checker errors).
    """
    model = onnx.ModelProto()
    try:
        model.ParseFromString(model_bytes)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ModelRejected(f"model.onnx is not a valid ONNX protobuf ({type(e).__name__}: "
                            f"{e})") from e
    for where, tensor in _tensors(model):
        _refuse_external(where, tensor)
    for opset in model.opset_import:
        if opset.domain not in STANDARD_DOMAINS:
            raise ModelRejected(f"model imports operator domain '{opset.domain}' (version "
                                f"{opset.version}); only the standard domain \"\" / "
                                "\"ai.onnx\" is accepted")
    if model.functions:
        names = ", ".join(f"'{f.domain}.{f.name}'" for f in model.functions)
        raise ModelRejected(f"model defines local functions ({names}); only standard "
                            "operators are accepted")
    count = 0
    for node in iter_nodes(model.graph):
        count += 1
        if node.domain not in STANDARD_DOMAINS:
            raise ModelRejected(f"node '{node.name or node.output[0]}' ({node.op_type}) uses "
                                f"operator domain '{node.domain}'; only the standard domain "
                                "is accepted")
    if count > max_nodes:
        raise ModelRejected(f"model has {count} nodes (subgraphs included); the limit is "
                            f"{max_nodes}")
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # the checker raises ValidationError, InferenceError and others
        raise ModelRejected(f"onnx.checker rejected the model ({type(e).__name__}: "
                            f"{_brief(e)})") from e
    return model


def check_io(model: onnx.ModelProto, input_shape: Sequence[int], num_classes: int) -> None:
    """Require one float32 input ``(batch, *input_shape)`` (batch 1 or symbolic) and one float
    output ``(batch, num_classes)``; raises ``ModelRejected`` naming the tensor and shapes."""
    stored = {t.name for t in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in stored]
    expected = "(batch, " + ", ".join(str(d) for d in input_shape) + ")"
    if len(inputs) != 1:
        names = ", ".join(f"'{v.name}'" for v in inputs)
        raise ModelRejected(f"model has {len(inputs)} graph inputs ({names}); expected exactly "
                            f"one float32 input {expected}")
    x = inputs[0]
    if x.type.tensor_type.elem_type != TensorProto.FLOAT:
        raise ModelRejected(f"input '{x.name}' has element type "
                            f"{_dtype_name(x.type.tensor_type.elem_type)}; expected float32")
    dims = _dims(x)
    if dims is None or len(dims) != 1 + len(input_shape):
        raise ModelRejected(f"input '{x.name}' has shape {_shape_text(dims)}; expected "
                            f"{expected}")
    if dims[0] not in (1, None) or list(dims[1:]) != list(input_shape):
        raise ModelRejected(f"input '{x.name}' has shape {_shape_text(dims)}; expected "
                            f"{expected} with batch 1 or symbolic")
    outputs = list(model.graph.output)
    if len(outputs) != 1:
        names = ", ".join(f"'{v.name}'" for v in outputs)
        raise ModelRejected(f"model has {len(outputs)} graph outputs ({names}); expected "
                            f"exactly one (batch, {num_classes})")
    y = outputs[0]
    floats = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE)
    if y.type.tensor_type.elem_type not in floats:
        raise ModelRejected(f"output '{y.name}' has element type "
                            f"{_dtype_name(y.type.tensor_type.elem_type)}; expected a float "
                            "type")
    out_dims = _dims(y)
    if out_dims is not None and (len(out_dims) != 2 or out_dims[0] not in (1, None)
                                 or out_dims[1] not in (num_classes, None)):
        raise ModelRejected(f"output '{y.name}' has shape {_shape_text(out_dims)}; expected "
                            f"(batch, {num_classes})")


def architecture(model: onnx.ModelProto) -> list[Layer]:
    """The weight layers in graph order (subgraph bodies at their parent's position), each
    weight shape normalised to ``(out, in[, kh, kw])``."""
    return _layers(model.graph, {}, {})


def closed_division_problems(entry: list[Layer], baseline: list[Layer]) -> list[str]:
    """Why ``entry`` is not the baseline's architecture with post-training changes only:
    same number, kinds and kernel sizes of weight layers, out/in sizes equal or smaller."""
    if len(entry) != len(baseline):
        return [f"the entry has {len(entry)} weight layers "
                f"[{', '.join(l.describe() for l in entry)}], the baseline has "
                f"{len(baseline)} [{', '.join(l.describe() for l in baseline)}]; the closed "
                "division keeps the baseline's layers"]
    problems = []
    for i, (e, b) in enumerate(zip(entry, baseline), start=1):
        where = f"layer {i} of {len(entry)} ({e.describe()})"
        if e.kind != b.kind:
            problems.append(f"{where} is a {e.kind} layer where the baseline has "
                            f"{b.describe()}")
        elif not e.shape:
            problems.append(f"{where}: its weight is computed in the graph, not stored; the "
                            f"baseline's is {b.describe()}")
        elif len(e.shape) != len(b.shape):
            problems.append(f"{where}: weight rank {len(e.shape)}, the baseline's "
                            f"{b.describe()} has rank {len(b.shape)}")
        elif e.shape[2:] != b.shape[2:]:
            problems.append(f"{where}: kernel {'x'.join(map(str, e.shape[2:]))}, the "
                            f"baseline's is {'x'.join(map(str, b.shape[2:]))}")
        else:
            for axis, label in ((0, "out"), (1, "in")):
                if len(e.shape) > axis and e.shape[axis] > b.shape[axis]:
                    problems.append(f"{where}: {label} size {e.shape[axis]} is larger than "
                                    f"the baseline's {b.shape[axis]} (layers may shrink, "
                                    "never grow)")
    return problems


def describe(model: onnx.ModelProto) -> dict[str, Any]:
    """JSON-ready summary: opsets, op counts and node count (subgraphs included), layers."""
    ops = Counter(node.op_type for node in iter_nodes(model.graph))
    return {"opsets": {o.domain or "ai.onnx": int(o.version) for o in model.opset_import},
            "ops": dict(sorted(ops.items())),
            "nodes": sum(ops.values()),
            "layers": [[layer.kind, list(layer.shape)] for layer in architecture(model)]}


def iter_nodes(graph: GraphProto) -> Iterator[NodeProto]:
    """Every node of ``graph``, each followed by the nodes of its subgraphs (If/Loop/Scan)."""
    for node in graph.node:
        yield node
        for sub in _subgraphs(node):
            yield from iter_nodes(sub)


def _subgraphs(node: NodeProto) -> Iterator[GraphProto]:
    for attr in node.attribute:
        if attr.type == AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == AttributeProto.GRAPHS:
            yield from attr.graphs


def _tensors(model: onnx.ModelProto) -> Iterator[tuple[str, TensorProto]]:
    """Every stored tensor of the model with a description of where it sits."""
    yield from _graph_tensors(model.graph, "graph")
    for function in model.functions:
        for node in function.node:
            yield from _node_tensors(node, f"function '{function.name}'")
    for i, info in enumerate(model.training_info):
        yield from _graph_tensors(info.initialization, f"training_info[{i}].initialization")
        yield from _graph_tensors(info.algorithm, f"training_info[{i}].algorithm")


def _graph_tensors(graph: GraphProto, where: str) -> Iterator[tuple[str, TensorProto]]:
    for tensor in graph.initializer:
        yield f"{where} initializer", tensor
    for sparse in graph.sparse_initializer:
        yield f"{where} sparse initializer", sparse.values
        yield f"{where} sparse initializer", sparse.indices
    for node in graph.node:
        yield from _node_tensors(node, where)


def _node_tensors(node: NodeProto, where: str) -> Iterator[tuple[str, TensorProto]]:
    label = f"{where}, attribute of node '{node.name or node.op_type}' ({node.op_type})"
    for attr in node.attribute:
        if attr.HasField("t"):
            yield f"{label} '{attr.name}'", attr.t
        for tensor in attr.tensors:
            yield f"{label} '{attr.name}'", tensor
        if attr.HasField("sparse_tensor"):
            yield f"{label} '{attr.name}'", attr.sparse_tensor.values
            yield f"{label} '{attr.name}'", attr.sparse_tensor.indices
        for sparse in attr.sparse_tensors:
            yield f"{label} '{attr.name}'", sparse.values
            yield f"{label} '{attr.name}'", sparse.indices
        if attr.HasField("g"):
            yield from _graph_tensors(attr.g, f"{where} > subgraph '{attr.name}' of "
                                              f"'{node.name or node.op_type}'")
        for k, sub in enumerate(attr.graphs):
            yield from _graph_tensors(sub, f"{where} > subgraph '{attr.name}[{k}]' of "
                                           f"'{node.name or node.op_type}'")


def _refuse_external(where: str, tensor: TensorProto) -> None:
    if tensor.data_location != TensorProto.EXTERNAL and not tensor.external_data:
        return
    entries = {e.key: e.value for e in tensor.external_data}
    location = entries.get("location", "(no location given)")
    raise ModelRejected(f"tensor '{tensor.name}' ({where}) keeps its data outside the model, "
                        f"at external location '{location}'; external data is not accepted "
                        "(the bundle's model.onnx must hold every tensor)")


def _layers(graph: GraphProto, outer_producers: dict[str, NodeProto],
            outer_stored: dict[str, tuple[int, ...]]) -> list[Layer]:
    producers = dict(outer_producers)
    stored = dict(outer_stored)
    stored.update({t.name: tuple(t.dims) for t in graph.initializer})
    stored.update({s.values.name: tuple(s.dims) for s in graph.sparse_initializer})
    for node in graph.node:
        for out in node.output:
            producers[out] = node
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    stored[node.output[0]] = tuple(attr.t.dims)
    layers = []
    for node in graph.node:
        if node.op_type in _WEIGHT_OPS:
            layers.append(_layer(node, producers, stored))
        for sub in _subgraphs(node):
            layers.extend(_layers(sub, producers, stored))
    return layers


def _layer(node: NodeProto, producers: dict[str, NodeProto],
           stored: dict[str, tuple[int, ...]]) -> Layer:
    kind, w_index, other_index = _WEIGHT_OPS[node.op_type]
    traced = _trace(node.input[w_index], producers, stored) if w_index >= 0 else None
    if traced is None and other_index >= 0:
        # y = W @ x: the stored operand is the first one and already reads (out, in)
        other = _trace(node.input[other_index], producers, stored)
        return Layer(kind, other[1] if other else (), other[0] if other else node.output[0])
    if traced is None:
        return Layer(kind, (), node.output[0])
    name, shape = traced
    if node.op_type == "Gemm" and not _int_attr(node, "transB", 0):
        shape = shape[::-1]
    elif kind == "linear" and node.op_type != "Gemm":
        shape = shape[:-2] + (shape[-1], shape[-2]) if len(shape) >= 2 else shape
    return Layer(kind, tuple(int(d) for d in shape), name)


def _trace(name: str, producers: dict[str, NodeProto],
           stored: dict[str, tuple[int, ...]]) -> tuple[str, tuple[int, ...]] | None:
    """Follow ``name`` back through weight-path ops to a stored tensor: its name and the
    shape it has where the layer reads it (Transposes applied)."""
    perms: list[list[int]] = []
    seen: set[str] = set()
    while name not in stored:
        node = producers.get(name)
        if node is None or node.op_type not in _WEIGHT_PATH_OPS or name in seen:
            return None
        seen.add(name)
        if node.op_type == "Transpose":
            perms.append([int(p) for a in node.attribute if a.name == "perm" for p in a.ints])
        name = node.input[_WEIGHT_PATH_OPS[node.op_type]]
    shape = stored[name]
    for perm in reversed(perms):
        shape = tuple(shape[p] for p in perm) if perm else shape[::-1]
    return name, shape


def _int_attr(node: NodeProto, name: str, default: int) -> int:
    for attr in node.attribute:
        if attr.name == name:
            return int(attr.i)
    return default


def _dims(value: onnx.ValueInfoProto) -> list[int | None] | None:
    """Static dims of a value (None for a symbolic/unknown dim), or None with no shape."""
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]


def _shape_text(dims: list[int | None] | None) -> str:
    if dims is None:
        return "unknown"
    return "(" + ", ".join("batch" if d is None else str(d) for d in dims) + ")"


def _dtype_name(elem_type: int) -> str:
    try:
        return str(TensorProto.DataType.Name(elem_type)).lower()
    except ValueError:
        return f"type {elem_type}"


def _brief(e: BaseException, limit: int = 500) -> str:
    text = " ".join(str(e).split()) or "no message"
    return text if len(text) <= limit else text[:limit] + "..."
