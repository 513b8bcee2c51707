"""Example — a convolutional autoencoder: Fashion-MNIST squeezed to 196 numbers and back.

The encoder halves the resolution twice with strided 3×3 convolutions (28×28 → 14×14 → 7×7)
and narrows to a 4×7×7 code, a quarter of the 784 pixels; the decoder widens the code again
and doubles the resolution twice with transposed convolutions (``nn.ConvTranspose2d``, stride
2, ``output_padding=1``) back to 28×28, ending in a sigmoid so that pixels lie in [0, 1]. It is
trained with Adam to minimise the mean squared error between image and reconstruction, and
judged by that error on the 10,000 test images it never saw. It saves a PNG grid, inputs on
top and reconstructions below, so the result can be looked at, not only measured.

Cost: 1.24 MFLOPs per image forward, three quarters of it in the two layers between 7×7 and
14×14 (the strided conv and the first transposed conv), so an epoch of 60,000 images is about
0.22 TFLOPs with the backward pass; 11,909 parameters.

    python milestones/autoencoder/milestone.py            # 5 epochs, test MSE ≤ 0.005
    python milestones/autoencoder/milestone.py --quick    # CI: 12,000 images, MSE ≤ 0.022
    tito milestone run autoencoder                        # the same, through tito
"""

from __future__ import annotations

import argparse
import struct
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common
import numpy as np

import tinytorch
from tinytorch import nn
from tinytorch.core.progress import progress
from tinytorch.data import DataLoader, FashionMNIST, TensorDataset

TARGET, QUICK_TARGET = 0.005, 0.022         # test reconstruction MSE on pixels in [0, 1]
EPOCHS, LR = 5, 2e-3
QUICK_TRAIN, QUICK_TEST = 12_000, 2_000
GRID_COLUMNS = 12


def autoencoder() -> nn.Module:
    """(N, 1, 28, 28) -> code (N, 4, 7, 7) -> (N, 1, 28, 28)."""
    encoder = nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),            # 16 × 14 × 14
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),           # 32 × 7 × 7
        nn.Conv2d(32, 4, 3, padding=1),                                 # 4 × 7 × 7: the code
    )
    decoder = nn.Sequential(
        nn.Conv2d(4, 32, 3, padding=1), nn.ReLU(),                      # 32 × 7 × 7
        nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1),  # 1 × 28 × 28
        nn.Sigmoid(),
    )
    return nn.Sequential(encoder, decoder)


def pixels(images: np.ndarray) -> tinytorch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]."""
    return tinytorch.from_numpy(images.astype(np.float32)[:, None] / np.float32(255))


def reconstruction_mse(model: nn.Module, x: tinytorch.Tensor, chunk: int = 1000) -> float:
    """Mean squared error per pixel over ``x``, in eval mode and without a graph."""
    model.eval()
    total = 0.0
    with tinytorch.no_grad():
        for start in range(0, len(x), chunk):
            xb = x[start:start + chunk]
            total += float(((model(xb) - xb) ** 2).sum().item())
    model.train()
    return total / x.numel()


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a uint8 (H, W) array as an 8-bit greyscale PNG (no compression tricks)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    h, w = image.shape
    rows = np.hstack([np.zeros((h, 1), np.uint8), image])   # filter byte 0 before every row
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)   # bit depth 8, colour type 0: grey
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + chunk(b"IEND", b""))


def image_grid(inputs: np.ndarray, outputs: np.ndarray, scale: int = 2) -> np.ndarray:
    """Two rows of tiles, inputs over reconstructions, 2-pixel grey gaps, scaled up."""
    tiles = [np.hstack([np.pad(t, 1, constant_values=0.5) for t in row])
             for row in (inputs, outputs)]
    grid = np.vstack(tiles)
    grid = np.kron(grid, np.ones((scale, scale)))
    return np.round(np.clip(grid, 0.0, 1.0) * 255).astype(np.uint8)


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], data_dir=True)
    p.add_argument("--epochs", type=common.positive_int, default=EPOCHS,
                   help=f"training epochs (default: {EPOCHS}; --quick runs 1)")
    p.add_argument("--batch-size", type=common.positive_int, default=64,
                   help="batch size (default: 64)")
    p.add_argument("--lr", type=float, default=LR, help=f"Adam learning rate (default: {LR})")
    p.add_argument("--png", metavar="FILE", default="autoencoder_reconstructions.png",
                   help="where to save the image grid (default: "
                        "./autoencoder_reconstructions.png)")
    sys.exit(run(p.parse_args()))


def run(args: argparse.Namespace) -> int:
    """Train, evaluate after every epoch, save the grid, print the report; the exit status."""
    tinytorch.manual_seed(args.seed)
    epochs = 1 if args.quick else args.epochs
    try:
        train_set = FashionMNIST(args.data_dir, train=True, download=args.download)
        test_set = FashionMNIST(args.data_dir, train=False, download=args.download)
    except (RuntimeError, OSError) as e:
        print(f"autoencoder: {e}", file=sys.stderr)
        return 1
    n_train = QUICK_TRAIN if args.quick else len(train_set)
    n_test = QUICK_TEST if args.quick else len(test_set)
    x_train = pixels(train_set.data.numpy()[:n_train])
    x_test = pixels(test_set.data.numpy()[:n_test])
    loader = DataLoader(TensorDataset(x_train), batch_size=args.batch_size, shuffle=True,
                        generator=tinytorch.Generator().manual_seed(args.seed))

    model = autoencoder()
    parameters = sum(prm.numel() for prm in model.parameters())
    loss_fn = nn.MSELoss()
    optimizer = tinytorch.optim.Adam(model.parameters(), lr=args.lr)
    print(f"Autoencoder: Fashion-MNIST, {n_train:,} training images, {epochs} epoch(s), batch "
          f"{args.batch_size}, {parameters:,} parameters, code 4×7×7 = 196 numbers per image",
          flush=True)

    with common.Timer() as total:
        for epoch in range(1, epochs + 1):
            with common.Timer() as t:
                bar = progress(loader, desc=f"epoch {epoch}/{epochs}", unit="batch")
                for (xb,) in bar:
                    loss = loss_fn(model(xb), xb)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
            achieved = reconstruction_mse(model, x_test)
            print(f"epoch {epoch}: train batch MSE {loss.item():.4f}, test MSE {achieved:.5f} "
                  f"({t.seconds:.1f} s)", flush=True)

    model.eval()
    with tinytorch.no_grad():
        shown = x_test[:GRID_COLUMNS]
        recon = model(shown)
    png = Path(args.png)
    write_png(png, image_grid(shown.numpy()[:, 0], recon.numpy()[:, 0]))
    report = common.Report(
        milestone="Autoencoder on Fashion-MNIST" + (" [quick]" if args.quick else ""),
        metric="test reconstruction MSE", target=QUICK_TARGET if args.quick else TARGET,
        achieved=achieved, higher_is_better=False, seconds=total.seconds,
        parameters=parameters,
        details={"epochs": epochs, "batch": args.batch_size,
                 "test set": f"{len(x_test):,} images", "image grid": str(png)})
    return report.finish(args.json)


if __name__ == "__main__":
    main()
