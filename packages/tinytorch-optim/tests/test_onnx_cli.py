"""``tito export onnx``: zoo models and checkpoints to ONNX files from the command line."""

from __future__ import annotations

import argparse

import pytest

onnx = pytest.importorskip("onnx", reason="needs onnx: pip install tinytorch-optim[onnxruntime]")
pytest.importorskip("onnxruntime",
                    reason="needs onnxruntime: pip install tinytorch-optim[onnxruntime]")

import tinytorch  # noqa: E402
from tinytorch.cli import CommandError  # noqa: E402
from tinytorch.onnx.cli import register  # noqa: E402
from tinytorch.perf.cli import ZOO  # noqa: E402


def tito(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="tito")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_exports_a_checkpoint_and_verifies_it(tmp_path, capsys) -> None:
    tinytorch.manual_seed(0)
    model = ZOO["lenet5"][0]()
    tinytorch.save(model.state_dict(), tmp_path / "lenet5.pt")
    out = tmp_path / "lenet5.onnx"
    assert tito("export", "onnx", "lenet5", "--checkpoint", str(tmp_path / "lenet5.pt"),
                "--out", str(out), "--opset", "17") == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "verified in onnxruntime" in printed
    proto = onnx.load(out)
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    assert (weights["features.0.weight"] == model.state_dict()["features.0.weight"].numpy()).all()
    assert proto.opset_import[0].version == 17


def test_without_a_checkpoint_it_says_the_weights_are_random(tmp_path, capsys) -> None:
    assert tito("export", "onnx", "mlp", "--out", str(tmp_path / "mlp.onnx")) == 0
    assert "random initial weights" in capsys.readouterr().out


def test_a_missing_checkpoint_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(CommandError, match="checkpoint not found"):
        tito("export", "onnx", "mlp", "--checkpoint", str(tmp_path / "none.pt"),
             "--out", str(tmp_path / "mlp.onnx"))


def test_a_checkpoint_of_another_model_is_refused(tmp_path) -> None:
    tinytorch.save(ZOO["mlp"][0]().state_dict(), tmp_path / "mlp.pt")
    with pytest.raises(CommandError, match="does not fit model lenet5"):
        tito("export", "onnx", "lenet5", "--checkpoint", str(tmp_path / "mlp.pt"),
             "--out", str(tmp_path / "x.onnx"))
    assert not (tmp_path / "x.onnx").exists()


def test_int8_quantized_export_runs_in_onnxruntime(tmp_path, capsys) -> None:
    out = tmp_path / "mlp-int8.onnx"
    assert tito("export", "onnx", "mlp", "--out", str(out), "--quantize", "int8") == 0
    assert "verified in onnxruntime" in capsys.readouterr().out
    ops = {n.op_type for n in onnx.load(out).graph.node}
    assert ops & {"DequantizeLinear", "MatMulInteger", "DynamicQuantizeLinear"}


def test_help_lists_the_zoo_and_the_options(capsys) -> None:
    with pytest.raises(SystemExit):
        tito("export", "onnx", "--help")
    text = capsys.readouterr().out
    for word in ("--checkpoint", "--out", "--opset", "--quantize", "lenet5", "gpt-nano"):
        assert word in text


def test_bad_opset_and_unwritable_path_are_one_line_errors(tmp_path) -> None:
    with pytest.raises(CommandError, match="opset_version must be between 17"):
        tito("export", "onnx", "mlp", "--out", str(tmp_path / "m.onnx"), "--opset", "11")
    with pytest.raises(CommandError, match="cannot write .*no-such-dir"):
        tito("export", "onnx", "mlp", "--out", str(tmp_path / "no-such-dir" / "m.onnx"))
