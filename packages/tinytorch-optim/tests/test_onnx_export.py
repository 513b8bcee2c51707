"""``tinytorch.onnx.export`` and ``verify``: whole models, files, errors and options."""

from __future__ import annotations

import importlib
import io
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx", reason="needs onnx: pip install tinytorch-optim[onnxruntime]")
pytest.importorskip("onnxruntime",
                    reason="needs onnxruntime: pip install tinytorch-optim[onnxruntime]")

import tinytorch  # noqa: E402
import tinytorch.nn as nn  # noqa: E402
from tinytorch.core.function import Function  # noqa: E402
from tinytorch.onnx import TracerWarning, UnsupportedOperatorError, export, verify  # noqa: E402
from tinytorch.perf.cli import ZOO  # noqa: E402

export_module = importlib.import_module("tinytorch.onnx.export")
OPSETS = (17, 18, 21)
BATCH = {"input": {0: "batch"}, "output": {0: "batch"}}


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", ["mlp", "lenet5", "lenet5-bn", "cifar-cnn"])
def test_zoo_model_runs_in_onnxruntime_at_several_batch_sizes(name: str, opset: int,
                                                               tmp_path) -> None:
    build, batch = ZOO[name]
    tinytorch.manual_seed(0)
    model = build()
    path = tmp_path / f"{name}.onnx"
    export(model, batch(2), path, opset_version=opset, dynamic_axes=BATCH)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    for n in (1, 3, 8):
        report = verify(model, batch(n), path)
        assert report.outputs[0].shape[0] == n


@pytest.mark.parametrize("opset", OPSETS)
def test_ir_version_is_the_lowest_the_opset_needs(opset: int) -> None:
    f = io.BytesIO()
    export(nn.Linear(3, 2), tinytorch.randn(1, 3), f, opset_version=opset)
    proto = onnx.load_from_string(f.getvalue())
    want = onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", opset)])
    assert proto.ir_version == want
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", opset)]


def test_export_writes_to_a_binary_file_object() -> None:
    model, x = nn.Sequential(nn.Linear(4, 3), nn.Tanh()), tinytorch.randn(2, 4)
    f = io.BytesIO()
    export(model, x, f)
    verify(model, x, io.BytesIO(f.getvalue()))
    verify(model, x, onnx.load_from_string(f.getvalue()))


def test_parameters_keep_their_state_dict_names_and_io_names_are_used(tmp_path) -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    path = tmp_path / "m.onnx"
    export(model, tinytorch.randn(2, 4), path, input_names=["pixels"], output_names=["scores"],
           dynamic_axes={"pixels": [0], "scores": {0: "n"}})
    graph = onnx.load(path).graph
    assert {t.name for t in graph.initializer} == {"0.weight", "0.bias"}
    assert [i.name for i in graph.input] == ["pixels"]
    assert [o.name for o in graph.output] == ["scores"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param
    assert graph.output[0].type.tensor_type.shape.dim[0].dim_param == "n"


def test_train_and_eval_modes_are_restored() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    model.train()
    export(model, tinytorch.randn(2, 4), io.BytesIO())
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    export(model, tinytorch.randn(2, 4), io.BytesIO())
    assert not any(m.training for m in model.modules())
    model.train()
    model[1].eval()                                   # mixed modes come back as they were
    f = io.BytesIO()
    export(model, tinytorch.randn(2, 4), f)
    verify(model, tinytorch.randn(2, 4), f)
    assert [m.training for m in model.modules()] == [True, True, False]


def test_unknown_export_options_are_refused() -> None:
    with pytest.raises(TypeError, match="fold_batchnorms"):
        export(nn.Linear(2, 2), tinytorch.randn(1, 2), io.BytesIO(), fold_batchnorms=True)


def test_dropout_exports_as_identity_even_from_a_training_model() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.9))
    model.train()
    f = io.BytesIO()
    export(model, tinytorch.randn(2, 4), f)
    verify(model, tinytorch.randn(2, 4), f)      # verify compares in eval mode too
    assert model.training


def test_outputs_may_be_a_tuple_and_none_entries_are_dropped() -> None:
    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 4)

        def forward(self, x):
            return self.a(x), None, self.b(x)

    model, x, f = TwoHeads(), tinytorch.randn(2, 3), io.BytesIO()
    export(model, x, f)
    report = verify(model, x, f)
    assert [o.shape for o in report.outputs] == [(2, 2), (2, 4)]
    assert [o.name for o in report.outputs] == ["output_0", "output_1"]


