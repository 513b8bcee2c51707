"""What a model costs, measured: parameters, forward FLOPs and latency, before and after.

- **Parameters**: element count of ``parameters()``, a shared parameter once.
- **FLOPs**: one forward pass on the example input, counted by ``tinytorch.perf.profile``
  (PyTorch's ``FlopCounterMode`` rules: a multiply-add is 2 FLOPs, only products count).
- **Latency**: the median of ``repeats`` timed forward passes after ``warmup`` untimed ones,
  in eval mode under ``no_grad`` (inference, the setting compression is for). The median
  ignores the slow outliers that other processes cause.

``compare_cost`` times the two models in alternation, one run of each in turn, so that a
change in the machine's load during the measurement falls on both alike; the ratio of the
medians is then fairer than two measurements taken one after the other.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from tinytorch.core.grad_mode import no_grad
from tinytorch.nn import Module
from tinytorch.perf.profiler import profile


@dataclass(frozen=True)
class ModelCost:
    """Parameters, forward FLOPs on the example input, and median forward latency."""

    parameters: int
    flops: int
    latency_ms: float


@dataclass(frozen=True)
class CostComparison:
    """The cost of a model before and after a compression, and the ratios."""

    before: ModelCost
    after: ModelCost

    @property
    def parameter_ratio(self) -> float:
        """after / before (0.25 = four times fewer parameters)."""
        return self.after.parameters / self.before.parameters

    @property
    def flop_ratio(self) -> float:
        return self.after.flops / self.before.flops if self.before.flops else 1.0

    @property
    def speedup(self) -> float:
        """before latency / after latency (2.0 = twice as fast)."""
        return self.before.latency_ms / self.after.latency_ms

    def __str__(self) -> str:
        rows = [("", "before", "after", "after/before"),
                ("parameters", f"{self.before.parameters:,}", f"{self.after.parameters:,}",
                 f"{self.parameter_ratio:.3f}"),
                ("forward FLOPs", f"{self.before.flops:,}", f"{self.after.flops:,}",
                 f"{self.flop_ratio:.3f}"),
                ("latency (ms)", f"{self.before.latency_ms:.3f}", f"{self.after.latency_ms:.3f}",
                 f"{1 / self.speedup:.3f}")]
        return "\n".join(f"{a:<14}{b:>14}{c:>14}{d:>14}" for a, b, c, d in rows)


@contextmanager
def _inference(model: Module) -> Iterator[None]:
    """Eval mode and no gradient recording for the block; each module's mode put back."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        for m, training in modes:
            m.training = training


def _check_runs(repeats: int, warmup: int) -> None:
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative int, got {warmup!r}")


def _counts(model: Module, example_input: Any) -> tuple[int, int]:
    total = profile(model, example_input, backward=False, repeats=1, warmup=0).total
    return sum(p.numel() for p in model.parameters()), total.flops_forward


def _time_once(model: Module, args: tuple[Any, ...]) -> float:
    start = time.perf_counter()
    model(*args)
    return time.perf_counter() - start


def _latencies(models: list[Module], example_input: Any, repeats: int,
               warmup: int) -> list[float]:
    """Median forward time of each model in ms, the models run in turn."""
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    times: list[list[float]] = [[] for _ in models]
    with ExitStack() as stack:
        for model in models:
            stack.enter_context(_inference(model))
        for run in range(warmup + repeats):
            for model, kept in zip(models, times):
                seconds = _time_once(model, args)
                if run >= warmup:
                    kept.append(seconds)
    return [statistics.median(t) * 1e3 for t in times]


def model_cost(model: Module, example_input: Any, *, repeats: int = 20,
               warmup: int = 3) -> ModelCost:
    """Parameters, forward FLOPs and median latency (ms) of ``model`` on ``example_input``
    (a Tensor, or a tuple of positional arguments)."""
    _check_runs(repeats, warmup)
    parameters, flops = _counts(model, example_input)
    (latency,) = _latencies([model], example_input, repeats, warmup)
    return ModelCost(parameters, flops, latency)


def compare_cost(before: Module, after: Module, example_input: Any, *, repeats: int = 20,
                 warmup: int = 3) -> CostComparison:
    """``ModelCost`` of a model and of its compressed version on the same input, the two
    timed in alternation; ``str()`` of the result is a small table."""
    _check_runs(repeats, warmup)
    counts = [_counts(model, example_input) for model in (before, after)]
    latencies = _latencies([before, after], example_input, repeats, warmup)
    first, second = (ModelCost(p, f, t) for (p, f), t in zip(counts, latencies))
    return CostComparison(first, second)
