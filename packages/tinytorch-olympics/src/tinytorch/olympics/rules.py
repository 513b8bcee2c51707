"""Events and tasks: the competition's rules, read from JSON files, never from code.

An organiser defines a new event by writing one JSON file (``events/<name>.json``) and, for a
new dataset or input shape, one task file (``tasks/<name>.json``); ``tito olympics events
--rules DIR`` reads a folder holding both sub-folders instead of the built-in rules.

A *task* is what a model must do: its dataset, input shape, number of classes, how pixels
are normalised, the train/validation split of the training file, and the baseline's recipe.
An *event* is how entries are scored on a task:

- ``score.metrics``: measured figures (``latency_ms``, ``model_bytes``, ``accuracy``), each
  with a direction. Each becomes a ratio against the baseline measured in the same
  verification run (baseline / entry for "lower", entry / baseline for "higher"), so that
  higher is always better; ``combine`` multiplies them (``product``) or takes their
  geometric mean (``geomean``).
- ``accuracy_floor``: the held-out accuracy an entry must keep, as a fraction of the
  baseline's float32 accuracy (0.99 by default, MLPerf's closed-division rule).
- ``limits``: absolute (``max_model_bytes``, ``max_latency_ms``, ``max_peak_memory_bytes``)
  or relative to the baseline (``max_model_bytes_vs_baseline``, ``max_latency_vs_baseline``).
- ``tolerance``: how far a claim may exceed its measurement before it is rejected: 1.5
  accuracy points (the validation split against the held-out one); for the speed-up, a
  claim up to twice the measurement, because the speed-up of a model whose inference takes
  10 µs swings from 1.5x to 2.1x between verifications on a shared 2-core machine. Scores
  use only measurements, so a tolerance decides what counts as an honest claim, never a rank.

Loading checks every field and names the file, the field and what was expected.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

SCORE_METRICS = {"latency_ms": "speedup", "model_bytes": "compression", "accuracy": "accuracy"}
LIMITS = ("max_model_bytes", "max_latency_ms", "max_peak_memory_bytes",
          "max_model_bytes_vs_baseline", "max_latency_vs_baseline")
DIVISIONS = {
    "closed": "the baseline's architecture; only post-training changes (quantization, pruning, "
              "folding), calibrated on the training split",
    "open": "any model with the task's input and output; the accuracy is reported",
}
DEFAULT_TOLERANCE = {"accuracy": 0.015, "speedup": 1.0}
ARCHITECTURES = ("mlp", "lenet5")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Baseline:
    """How the organiser trains a task's baseline (milestone 03's and 04's recipes)."""

    architecture: str
    description: str
    epochs: int
    lr: float
    schedule: str                 # "cosine" per epoch or "onecycle" per step
    batch_size: int
    seed: int


@dataclass(frozen=True)
class Task:
    """A dataset and the shape of the model that solves it."""

    name: str
    title: str
    dataset: str                  # "fashion-mnist", "mnist", or a path to an .npz file
    input_shape: tuple[int, ...]
    num_classes: int
    mean: float
    std: float
    train: int                    # images of the training file used for training
    validation: int               # the images after them: the entrant's validation split
    baseline: Baseline


@dataclass(frozen=True)
class Metric:
    name: str                     # a key of SCORE_METRICS
    direction: str                # "lower" or "higher"

    @property
    def ratio(self) -> str:
        """The name of this metric's ratio against the baseline (``speedup``...)."""
        return SCORE_METRICS[self.name]


