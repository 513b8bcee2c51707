"""End to end on a synthetic task: baseline, submit, verify, tamper, reject, schedule.

Everything the verifier decides is checked here against what it should decide: an honest
int8 entry verifies with figures that onnxruntime reproduces outside the verifier, tampered
copies and bad bundles are rejected with their reason, duplicates are caught, a crash in
the child is a rejection, and the local pool, two local jobs and a Dask LocalCluster all
reach the same verdicts and accuracies.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import tinytorch
from tinytorch import nn
from tinytorch.olympics.baseline import TrainedBaseline, train_baseline
from tinytorch.olympics.data import heldout, load_splits
from tinytorch.olympics.examples import build_example
from tinytorch.olympics.results import ResultStore, validate_record
from tinytorch.olympics.rules import load_rules
from tinytorch.olympics.submit import submit
from tinytorch.olympics.verify import QUICK, Verifier

EVENT = "memory-challenge"


@pytest.fixture(scope="module")
def world(synthetic_rules: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Rules, a quick baseline in its own home, the splits and an honest int8 bundle."""
    home = tmp_path_factory.mktemp("home")
    rules = load_rules(synthetic_rules)
    task = rules.task("synthetic-mlp")
    baseline, _ = train_baseline(task, quick=True, home=home)
    train_split, validation = load_splits(task)
    example = build_example("int8", baseline, task, train_split)
    bundles = tmp_path_factory.mktemp("bundles")
    honest, _ = submit(example.model, rules.event(EVENT), bundles / "honest", entrant="ada",
                       division="closed", techniques=example.techniques,
                       description=example.description, baseline=baseline,
                       validation=validation, quick=True, home=home)
    return {"rules": rules, "home": home, "baseline": baseline, "task": task,
            "train": train_split, "validation": validation, "honest": honest,
            "bundles": bundles}


def verifier(world: dict[str, Any], store: ResultStore | None = None,
             **settings: Any) -> Verifier:
    return Verifier(world["rules"], store=store, settings=replace(QUICK, **settings),
                    home=world["home"])


def _sub(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / "submission.json").read_text())


def _copy(world: dict[str, Any], name: str, **sub_changes: Any) -> Path:
    target = world["bundles"] / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(world["honest"], target)
    if sub_changes:
        sub = _sub(target)
        sub.update(sub_changes)
        (target / "submission.json").write_text(json.dumps(sub))
    return target


def test_an_honest_int8_entry_verifies_with_figures_onnxruntime_reproduces(
        world: dict[str, Any], tmp_path: Path) -> None:
    import onnxruntime as ort
    store = ResultStore(tmp_path / "results.jsonl")
    [record] = verifier(world, store).verify([str(world["honest"])])
    assert record["status"] == "verified", record["reasons"]
    validate_record(record)
    assert store.records() == [record]
    # the held-out accuracy, recomputed here outside the verifier, is the recorded one
    split = heldout(world["task"], seed=QUICK.seed, samples=QUICK.samples)
    session = ort.InferenceSession((world["honest"] / "model.onnx").read_bytes(),
                                   providers=["CPUExecutionProvider"])
    logits = np.concatenate([session.run(None, {"input": split.x[i:i + 1]})[0]
                             for i in range(len(split))])
    assert record["measured"]["accuracy"] == pytest.approx((logits.argmax(1) == split.y).mean())
    assert record["measured"]["model_bytes"] == (world["honest"] / "model.onnx").stat().st_size
    assert record["baseline"]["model_bytes"] == len(world["baseline"].onnx_bytes)
    assert record["ratios"]["compression"] > 3.5                  # int8 weights
    assert record["score"] == pytest.approx(record["ratios"]["compression"])
    assert record["measured"]["outputs_match"] is True
    assert len(record["measured"]["latency_runs_ms"]) >= 5
    assert all(c["passed"] for c in record["checks"])


