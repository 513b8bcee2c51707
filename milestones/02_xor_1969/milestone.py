"""Milestone 02 — XOR (1969): where one layer fails and two succeed.

XOR labels (0,0) and (1,1) as 0, (0,1) and (1,0) as 1. A single layer computes one line
``w·x + b = 0`` and calls one side 1: any line leaves at least one of the four points on the
wrong side, so no single layer can exceed 75% — Minsky and Papert's argument in *Perceptrons*.

Part 1 trains a single layer (``nn.Linear(2, 1)``, sigmoid, binary cross-entropy) and reports
its accuracy, and checks the geometry directly: the best of 20,000 random lines still gets at
most 3 of the 4 points right. Part 2 adds a hidden layer (2 → 8 → 1, tanh) and trains it the
same way; it bends the boundary and gets all four. Target: 100% for the two-layer network.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common
import numpy as np

import tinytorch as tt
from tinytorch import nn, optim
from tinytorch.train import accuracy, fit

TARGET = 1.0
EPOCHS = 500  # full-batch steps on the four points; a second or so. --quick runs the same


def xor_data() -> list[tuple[tt.Tensor, tt.Tensor]]:
    """The four XOR points as one batch: x (4, 2), labels (4, 1)."""
    x = tt.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = tt.tensor([[0.0], [1.0], [1.0], [0.0]])
    return [(x, y)]


def train(model: nn.Module, data: list[tuple[tt.Tensor, tt.Tensor]]) -> tuple[float, float]:
    """Train with Adam on binary cross-entropy; return (accuracy, final loss) on the points."""
    history = fit(model, nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=0.05), data,
                  EPOCHS, metrics=["accuracy"])
    x, y = data[0]
    with tt.no_grad():
        return accuracy(model(x), y), history[-1]["train_loss"]


def best_line_accuracy(rng: np.random.Generator, lines: int = 20_000) -> float:
    """The best accuracy any of ``lines`` random lines (either side = 1) reaches on XOR."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([0, 1, 1, 0], dtype=bool)
    w = rng.standard_normal((lines, 2))
    b = rng.uniform(-2, 2, (lines, 1))
    side = (w @ x.T + b) > 0                       # (lines, 4): which side each point is on
    correct = (side == y).mean(axis=1)
    return float(np.maximum(correct, 1 - correct).max())


def main() -> None:
    args = common.parser(__doc__).parse_args()
    tt.manual_seed(args.seed)
    data = xor_data()

    with common.Timer() as timer:
        print("Part 1: a single layer (2 -> 1)", flush=True)
        single = nn.Linear(2, 1)
        single_acc, single_loss = train(single, data)
        lines_acc = best_line_accuracy(np.random.default_rng(args.seed))
        print(f"  single layer: {single_acc:.0%} on XOR, loss stuck at {single_loss:.3f} "
              f"(ln 2 = {np.log(2):.3f} is the loss of answering 50% everywhere);\n"
              f"  best of 20,000 random lines: {lines_acc:.0%}. It fails: no straight line puts "
              "(0,1) and (1,0) on one side\n  and (0,0) and (1,1) on the other, so one layer "
              "tops out at 75%.", flush=True)

        print("Part 2: a two-layer network (2 -> 8 -> 1, tanh)", flush=True)
        mlp = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
        mlp_acc, mlp_loss = train(mlp, data)
        print(f"  two layers: {mlp_acc:.0%} on XOR, loss {mlp_loss:.4f}", flush=True)

    report = common.Report(
        milestone="02 XOR (1969)", metric="two-layer accuracy", target=TARGET,
        achieved=mlp_acc, seconds=timer.seconds,
        parameters=sum(p.numel() for p in mlp.parameters()),
        details={"1 layer": f"{single_acc:.0%} (cannot exceed 75%: XOR is not linearly "
                            "separable)",
                 "best line": f"{lines_acc:.0%} of 20,000 random lines"},
    )
    common.exit_with(report, args.json)


if __name__ == "__main__":
    main()
