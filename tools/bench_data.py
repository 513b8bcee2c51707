"""Benchmarks for tinytorch-data: DataLoader throughput, BPE training, an MLP training epoch.

1. One epoch of shuffled batches of 128 through ``DataLoader`` over in-memory Fashion-MNIST
   (60,000 float32 images (1, 28, 28) in [0, 1] and int64 labels, ``TensorDataset``).
   Reference: ``torch.utils.data.DataLoader`` over a ``torch.utils.data.TensorDataset`` of the
   same arrays, as PyTorch code writes it. Target: as fast or faster (time ratio ≤ 1.0);
   batches per second are printed too.
2. Training a byte-level BPE tokenizer on TinyShakespeare to a 1,000-token vocabulary, in
   seconds (no PyTorch counterpart).
3. One full epoch of milestone 03's MLP (784-256-128-10, ReLU, Adam lr 1e-3, cross-entropy,
   batch 128, shuffled) on the standardised Fashion-MNIST training set. TinyTorch draws its
   batches through ``DataLoader``; the PyTorch reference slices batches with ``randperm``
   (its fastest idiomatic way, stronger than its DataLoader). Target ratio ≤ 1.2.

TinyTorch runs with its defaults; PyTorch is timed at 1 and 2 threads and the faster is kept
(``benchlib``).

The data come from ``$TINYTORCH_DATA`` (default ``~/.cache/tinytorch``); seed it first, e.g.
``tito data download fashion-mnist tinyshakespeare``.

Run: python tools/bench_data.py [--repeats N]
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import benchlib  # noqa: E402
import numpy as np  # noqa: E402

import tinytorch as tt  # noqa: E402
from tinytorch.data import (  # noqa: E402
    BPETokenizer,
    DataLoader,
    FashionMNIST,
    TensorDataset,
    TinyShakespeare,
)

BATCH = 128


def _milestone03() -> Any:
    """milestones/03_mlp_1986/milestone.py as a module (its folder name is not importable)."""
    path = HERE.parent / "milestones" / "03_mlp_1986" / "milestone.py"
    spec = importlib.util.spec_from_file_location("milestone03", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def loader_epoch(x: np.ndarray, y: np.ndarray) -> Callable[[], Callable[[], int]]:
    def build() -> Callable[[], int]:
        loader = DataLoader(TensorDataset(tt.from_numpy(x), tt.from_numpy(y)),
                            batch_size=BATCH, shuffle=True)
        return lambda: sum(1 for _ in loader)
    return build


def torch_loader_epoch(torch: Any, x: np.ndarray, y: np.ndarray
                       ) -> Callable[[], Callable[[], int]]:
    def build() -> Callable[[], int]:
        data = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
        loader = torch.utils.data.DataLoader(data, batch_size=BATCH, shuffle=True)
        return lambda: sum(1 for _ in loader)
    return build


def bpe_training(text: str) -> Callable[[], Callable[[], Any]]:
    return lambda: (lambda: BPETokenizer().train(text, 1000))


def _train_step(model: Any, opt: Any, loss_fn: Any, xb: Any, yb: Any) -> None:
    loss = loss_fn(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()


def mlp_epoch(x: np.ndarray, y: np.ndarray) -> Callable[[], Callable[[], None]]:
    def build() -> Callable[[], None]:
        tt.manual_seed(0)
        model = _milestone03().build_model()
        opt = tt.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = tt.nn.CrossEntropyLoss()
        loader = DataLoader(TensorDataset(tt.from_numpy(x), tt.from_numpy(y)),
                            batch_size=BATCH, shuffle=True)

        def epoch() -> None:
            for xb, yb in loader:
                _train_step(model, opt, loss_fn, xb, yb)
        return epoch
    return build


def torch_mlp_epoch(torch: Any, x: np.ndarray, y: np.ndarray) -> Callable[[], Callable[[], None]]:
    def build() -> Callable[[], None]:
        torch.manual_seed(0)
        nn = torch.nn
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                              nn.Linear(128, 10))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = nn.CrossEntropyLoss()
        xs, ys = torch.from_numpy(x), torch.from_numpy(y)

        def epoch() -> None:
            for idx in torch.randperm(len(xs)).split(BATCH):
                loss = loss_fn(model(xs[idx]), ys[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        return epoch
    return build


def main() -> None:
    args = benchlib.arg_parser(__doc__.splitlines()[0]).parse_args()
    torch = benchlib.torch_or_none()
    try:
        train = FashionMNIST(train=True)
        text = TinyShakespeare(block_size=8).text
    except RuntimeError as e:
        print(f"bench_data: {e}", file=sys.stderr)
        sys.exit(1)
    images = train.data.numpy()
    pixels = (images.astype(np.float32) / 255).reshape(-1, 1, 28, 28)
    labels = train.targets.numpy()
    features = ((pixels.reshape(len(pixels), -1) - pixels.mean()) / pixels.std()).astype(
        np.float32)
    batches = -(-len(labels) // BATCH)

    cases = [
        benchlib.Case(f"DataLoader epoch, FMNIST B={BATCH} shuffled", loader_epoch(pixels, labels),
                      torch_loader_epoch(torch, pixels, labels) if torch else None, target=1.0,
                      repeats=args.repeats),
        benchlib.Case("BPE train, TinyShakespeare, vocab 1000", bpe_training(text), unit="s",
                      repeats=min(args.repeats, 3), warmup=1),
        benchlib.Case("MLP epoch, FMNIST 784-256-128-10 Adam", mlp_epoch(features, labels),
                      torch_mlp_epoch(torch, features, labels) if torch else None, target=1.2,
                      unit="s", repeats=min(args.repeats, 2), warmup=1),
    ]
    rows = benchlib.run(cases, "Data loading, tokenizer training and an MLP epoch (CPU)")
    loader = rows[0]
    line = f"DataLoader: TinyTorch {batches / loader['tinytorch_s']:,.0f} batches/s"
    if loader["pytorch_s"]:
        line += f", PyTorch {batches / loader['pytorch_s']:,.0f} batches/s"
    print(line)


if __name__ == "__main__":
    main()
