"""Milestone 06's helpers (``milestones/06_mlperf_2018/``, ``mlperf.py`` and ``kv_speed.py``):
the checkpoint cache, the counts behind the table, the onnxruntime session, the targets and
the KV-cache check, on models small enough to check by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import nn
from tinytorch.arch.gpt import GPT, gpt_nano

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "milestones" / "06_mlperf_2018"))
import kv_speed
import mlperf

RECIPE = {"model": "tiny", "epochs": 1, "lr": 0.1}


class Trainer:
    """Counts its calls; "training" sets the weight to a known matrix."""

    def __init__(self, weight: list[list[float]]) -> None:
        self.weight = weight
        self.calls = 0

    def __call__(self, model: nn.Module) -> None:
        self.calls += 1
        with tt.no_grad():
            model.weight.copy_(tt.tensor(self.weight))


def build() -> nn.Module:
    return nn.Linear(2, 2, bias=False)


def score(model: nn.Module) -> float:
    """Accuracy on four fixed points: 100% for the identity, 50% for the swap."""
    x = tt.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 4.0], [1.0, 7.0]])
    return mlperf.percent_equal(mlperf.predict(model, x), np.array([0, 1, 0, 1]))


IDENTITY, SWAP = [[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]


def test_load_or_train_trains_once_then_loads_the_same_weights(tmp_path: Path) -> None:
    trainer = Trainer(IDENTITY)
    path = tmp_path / "sub" / "model.tt"
    first, how = mlperf.load_or_train(path, RECIPE, build, trainer, score)
    assert how.startswith("trained") and path.is_file() and trainer.calls == 1
    second, how = mlperf.load_or_train(path, RECIPE, build, trainer, score)
    assert how.startswith("loaded") and trainer.calls == 1
    assert np.array_equal(second.weight.detach().numpy(), first.weight.detach().numpy())
    assert not second.training


def test_load_or_train_retrains_for_another_recipe(tmp_path: Path) -> None:
    trainer = Trainer(IDENTITY)
    path = tmp_path / "model.tt"
    mlperf.load_or_train(path, RECIPE, build, trainer, score)
    _, how = mlperf.load_or_train(path, {**RECIPE, "epochs": 2}, build, trainer, score)
    assert trainer.calls == 2 and "another recipe" in how


def test_load_or_train_retrains_when_the_checkpoint_no_longer_scores_its_record(
        tmp_path: Path) -> None:
    path = tmp_path / "model.tt"
    mlperf.load_or_train(path, RECIPE, build, Trainer(IDENTITY), score)
    saved = tt.load(path)
    saved["state_dict"]["weight"] = tt.tensor(SWAP)          # weights swapped behind its back
    tt.save(saved, path)
    trainer = Trainer(IDENTITY)
    model, how = mlperf.load_or_train(path, RECIPE, build, trainer, score)
    assert trainer.calls == 1 and "not the 100.00%" in how
    assert score(model) == 100.0


def test_load_or_train_replaces_a_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "model.tt"
    path.write_bytes(b"not a zip")
    trainer = Trainer(IDENTITY)
    _, how = mlperf.load_or_train(path, RECIPE, build, trainer, score)
    assert trainer.calls == 1 and "unreadable" in how
    assert mlperf.load_or_train(path, RECIPE, build, trainer, score)[1].startswith("loaded")


def test_percent_equal_counts_matches_and_refuses_mismatched_shapes() -> None:
    assert mlperf.percent_equal(np.array([1, 2, 3, 4]), np.array([1, 0, 3, 0])) == 50.0
    with pytest.raises(ValueError, match=r"\(3,\) and \(2,\)"):
        mlperf.percent_equal(np.zeros(3), np.zeros(2))


def test_weight_sparsity_counts_matrices_and_kernels_of_any_dtype_but_not_biases() -> None:
    state = {"0.weight": np.array([[0, 1], [2, 0]], np.int8),          # 2 zeros of 4
             "0.bias": np.zeros(2, np.int32),                          # a bias: not counted
             "1.weight": tt.zeros(3, 1, 2, 2),                          # 12 zeros of 12
             "2.weight": tt.ones(5),                                    # 1-D (a norm): not counted
             "2.weight_scale": np.zeros((2, 2), np.float32)}            # not a weight
    assert mlperf.weight_sparsity(state) == (16, 14)


def test_median_ms_times_the_call_in_milliseconds() -> None:
    calls = []
    ms = mlperf.median_ms(lambda: calls.append(1), repeats=5, warmup=2, min_time=0.0)
    assert 0.0 < ms < 50.0 and len(calls) >= 7


def row(model: str, variant: str, **kw: object) -> mlperf.Row:
    base = dict(params=10, weights=8, zero_weights=0, flops=100, file_bytes=4000,
                sparse_bytes=4000, accuracy=90.0, onnx_bytes=4100, ort_accuracy=90.0,
                agreement=100.0, latency_ms={"onnxruntime@128": 1.0})
    return mlperf.Row(model=model, variant=variant, **{**base, **kw})


def good_rows() -> list[mlperf.Row]:
    small = dict(file_bytes=1000, onnx_bytes=1100)
    return [row("MLP", "float32"), row("MLP", "int8", accuracy=89.5, **small),
            row("MLP", "pruned"), row("MLP", "pruned+int8", **small)]


FAST = {"MLP": 2.5}


def test_model_targets_all_met_by_good_rows() -> None:
    targets = mlperf.model_targets(good_rows(), FAST)
    assert all(t.passed for t in targets), [t.line() for t in targets if not t.passed]
    names = [t.name for t in targets]
    assert "MLP: int8 speed-up over float32 in onnxruntime at batch 128" in names
    assert sum("agrees" in n for n in names) == 4


@pytest.mark.parametrize("change, missed", [
    ({"file_bytes": 2000}, "MLP: int8 .tt file smaller than float32"),
    ({"onnx_bytes": None}, "MLP: int8 .onnx file smaller than float32"),
    ({"accuracy": 88.0}, "MLP: int8 accuracy as % of float32's"),
    ({"agreement": 99.8}, "MLP int8: onnxruntime agrees with TinyTorch"),
    ({"agreement": None}, "MLP int8: onnxruntime agrees with TinyTorch"),
])
def test_model_targets_miss_exactly_the_claim_that_fails(change: dict, missed: str) -> None:
    rows = good_rows()
    int8 = rows[1]
    for key, value in change.items():
        setattr(int8, key, value)
    assert [t.name for t in mlperf.model_targets(rows, FAST) if not t.passed] == [missed]


@pytest.mark.parametrize("speedups", [{"MLP": 1.9}, {}])
def test_the_mlp_speed_target_needs_a_measured_two_fold_gain(speedups: dict) -> None:
    missed = [t.name for t in mlperf.model_targets(good_rows(), speedups) if not t.passed]
    assert missed == ["MLP: int8 speed-up over float32 in onnxruntime at batch 128"]


def test_the_cnn_has_no_speed_target() -> None:
    rows = [row("LeNet5", v) for v in ("float32", "int8", "pruned", "pruned+int8")]
    for r in rows[1::2]:
        r.file_bytes, r.onnx_bytes = 1000, 1000
    assert not any("speed" in t.name for t in mlperf.model_targets(rows, {"LeNet5": 0.5}))


def test_format_table_shows_every_row_and_dashes_for_what_did_not_run() -> None:
    rows = good_rows()
    rows[2].onnx_bytes = rows[2].ort_accuracy = rows[2].agreement = None
    rows[2].error = "export failed: RuntimeError: no handler for op X"
    table = mlperf.format_table(rows)
    assert all(r.name in table for r in rows)
    assert "—" in table and "! export failed: RuntimeError: no handler for op X" in table


def test_target_line_states_verdict_figure_and_bar() -> None:
    assert mlperf.Target("speed", 2.5, 2.0, "×").line() == "met    speed: 2.5× (≥ 2×)"
    assert mlperf.Target("speed", 1.5, 2.0, "×").line() == "MISSED speed: 1.5× (≥ 2×)"


def test_save_json_writes_the_file_whole(tmp_path: Path) -> None:
    import json

    path = tmp_path / "results.json"
    mlperf.save_json(path, {"rows": [1, 2], "when": Path("x")})
    assert json.loads(path.read_text()) == {"rows": [1, 2], "when": "x"}


def matmul_file(path: Path, w: np.ndarray) -> Path:
    """An ONNX file computing ``x (N, K) @ w (K, M)``."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", w.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", w.shape[1]])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_ort_session_runs_one_thread_with_every_optimization(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    w = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]], np.float32)       # (2, 3)
    session = mlperf.ort_session(matmul_file(tmp_path / "m.onnx", w))
    options = session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    x = np.array([[1, 0], [0, 1], [2, 1], [0, 3]], np.float32)
    assert mlperf.ort_predict(session, x, chunk=3).tolist() == [2, 1, 2, 1]