@pytest.mark.parametrize("what, reason", [
    ("accuracy", "accuracy claim does not reproduce"),
    ("speedup", "speed-up claim does not reproduce"),
    ("model_bytes", "size claim does not match"),
])
def test_an_inflated_claim_is_rejected_with_the_measured_figure(
        world: dict[str, Any], what: str, reason: str) -> None:
    claims = dict(_sub(world["honest"])["claims"])
    claims[what] = {"accuracy": min(1.0, claims["accuracy"] + 0.1),
                    "speedup": claims["speedup"] * 3,
                    "model_bytes": claims["model_bytes"] // 4}[what]
    bundle = _copy(world, f"inflated-{what}", claims=claims)
    [record] = verifier(world).verify([str(bundle)])
    assert record["status"] == "rejected"
    [found] = [r for r in record["reasons"] if r.startswith(reason)]
    assert "claimed" in found and ("measured" in found or "model.onnx has" in found), found
    assert record["score"] is None


def test_a_model_changed_after_submission_is_rejected(world: dict[str, Any]) -> None:
    bundle = _copy(world, "changed-model")
    data = bytearray((bundle / "model.onnx").read_bytes())
    data[-64] ^= 1
    (bundle / "model.onnx").write_bytes(bytes(data))
    [record] = verifier(world).verify([str(bundle)])
    assert record["status"] == "rejected"
    assert "changed after submission" in record["reasons"][0]


def _onnx_bundle(world: dict[str, Any], name: str, model: onnx.ModelProto | bytes, *,
                 division: str = "open", event: str = EVENT) -> Path:
    """A bundle of ``model`` with honest-looking claims (as a hand-made entry would have)."""
    import hashlib
    data = model if isinstance(model, bytes) else model.SerializeToString()
    target = world["bundles"] / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    (target / "model.onnx").write_bytes(data)
    sub = _sub(world["honest"])
    sub.update(division=division, event=event, model_sha256=hashlib.sha256(data).hexdigest(),
               claims={"accuracy": 0.1, "latency_ms": 1.0, "speedup": 0.1,
                       "model_bytes": len(data)})
    (target / "submission.json").write_text(json.dumps(sub))
    return target


def _linear_model(in_features: int, *, external: str | None = None) -> onnx.ModelProto:
    w = helper.make_tensor("w", TensorProto.FLOAT, [in_features, 10],
                           np.zeros((in_features, 10), np.float32).ravel().tolist())
    if external is not None:
        w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[in_features, 10])
        w.data_location = TensorProto.EXTERNAL
        w.external_data.add(key="location", value=external)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w"], ["logits"])], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", in_features])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)


def _zip_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.onnx", b"\0" * (200 * 2**20))
        z.writestr("submission.json", "{}")
    return path


def _wider_mlp() -> bytes:
    from tinytorch.olympics.baseline import export_bytes
    from tinytorch.olympics.rules import load_rules as _load
    task = _load().task("fashion-mnist-mlp")
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    return export_bytes(model.eval(), task)


def _untrained_mlp() -> bytes:
    from tinytorch.olympics.baseline import build, export_bytes
    from tinytorch.olympics.rules import load_rules as _load
    tinytorch.manual_seed(0)
    return export_bytes(build("mlp").eval(), _load().task("fashion-mnist-mlp"))


def test_every_kind_of_bad_bundle_gets_its_reason_and_the_results_stay_valid(
        world: dict[str, Any], tmp_path: Path) -> None:
    malformed = _copy(world, "malformed-json")
    (malformed / "submission.json").write_text("{ this is not json")
    missing = _copy(world, "missing-model")
    (missing / "model.onnx").unlink()
    broken = _linear_model(784)
    broken.graph.node[0].input[1] = "undefined"                 # fails onnx.checker
    checker = _onnx_bundle(world, "fails-checker", broken)
    wrong_shape = _onnx_bundle(world, "wrong-input", _linear_model(100))
    external = _onnx_bundle(world, "external-data",
                            _linear_model(784, external="../../../etc/passwd"))
    bomb = _zip_bomb(tmp_path / "bomb.zip")
    no_event = _copy(world, "no-event", event="marathon")
    closed = _onnx_bundle(world, "closed-wider", _wider_mlp(), division="closed")
    untrained = _onnx_bundle(world, "untrained", _untrained_mlp())
    cases = {malformed: "submission.json", missing: "model.onnx", checker: "undefined",
             wrong_shape: "784", external: "etc/passwd", bomb: "",
             no_event: "marathon", closed: "closed", untrained: "below the accuracy floor"}
    store = ResultStore(tmp_path / "results.jsonl")
    records = verifier(world, store).verify([str(p) for p in cases])
    for record, (path, word) in zip(records, cases.items()):
        assert record["status"] == "rejected", path
        assert record["reasons"] and word in " ".join(record["reasons"]), (path,
                                                                           record["reasons"])
        validate_record(record)
    assert [r["status"] for r in store.records()] == ["rejected"] * len(cases)
    assert store.verified() == []


