"""Benchmarks for tinytorch-core: autograd overhead, matmul backward, and peak training memory.

Three measurements, each against a reference measured on this machine in the same run:

1. Autograd overhead on tiny tensors: a chain of ``y = y * 1.0001 + 0.5`` on a 4-element
   float32 tensor, forward then backward, reported as microseconds per recorded op (the chain
   has 2 ops per step). Reference: PyTorch doing the same, the faster of 1 and 2 threads.
   Target ratio <= 1.0.
2. ``(x @ w).sum().backward()`` at 512x512 float32, both inputs requiring grad, grads reset to
   None before each call (as ``zero_grad`` does). Reference: the three raw NumPy matmuls this
   needs (``x @ w``, ``g @ w.T``, ``x.T @ g``). Target ratio <= 1.1. Both run on the same
   NumPy BLAS: TinyTorch with its defaults (its thread policy picks the BLAS threads), the
   raw matmuls at 1 and at 2 BLAS threads with the faster kept. PyTorch is shown too.
3. Peak memory of one forward+backward through an MLP of plain tensors (L layers of
   ``h = relu(h @ w)``, width W, batch B; loss ``h.sum()``). Each framework runs in a fresh
   subprocess: build the weights and the input, run one W-sized matmul outside autograd so
   the BLAS library has allocated its buffers, then record VmRSS from /proc/self/status as the
   baseline, reset the high-water mark by writing "5" to /proc/self/clear_refs, run
   forward+backward, and read VmHWM. Peak = VmHWM - baseline. If clear_refs cannot be written
   the high-water mark covers the whole process (an upper bound; the table says so).
   Target ratio <= 1.3.

Times are medians over ``--repeats`` runs, taken round-robin (every candidate once per round,
in a shuffled order) so that load from other processes on a shared machine hits them alike;
PyTorch is timed at 1 and 2 threads and the faster kept. Memory is the median of
``--memory-runs`` subprocesses per framework. Expect some noise between invocations.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
import numpy as np

import tinytorch
from tinytorch.core.parallel import blas_threads

HEADER = f"{'case':<46} {'tinytorch':>14} {'reference':>20} {'ratio':>6} {'target':>7}"


def _row(name: str, ours: str, ref: str, ratio: float | None, target: float | None) -> None:
    r = f"{ratio:.2f}" if ratio is not None else "n/a"
    t = f"≤ {target:g}" if target is not None else ""
    print(f"{name:<46} {ours:>14} {ref:>20} {r:>6} {t:>7}", flush=True)


def round_robin(cases: dict[str, tuple[Callable[[], Any], Callable[[], None]]],
                repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each ``(prepare, fn)`` case, timing them in turns.

    ``prepare`` runs untimed before each call (for example, setting PyTorch's thread count).
    The order is shuffled every round (seeded), so no case always runs right after one whose
    worker threads may still be spinning.
    """
    for prepare, fn in cases.values():
        for _ in range(warmup):
            prepare()
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    order = list(cases)
    shuffle = random.Random(0).shuffle
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            shuffle(order)
            for name in order:
                prepare, fn = cases[name]
                prepare()
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    finally:
        if gc_was:
            gc.enable()
    return {name: statistics.median(ts) for name, ts in times.items()}


def _nothing() -> None:
    return None


def with_torch(cases: dict[str, tuple[Any, Any]], torch: Any,
               fn: Callable[[], None]) -> dict[str, tuple[Any, Any]]:
    """Add PyTorch at 1 and at 2 threads to ``cases`` (keys ``torch1`` and ``torch2``)."""
    if torch is not None:
        for n in (1, 2):
            cases[f"torch{n}"] = (lambda n=n: torch.set_num_threads(n), fn)
    return cases


def with_blas_threads(cases: dict[str, tuple[Any, Any]], name: str,
                      fn: Callable[[], None]) -> dict[str, tuple[Any, Any]]:
    """Add ``fn`` at 1 and 2 NumPy BLAS threads (keys ``name1``, ``name2``): on a busy 2-core
    machine two BLAS threads can wait for a core and run slower than one, so the faster is
    the fair figure for a reference."""
    for n in (1, 2):
        cases[f"{name}{n}"] = (_nothing, _with_blas(n, fn))
    return cases


