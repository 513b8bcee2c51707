"""Benchmark: the standard workloads with defaults, quiet and beside a busy process.

    python tools/bench_busy.py [--repeats N] [--only TEXT] [--busy-core N]

Each workload is run under TinyTorch and PyTorch with their defaults: TinyTorch exactly as
installed (its thread policy is ``tinytorch.core.parallel``'s), PyTorch at the faster of 1
and 2 threads. The two frameworks take turns in blocks (``benchlib.paired_times``), twice:

1. **quiet**: nothing else of ours runs;
2. **busy**: beside a second Python process that spins in a loop pinned to one core
   (``os.sched_setaffinity``), as when another job shares the machine. The benchmark waits
   ``SWITCH`` seconds after starting and after stopping it, so that TinyTorch's look at the
   machine's load (every half second) has seen the change.

For each workload the table gives both frameworks' medians and the ratio (TinyTorch / PyTorch)
in each condition, and each framework's slowdown (busy / quiet). The targets: the 3x3 CNN
step at most 2.0x and the GPT step at most 1.5x PyTorch on the quiet machine, and a TinyTorch
slowdown no larger than PyTorch's.

The workloads (float32, CPU, training steps are forward, cross-entropy, backward, Adam):

- 3x3 CNN step: Conv 1->16 3x3, ReLU, max-pool, Conv 16->32 3x3, ReLU, max-pool, Linear
  1568->10, batch 64 of 1x28x28, no batch norm;
- milestone 04's CNN step: ``LeNet5(channels=(16, 32), batch_norm=True)``, batch 128;
- GPT step: milestone 05's character model (``tools/bench_transformer.py``), batch 32, AdamW;
- MLP step: 784-256-128-10 with ReLU, batch 128 (``tools/bench_train.py``);
- matmul: ``(x @ w).sum().backward()`` at 512x512, both operands requiring grad.

Nothing is asserted; the figures are for the README. On a machine with one core there is no
core to keep busy beside ours, and only the quiet half runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
import numpy as np
from bench_cnn import torch_lenet
from bench_train import train_step as mlp_step
from bench_transformer import gpt_step_case

import tinytorch as tt
from tinytorch.arch.models import LeNet5

SWITCH = 1.0  # seconds between starting or stopping the busy process and the next timed block


def cnn3x3_step(lib: Any, batch: int = 64) -> Callable[[], Callable[[], None]]:
    """Builder of one Adam step of the small 3x3-kernel CNN in ``lib`` (tinytorch or torch),
    both frameworks starting from the same weights."""
    def model_of(nn: Any) -> Any:
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 10))

    def build() -> Callable[[], None]:
        tt.manual_seed(0)
        ours = model_of(tt.nn)
        model = ours
        if lib is not tt:
            model = model_of(lib.nn)
            model.load_state_dict({k: lib.from_numpy(np.array(v.numpy()))
                                   for k, v in ours.state_dict().items()})
        return _adam_step(lib, model, (batch, 1, 28, 28), 10, lr=1e-3)
    return build


def lenet_step(lib: Any, batch: int = 128) -> Callable[[], Callable[[], None]]:
    """Builder of one Adam step of milestone 04's LeNet5 in ``lib``."""
    def build() -> Callable[[], None]:
        tt.manual_seed(0)
        ours = LeNet5(channels=(16, 32), batch_norm=True)
        model = ours if lib is tt else torch_lenet(lib, ours)
        return _adam_step(lib, model, (batch, 1, 28, 28), 10, lr=3e-3)
    return build


def _adam_step(lib: Any, model: Any, shape: tuple[int, ...], classes: int,
               lr: float) -> Callable[[], None]:
    """A training step of ``model`` on one fixed random batch of ``shape``."""
    rng = np.random.default_rng(0)
    x = lib.from_numpy(rng.standard_normal(shape).astype(np.float32))
    y = lib.from_numpy(rng.integers(0, classes, shape[0]))
    opt = lib.optim.Adam(model.parameters(), lr=lr)

    def step() -> None:
        loss = lib.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def matmul_step(lib: Any, n: int = 512) -> Callable[[], Callable[[], None]]:
    """Builder of ``(x @ w).sum().backward()`` at ``n x n`` in ``lib``."""
    def build() -> Callable[[], None]:
        rng = np.random.default_rng(0)
        x = lib.from_numpy(rng.standard_normal((n, n), dtype=np.float32)).requires_grad_()
        w = lib.from_numpy(rng.standard_normal((n, n), dtype=np.float32)).requires_grad_()

        def step() -> None:
            x.grad = w.grad = None
            (x @ w).sum().backward()
        return step
    return build