class Mystery(Function):
    """An op the exporter has no translation for."""

    @staticmethod
    def forward(ctx, x):
        return x * 3

    @staticmethod
    def backward(ctx, grad):
        return grad * 3


class Odd(nn.Module):
    def forward(self, x):
        return Mystery.apply(x)


def _nested_with_unsupported_op() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.ReLU(), Odd()))


def test_unsupported_op_names_the_op_and_module_path_and_leaves_no_file(tmp_path) -> None:
    path = tmp_path / "bad.onnx"
    with pytest.raises(UnsupportedOperatorError, match=r"Mystery.*'1\.1'"):
        export(_nested_with_unsupported_op(), tinytorch.randn(2, 3), path)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_leaves_an_existing_file_untouched(tmp_path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"previous")
    with pytest.raises(UnsupportedOperatorError):
        export(_nested_with_unsupported_op(), tinytorch.randn(2, 3), path)
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_unsupported_op_is_a_runtime_error() -> None:
    assert issubclass(UnsupportedOperatorError, RuntimeError)


def test_an_unwritable_path_raises_naming_it(tmp_path) -> None:
    path = tmp_path / "missing-folder" / "m.onnx"
    with pytest.raises(FileNotFoundError, match="missing-folder"):
        export(nn.Linear(2, 2), tinytorch.randn(1, 2), path)


def test_large_models_are_written_with_external_data(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(export_module, "EXTERNAL_DATA_THRESHOLD", 1000)
    model, x = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4)), tinytorch.randn(2, 64)
    path = tmp_path / "big.onnx"
    export(model, x, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.onnx", "big.onnx.data"]
    assert path.stat().st_size < (tmp_path / "big.onnx.data").stat().st_size
    onnx.checker.check_model(str(path), full_check=True)
    verify(model, x, path)
    with pytest.raises(ValueError, match="pass a path"):
        export(model, x, io.BytesIO())


def test_verify_raises_on_a_mismatch_and_reports_the_error() -> None:
    model, x, f = nn.Linear(3, 2), tinytorch.randn(4, 3), io.BytesIO()
    export(model, x, f)
    model.bias.array[:] += 1.0
    with pytest.raises(AssertionError, match=r"output: shape \(4, 2\).*max abs err 1.*MISMATCH"):
        verify(model, x, f)


def test_verify_reports_errors_per_output() -> None:
    model, x, f = nn.Linear(3, 2), tinytorch.randn(4, 3), io.BytesIO()
    export(model, x, f)
    (check,) = verify(model, x, f).outputs
    assert check.shape == check.ort_shape == (4, 2)
    assert check.ok and check.max_abs_error <= 1e-5 and check.dtype == "float32"


def test_verify_compares_integer_outputs_exactly() -> None:
    class Count(nn.Module):
        def forward(self, x):
            return (x * 100).to(tinytorch.int64)

    model, x, f = Count(), tinytorch.randn(3, 4), io.BytesIO()
    export(model, x, f)
    assert verify(model, x, f).outputs[0].dtype == "int64"


def test_verify_without_onnxruntime_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"pip install tinytorch-optim\[onnxruntime\]"):
        verify(nn.Linear(2, 2), tinytorch.randn(1, 2), io.BytesIO())


def test_python_scalar_arguments_are_frozen_as_constants() -> None:
    class Scale(nn.Module):
        def forward(self, x, factor):
            return x * factor

    model, x, f = Scale(), tinytorch.randn(2, 3), io.BytesIO()
    export(model, (x, 2.5), f)
    verify(model, (x, 2.5), f)


def test_non_tensor_arguments_other_than_scalars_are_refused() -> None:
    with pytest.raises(TypeError, match=r"args\[0\] is a ndarray"):
        export(nn.Linear(2, 2), np.ones((1, 2), np.float32), io.BytesIO())


def test_opset_outside_the_supported_range_is_refused() -> None:
    with pytest.raises(ValueError, match="opset_version must be between 17"):
        export(nn.Linear(2, 2), tinytorch.randn(1, 2), io.BytesIO(), opset_version=13)


def test_dynamic_axes_must_name_inputs_or_outputs() -> None:
    with pytest.raises(ValueError, match="dynamic_axes names"):
        export(nn.Linear(2, 2), tinytorch.randn(1, 2), io.BytesIO(),
               dynamic_axes={"inputs": [0]})


