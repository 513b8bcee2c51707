"""Shared fixtures: a rules folder with a small synthetic task, and its trained baseline.

The synthetic task keeps the tests off the network and fast: ten classes of 28x28 uint8
images, each a fixed prototype (grey plus a faint random pattern) under heavy noise, so the
quick baseline reaches about 88%, not 100%; saved as an .npz that a task file names.
Its events are the built-in ones pointed at that task, so the tests also exercise rules an
organiser wrote.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tinytorch.olympics.rules import load_rules

BUILTIN = Path(load_rules().source)

# Test files import their shared ONNX model builders (olympics_test_models.py) from here; with
# --import-mode=importlib the tests folder is not on sys.path by itself.
sys.path.insert(0, str(Path(__file__).parent))


def write_synthetic_rules(root: Path, n_train: int = 3000, n_val: int = 2000,
                          n_test: int = 2000) -> Path:
    """A rules folder whose events use a synthetic task ``synthetic-mlp``; returns it."""
    rng = np.random.default_rng(0)
    prototypes = 128 + rng.normal(0, 12, size=(10, 28, 28))

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, size=n)
        noise = rng.normal(0, 60, size=(n, 28, 28))
        return np.clip(prototypes[y] + noise, 0, 255).astype(np.uint8), y.astype(np.uint8)

    x_train, y_train = make(n_train + n_val)
    x_test, y_test = make(n_test)
    npz = root / "synthetic.npz"
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    (root / "tasks").mkdir(parents=True)
    (root / "events").mkdir()
    task = json.loads((BUILTIN / "tasks" / "fashion-mnist-mlp.json").read_text())
    task.update(name="synthetic-mlp", title="synthetic prototypes", dataset=str(npz),
                splits={"train": n_train, "validation": n_val})
    task["baseline"]["epochs"] = 2
    (root / "tasks" / "synthetic-mlp.json").write_text(json.dumps(task))
    for path in sorted((BUILTIN / "events").glob("*.json")):
        event = json.loads(path.read_text())
        # The quick baseline's accuracy moves by a point or two with the machine's rounding
        # (threads, BLAS), and 2,000 validation and 2,000 held-out images differ by as much:
        # looser floors and accuracy tolerance keep honest entries honest here, while the
        # dishonest ones of the tests stay 10 points or more away.
        event.update(task="synthetic-mlp", accuracy_floor=0.9, tolerance={"accuracy": 0.05})
        (root / "events" / path.name).write_text(json.dumps(event))
    return root


@pytest.fixture(scope="session")
def synthetic_rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_rules(tmp_path_factory.mktemp("rules"))
