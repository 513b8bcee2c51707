"""model_checks: what an untrusted model.onnx must pass before anything runs it."""

from __future__ import annotations

import copy

import numpy as np
import olympics_test_models
import onnx
import pytest
from onnx import TensorProto, helper

import tinytorch
from tinytorch import nn
from tinytorch.arch.models import LeNet5
from tinytorch.olympics.model_checks import (
    Layer,
    ModelRejected,
    architecture,
    check_io,
    closed_division_problems,
    describe,
    load_model,
)
from tinytorch.perf import prune_channels, prune_magnitude, quantize_static, remove_pruning

om = olympics_test_models
MLP_LAYERS = [Layer("linear", (256, 784)), Layer("linear", (128, 256)),
              Layer("linear", (10, 128))]
LENET_LAYERS = [Layer("conv", (16, 1, 5, 5)), Layer("conv", (32, 16, 5, 5)),
                Layer("linear", (120, 800)), Layer("linear", (84, 120)),
                Layer("linear", (10, 84))]
IMAGE = (1, 28, 28)


def _calibration(shape: tuple[int, ...]) -> list[tinytorch.Tensor]:
    return [tinytorch.Tensor(np.random.default_rng(0).random((16, *shape), dtype=np.float32))]


def _layers(model: nn.Module, input_shape: tuple[int, ...]) -> list[Layer]:
    return architecture(load_model(om.export(model, input_shape)))


@pytest.fixture(scope="module")
def mlp() -> nn.Module:
    return om.mlp()


@pytest.fixture(scope="module")
def lenet() -> nn.Module:
    return LeNet5(channels=(16, 32), batch_norm=True)


# ---- load_model --------------------------------------------------------------------------

def test_load_model_accepts_an_exported_mlp_and_returns_its_proto(mlp: nn.Module) -> None:
    model = load_model(om.export(mlp, (784,)))
    assert isinstance(model, onnx.ModelProto)
    assert describe(model)["ops"] == {"Gemm": 3, "Identity": 1, "Relu": 2}


@pytest.mark.parametrize("build", ["external_initializer_model", "external_constant_model",
                                   "external_subgraph_model", "external_sparse_model"])
def test_load_model_refuses_external_data_naming_tensor_and_location(build: str) -> None:
    with pytest.raises(ModelRejected, match=r"external location '\.\./\.\./etc/passwd'") as e:
        load_model(getattr(om, build)())
    assert "tensor '" in str(e.value)


def test_load_model_refuses_an_external_flag_without_a_location() -> None:
    model = om.linear_proto()
    model.graph.initializer[0].data_location = TensorProto.EXTERNAL
    with pytest.raises(ModelRejected, match="tensor 'w1'.*no location given"):
        load_model(model.SerializeToString())


def test_load_model_names_the_constant_node_holding_external_data() -> None:
    with pytest.raises(ModelRejected, match="attribute of node 'Constant'.*'value'"):
        load_model(om.external_constant_model("/etc/shadow"))


def test_load_model_refuses_a_non_standard_operator_domain_by_name() -> None:
    with pytest.raises(ModelRejected, match="'com.microsoft'"):
        load_model(om.custom_domain_model())


def test_load_model_refuses_a_node_in_an_undeclared_custom_domain() -> None:
    model = om.linear_proto()
    model.graph.node[1].domain = "evil.ops"
    with pytest.raises(ModelRejected, match="'evil.ops'"):
        load_model(model.SerializeToString())


def test_load_model_refuses_model_local_functions() -> None:
    model = om.linear_proto()
    function = helper.make_function("local", "Twice", ["a"], ["b"],
                                    [helper.make_node("Add", ["a", "a"], ["b"])],
                                    [helper.make_opsetid("", om.OPSET)])
    model.functions.append(function)
    with pytest.raises(ModelRejected, match="local functions.*'local.Twice'"):
        load_model(model.SerializeToString())


def test_load_model_counts_subgraph_nodes_against_the_node_limit() -> None:
    data = om.cached_answer_model(depth=8)  # 3 top-level nodes, 11 inside the If
    assert load_model(data, max_nodes=14)
    with pytest.raises(ModelRejected, match="14 nodes .subgraphs included.; the limit is 13"):
        load_model(data, max_nodes=13)


def test_load_model_reports_checker_failures() -> None:
    with pytest.raises(ModelRejected, match="onnx.checker rejected the model.*missing_weight"):
        load_model(om.broken_model())


def test_load_model_refuses_bytes_that_are_not_onnx() -> None:
    with pytest.raises(ModelRejected, match="not a valid ONNX protobuf"):
        load_model(b"not an onnx model at all")


# ---- check_io ----------------------------------------------------------------------------

def test_check_io_accepts_symbolic_or_unit_batch(mlp: nn.Module) -> None:
    check_io(load_model(om.export(mlp, (784,))), [784], 10)
    check_io(om.io_model([1, 784], [1, 10]), [784], 10)


