"""A task's data: the training and validation splits entrants use, and the held-out split.

Three splits come from two files, as in MLPerf:

- **train**: the first ``task.train`` images of the training file. Baselines train on it and
  entries calibrate on it (the closed division's only data).
- **validation**: the ``task.validation`` images after those. ``submit`` measures an entry's
  claimed accuracy here, so an entrant never needs the held-out images.
- **held-out**: the test file, shuffled with the verifier's fixed seed. Only the verifier runs
  models on it; its accuracy is the one the leaderboard shows.

Images are uint8 pixels, standardised to float32 as ``(pixel / 255 - mean) / std`` with the
task's constants and shaped ``(N, *task.input_shape)``: 4 bytes per pixel, 31 MB for the
10,000 Fashion-MNIST test images.

``task.dataset`` names a dataset of tinytorch.data (``fashion-mnist``, ``mnist``; read from
its verified cache, downloaded only when asked) or an ``.npz`` file holding ``x_train``,
``y_train``, ``x_test`` and ``y_test`` (loaded without pickles).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinytorch.olympics.rules import Task


@dataclass(frozen=True)
class Split:
    """Standardised float32 inputs ``x`` (N, *input_shape) and int64 labels ``y`` (N,)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def take(self, n: int | None) -> Split:
        """The first ``n`` samples (all when ``n`` is None)."""
        return self if n is None else Split(self.x[:n], self.y[:n])


def _raw(task: Task, root: str | os.PathLike[str] | None, download: bool
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """uint8 training images and labels, then test images and labels."""
    if task.dataset.endswith(".npz"):
        path = Path(task.dataset)
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = [np.asarray(f[k]) for k in ("x_train", "y_train", "x_test", "y_test")]
        except (OSError, KeyError, ValueError) as e:
            raise RuntimeError(f"task {task.name}: cannot read {path} (an .npz with x_train, "
                               f"y_train, x_test, y_test): {e}") from None
        return arrays[0], arrays[1], arrays[2], arrays[3]
    from tinytorch.data import MNIST, FashionMNIST
    datasets = {"fashion-mnist": FashionMNIST, "mnist": MNIST}
    if task.dataset not in datasets:
        raise RuntimeError(f"task {task.name}: unknown dataset {task.dataset!r}; expected "
                           f"{', '.join(datasets)} or a path to an .npz file")
    cls = datasets[task.dataset]
    train = cls(root, train=True, download=download)
    test = cls(root, train=False, download=download)
    return (train.data.numpy(), train.targets.numpy(), test.data.numpy(),
            test.targets.numpy())


def standardise(task: Task, images: np.ndarray) -> np.ndarray:
    """uint8 pixels (N, ...) -> float32 (N, *task.input_shape), ``(p / 255 - mean) / std``."""
    x = images.reshape(len(images), *task.input_shape).astype(np.float32)
    x *= np.float32(1 / (255 * task.std))
    x -= np.float32(task.mean / task.std)
    return np.ascontiguousarray(x)


def _check_sizes(task: Task, n_train_file: int) -> None:
    if task.train + task.validation > n_train_file:
        raise RuntimeError(f"task {task.name}: splits train {task.train:,} + validation "
                           f"{task.validation:,} exceed the {n_train_file:,} training images")


def load_splits(task: Task, root: str | os.PathLike[str] | None = None, *,
                download: bool = False) -> tuple[Split, Split]:
    """The task's training and validation splits (standardised)."""
    x, y, _, _ = _raw(task, root, download)
    _check_sizes(task, len(x))
    end = task.train + task.validation
    return (Split(standardise(task, x[:task.train]), y[:task.train].astype(np.int64)),
            Split(standardise(task, x[task.train:end]), y[task.train:end].astype(np.int64)))


def heldout(task: Task, root: str | os.PathLike[str] | None = None, *, seed: int,
            samples: int | None = None, download: bool = False) -> Split:
    """The test file in the order of a fixed-seed permutation, the first ``samples`` of it."""
    _, _, x, y = _raw(task, root, download)
    order = np.random.default_rng(seed).permutation(len(y))[:samples]
    return Split(standardise(task, x[order]), y[order].astype(np.int64))