def cases(torch: Any, repeats: int) -> list[benchlib.Case]:
    """The workloads, as ``benchlib`` cases (PyTorch sides only when it is installed)."""
    gpt = gpt_step_case()
    rows = [
        ("3x3 CNN step (1->16->32, pools, Linear), B=64", cnn3x3_step, 2.0, repeats),
        ("milestone 04 LeNet5 step (batch norm), B=128", lenet_step, None, repeats),
        ("MLP 784-256-128-10 Adam step, B=128", mlp_step, None, repeats),
        ("512x512 matmul forward + backward", matmul_step, None, repeats),
    ]
    out = [benchlib.Case(name, make(tt), make(torch) if torch else None, target=target,
                         repeats=n) for name, make, target, n in rows]
    out.insert(1, benchlib.Case("GPT step (milestone 05), B=32", gpt.tinytorch,
                                gpt.torch if torch else None, target=1.5,
                                repeats=max(2, repeats // 2)))
    return out


def spin(core: int) -> subprocess.Popen[bytes]:
    """A separate Python process busy-looping on ``core`` until it is killed."""
    code = f"import os\nos.sched_setaffinity(0, {{{core}}})\nwhile True:\n    pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


def busy_core(cores: set[int]) -> int | None:
    """The core to keep busy: the highest one this process may use, or None with only one."""
    return max(cores) if len(cores) > 1 else None


def _ms(seconds: float | None) -> str:
    return f"{seconds * 1e3:,.2f}" if seconds is not None else "n/a"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def _factor(a: float | None, b: float | None) -> str:
    return _ratio(a, b) + ("x" if a is not None and b else "")


def main() -> None:
    p = benchlib.arg_parser(__doc__.splitlines()[0])
    p.description, p.formatter_class = __doc__, argparse.RawDescriptionHelpFormatter
    p.add_argument("--only", default="", help="run only the workloads whose name contains "
                                              "this text (case-insensitive)")
    p.add_argument("--busy-core", type=int, default=None,
                   help="the core the busy process is pinned to (default: the highest core "
                        "this process may run on)")
    args = p.parse_args()
    torch = benchlib.torch_or_none()
    cores = os.sched_getaffinity(0)
    core = args.busy_core if args.busy_core is not None else busy_core(cores)
    if core is not None and core not in cores:
        p.error(f"--busy-core {core}: this process may run on cores {sorted(cores)} only")
    selected = [c for c in cases(torch, args.repeats) if args.only.lower() in c.name.lower()]
    if not selected:
        p.error(f"--only {args.only!r} matches no workload")

    when = (f"quiet and beside a busy loop on core {core}" if core is not None
            else "quiet only (one core: none to keep busy)")
    print(f"Workloads with default settings, {when} "
          f"(ms per call; TinyTorch as installed, PyTorch at its faster of "
          f"{' and '.join(map(str, benchlib.TORCH_THREADS))} threads)")
    header = (f"{'workload':<46} {'quiet: ours':>11} {'torch':>9} {'ratio':>6}  "
              f"{'busy: ours':>10} {'torch':>9} {'ratio':>6}  {'slowdown ours':>13} "
              f"{'torch':>6}")
    print(header)
    print("-" * len(header))
    for case in selected:
        quiet = benchlib.paired_times(case, torch)
        busy: tuple[float | None, tuple[float, int] | None] = (None, None)
        if core is not None:
            loop = spin(core)
            try:
                time.sleep(SWITCH)
                busy = benchlib.paired_times(case, torch)
            finally:
                loop.kill()
                loop.wait()
            time.sleep(SWITCH)
        (q_ours, q_ref), (b_ours, b_ref) = _sides(quiet), _sides(busy)
        print(f"{case.name:<46} {_ms(q_ours):>11} {_ms(q_ref):>9} {_ratio(q_ours, q_ref):>6}  "
              f"{_ms(b_ours):>10} {_ms(b_ref):>9} {_ratio(b_ours, b_ref):>6}  "
              f"{_factor(b_ours, q_ours):>13} {_factor(b_ref, q_ref):>6}",
              flush=True)


def _sides(result: tuple[float | None, tuple[float, int] | None]
           ) -> tuple[float | None, float | None]:
    ours, ref = result
    return ours, ref[0] if ref else None


if __name__ == "__main__":
    main()