def _with_blas(n: int, fn: Callable[[], None]) -> Callable[[], None]:
    """``fn`` run with NumPy's BLAS on ``n`` threads."""
    def run() -> None:
        with blas_threads(n):
            fn()
    return run


def best_of(medians: dict[str, float], name: str) -> tuple[float, str]:
    """The fastest median among ``name``, ``name1`` and ``name2``, and its thread label."""
    labels = {name: "", name + "1": "1t ", name + "2": "2t "}
    return min((t, labels[k]) for k, t in medians.items() if k in labels)


def best_torch(medians: dict[str, float]) -> tuple[float, int] | None:
    found = [(medians[k], int(k[-1])) for k in ("torch1", "torch2") if k in medians]
    return min(found) if found else None


# ---------------------------------------------------------------------- 1. autograd overhead
def chain(lib: Any, steps: int) -> Callable[[], None]:
    """Forward+backward through ``steps`` repetitions of ``y = y * 1.0001 + 0.5``."""
    def run() -> None:
        x = lib.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        y = x
        for _ in range(steps):
            y = y * 1.0001 + 0.5
        y.backward(lib.ones(4))
    return run


def bench_overhead(steps: int, repeats: int) -> None:
    torch = benchlib.torch_or_none()
    ops = 2 * steps
    cases = {"ours": (_nothing, chain(tinytorch, steps))}
    med = round_robin(with_torch(cases, torch, chain(torch, steps) if torch else _nothing),
                      repeats)
    ours = med["ours"] / ops
    ref_txt, ratio = "n/a (no torch)", None
    best = best_torch(med)
    if best is not None:
        ref, threads = best[0] / ops, best[1]
        ref_txt, ratio = f"{ref * 1e6:.2f} us ({threads}t torch)", ours / ref
    _row(f"autograd fwd+bwd per op ({ops:,}-op chain, 4 elem)", f"{ours * 1e6:.2f} us",
         ref_txt, ratio, 1.0)


# ---------------------------------------------------------------------- 2. matmul backward
def bench_matmul(n: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    xa = rng.standard_normal((n, n), dtype=np.float32)
    wa = rng.standard_normal((n, n), dtype=np.float32)
    ga = np.ones((n, n), dtype=np.float32)

    def numpy_three() -> None:
        xa @ wa
        ga @ wa.T
        xa.T @ ga

    x = tinytorch.from_numpy(xa.copy()).requires_grad_()
    w = tinytorch.from_numpy(wa.copy()).requires_grad_()

    def ours_step() -> None:
        x.grad = w.grad = None
        (x @ w).sum().backward()

    cases: dict[str, tuple[Any, Any]] = {"ours": (_nothing, ours_step)}
    with_blas_threads(cases, "numpy", numpy_three)
    torch = benchlib.torch_or_none()
    if torch is not None:
        tx = torch.from_numpy(xa.copy()).requires_grad_()
        tw = torch.from_numpy(wa.copy()).requires_grad_()

        def torch_step() -> None:
            tx.grad = tw.grad = None
            (tx @ tw).sum().backward()

        with_torch(cases, torch, torch_step)
    med = round_robin(cases, repeats)
    (ours, ours_t), (ref, ref_t) = best_of(med, "ours"), best_of(med, "numpy")
    _row(f"(x @ w).sum().backward(), {n}x{n}", f"{ours_t}{ours * 1e3:.2f} ms",
         f"{ref_t}{ref * 1e3:.2f} ms (3 np mm)", ours / ref, 1.1)
    best = best_torch(med)
    if best is not None:
        _row("  same, against PyTorch (for reference)", f"{ours_t}{ours * 1e3:.2f} ms",
             f"{best[0] * 1e3:.2f} ms ({best[1]}t torch)", ours / best[0], None)


# ---------------------------------------------------------------------- 3. peak memory
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} line")


