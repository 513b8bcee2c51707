"""Milestone 01 — Rosenblatt's perceptron (1957): one neuron learns a line.

A single neuron ``z = w·x + b`` with a step output (class +1 when z > 0, else −1) is trained
with Rosenblatt's rule on linearly separable 2-D points: for each misclassified point (x, t),
``w ← w + lr·t·x`` and ``b ← b + lr·t``. That rule is plain SGD on the *perceptron criterion*
``max(0, −t·z)``, whose gradient is ``−t·x`` on a mistake and 0 otherwise — so here it is
``nn.Linear(2, 1)``, that loss, ``optim.SGD`` and ``tinytorch.train.fit`` with one sample per
step, exactly as the Mark I updated its weights after each card it saw.

Data: 600 points drawn uniformly from the square [−1, 1]², labelled by which side of a random
line they fall on; points closer than 0.1 to the line are redrawn, so a margin exists and the
perceptron convergence theorem (Novikoff, 1962) guarantees the rule stops making mistakes.
500 points train, 100 are held out. Target: ≥ 99% accuracy on the held-out points.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common
import numpy as np

import tinytorch as tt
from tinytorch import nn, optim
from tinytorch.train import fit

TARGET = 0.99
MARGIN = 0.1


class Samples:
    """One (x, t) pair per batch, in a fresh order each epoch drawn from tinytorch's generator."""

    def __init__(self, x: np.ndarray, t: np.ndarray) -> None:
        self.x, self.t = x, t

    def __len__(self) -> int:
        return len(self.x)

    def __iter__(self):
        for i in tt.randperm(len(self.x)).numpy():
            yield tt.tensor(self.x[i:i + 1]), tt.tensor(self.t[i:i + 1])


def separable_points(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points in [−1, 1]² at least MARGIN from a random line, labelled ±1 by its side."""
    angle = rng.uniform(0, 2 * np.pi)
    normal = np.array([np.cos(angle), np.sin(angle)])
    offset = rng.uniform(-0.3, 0.3)
    points = np.empty((0, 2))
    while len(points) < n:
        batch = rng.uniform(-1, 1, (2 * n, 2))
        keep = np.abs(batch @ normal - offset) >= MARGIN
        points = np.concatenate([points, batch[keep]])
    points = points[:n].astype(np.float32)
    labels = np.where(points @ normal - offset > 0, 1.0, -1.0).astype(np.float32)
    return points, labels[:, None]


def perceptron_criterion(z: tt.Tensor, t: tt.Tensor) -> tt.Tensor:
    """mean(max(0, −t·z)): zero for correct sides, the distance-like error otherwise."""
    return (-(t * z)).relu().mean()


def sign_accuracy(z: tt.Tensor, t: tt.Tensor) -> float:
    """The step function's verdict (z > 0 means +1) compared with the ±1 labels."""
    return float(np.mean((z.detach().numpy() > 0) == (t.numpy() > 0)))


def main() -> None:
    args = common.parser(__doc__).parse_args()
    rng = np.random.default_rng(args.seed)
    tt.manual_seed(args.seed)
    x, t = separable_points(600, rng)
    train, test = Samples(x[:500], t[:500]), (tt.tensor(x[500:]), tt.tensor(t[500:]))
    epochs = 10  # a few seconds; --quick runs the same work

    neuron = nn.Linear(2, 1)
    with common.Timer() as timer:
        history = fit(neuron, perceptron_criterion, optim.SGD(neuron.parameters(), lr=0.1),
                      train, epochs, metrics={"accuracy": sign_accuracy})
    with tt.no_grad():
        achieved = sign_accuracy(neuron(test[0]), test[1])

    w = neuron.weight.detach().numpy()[0]
    b = neuron.bias.detach().numpy()[0]
    report = common.Report(
        milestone="01 Perceptron (1957)", metric="held-out accuracy", target=TARGET,
        achieved=achieved, seconds=timer.seconds,
        parameters=sum(p.numel() for p in neuron.parameters()),
        details={"train acc": f"{history[-1]['train_accuracy']:.4f} after {epochs} epochs",
                 "line": f"{w[0]:+.3f}·x1 {w[1]:+.3f}·x2 {b:+.3f} = 0"},
    )
    common.exit_with(report, args.json)


if __name__ == "__main__":
    main()
