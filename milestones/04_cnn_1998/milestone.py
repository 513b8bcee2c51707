"""Milestone 04 — the convolutional network (1998): LeNet on Fashion-MNIST, a CNN on CIFAR-10.

Default: a LeNet-5-style network (two 5×5 convolutions with batch normalization, ReLU and
2×2 max pooling, then three linear layers; ``tinytorch.arch.models.LeNet5(channels=(16, 32),
batch_norm=True)``, 120 k parameters, 3.4 MFLOPs per image) learns Fashion-MNIST with Adam
and a one-cycle learning-rate schedule, judged on the 10,000 test images it never saw.
Target: ≥ 91 % test accuracy in at most 10 minutes here.

``--dataset cifar10`` trains ``CifarCNN`` (3 conv blocks, 621 k parameters, 21.7 MFLOPs per
image) with random-crop (padding 4) and horizontal-flip augmentation; target ≥ 75 %. It needs
the CIFAR-10 download (170 MB, fetched and verified on first use), which offline machines
and CI do not have.

Cost: an epoch is 60,000 images × 3 × 3.4 MFLOPs ≈ 0.6 TFLOPs for Fashion-MNIST, nearly all
in the two convolutions' matrix products (im2col + GEMM, ``tinytorch.arch.conv``); CIFAR-10
is 50,000 × 3 × 21.7 MFLOPs ≈ 3.3 TFLOPs per epoch.

    python milestones/04_cnn_1998/milestone.py                  # Fashion-MNIST, ≥ 91 %
    python milestones/04_cnn_1998/milestone.py --quick          # CI: 12,000 images, ≥ 80 %
    python milestones/04_cnn_1998/milestone.py --dataset cifar10  # ≥ 75 %, downloads 170 MB
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common
import numpy as np

import tinytorch
from tinytorch import nn
from tinytorch.arch.models import CifarCNN, LeNet5
from tinytorch.core.progress import progress
from tinytorch.data import CIFAR10, DataLoader, FashionMNIST, TensorDataset, transforms

TIME_BUDGET = 600.0  # seconds, for the default Fashion-MNIST run
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
# dataset -> (target %, epochs, peak learning rate, quick target %)
RECIPES = {"fashion-mnist": (91.0, 8, 3e-3, 80.0), "cifar10": (75.0, 20, 2e-3, 35.0)}
QUICK_TRAIN, QUICK_TEST = 12_000, 2_000


def fashion_mnist(args: argparse.Namespace, quick: bool) -> tuple[DataLoader, tuple, nn.Module]:
    """Standardised float32 (N, 1, 28, 28) tensors in memory, and LeNet5."""
    train_set = FashionMNIST(args.data_dir, train=True, download=args.download)
    test_set = FashionMNIST(args.data_dir, train=False, download=args.download)
    n_train = QUICK_TRAIN if quick else len(train_set)
    n_test = QUICK_TEST if quick else len(test_set)
    raw = train_set.data.numpy()[:n_train]
    mean, std = float(raw.mean()) / 255, float(raw.std()) / 255

    def standardise(images: np.ndarray) -> tinytorch.Tensor:
        x = images.astype(np.float32)[:, None]
        x *= np.float32(1 / (255 * std))
        x -= np.float32(mean / std)
        return tinytorch.from_numpy(x)

    train = TensorDataset(standardise(raw), train_set.targets[:n_train])
    test = (standardise(test_set.data.numpy()[:n_test]), test_set.targets[:n_test])
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True,
                        generator=tinytorch.Generator().manual_seed(args.seed))
    return loader, test, LeNet5(channels=(16, 32), batch_norm=True)


def cifar10(args: argparse.Namespace, quick: bool) -> tuple[DataLoader, tuple, nn.Module]:
    """Augmented training batches (crop with padding 4, flip) and CifarCNN."""
    normalize = transforms.Normalize(CIFAR_MEAN, CIFAR_STD)
    augment = transforms.Compose([transforms.ToTensor(), transforms.RandomCrop(32, padding=4),
                                  transforms.RandomHorizontalFlip(), normalize])
    train_set = CIFAR10(args.data_dir, train=True, transform=augment, download=args.download)
    test_set = CIFAR10(args.data_dir, train=False, download=args.download)
    n_test = QUICK_TEST if quick else len(test_set)
    x_test = normalize(transforms.ToTensor().apply_batch(test_set.data.numpy()[:n_test]))
    if quick:
        train_set = tinytorch.data.Subset(train_set, range(QUICK_TRAIN))
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                        generator=tinytorch.Generator().manual_seed(args.seed))
    return loader, (x_test, test_set.targets[:n_test]), CifarCNN()


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], data_dir=True)
    p.add_argument("--dataset", choices=sorted(RECIPES), default="fashion-mnist",
                   help="fashion-mnist (default, available offline) or cifar10 (download)")
    p.add_argument("--epochs", type=common.positive_int, default=None,
                   help="training epochs (default: 8 for fashion-mnist, 20 for cifar10)")
    p.add_argument("--batch-size", type=common.positive_int, default=128,
                   help="batch size (default: 128)")
    p.add_argument("--lr", type=float, default=None, help="peak Adam learning rate of the "
                   "one-cycle schedule (default: 3e-3 fashion-mnist, 2e-3 cifar10)")
    p.add_argument("--threads", type=common.positive_int, default=None,
                   help="threads for TinyTorch's ops and NumPy's BLAS, as "
                        "tinytorch.set_num_threads (default: TinyTorch's thread policy)")
    args = p.parse_args()
    if args.threads is not None:
        tinytorch.set_num_threads(args.threads)
    sys.exit(run(args))


def run(args: argparse.Namespace) -> int:
    """Train, evaluate after every epoch, print the report; returns the exit status."""
    tinytorch.manual_seed(args.seed)
    target, epochs, lr, quick_target = RECIPES[args.dataset]
    epochs = 1 if args.quick else (args.epochs or epochs)
    lr = args.lr or lr
    load = fashion_mnist if args.dataset == "fashion-mnist" else cifar10
    try:
        loader, (x_test, y_test), model = load(args, args.quick)
    except (RuntimeError, OSError) as e:
        print(f"milestone 04: {e}", file=sys.stderr)
        return 1

    parameters = sum(prm.numel() for prm in model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    optimizer = tinytorch.optim.Adam(model.parameters(), lr=lr)
    scheduler = tinytorch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=len(loader))
    print(f"Milestone 04 (1998): {type(model).__name__} on {args.dataset}, "
          f"{len(loader.dataset):,} training images, {epochs} epoch(s), batch "
          f"{args.batch_size}, {parameters:,} parameters", flush=True)

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
                    scheduler.step()
                    bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            epoch_seconds.append(t.seconds)
            achieved = common.accuracy(model, x_test, y_test)
            print(f"epoch {epoch}: loss {loss.item():.4f}, test accuracy {achieved:.2f}% "
                  f"({t.seconds:.1f} s)", flush=True)

    timed = args.dataset == "fashion-mnist" and not args.quick
    budget_ok = not timed or total.seconds <= TIME_BUDGET
    details = {"s/epoch": f"{np.median(epoch_seconds):.1f}", "epochs": epochs,
               "batch": args.batch_size, "test set": f"{len(x_test):,} images"}
    if timed:
        details["budget"] = f"{TIME_BUDGET:.0f} s: " + ("met" if budget_ok else "MISSED")
    report = common.Report(
        milestone=f"04 CNN (1998) on {args.dataset}" + (" [quick]" if args.quick else ""),
        metric="test accuracy %", target=quick_target if args.quick else target,
        achieved=achieved, seconds=total.seconds, parameters=parameters, details=details)
    return report.finish(args.json) or (0 if budget_ok else 1)


if __name__ == "__main__":
    main()