@dataclass(frozen=True)
class Event:
    """One competition: a task, a score, an accuracy floor and limits."""

    name: str
    title: str
    description: str
    task: Task
    metrics: tuple[Metric, ...]
    combine: str                  # "product" or "geomean"
    accuracy_floor: float
    divisions: tuple[str, ...]
    limits: dict[str, float] = field(default_factory=dict)
    tolerance: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TOLERANCE))

    def score(self, ratios: dict[str, float]) -> float:
        """The event's score from the ratios against the baseline (higher is better)."""
        values = [ratios[m.ratio] for m in self.metrics]
        product = math.prod(values)
        return product ** (1 / len(values)) if self.combine == "geomean" else product

    def summary(self) -> dict[str, Any]:
        """What the leaderboard and ``tito olympics events`` show of this event."""
        ratios = [m.ratio for m in self.metrics]
        metric = (" x ".join(ratios) if self.combine == "product"
                  else f"geometric mean of {', '.join(ratios)}")
        return {"title": self.title, "description": self.description, "task": self.task.name,
                "metric": metric, "floor": self.accuracy_floor, "limits": dict(self.limits),
                "divisions": list(self.divisions)}


@dataclass(frozen=True)
class Rules:
    """Every event and task of one rules folder."""

    events: dict[str, Event]
    tasks: dict[str, Task]
    source: str

    def event(self, name: str) -> Event:
        """The event called ``name``; KeyError naming the events that exist."""
        if name not in self.events:
            raise KeyError(f"no event {name!r}; the events are: {', '.join(sorted(self.events))}")
        return self.events[name]

    def task(self, name: str) -> Task:
        if name not in self.tasks:
            raise KeyError(f"no task {name!r}; the tasks are: {', '.join(sorted(self.tasks))}")
        return self.tasks[name]


# --------------------------------------------------------------------------- reading
class _Fields:
    """Typed access to one JSON object, with errors naming the file and the field."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise RulesError(f"{where}: expected a JSON object, got {type(data).__name__}")
        self.data, self.where = data, where

    def fail(self, key: str, expected: str) -> RulesError:
        seen = self.data.get(key, "<missing>")
        return RulesError(f"{self.where}: field {key!r} must be {expected}, got {seen!r}")

    def text(self, key: str, pattern: re.Pattern[str] | None = None) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value or (pattern and not pattern.match(value)):
            raise self.fail(key, "a non-empty string" + (" of [a-z0-9-]" if pattern else ""))
        return value

    def number(self, key: str, low: float, high: float, default: float | None = None) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or not low < value <= high:
            raise self.fail(key, f"a number in ({low:g}, {high:g}]")
        return float(value)

    def integer(self, key: str, low: int = 1) -> int:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.fail(key, f"an integer >= {low}")
        return value

    def obj(self, key: str) -> _Fields:
        return _Fields(self.data.get(key), f"{self.where}: {key}")

    def only(self, *keys: str) -> None:
        unknown = sorted(set(self.data) - set(keys))
        if unknown:
            raise RulesError(f"{self.where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                             f"the fields are: {', '.join(keys)}")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RulesError(f"{path}: not valid JSON: {e}") from None
    except OSError as e:
        raise RulesError(f"{path}: cannot be read: {e.strerror or e}") from None


def parse_task(data: Any, where: str) -> Task:
    """A Task from one task file's JSON."""
    f = _Fields(data, where)
    f.only("name", "title", "dataset", "input_shape", "num_classes", "normalize", "splits",
           "baseline")
    shape = f.data.get("input_shape")
    if not isinstance(shape, list) or not shape or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise f.fail("input_shape", "a non-empty list of positive integers (no batch axis)")
    norm, splits, base = f.obj("normalize"), f.obj("splits"), f.obj("baseline")
    norm.only("mean", "std")
    splits.only("train", "validation")
    base.only("architecture", "description", "epochs", "lr", "schedule", "batch_size", "seed")
    architecture = base.text("architecture")
    if architecture not in ARCHITECTURES:
        raise base.fail("architecture", f"one of {', '.join(ARCHITECTURES)}")
    schedule = base.text("schedule")
    if schedule not in ("cosine", "onecycle"):
        raise base.fail("schedule", "'cosine' or 'onecycle'")
    seed = base.data.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise base.fail("seed", "an integer >= 0")
    return Task(
        name=f.text("name", NAME), title=f.text("title"), dataset=f.text("dataset"),
        input_shape=tuple(shape), num_classes=f.integer("num_classes", 2),
        mean=norm.number("mean", -1e9, 1e9), std=norm.number("std", 0, 1e9),
        train=splits.integer("train"), validation=splits.integer("validation"),
        baseline=Baseline(architecture=architecture, description=base.text("description"),
                          epochs=base.integer("epochs"), lr=base.number("lr", 0, 10),
                          schedule=schedule, batch_size=base.integer("batch_size"), seed=seed))


