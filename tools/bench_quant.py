"""Benchmark: INT8 quantization (``tinytorch.perf``) against float32 — size, time, accuracy.

Models: milestone 03's MLP (``MLP(784, (256, 128), 10)``) and milestone 04's CNN
(``LeNet5(channels=(16, 32), batch_norm=True)``), each in float32, dynamically quantized
(``quantize_dynamic``: its Linear layers) and statically quantized (``quantize_static``,
min/max or percentile calibration on 512 random inputs for the size and time rows).
Dynamic quantization covers Linear layers only: in its CNN rows the convolutions stay float32.

- Size rows: bytes on disk of ``tinytorch.save(model.state_dict(), path)`` and the ratio
  float32 / int8.
- Time rows: one forward pass without a graph, at batch 1 and 128 for the MLP and 128 for
  the CNN; medians of ``--repeats`` timed calls in ``benchlib`` blocks, float32 and the int8
  models taking turns so that a slow stretch of the machine falls on all of them. The ratio
  is int8 time / float32 time (above 1.0: int8 is slower). On NumPy the integer product runs
  on float32 BLAS with quantize, widen and requantize passes around it, so int8 is expected
  to be slower here; its gain is memory. onnxruntime's integer kernels are where it is fast.
- ``--accuracy``: Fashion-MNIST test accuracy (10,000 images) of each model in float32 and
  int8. The models are trained here first (Adam, ``--mlp-epochs`` / ``--cnn-epochs`` epochs
  on the 60,000 training images, as milestones 03 and 04 train them), and the static models
  are calibrated on 512 training images. Target: int8 accuracy ≥ 99% of float32's (MLPerf's
  closed-division rule). Needs the Fashion-MNIST files under ``$TINYTORCH_DATA`` (or
  ``--data-dir``).

Run: python tools/bench_quant.py [--repeats N] [--accuracy [--models mlp cnn]
     [--mlp-epochs N] [--cnn-epochs N] [--data-dir DIR]]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
import numpy as np

import tinytorch
from tinytorch import nn
from tinytorch.arch.models import MLP, LeNet5
from tinytorch.perf import quantize_dynamic, quantize_static

CALIBRATION = 512
MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mlp": (lambda: MLP(784, (256, 128), 10), (784,)),
    "cnn": (lambda: LeNet5(channels=(16, 32), batch_norm=True), (1, 28, 28)),
}


def variants(model: nn.Module, calibration: list[tinytorch.Tensor]) -> dict[str, nn.Module]:
    """The float32 model and its int8 forms."""
    return {"float32": model.eval(), "int8 dynamic": quantize_dynamic(model),
            "int8 static": quantize_static(model, calibration),
            "int8 static pct": quantize_static(model, calibration, observer="percentile")}


def file_sizes(models: dict[str, nn.Module]) -> dict[str, int]:
    """Bytes on disk of each model's saved state_dict."""
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in models.items():
            path = os.path.join(tmp, "model.tt")
            tinytorch.save(model.state_dict(), path)
            sizes[name] = os.path.getsize(path)
    return sizes


def size_table() -> None:
    print("\nSize on disk: tinytorch.save(model.state_dict())")
    header = f"{'model':<8} {'variant':<16} {'bytes':>12} {'float32 / this':>15}"
    print(header)
    print("-" * len(header))
    for key, (build, shape) in MODELS.items():
        tinytorch.manual_seed(0)
        calibration = [tinytorch.randn(CALIBRATION, *shape)]
        sizes = file_sizes(variants(build(), calibration))
        for name, size in sizes.items():
            print(f"{key:<8} {name:<16} {size:>12,} {sizes['float32'] / size:>15.2f}")


def time_table(repeats: int) -> None:
    print("\nForward time, no graph (median; ratio = this / float32, above 1 is slower)")
    header = f"{'case':<28} {'variant':<16} {'time':>14} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for key, batch in (("mlp", 1), ("mlp", 128), ("cnn", 128)):
        build, shape = MODELS[key]
        tinytorch.manual_seed(0)
        models = variants(build(), [tinytorch.randn(CALIBRATION, *shape)])
        x = tinytorch.randn(batch, *shape)

        def call(m: nn.Module, x: tinytorch.Tensor) -> Callable[[], Any]:
            def run() -> Any:
                with tinytorch.no_grad():
                    return m(x)
            return run

        times: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(benchlib.ROUNDS):
            for name, m in models.items():
                inner = 20 if batch == 1 else 1
                times[name] += benchlib.block_times(call(m, x), repeats, inner=inner)
        base = statistics.median(times["float32"])
        for name, t in times.items():
            median = statistics.median(t)
            print(f"{key + f' batch {batch}':<28} {name:<16} {median * 1e3:>11.3f} ms "
                  f"{median / base:>7.2f}", flush=True)


