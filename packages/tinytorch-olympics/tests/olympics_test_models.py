"""Small ONNX models for the verifier's tests: honest ones, broken ones and cheating ones.

Hand-built graphs (``onnx.helper``) take a (batch, FEATURES) float32 input and give
(batch, CLASSES) logits; ``export`` turns a TinyTorch model into the bytes
``tinytorch.onnx.export`` writes for a submission.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data

import tinytorch
from tinytorch import nn

FEATURES = 64
CLASSES = 10
OPSET = 18


def export(model: Any, input_shape: Sequence[int]) -> bytes:
    """``model`` exported as a submission would be: input "input", output "logits", batch
    dynamic."""
    model.eval()
    x = tinytorch.Tensor(np.random.default_rng(0).random((2, *input_shape), dtype=np.float32))
    buffer = io.BytesIO()
    tinytorch.onnx.export(model, (x,), buffer, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return buffer.getvalue()


def mlp(widths: Sequence[int] = (784, 256, 128, 10)) -> nn.Sequential:
    """Linear/ReLU stack with the given widths (milestone 03's MLP by default)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers += [nn.Linear(n_in, n_out)] + ([nn.ReLU()] if i < len(widths) - 2 else [])
    return nn.Sequential(*layers)


def _weight(name: str, shape: tuple[int, ...], seed: int, scale: float = 0.1) -> TensorProto:
    data = np.random.default_rng(seed).standard_normal(shape) * scale
    return numpy_helper.from_array(data.astype(np.float32), name)


def _model(nodes: list[onnx.NodeProto], initializers: list[TensorProto], *,
           opsets: Sequence[tuple[str, int]] = (("", OPSET),),
           inputs: list[onnx.ValueInfoProto] | None = None,
           outputs: list[onnx.ValueInfoProto] | None = None) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "test", inputs or [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                ["batch", FEATURES])],
        outputs or [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                                  ["batch", CLASSES])],
        initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])


def linear_proto(hidden: int = 32) -> onnx.ModelProto:
    """Honest two-layer model: Gemm -> Relu -> Gemm."""
    nodes = [helper.make_node("Gemm", ["input", "w1", "b1"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["logits"], transB=1)]
    inits = [_weight("w1", (hidden, FEATURES), 1), _weight("b1", (hidden,), 2),
             _weight("w2", (CLASSES, hidden), 3), _weight("b2", (CLASSES,), 4)]
    return _model(nodes, inits)


def linear_model(hidden: int = 32) -> bytes:
    return linear_proto(hidden).SerializeToString()


def noisy_model() -> bytes:
    """Honest logits plus fresh RandomUniformLike noise on every call."""
    nodes = [helper.make_node("Gemm", ["input", "w", "b"], ["clean"], transB=1),
             helper.make_node("RandomUniformLike", ["clean"], ["noise"], low=0.0, high=1e-3),
             helper.make_node("Add", ["clean", "noise"], ["logits"])]
    return _model(nodes, [_weight("w", (CLASSES, FEATURES), 1),
                          _weight("b", (CLASSES,), 2)]).SerializeToString()


def cached_answer_model(threshold: float = 0.0, depth: int = 8, width: int = 256) -> bytes:
    """If ReduceSum(input) > threshold: one cheap Gemm (the "cached" answer); else a chain of
    ``depth`` (width x width) MatMuls."""
    out = helper.make_tensor_value_info("branch_out", TensorProto.FLOAT, ["batch", CLASSES])
    cheap = helper.make_graph(
        [helper.make_node("Gemm", ["input", "cheap_w", "b"], ["branch_out"], transB=1)],
        "cheap", [], [out], [_weight("cheap_w", (CLASSES, FEATURES), 5)])
    chain = [helper.make_node("MatMul", ["input", "w_in"], ["h0"])]
    weights = [_weight("w_in", (FEATURES, width), 6)]
    for i in range(depth):
        chain.append(helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"h{i + 1}"]))
        weights.append(_weight(f"w{i}", (width, width), 10 + i, scale=1 / np.sqrt(width)))
    chain.append(helper.make_node("MatMul", [f"h{depth}", "w_out"], ["branch_out"]))
    weights.append(_weight("w_out", (width, CLASSES), 7))
    expensive = helper.make_graph(chain, "expensive", [], [out], weights)
    nodes = [helper.make_node("ReduceSum", ["input"], ["total"], keepdims=0),
             helper.make_node("Greater", ["total", "threshold"], ["cached"]),
             helper.make_node("If", ["cached"], ["logits"], then_branch=cheap,
                              else_branch=expensive)]
    inits = [numpy_helper.from_array(np.array(threshold, np.float32), "threshold"),
             _weight("b", (CLASSES,), 2)]
    return _model(nodes, inits).SerializeToString()