def test_a_duplicate_submission_is_rejected_in_the_same_run_and_later(
        world: dict[str, Any], tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.jsonl")
    first, again = verifier(world, store).verify([str(world["honest"])] * 2)
    assert first["status"] == "verified"
    assert again["status"] == "rejected" and "duplicate" in again["reasons"][0]
    [later] = verifier(world, store).verify([str(_copy(world, "copy", entrant="bob"))])
    assert later["status"] == "rejected" and "duplicate" in later["reasons"][0]
    assert len(store.verified()) == 1


def test_a_child_that_runs_out_of_memory_becomes_a_rejection(world: dict[str, Any]) -> None:
    tight = replace(QUICK.limits, memory_bytes=64 * 2**20)
    [record] = verifier(world, limits=tight).verify([str(world["honest"])])
    assert record["status"] == "rejected"
    assert record["reasons"][0].startswith("verification failed")


def test_two_local_jobs_reach_the_verdicts_of_one(world: dict[str, Any]) -> None:
    paths = [str(world["honest"]), str(_copy(world, "for-jobs", event="accuracy-contest"))]
    one = verifier(world).verify(paths, jobs=1)
    two = verifier(world).verify(paths, jobs=2)
    assert [r["status"] for r in one] == [r["status"] for r in two] == ["verified"] * 2
    assert [r["measured"]["accuracy"] for r in one] == [r["measured"]["accuracy"] for r in two]


def test_a_dask_local_cluster_reaches_the_verdicts_of_the_local_pool(
        world: dict[str, Any]) -> None:
    pytest.importorskip("distributed", reason="the [dask] extra is not installed")
    from tinytorch.olympics.cluster import local_cluster
    paths = [str(world["honest"]), str(_copy(world, "for-dask", event="accuracy-contest")),
             str(_copy(world, "dask-inflated", event="extreme-push", claims={
                 **_sub(world["honest"])["claims"], "accuracy": 1.0}))]
    local = verifier(world).verify(paths)
    with local_cluster(2) as cluster:
        remote = verifier(world).verify(paths, jobs=2, scheduler=cluster.scheduler_address)
    assert [r["status"] for r in remote] == [r["status"] for r in local] \
        == ["verified", "verified", "rejected"]
    assert [r["measured"]["accuracy"] for r in remote] == \
        [r["measured"]["accuracy"] for r in local]
    assert [r["reasons"] for r in remote] == [r["reasons"] for r in local]


def test_an_unknown_scheduler_is_a_clear_error(world: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="local.*tcp://"):
        verifier(world).verify([str(world["honest"])], scheduler="kubernetes")


def test_submit_refuses_a_division_the_event_lacks_and_an_existing_bundle(
        world: dict[str, Any]) -> None:
    event = world["rules"].event(EVENT)
    model = world["baseline"].model
    with pytest.raises(ValueError, match="division must be one of"):
        submit(model, event, world["bundles"] / "x", entrant="a", division="premier",
               baseline=world["baseline"], validation=world["validation"], quick=True)
    with pytest.raises(FileExistsError, match="honest"):
        submit(model, event, world["honest"], entrant="a", division="closed",
               baseline=world["baseline"], validation=world["validation"], quick=True)


def test_the_pruned_examples_shrink_the_model_and_enter_the_open_division(
        world: dict[str, Any]) -> None:
    baseline: TrainedBaseline = world["baseline"]
    pruned = build_example("pruned", baseline, world["task"], world["train"], amount=0.5)
    both = build_example("pruned-int8", baseline, world["task"], world["train"], amount=0.5)
    assert pruned.division == both.division == "open"
    assert pruned.model[0].out_features == 128
    assert any("int8" in t for t in both.techniques)
    with tinytorch.no_grad():
        x = tinytorch.from_numpy(world["validation"].x[:4])
        assert pruned.model(x).shape == (4, 10) and both.model(x).shape == (4, 10)
    with pytest.raises(ValueError, match="unknown example"):
        build_example("distilled", baseline, world["task"], world["train"])