def test_ort_speedup_times_both_files_in_alternating_rounds(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    small = matmul_file(tmp_path / "small.onnx", np.ones((4, 4), np.float32))
    large = matmul_file(tmp_path / "large.onnx", np.ones((4, 512), np.float32))
    c = mlperf.ort_speedup(large, small, np.ones((8, 4), np.float32), rounds=3, repeats=2,
                           min_time=0.0, settle=0.0)
    assert len(c.round_ratios) == 3 and c.ratio > 0
    assert (c.a.name, c.b.name) == ("large", "small")


def test_time_generate_checks_the_tokens_and_times_both_paths() -> None:
    tt.manual_seed(0)
    model = GPT(gpt_nano(vocab_size=11)).eval()
    prompt = tt.tensor([[1, 2, 3]])
    run = kv_speed.time_generate(model, prompt, 5, rounds=2, settle=0.0, min_time=0.0)
    assert run["identical_percent"] == 100.0 and len(run["tokens"]) == 8
    assert run["tokens"][:3] == [1, 2, 3]
    assert run["speedup"] > 0 and run["plain_s"] > 0 and run["cached_s"] > 0
    assert run["cache_bytes"] == model.new_cache(1, 8).nbytes


def test_kv_targets_give_no_speed_up_to_a_cache_that_changes_the_tokens() -> None:
    short = {"model": "short", "identical_percent": 100.0, "speedup": 3.0, "new_tokens": 58}
    long = {"model": "long", "identical_percent": 100.0, "speedup": 12.0, "new_tokens": 256}
    assert all(t.passed for t in kv_speed.kv_targets(short, long))
    long["identical_percent"] = 99.6
    missed = [t.name for t in kv_speed.kv_targets(short, long) if not t.passed]
    assert missed == ["long: greedy tokens the same with and without the cache",
                      "long: KV-cache speed-up at 256 new tokens"]
    long["identical_percent"], long["speedup"] = 100.0, 9.0
    assert [t.passed for t in kv_speed.kv_targets(short, long)] == [True, True, False]


def test_the_quick_run_asks_the_long_model_only_for_a_clear_kv_cache_gain() -> None:
    short = {"model": "short", "identical_percent": 100.0, "speedup": 3.0, "new_tokens": 58}
    long = {"model": "long", "identical_percent": 100.0, "speedup": 9.0, "new_tokens": 256}
    quick = kv_speed.QUICK_KV_TARGET
    assert all(t.passed for t in kv_speed.kv_targets(short, long, target=quick))
    long["speedup"] = quick - 0.5
    assert not kv_speed.kv_targets(short, long, target=quick)[-1].passed