def test_batchnorm_folds_into_the_preceding_conv() -> None:
    tinytorch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    model.train()
    for _ in range(3):                      # non-trivial running statistics
        model(tinytorch.randn(4, 3, 8, 8))
    x = tinytorch.randn(2, 3, 8, 8)
    plain, folded = io.BytesIO(), io.BytesIO()
    export(model, x, plain)
    export(model, x, folded, fold_batchnorm=True)
    ops = [n.op_type for n in onnx.load_from_string(folded.getvalue()).graph.node]
    assert "BatchNormalization" not in ops and ops.count("Conv") == 1
    assert "BatchNormalization" in [n.op_type for n in
                                    onnx.load_from_string(plain.getvalue()).graph.node]
    verify(model, x, folded)


def test_reshape_follows_dynamic_batch_in_a_model_that_views() -> None:
    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(8, 8)

        def forward(self, x):                       # x: (B, T, 8)
            b, t, _ = x.shape
            h = self.proj(x).view(b, t, 2, 4).transpose(1, 2)       # (B, 2, T, 4)
            return h.transpose(1, 2).reshape(b * t, 8)

    model, f = Heads(), io.BytesIO()
    axes = {"input": {0: "batch", 1: "time"}, "output": {0: "rows"}}
    export(model, tinytorch.randn(2, 3, 8), f, dynamic_axes=axes)
    for b, t in ((1, 1), (4, 3), (3, 7)):
        verify(model, tinytorch.randn(b, t, 8), f)


def test_python_control_flow_on_tensor_values_warns_naming_the_module() -> None:
    class Branchy(nn.Module):
        def forward(self, x):
            return x * 2 if bool(x.sum() > 0) else x - 1

    class Outer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gate = Branchy()

        def forward(self, x):
            return self.gate(x)

    with pytest.warns(TracerWarning, match=r"bool\(\).*'gate'"):
        export(Outer(), tinytorch.ones(2, 3), io.BytesIO())


def test_reading_parameters_in_python_does_not_warn() -> None:
    class Clipped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.limit = nn.Parameter(tinytorch.tensor(0.5))

        def forward(self, x):
            return x.clamp(-self.limit.item(), self.limit.item())

    with warnings.catch_warnings():
        warnings.simplefilter("error", TracerWarning)
        export(Clipped(), tinytorch.randn(2, 3), io.BytesIO())


def test_in_place_updates_after_a_layer_are_followed() -> None:
    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.act = nn.Linear(4, 4), nn.ReLU(inplace=True)

        def forward(self, x):
            h = self.fc(x)
            h += x
            h.mul_(2.0)
            return self.act(h) - h.sum()

    model, x, f = Residual(), tinytorch.randn(3, 4), io.BytesIO()
    export(model, x, f)
    verify(model, x, f)


def test_in_place_update_the_tracer_cannot_see_is_refused() -> None:
    class Scribble(nn.Module):
        def forward(self, x):
            y = x * 1.0
            y[0] = 5.0                       # x needs no grad: a plain write into memory
            return y + 1

    with pytest.raises(UnsupportedOperatorError, match=r"shape \(2, 3\) was modified in place"):
        export(Scribble(), tinytorch.randn(2, 3), io.BytesIO())


def test_index_assignment_and_copy_after_a_layer_export() -> None:
    class Writes(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            h = self.fc(x)
            h[:, 1:3] = tinytorch.ones(2) * 7
            h[0] = 0.0
            g = h.clone()
            g.copy_(x)
            return h + g

    model, x, f = Writes(), tinytorch.randn(3, 4), io.BytesIO()
    export(model, x, f)
    verify(model, x, f)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_reshape_groups_line_up_dims_with_equal_products(src: list[int], rnd) -> None:
    from tinytorch.onnx.ops.shape import _groups
    dims = [d for s in src for d in _factor(s, rnd)]
    rnd.shuffle(dims)                      # any regrouping of the same number of elements
    dst = tuple(dims)
    groups = _groups(tuple(src), dst)
    assert [a for s, _ in groups for a in s] == list(range(len(src)))
    assert [a for _, d in groups for a in d] == list(range(len(dst)))
    for s_axes, d_axes in groups:
        assert np.prod([src[a] for a in s_axes]) == np.prod([dst[a] for a in d_axes])


def _factor(n: int, rnd) -> list[int]:
    """``n`` split at random into factors (the last may be 1)."""
    parts = []
    for f in (2, 3):
        while n % f == 0 and rnd.random() < 0.5:
            parts.append(f)
            n //= f
    return parts + [n]


def test_modules_with_full_backward_hooks_export() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
    model[0].register_full_backward_hook(lambda module, grad_in, grad_out: None)
    x, f = tinytorch.randn(2, 3), io.BytesIO()
    export(model, x, f)
    verify(model, x, f)
