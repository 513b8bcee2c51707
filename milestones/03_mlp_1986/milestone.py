"""Milestone 03 — the multi-layer perceptron trained by backpropagation (1986).

A 784-256-128-10 MLP with ReLU learns to classify Fashion-MNIST (default, available offline)
or MNIST (``--dataset mnist``) from raw pixels, trained with Adam on the 60,000 training
images and judged on the 10,000 test images it never saw.

Cost per epoch: the three layers hold 784·256 + 256·128 + 128·10 ≈ 235 k weights, so one
image costs about 2·235 k FLOPs forward and twice that backward: ~1.4 MFLOP, or ~85 GFLOP
per epoch of 60,000 images, nearly all of it in six matrix products per batch. The whole
training set lives in memory as one (60000, 784) float32 array (188 MB) and the DataLoader
slices shuffled batches out of it with one gather each.

    python milestones/03_mlp_1986/milestone.py            # full run, Fashion-MNIST ≥ 88 %
    python milestones/03_mlp_1986/milestone.py --dataset mnist   # MNIST ≥ 97 %
    python milestones/03_mlp_1986/milestone.py --quick    # CI: 8,000 images, 1 epoch, ≥ 75 %
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common
import numpy as np

import tinytorch
from tinytorch import nn
from tinytorch.core.progress import progress
from tinytorch.data import MNIST, DataLoader, FashionMNIST, TensorDataset

DATASETS = {"fashion-mnist": (FashionMNIST, 88.0), "mnist": (MNIST, 97.0)}
QUICK_TARGET = 75.0
QUICK_SAMPLES = 8000


def build_model() -> nn.Module:
    """784 -> 256 -> 128 -> 10, ReLU between: the shape of a 1980s MLP, wider."""
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def as_features(images: tinytorch.Tensor, mean: float, std: float) -> tinytorch.Tensor:
    """uint8 (N, 28, 28) -> standardised float32 (N, 784)."""
    x = images.numpy().reshape(len(images), -1).astype(np.float32)
    x *= np.float32(1 / (255 * std))
    x -= np.float32(mean / std)
    return tinytorch.from_numpy(x)



def main() -> None:
    p = common.parser(__doc__.splitlines()[0], data_dir=True)
    p.add_argument("--dataset", choices=sorted(DATASETS), default="fashion-mnist",
                   help="which dataset to learn (default: fashion-mnist, available offline)")
    p.add_argument("--epochs", type=common.positive_int, default=12,
                   help="training epochs (default: 12)")
    p.add_argument("--batch-size", type=common.positive_int, default=128,
                   help="batch size (default: 128)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: 1e-3)")
    args = p.parse_args()

    tinytorch.manual_seed(args.seed)
    cls, target = DATASETS[args.dataset]
    try:
        train_set = cls(args.data_dir, train=True, download=args.download)
        test_set = cls(args.data_dir, train=False, download=args.download)
    except RuntimeError as e:
        print(f"milestone 03: {e}", file=sys.stderr)
        sys.exit(1)

    epochs = 1 if args.quick else args.epochs
    n_train = QUICK_SAMPLES if args.quick else len(train_set)
    images = train_set.data.numpy()[:n_train]
    mean, std = float(images.mean()) / 255, float(images.std()) / 255
    x_train = as_features(train_set.data[:n_train], mean, std)
    y_train = train_set.targets[:n_train]
    x_test, y_test = as_features(test_set.data, mean, std), test_set.targets
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size,
                        shuffle=True, generator=tinytorch.Generator().manual_seed(args.seed))

    model = build_model()
    parameters = sum(prm.numel() for prm in model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    optimizer = tinytorch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = tinytorch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    print(f"Milestone 03 (1986): MLP on {args.dataset}, {n_train:,} training images, "
          f"{epochs} epoch(s), {parameters:,} parameters", flush=True)

    epoch_seconds = []
    with common.Timer() as total:
        for epoch in range(1, epochs + 1):
            with common.Timer() as t:
                bar = progress(loader, desc=f"epoch {epoch}/{epochs}", unit="batch")
                for xb, yb in bar:
                    loss = loss_fn(model(xb), yb)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
                scheduler.step()
            epoch_seconds.append(t.seconds)
            achieved = common.accuracy(model, x_test, y_test, chunk=2000)
            print(f"epoch {epoch}: loss {loss.item():.4f}, test accuracy {achieved:.2f}% "
                  f"({t.seconds:.1f} s)", flush=True)

    report = common.Report(
        milestone=f"03 MLP (1986) on {args.dataset}" + (" [quick]" if args.quick else ""),
        metric="test accuracy %", target=QUICK_TARGET if args.quick else target,
        achieved=achieved, seconds=total.seconds, parameters=parameters,
        details={"s/epoch": f"{np.median(epoch_seconds):.2f}",
                 "train acc": f"{common.accuracy(model, x_train, y_train, chunk=2000):.2f}%",
                 "epochs": epochs, "batch": args.batch_size},
    )
    common.exit_with(report, args.json)


if __name__ == "__main__":
    main()
