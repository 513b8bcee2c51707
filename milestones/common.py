"""Shared pieces of every milestone script: argument parsing, test accuracy and the report.

Each milestone prints its report (target, achieved, time, parameters) to stdout and exits with
status 0 when it met its target, 1 when it missed it. ``tito milestone run`` puts this folder on
``sys.path`` so the scripts can ``import common``; running a script directly works too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from tinytorch.core.atomic import atomic_write


def positive_int(text: str) -> int:
    """An ``argparse`` type: an integer of at least 1 (epochs, steps, batch sizes, threads)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def parser(description: str, data_dir: bool = False) -> argparse.ArgumentParser:
    """An argument parser with the options every milestone understands (and, with
    ``data_dir``, ``--data-dir`` for the milestones that read a dataset)."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a short run for CI, judged against a lower bar")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--json", metavar="FILE",
                   help="also write the report as JSON to FILE")
    p.add_argument("--download", action=argparse.BooleanOptionalAction, default=True,
                   help="fetch dataset files missing from the cache, verified by SHA-256 "
                        "(default); --no-download fails with a message naming the files instead")
    if data_dir:
        p.add_argument("--data-dir", metavar="DIR", default=None,
                       help="data root (default: $TINYTORCH_DATA or ~/.cache/tinytorch)")
    return p


def accuracy(model: Any, x: Any, y: Any, chunk: int = 1000) -> float:
    """Percentage of the rows of ``x`` whose arg-max prediction is ``y``.

    Evaluated in eval mode, without a graph, ``chunk`` rows at a time (so the activations of
    the whole test set never sit in memory at once); the model is left in training mode.
    """
    import tinytorch

    model.eval()
    correct = 0
    with tinytorch.no_grad():
        for start in range(0, len(x), chunk):
            logits = model(x[start:start + chunk])
            correct += int((logits.argmax(dim=1) == y[start:start + chunk]).sum().item())
    model.train()
    return 100.0 * correct / len(x)


@dataclass
class Report:
    """What a milestone achieved against its target."""

    milestone: str
    metric: str
    target: float
    achieved: float
    higher_is_better: bool = True
    seconds: float = 0.0
    parameters: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        if self.higher_is_better:
            return self.achieved >= self.target
        return self.achieved <= self.target

    def show(self) -> None:
        op = "≥" if self.higher_is_better else "≤"
        verdict = "PASSED" if self.passed else "MISSED"
        lines = [
            "",
            f"== {self.milestone}: {verdict} ==",
            f"  target     {self.metric} {op} {self.target:g}",
            f"  achieved   {self.metric} = {self.achieved:.4g}",
            f"  time       {self.seconds:.1f} s",
            f"  parameters {self.parameters:,}",
        ]
        for k, v in self.details.items():
            lines.append(f"  {k:<10} {v}")
        print("\n".join(lines), flush=True)

    def finish(self, json_path: str | None = None) -> int:
        """Print the report, optionally save it as JSON, and return the exit status."""
        self.show()
        if json_path:
            data = {**self.__dict__, "passed": self.passed}
            with atomic_write(json_path, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2, default=str)
        return 0 if self.passed else 1


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def exit_with(report: Report, json_path: str | None = None) -> None:
    sys.exit(report.finish(json_path))
