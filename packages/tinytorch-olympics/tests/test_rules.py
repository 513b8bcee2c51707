"""Rules are data: the built-in events load, and a broken rules file names what is wrong."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from tinytorch.olympics.rules import RulesError, load_rules

BUILTIN = Path(load_rules().source)


def test_the_builtin_rules_hold_the_five_events_on_two_tasks() -> None:
    rules = load_rules()
    assert sorted(rules.events) == ["accuracy-contest", "all-around", "extreme-push",
                                    "latency-sprint", "memory-challenge"]
    assert sorted(rules.tasks) == ["fashion-mnist-cnn", "fashion-mnist-mlp"]
    assert rules.task("fashion-mnist-cnn").baseline.architecture == "lenet5"
    assert rules.event("memory-challenge").accuracy_floor == 0.99
    assert rules.event("extreme-push").accuracy_floor == 0.95
    assert rules.event("accuracy-contest").limits["max_model_bytes_vs_baseline"] == 1.0


def test_scores_are_products_or_geometric_means_of_the_ratios() -> None:
    rules = load_rules()
    ratios = {"speedup": 2.0, "compression": 8.0, "accuracy": 0.5}
    assert rules.event("latency-sprint").score(ratios) == 2.0
    assert rules.event("extreme-push").score(ratios) == 16.0
    assert math.isclose(rules.event("all-around").score(ratios), 2.0)


def test_an_unknown_event_error_lists_the_events() -> None:
    with pytest.raises(KeyError, match="latency-sprint"):
        load_rules().event("marathon")


def _copy_rules(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    shutil.copytree(BUILTIN / "events", root / "events")
    shutil.copytree(BUILTIN / "tasks", root / "tasks")
    return root


def _edit(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_an_organiser_defines_a_new_event_with_one_json_file(tmp_path: Path) -> None:
    root = _copy_rules(tmp_path)
    event = json.loads((root / "events" / "latency-sprint.json").read_text())
    event.update(name="tiny-sprint", task="fashion-mnist-mlp", accuracy_floor=0.9,
                 limits={"max_model_bytes": 100000})
    (root / "events" / "tiny-sprint.json").write_text(json.dumps(event))
    rules = load_rules(root)
    assert rules.event("tiny-sprint").task.name == "fashion-mnist-mlp"
    assert rules.event("tiny-sprint").limits == {"max_model_bytes": 100000.0}


@pytest.mark.parametrize("changes, message", [
    ({"accuracy_floor": 1.5}, "accuracy_floor"),
    ({"accuracy_floor": True}, "accuracy_floor"),
    ({"task": "imagenet"}, "'task' must be one of the tasks"),
    ({"divisions": ["closed", "premier"]}, "divisions"),
    ({"score": {"metrics": [{"name": "flops", "direction": "lower"}]}}, "latency_ms"),
    ({"score": {"metrics": [{"name": "accuracy", "direction": "up"}]}}, "'lower' or 'higher'"),
    ({"limits": {"max_speed": 3}}, "unknown field"),
    ({"tolerance": {"accuracy": -1}}, "tolerance"),
    ({"colour": "red"}, "unknown field.*colour"),
    ({"name": "Latency Sprint"}, "name"),
])
def test_a_broken_event_file_names_the_file_and_the_field(tmp_path: Path, changes: dict,
                                                          message: str) -> None:
    root = _copy_rules(tmp_path)
    path = root / "events" / "latency-sprint.json"
    _edit(path, **changes)
    with pytest.raises(RulesError, match=message) as info:
        load_rules(root)
    assert "latency-sprint.json" in str(info.value)


def test_a_file_named_otherwise_than_its_event_is_refused(tmp_path: Path) -> None:
    root = _copy_rules(tmp_path)
    (root / "events" / "latency-sprint.json").rename(root / "events" / "sprint.json")
    with pytest.raises(RulesError, match="named after"):
        load_rules(root)


def test_invalid_json_and_missing_folders_are_named(tmp_path: Path) -> None:
    root = _copy_rules(tmp_path)
    (root / "tasks" / "fashion-mnist-mlp.json").write_text("{ not json")
    with pytest.raises(RulesError, match="fashion-mnist-mlp.json: not valid JSON"):
        load_rules(root)
    with pytest.raises(RulesError, match="no events/ folder"):
        load_rules(tmp_path / "nowhere")


def test_a_broken_task_file_names_the_field(tmp_path: Path) -> None:
    root = _copy_rules(tmp_path)
    _edit(root / "tasks" / "fashion-mnist-mlp.json", input_shape=[784, 0])
    with pytest.raises(RulesError, match="input_shape"):
        load_rules(root)
    root = _copy_rules(tmp_path / "again")
    path = root / "tasks" / "fashion-mnist-cnn.json"
    data = json.loads(path.read_text())
    data["baseline"]["architecture"] = "resnet"
    path.write_text(json.dumps(data))
    with pytest.raises(RulesError, match="architecture.*mlp, lenet5"):
        load_rules(root)