def load_fashion_mnist(data_dir: str | None) -> tuple[np.ndarray, ...]:
    """Standardised float32 images (N, 1, 28, 28) and int64 labels, train and test."""
    from tinytorch.data import FashionMNIST

    train = FashionMNIST(data_dir, train=True, download=False)
    test = FashionMNIST(data_dir, train=False, download=False)
    raw = train.data.numpy()
    mean, std = raw.mean() / 255, raw.std() / 255

    def standardise(images: np.ndarray) -> np.ndarray:
        return ((images.astype(np.float32) / 255 - mean) / std).astype(np.float32)[:, None]

    return (standardise(raw), train.targets.numpy(), standardise(test.data.numpy()),
            test.targets.numpy())


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, lr: float) -> None:
    """Adam, batch 128, cosine schedule over ``epochs`` epochs, as the milestones train."""
    from tinytorch.core.progress import progress

    opt = tinytorch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * (len(x) // 128)
    sched = tinytorch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    rng = np.random.default_rng(0)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        for start in progress(range(0, len(x) - 127, 128), desc=f"epoch {epoch + 1}/{epochs}"):
            idx = order[start:start + 128]
            loss = loss_fn(model(tinytorch.from_numpy(x[idx])), tinytorch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy in percent, 1,000 images at a time."""
    correct = 0
    with tinytorch.no_grad():
        for start in range(0, len(x), 1000):
            logits = model(tinytorch.from_numpy(x[start:start + 1000])).numpy()
            correct += int((logits.argmax(1) == y[start:start + 1000]).sum())
    return 100.0 * correct / len(x)


def accuracy_table(names: list[str], epochs: dict[str, int], data_dir: str | None) -> bool:
    """Train, quantize and evaluate; True when every int8 model keeps ≥ 99% of float32's."""
    x_train, y_train, x_test, y_test = load_fashion_mnist(data_dir)
    ok = True
    rows = []
    for key in names:
        build, shape = MODELS[key]
        tinytorch.manual_seed(0)
        model = build()
        t0 = time.perf_counter()
        train(model, x_train.reshape(-1, *shape), y_train, epochs[key],
              lr=1e-3 if key == "mlp" else 3e-3)
        trained = time.perf_counter() - t0
        calibration = [tinytorch.from_numpy(x_train[:CALIBRATION].reshape(-1, *shape))]
        models = variants(model, calibration)
        base = accuracy(models["float32"], x_test.reshape(-1, *shape), y_test)
        for name, m in models.items():
            acc = base if name == "float32" else accuracy(m, x_test.reshape(-1, *shape), y_test)
            ok &= acc >= 0.99 * base
            rows.append((f"{key} ({epochs[key]} epochs, {trained:.0f} s)", name, acc, acc / base))
    print("\nFashion-MNIST test accuracy (10,000 images); target int8 ≥ 99% of float32")
    header = f"{'model':<26} {'variant':<16} {'accuracy':>9} {'of float32':>11}"
    print(header)
    print("-" * len(header))
    for model_name, name, acc, rel in rows:
        print(f"{model_name:<26} {name:<16} {acc:>8.2f}% {rel * 100:>10.2f}%")
    return ok


def add_accuracy_arguments(p: argparse.ArgumentParser, report: str) -> None:
    """The ``--accuracy`` options, shared with bench_compression.py; ``report`` says what
    ``--accuracy`` does after training."""
    p.add_argument("--accuracy", action="store_true",
                   help=f"train the models on Fashion-MNIST and {report} (needs the dataset "
                        "under $TINYTORCH_DATA)")
    p.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["mlp", "cnn"],
                   help="models for --accuracy (default: mlp cnn)")
    p.add_argument("--mlp-epochs", type=int, default=12,
                   help="training epochs of the MLP for --accuracy (default: 12, milestone "
                        "03's)")
    p.add_argument("--cnn-epochs", type=int, default=4,
                   help="training epochs of the CNN for --accuracy (default: 4)")
    p.add_argument("--data-dir", default=None,
                   help="dataset root for --accuracy (default: $TINYTORCH_DATA or "
                        "~/.cache/tinytorch)")


def main() -> None:
    p = benchlib.arg_parser(__doc__.splitlines()[0])
    add_accuracy_arguments(p, "compare float32 and int8 test accuracy instead of timing")
    args = p.parse_args()
    if args.accuracy:
        epochs = {"mlp": args.mlp_epochs, "cnn": args.cnn_epochs}
        sys.exit(0 if accuracy_table(args.models, epochs, args.data_dir) else 1)
    size_table()
    time_table(args.repeats)


if __name__ == "__main__":
    main()
