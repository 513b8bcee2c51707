"""Benchmark: one Adam training step of the 784-256-128-10 MLP (ReLU) at batch 128.

A step is ``zero_grad``, forward, cross-entropy, backward and ``optimizer.step()``, on fixed
float32 inputs. The reference is PyTorch doing the same in the same run (the faster of 1 and 2
threads). Target ratio ≤ 1.2. Two more rows isolate the optimizer: ``Adam.step()`` and
``SGD(momentum=0.9).step()`` alone over the same 235,146 parameters, with gradients set once.

Run: python tools/bench_train.py [--repeats N]
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
import numpy as np

import tinytorch as tt

SIZES = (784, 256, 128, 10)
BATCH = 128


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH).astype(np.int64)
    return x, y


def _mlp(lib: Any) -> Any:
    lib.manual_seed(0)
    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(SIZES, SIZES[1:])):
        layers.append(lib.nn.Linear(a, b))
        if i < len(SIZES) - 2:
            layers.append(lib.nn.ReLU())
    return lib.nn.Sequential(*layers)


def train_step(lib: Any) -> Callable[[], Callable[[], None]]:
    """Builder of one full Adam training step in ``lib`` (tinytorch or torch)."""
    def build() -> Callable[[], None]:
        model = _mlp(lib)
        opt = lib.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = lib.nn.CrossEntropyLoss()
        xa, ya = _data()
        x, y = lib.from_numpy(xa), lib.from_numpy(ya)

        def step() -> None:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        return step
    return build


def optimizer_step(lib: Any, make: Callable[[Any, Any], Any]) -> Callable[[], Callable[[], None]]:
    """Builder of ``opt.step()`` alone over the MLP's parameters, gradients set once."""
    def build() -> Callable[[], None]:
        model = _mlp(lib)
        rng = np.random.default_rng(1)
        for p in model.parameters():
            p.grad = lib.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32))
        opt = make(lib, model.parameters())
        return opt.step
    return build


def main() -> None:
    args = benchlib.arg_parser(__doc__.splitlines()[0]).parse_args()
    torch = benchlib.torch_or_none()

    def adam(lib: Any, params: Any) -> Any:
        return lib.optim.Adam(params, lr=1e-3)

    def sgd(lib: Any, params: Any) -> Any:
        return lib.optim.SGD(params, lr=1e-3, momentum=0.9)

    cases = [
        benchlib.Case("Adam train step, MLP 784-256-128-10, B=128", train_step(tt),
                      train_step(torch) if torch else None, target=1.2, repeats=args.repeats,
                      inner=5),
        benchlib.Case("Adam.step() alone, 235,146 params", optimizer_step(tt, adam),
                      optimizer_step(torch, adam) if torch else None, repeats=args.repeats,
                      inner=10),
        benchlib.Case("SGD(momentum).step() alone, 235,146 params", optimizer_step(tt, sgd),
                      optimizer_step(torch, sgd) if torch else None, repeats=args.repeats,
                      inner=10),
    ]
    benchlib.run(cases, "Training step (float32, CPU)")


if __name__ == "__main__":
    main()