@pytest.mark.parametrize(("model", "message"), [
    (om.io_model(["batch", 784], ["batch", 10], inputs=2), "2 graph inputs"),
    (om.io_model(["batch", 100], ["batch", 10]), r"shape \(batch, 100\); expected \(batch, 784\)"),
    (om.io_model([2, 784], ["batch", 10]), r"shape \(2, 784\)"),
    (om.io_model(["batch", 784], ["batch", 10], input_type=TensorProto.INT64), "int64"),
    (om.io_model(["batch", 784], ["batch", 7]), r"output 'logits' has shape \(batch, 7\)"),
])
def test_check_io_names_the_wrong_input_or_output(model: onnx.ModelProto, message: str) -> None:
    with pytest.raises(ModelRejected, match=message):
        check_io(model, [784], 10)


def test_check_io_ignores_initializers_listed_as_graph_inputs() -> None:
    model = om.linear_proto()
    model.graph.input.append(helper.make_tensor_value_info("w1", TensorProto.FLOAT, [32, 64]))
    check_io(model, [om.FEATURES], om.CLASSES)


# ---- architecture --------------------------------------------------------------------------

def test_architecture_of_the_mlp_is_its_three_linear_layers(mlp: nn.Module) -> None:
    layers = _layers(mlp, (784,))
    assert layers == MLP_LAYERS
    assert [layer.name for layer in layers] == ["0.weight", "2.weight", "4.weight"]


def test_architecture_is_unchanged_by_int8_quantization_and_magnitude_pruning(
        mlp: nn.Module) -> None:
    quantized = quantize_static(mlp, _calibration((784,)))
    pruned = remove_pruning(prune_magnitude(copy.deepcopy(mlp), 0.5))
    assert _layers(quantized, (784,)) == MLP_LAYERS
    assert _layers(pruned, (784,)) == MLP_LAYERS


def test_architecture_of_lenet5_is_the_same_in_float_and_int8(lenet: nn.Module) -> None:
    assert _layers(lenet, IMAGE) == LENET_LAYERS
    assert _layers(quantize_static(lenet, _calibration(IMAGE)), IMAGE) == LENET_LAYERS


def test_architecture_reads_matmul_and_untransposed_gemm_weights_as_out_by_in() -> None:
    nodes = [helper.make_node("MatMul", ["input", "w1"], ["h"]),
             helper.make_node("Transpose", ["w2t"], ["w2"], perm=[1, 0]),
             helper.make_node("Gemm", ["h", "w2", "b2"], ["logits"])]
    inits = [om._weight("w1", (64, 32), 1), om._weight("w2t", (10, 32), 2),
             om._weight("b2", (10,), 3)]
    model = om._model(nodes, inits)
    assert architecture(model) == [Layer("linear", (32, 64)), Layer("linear", (10, 32))]


def test_architecture_includes_layers_inside_if_branches() -> None:
    layers = architecture(load_model(om.cached_answer_model(depth=2)))
    assert len(layers) == 5 and Layer("linear", (10, 64)) in layers


# ---- closed_division_problems ---------------------------------------------------------------

def test_channel_pruned_models_stay_in_the_closed_division(mlp: nn.Module,
                                                           lenet: nn.Module) -> None:
    pruned_mlp = _layers(prune_channels(mlp, 0.5), (784,))
    pruned_lenet = _layers(prune_channels(lenet, 0.5), IMAGE)
    assert pruned_mlp[0].shape == (128, 784)
    assert closed_division_problems(pruned_mlp, MLP_LAYERS) == []
    assert closed_division_problems(pruned_lenet, LENET_LAYERS) == []


def test_an_extra_hidden_layer_breaks_the_closed_division() -> None:
    problems = closed_division_problems(_layers(om.mlp((784, 256, 128, 64, 10)), (784,)),
                                        MLP_LAYERS)
    assert len(problems) == 1
    assert "4 weight layers" in problems[0] and "has 3" in problems[0]
    assert "linear (64x128) '4.weight'" in problems[0]


def test_a_wider_hidden_layer_breaks_the_closed_division() -> None:
    problems = closed_division_problems(_layers(om.mlp((784, 300, 128, 10)), (784,)),
                                        MLP_LAYERS)
    assert problems == [
        "layer 1 of 3 (linear (300x784) '0.weight'): out size 300 is larger than the "
        "baseline's 256 (layers may shrink, never grow)",
        "layer 2 of 3 (linear (128x300) '2.weight'): in size 300 is larger than the "
        "baseline's 256 (layers may shrink, never grow)"]


def test_a_different_kernel_size_breaks_the_closed_division() -> None:
    model = LeNet5(channels=(16, 32), batch_norm=True)
    model.features[0] = nn.Conv2d(1, 16, 3, padding=1, bias=False)
    problems = closed_division_problems(_layers(model, IMAGE), LENET_LAYERS)
    assert problems == ["layer 1 of 5 (conv (16x1x3x3) 'features.0.weight'): kernel 3x3, "
                        "the baseline's is 5x5"]


def test_a_layer_of_another_kind_or_a_computed_weight_breaks_the_closed_division() -> None:
    entry = [Layer("conv", (256, 784, 1, 1), "a"), Layer("linear", ()), MLP_LAYERS[2]]
    problems = closed_division_problems(entry, MLP_LAYERS)
    assert len(problems) == 2
    assert problems[0].startswith("layer 1 of 3 (conv (256x784x1x1) 'a') is a conv layer")
    assert "computed in the graph" in problems[1]