def memory_child(lib_name: str, layers: int, width: int, batch: int) -> dict[str, Any]:
    """Run in a fresh process: peak RSS (bytes) of one forward+backward above the baseline."""
    if lib_name == "torch":
        import torch as lib
        lib.manual_seed(0)
    else:
        lib = tinytorch
        lib.manual_seed(0)
    scale = (2.0 / width) ** 0.5
    weights = [(lib.randn(width, width) * scale).requires_grad_() for _ in range(layers)]
    x = lib.randn(batch, width)
    with lib.no_grad():
        warm = x @ weights[0]  # let BLAS allocate its buffers before the baseline
    del warm
    baseline = _status_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False

    h = x
    for w in weights:
        h = (h @ w).relu()
    h.sum().backward()

    peak = _status_kib("VmHWM")
    assert all(w.grad is not None for w in weights)
    return {"peak_bytes": (peak - baseline) * 1024, "hwm_reset": reset}


def _run_memory_child(lib_name: str, layers: int, width: int, batch: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--memory-child", lib_name, "--mlp-layers", str(layers),
           "--mlp-width", str(width), "--mlp-batch", str(batch)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONHASHSEED": "0"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_memory(layers: int, width: int, batch: int, runs: int) -> None:
    torch = benchlib.torch_or_none()
    libs = ["tinytorch"] + (["torch"] if torch is not None else [])
    results: dict[str, list[dict[str, Any]]] = {lib: [] for lib in libs}
    for _ in range(runs):  # interleave, so slow drift on the machine hits both alike
        for lib in libs:
            results[lib].append(_run_memory_child(lib, layers, width, batch))
    peak = {lib: statistics.median(r["peak_bytes"] for r in rs) for lib, rs in results.items()}
    exact = all(r["hwm_reset"] for rs in results.values() for r in rs)
    mib = 2 ** 20
    name = f"peak RSS fwd+bwd, MLP {layers}x{width}, batch {batch}"
    if not exact:
        name += " (upper bound)"
    ours = f"{peak['tinytorch'] / mib:.1f} MiB"
    if torch is None:
        _row(name, ours, "n/a (no torch)", None, 1.3)
    else:
        _row(name, ours, f"{peak['torch'] / mib:.1f} MiB (torch)",
             peak["tinytorch"] / peak["torch"], 1.3)


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    p = benchlib.arg_parser(
        "tinytorch-core benchmarks: autograd overhead per op, (x @ w).sum().backward() "
        "against raw NumPy matmuls, and peak memory of an MLP forward+backward, each against "
        "PyTorch on this machine when it is installed. Ratio = tinytorch / reference "
        "(lower is better)."
    )
    p.add_argument("--only", choices=["overhead", "matmul", "memory"], action="append",
                   help="run only this benchmark (repeatable); default: all three")
    p.add_argument("--chain-steps", type=int, default=1000,
                   help="steps of y = y*1.0001 + 0.5 (2 ops each) in the overhead chain")
    p.add_argument("--size", type=int, default=512, help="n for the n x n matmul benchmark")
    p.add_argument("--matmul-repeats", type=int, default=21,
                   help="timed runs of the matmul case (each a few ms, and the most sensitive "
                        "to other load on the machine, so more than --repeats)")
    p.add_argument("--mlp-layers", type=int, default=20, help="layers of the memory MLP")
    p.add_argument("--mlp-width", type=int, default=1024, help="width of the memory MLP")
    p.add_argument("--mlp-batch", type=int, default=256, help="batch of the memory MLP")
    p.add_argument("--memory-runs", type=int, default=3,
                   help="fresh subprocesses per framework for the memory figure (median kept)")
    p.add_argument("--memory-child", choices=["tinytorch", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.mlp_layers, args.mlp_width,
                                      args.mlp_batch)))
        return

    which = args.only or ["overhead", "matmul", "memory"]
    print(f"\ntinytorch-core benchmarks (medians; ratio = tinytorch / reference; "
          f"numpy {np.__version__})")
    print(HEADER)
    print("-" * len(HEADER))
    if "overhead" in which:
        bench_overhead(args.chain_steps, args.repeats)
    if "matmul" in which:
        bench_matmul(args.size, args.matmul_repeats)
    if "memory" in which:
        bench_memory(args.mlp_layers, args.mlp_width, args.mlp_batch, args.memory_runs)


if __name__ == "__main__":
    main()
