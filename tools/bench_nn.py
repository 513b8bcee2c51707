"""Benchmarks of tinytorch-nn against PyTorch on this machine, in the same run.

    python tools/bench_nn.py [--repeats N] [--only TEXT]

Each case is built by one function below that returns a ``benchlib.Case``; ``cases()`` lists
them, so adding a benchmark is adding one function and one line there. A second table times
every case with its fast kernel and with its plain reference (``use_reference_kernels``), so
each kernel's gain is measured, not claimed.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib
from benchlib import Case

import tinytorch
import tinytorch.nn.functional as F


def cross_entropy_case(n: int = 4096, classes: int = 1000) -> Case:
    """Cross-entropy forward + backward on (n, classes) float32 logits, mean reduction."""
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((n, classes), dtype=np.float32)
    target = rng.integers(0, classes, n)

    def ours():
        x = tinytorch.tensor(logits, requires_grad=True)
        t = tinytorch.tensor(target)

        def step():
            x.grad = None
            loss = F.cross_entropy(x, t)
            loss.backward()
            return [loss.array, x.grad.array]      # what kernel_vs_reference checks
        return step

    def theirs():
        import torch
        x = torch.tensor(logits, requires_grad=True)
        t = torch.tensor(target)

        def step():
            x.grad = None
            torch.nn.functional.cross_entropy(x, t).backward()
        return step

    return Case(f"cross_entropy fwd+bwd ({n}, {classes}) f32", ours, theirs, target=1.2)


def _fwd_bwd_case(name: str, shape: tuple[int, ...], ours_fn, theirs_fn) -> Case:
    """Forward + backward of a shape-preserving op with a fixed upstream gradient."""
    rng = np.random.default_rng(1)
    data = rng.standard_normal(shape, dtype=np.float32)
    grad = rng.standard_normal(shape, dtype=np.float32)

    def ours():
        x, g = tinytorch.tensor(data, requires_grad=True), tinytorch.tensor(grad)

        def step():
            x.grad = None
            out = ours_fn(x)
            out.backward(g)
            return [out.array, x.grad.array]        # what kernel_vs_reference checks
        return step

    def theirs():
        import torch
        x, g = torch.tensor(data, requires_grad=True), torch.tensor(grad)

        def step():
            x.grad = None
            theirs_fn(torch, x).backward(g)
        return step

    return Case(name, ours, theirs)


def gelu_case(shape: tuple[int, ...] = (4096, 1024)) -> Case:
    return _fwd_bwd_case(f"gelu (exact) fwd+bwd {shape} f32", shape, F.gelu,
                         lambda torch, x: torch.nn.functional.gelu(x))


def layer_norm_case(shape: tuple[int, ...] = (4096, 1024)) -> Case:
    return _fwd_bwd_case(f"layer_norm fwd+bwd {shape} f32", shape,
                         lambda x: F.layer_norm(x, shape[-1:]),
                         lambda torch, x: torch.nn.functional.layer_norm(x, shape[-1:]))


def silu_case(shape: tuple[int, ...] = (4096, 1024)) -> Case:
    return _fwd_bwd_case(f"silu fwd+bwd {shape} f32", shape, F.silu,
                         lambda torch, x: torch.nn.functional.silu(x))


def rms_norm_case(shape: tuple[int, ...] = (4096, 1024)) -> Case:
    return _fwd_bwd_case(f"rms_norm fwd+bwd {shape} f32", shape,
                         lambda x: F.rms_norm(x, shape[-1:]),
                         lambda torch, x: torch.nn.functional.rms_norm(x, shape[-1:]))


def cases() -> list[Case]:
    return [
        cross_entropy_case(),
        gelu_case(),
        silu_case(),
        layer_norm_case(),
        rms_norm_case(),
    ]


def main() -> None:
    parser = benchlib.arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--only", metavar="TEXT", default="",
                        help="run only the cases whose name contains TEXT")
    args = parser.parse_args()
    selected = [c for c in cases() if args.only in c.name]
    for c in selected:
        c.repeats = args.repeats
    benchlib.run(selected, "tinytorch-nn vs PyTorch (CPU, same run; ratio = ours / theirs)")
    benchlib.kernel_vs_reference(selected, "tinytorch-nn kernels vs their references")


if __name__ == "__main__":
    main()
