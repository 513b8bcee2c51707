"""Benchmark: compression (``tinytorch.perf``) — what pruning and low rank save, measured.

Models: milestone 03's MLP (``MLP(784, (256, 128), 10)``) and milestone 04's CNN
(``LeNet5(channels=(16, 32), batch_norm=True)``).

- Structured pruning rows: ``prune_channels`` at several amounts; parameters and forward
  FLOPs per image (``compare_cost``, counted, so exact), and forward time at batch 128 without
  a graph (median of ``--repeats`` timed calls, the dense and the pruned model taking turns).
- Sparse file rows: bytes on disk of ``tinytorch.save(model.state_dict())`` against
  ``save_sparse`` after ``prune_magnitude`` at several sparsities; each file is loaded back
  and checked bit for bit before its size is reported.
- ``--accuracy``: Fashion-MNIST test accuracy (10,000 images) after training (as
  ``tools/bench_quant.py`` trains), then for magnitude pruning, channel pruning and low rank
  (``low_rank_model``, ``energy=0.9``), each without and with ``--finetune`` epochs of
  training (masks kept). Needs the Fashion-MNIST files under ``$TINYTORCH_DATA`` (or
  ``--data-dir``).

Run: python tools/bench_compression.py [--repeats N] [--accuracy [--models mlp cnn]
     [--mlp-epochs N] [--cnn-epochs N] [--finetune N] [--data-dir DIR]]
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
import numpy as np
from bench_quant import MODELS, accuracy, add_accuracy_arguments, load_fashion_mnist, train

import tinytorch
from tinytorch import nn
from tinytorch.perf import (
    compare_cost,
    load_sparse,
    low_rank_model,
    prune_channels,
    prune_magnitude,
    save_sparse,
    sparsity,
)

CHANNEL_AMOUNTS = (0.25, 0.5, 0.75)
SPARSITIES = (0.5, 0.8, 0.9, 0.95)


def cost_table(repeats: int) -> None:
    print("\nStructured pruning (prune_channels): parameters, FLOPs per image, forward time "
          "at batch 128 (median, no graph)")
    header = (f"{'model':<6} {'amount':>6} {'params':>10} {'ratio':>6} {'FLOPs/image':>13} "
              f"{'ratio':>6} {'dense ms':>9} {'pruned ms':>10} {'speed-up':>9}")
    print(header)
    print("-" * len(header))
    for key, (build, shape) in MODELS.items():
        tinytorch.manual_seed(0)
        model = build()
        x = tinytorch.randn(128, *shape)
        for amount in CHANNEL_AMOUNTS:
            report = compare_cost(model, prune_channels(model, amount), x,
                                  repeats=repeats * benchlib.ROUNDS)
            after = report.after
            print(f"{key:<6} {amount:>6.2f} {after.parameters:>10,} "
                  f"{report.parameter_ratio:>6.3f} {after.flops // 128:>13,} "
                  f"{report.flop_ratio:>6.3f} {report.before.latency_ms:>9.3f} "
                  f"{after.latency_ms:>10.3f} {report.speedup:>8.2f}x", flush=True)


def size_table() -> None:
    print("\nSparse files: tinytorch.save (dense) against save_sparse after prune_magnitude")
    header = f"{'model':<6} {'sparsity':>9} {'dense bytes':>12} {'sparse bytes':>13} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        dense_path, sparse_path = os.path.join(tmp, "dense.tt"), os.path.join(tmp, "sparse.tt")
        for key, (build, _) in MODELS.items():
            tinytorch.manual_seed(0)
            model = build()
            tinytorch.save(model.state_dict(), dense_path)
            dense = os.path.getsize(dense_path)
            for amount in SPARSITIES:
                prune_magnitude(model, amount)
                tinytorch.save(model.state_dict(), dense_path)
                save_sparse(model, sparse_path)
                loaded = load_sparse(sparse_path)
                if any(v.array.tobytes() != loaded[k].array.tobytes()
                       for k, v in model.state_dict().items()):
                    raise SystemExit(f"{key}: the sparse file did not load back bit for bit")
                size = os.path.getsize(sparse_path)
                print(f"{key:<6} {sparsity(model).overall:>8.1%} {dense:>12,} {size:>13,} "
                      f"{size / dense:>6.3f}", flush=True)


def accuracy_table(names: list[str], epochs: dict[str, int], finetune: int,
                   data_dir: str | None) -> None:
    x_train, y_train, x_test, y_test = load_fashion_mnist(data_dir)
    print("\nFashion-MNIST test accuracy (10,000 images) after compression, without and with "
          f"{finetune} epoch(s) of fine-tuning")
    header = (f"{'model':<6} {'variant':<22} {'non-zero':>9} {'accuracy':>9} "
              f"{'fine-tuned':>11}")
    print(header)
    print("-" * len(header))
    for key in names:
        build, shape = MODELS[key]
        xs, xt = x_train.reshape(-1, *shape), x_test.reshape(-1, *shape)
        lr = 1e-3 if key == "mlp" else 3e-3
        tinytorch.manual_seed(0)
        model = build()
        train(model, xs, y_train, epochs[key], lr=lr)
        base = accuracy(model, xt, y_test)
        n = sum(p.numel() for p in model.parameters())
        print(f"{key:<6} {'dense':<22} {n:>9,} {base:>8.2f}% {'':>11}", flush=True)

        def magnitude(amount: float) -> Callable[[nn.Module], nn.Module]:
            return lambda m: prune_magnitude(copy.deepcopy(m), amount)

        variants: dict[str, Callable[[nn.Module], nn.Module]] = {
            "magnitude 50%": magnitude(0.5), "magnitude 90%": magnitude(0.9),
            "channels 50%": lambda m: prune_channels(m, 0.5),
            "low rank (energy 0.9)": lambda m: low_rank_model(m, energy=0.9),
        }
        for name, make in variants.items():
            compressed = make(model).eval()
            params = sum(int(np.count_nonzero(p.array)) if name.startswith("magnitude")
                         else p.numel() for p in compressed.parameters())
            before = accuracy(compressed, xt, y_test)
            train(compressed, xs, y_train, finetune, lr=lr / 10)
            after = accuracy(compressed, xt, y_test)
            print(f"{key:<6} {name:<22} {params:>9,} {before:>8.2f}% {after:>10.2f}%",
                  flush=True)


def main() -> None:
    p = benchlib.arg_parser(__doc__.splitlines()[0])
    add_accuracy_arguments(p, "report test accuracy after each compression")
    p.add_argument("--finetune", type=int, default=1,
                   help="fine-tuning epochs after each compression (default: 1)")
    args = p.parse_args()
    if args.accuracy:
        accuracy_table(args.models, {"mlp": args.mlp_epochs, "cnn": args.cnn_epochs},
                       args.finetune, args.data_dir)
        return
    cost_table(args.repeats)
    size_table()


if __name__ == "__main__":
    main()