def big_intermediate_model(elements: int = 100_000) -> bytes:
    """Expands the input to (batch, FEATURES, elements) floats before reducing it: a peak of
    FEATURES * elements * 4 bytes per sample."""
    nodes = [helper.make_node("Unsqueeze", ["input", "axis"], ["x3"]),
             helper.make_node("Expand", ["x3", "big_shape"], ["big"]),
             helper.make_node("ReduceMean", ["big", "axis"], ["mean"], keepdims=0),
             helper.make_node("Gemm", ["mean", "w", "b"], ["logits"], transB=1)]
    inits = [numpy_helper.from_array(np.array([2], np.int64), "axis"),
             numpy_helper.from_array(np.array([1, FEATURES, elements], np.int64), "big_shape"),
             _weight("w", (CLASSES, FEATURES), 1), _weight("b", (CLASSES,), 2)]
    return _model(nodes, inits).SerializeToString()


def external(tensor: TensorProto, location: str = "../../etc/passwd") -> TensorProto:
    """``tensor`` made to point at external data at ``location``."""
    set_external_data(tensor, location=location, offset=0, length=len(tensor.raw_data) or 4)
    tensor.data_location = TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    return tensor


def external_initializer_model(location: str = "../../etc/passwd") -> bytes:
    model = linear_proto()
    external(model.graph.initializer[0], location)
    return model.SerializeToString()


def external_constant_model(location: str = "../../etc/passwd") -> bytes:
    """The first weight comes from a Constant node whose value tensor is external."""
    model = linear_proto()
    weight = model.graph.initializer[0]
    constant = helper.make_node("Constant", [], [weight.name], value=external(
        _weight(weight.name, tuple(weight.dims), 1), location))
    del model.graph.initializer[0]
    model.graph.node.insert(0, constant)
    return model.SerializeToString()


def external_subgraph_model(location: str = "../../etc/passwd") -> bytes:
    """The cached-answer model with the else branch's first weight external."""
    model = onnx.load_from_string(cached_answer_model(depth=1))
    if_node = model.graph.node[-1]
    else_branch = next(a.g for a in if_node.attribute if a.name == "else_branch")
    external(else_branch.initializer[0], location)
    return model.SerializeToString()


def external_sparse_model(location: str = "../../etc/passwd") -> bytes:
    """A sparse initializer (added to the honest model) whose values are external."""
    model = linear_proto()
    values = external(numpy_helper.from_array(np.ones(2, np.float32), "sparse_w"), location)
    indices = numpy_helper.from_array(np.array([0, 5], np.int64), "sparse_w_indices")
    model.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [4, 4]))
    return model.SerializeToString()


def custom_domain_model(domain: str = "com.microsoft") -> bytes:
    """A model whose matrix product comes from a non-standard operator domain."""
    nodes = [helper.make_node("FusedMatMul", ["input", "w"], ["logits"], domain=domain)]
    return _model(nodes, [_weight("w", (FEATURES, CLASSES), 1)],
                  opsets=(("", OPSET), (domain, 1))).SerializeToString()


def broken_model() -> bytes:
    """A node reads a tensor nothing defines: the checker must refuse it."""
    nodes = [helper.make_node("Gemm", ["input", "missing_weight"], ["logits"], transB=1)]
    return _model(nodes, []).SerializeToString()


def io_model(input_dims: Sequence[Any], output_dims: Sequence[Any], *,
             input_type: int = TensorProto.FLOAT, inputs: int = 1) -> onnx.ModelProto:
    """A Cast graph declaring the given input/output shapes (for check_io; not checked)."""
    value_inputs = [helper.make_tensor_value_info(f"input{i}" if i else "input", input_type,
                                                  list(input_dims)) for i in range(inputs)]
    nodes = [helper.make_node("Cast", ["input"], ["logits"], to=TensorProto.FLOAT)]
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, list(output_dims))
    return _model(nodes, [], inputs=value_inputs, outputs=[output])
