"""Benchmark: onnxruntime latency of milestone 03's MLP in float32 and as its int8 QDQ export.

The model is ``MLP(784, (256, 128), 10)``. Its int8 form is ``tinytorch.perf.quantize_static``
(min/max calibration on ``--calibration`` random inputs; the weights are random too, which
changes nothing in the time of a dense layer). Both are exported with ``tinytorch.onnx.export``
(dynamic batch axis) and run in onnxruntime's CPU provider:

- session options: graph optimisation level ``ORT_ENABLE_ALL`` (so the QDQ groups become
  integer kernels; the script prints the ops onnxruntime actually runs), ``--threads`` intra-op
  threads (default 1: the integer and float kernels compared on one core), one inter-op thread;
- before timing, the int8 file's outputs are checked against tinytorch's own on the same
  input (they are expected to be equal bit for bit) and the float32 file's within 1e-4;
- each figure is the median seconds per call over ``3 × --repeats`` timed runs, each run
  ``--calls`` back-to-back ``session.run`` calls, after warm-up calls; the two models take
  turns in blocks (``benchlib.block_times``) so a slow stretch of the machine falls on both.

The speed-up column is float32 time / int8 time (above 1: int8 is faster). Milestone 06's
target is ≥ 2× at batch 128.

Run: python tools/bench_onnx_quant.py [--batches 1 128] [--repeats N] [--calls N]
     [--threads N] [--opset N] [--calibration N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
import numpy as np

import tinytorch
from tinytorch.arch.models import MLP
from tinytorch.perf import quantize_static

ROWS = 784


def session(path: str, threads: int, optimized: str | None = None) -> Any:
    """An onnxruntime CPU session at full graph optimisation on ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    if optimized is not None:
        options.optimized_model_filepath = optimized
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def kernels(path: str, threads: int, folder: str) -> str:
    """The node types onnxruntime runs for ``path`` after its graph optimisations."""
    import onnx

    optimized = os.path.join(folder, "optimized.onnx")
    session(path, threads, optimized)
    ops = [n.op_type for n in onnx.load(optimized).graph.node]
    return ", ".join(dict.fromkeys(ops))


def export_models(folder: str, opset: int, calibration: int) -> dict[str, tuple[Any, str]]:
    """The float32 and int8 MLPs and the paths of their ONNX files."""
    from tinytorch.onnx import export

    tinytorch.manual_seed(0)
    model = MLP(ROWS, (256, 128), 10).eval()
    int8 = quantize_static(model, [tinytorch.randn(calibration, ROWS)])
    models = {}
    for name, m in (("float32", model), ("int8", int8)):
        path = os.path.join(folder, f"mlp_{name}.onnx")
        export(m, (tinytorch.randn(2, ROWS),), path, input_names=["x"], output_names=["y"],
               opset_version=opset, dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        models[name] = (m, path)
    return models


def check(model: Any, sess: Any, name: str) -> None:
    """The file's output equals tinytorch's (int8: bit for bit; float32: within 1e-4)."""
    x = np.random.default_rng(1).standard_normal((64, ROWS)).astype(np.float32)
    (got,) = sess.run(None, {"x": x})
    with tinytorch.no_grad():
        want = model(tinytorch.from_numpy(x)).numpy()
    same = np.array_equal(got, want) if name == "int8" else np.allclose(got, want, 1e-4, 1e-5)
    if not same:
        raise SystemExit(f"{name}: onnxruntime's output differs from tinytorch's (max abs "
                         f"error {np.abs(got - want).max():.3g}); not timing a wrong model")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[2:]))
    p.add_argument("--batches", type=int, nargs="+", default=[1, 128],
                   help="batch sizes to time (default: 1 128)")
    p.add_argument("--repeats", type=int, default=7,
                   help=f"timed runs per block; each model gets {benchlib.ROUNDS} blocks per "
                        "batch size and the median is kept (default: 7)")
    p.add_argument("--calls", type=int, default=20,
                   help="session.run calls per timed run (default: 20)")
    p.add_argument("--threads", type=int, default=1,
                   help="onnxruntime intra-op threads (default: 1)")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset to export (default: 18)")
    p.add_argument("--calibration", type=int, default=512,
                   help="random inputs for the int8 model's min/max calibration (default: 512)")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        models = export_models(folder, args.opset, args.calibration)
        sessions = {}
        print(f"onnxruntime, {args.threads} intra-op thread(s), ORT_ENABLE_ALL, "
              f"opset {args.opset}")
        for name, (model, path) in models.items():
            sessions[name] = session(path, args.threads)
            check(model, sessions[name], name)
            print(f"{name:<8} {os.path.getsize(path):>10,} bytes  runs: "
                  f"{kernels(path, args.threads, folder)}")

        header = f"{'batch':>6} {'float32':>12} {'int8':>12} {'speed-up':>9}"
        print("\nMedian time per call; speed-up = float32 / int8 (target ≥ 2× at batch 128)")
        print(header)
        print("-" * len(header))
        for batch in args.batches:
            x = np.random.default_rng(2).standard_normal((batch, ROWS)).astype(np.float32)
            times: dict[str, list[float]] = {name: [] for name in sessions}
            for _ in range(benchlib.ROUNDS):
                for name, sess in sessions.items():
                    times[name] += benchlib.block_times(
                        lambda s=sess, feed={"x": x}: s.run(None, feed), args.repeats,
                        inner=args.calls)
            f32, i8 = (statistics.median(times[n]) for n in ("float32", "int8"))
            print(f"{batch:>6} {f32 * 1e6:>9.1f} µs {i8 * 1e6:>9.1f} µs {f32 / i8:>8.2f}×",
                  flush=True)


if __name__ == "__main__":
    main()