def parse_event(data: Any, where: str, tasks: dict[str, Task]) -> Event:
    """An Event from one event file's JSON, its task looked up in ``tasks``."""
    f = _Fields(data, where)
    f.only("name", "title", "description", "task", "score", "accuracy_floor", "divisions",
           "limits", "tolerance")
    task_name = f.text("task")
    if task_name not in tasks:
        raise f.fail("task", f"one of the tasks ({', '.join(sorted(tasks))})")
    score = f.obj("score")
    score.only("metrics", "combine")
    raw_metrics = score.data.get("metrics")
    if not isinstance(raw_metrics, list) or not raw_metrics:
        raise score.fail("metrics", "a non-empty list of {name, direction}")
    metrics = []
    for i, raw in enumerate(raw_metrics):
        m = _Fields(raw, f"{where}: score.metrics[{i}]")
        m.only("name", "direction")
        name, direction = m.text("name"), m.text("direction")
        if name not in SCORE_METRICS:
            raise m.fail("name", f"one of {', '.join(SCORE_METRICS)}")
        if direction not in ("lower", "higher"):
            raise m.fail("direction", "'lower' or 'higher'")
        metrics.append(Metric(name, direction))
    combine = score.data.get("combine", "product")
    if combine not in ("product", "geomean"):
        raise score.fail("combine", "'product' or 'geomean'")
    divisions = f.data.get("divisions", list(DIVISIONS))
    if not isinstance(divisions, list) or not divisions or not set(divisions) <= set(DIVISIONS):
        raise f.fail("divisions", f"a non-empty list of {', '.join(DIVISIONS)}")
    limits_f = _Fields(f.data.get("limits", {}), f"{where}: limits")
    limits_f.only(*LIMITS)
    limits = {k: limits_f.number(k, 0, math.inf) for k in limits_f.data}
    tol_f = _Fields(f.data.get("tolerance", {}), f"{where}: tolerance")
    tol_f.only(*DEFAULT_TOLERANCE)
    tolerance = {**DEFAULT_TOLERANCE,
                 **{k: tol_f.number(k, 0, math.inf) for k in tol_f.data}}
    return Event(name=f.text("name", NAME), title=f.text("title"),
                 description=f.text("description"), task=tasks[task_name],
                 metrics=tuple(metrics), combine=combine,
                 accuracy_floor=f.number("accuracy_floor", 0, 1, default=0.99),
                 divisions=tuple(divisions), limits=limits, tolerance=tolerance)


def load_rules(folder: str | Path | None = None) -> Rules:
    """The events and tasks of ``folder`` (``events/*.json``, ``tasks/*.json``); the built-in
    rules when ``folder`` is None."""
    root = Path(folder) if folder is not None else Path(str(resources.files(__package__)))
    for sub in ("events", "tasks"):
        if not (root / sub).is_dir():
            raise RulesError(f"{root}: no {sub}/ folder; a rules folder holds events/*.json "
                             "and tasks/*.json")
    tasks: dict[str, Task] = {}
    for path in sorted((root / "tasks").glob("*.json")):
        task = parse_task(_read_json(path), str(path))
        _name_matches_file(task.name, path)
        tasks[task.name] = task
    events: dict[str, Event] = {}
    for path in sorted((root / "events").glob("*.json")):
        event = parse_event(_read_json(path), str(path), tasks)
        _name_matches_file(event.name, path)
        events[event.name] = event
    if not events:
        raise RulesError(f"{root / 'events'}: no event files (*.json)")
    return Rules(events=events, tasks=tasks, source=str(root))


def _name_matches_file(name: str, path: Path) -> None:
    if name != path.stem:
        raise RulesError(f"{path}: its name is {name!r}; a rules file is named after what it "
                         f"defines ({name}.json)")
