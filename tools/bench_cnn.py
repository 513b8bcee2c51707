"""Benchmark: milestone 04's CNN — each Conv2d forward+backward, and one training epoch.

Model: ``LeNet5(channels=(16, 32), batch_norm=True)`` at batch 128, as milestone 04 trains it.

- Conv rows: ``y = conv(x); y.backward(dy)`` for each convolution of the model at its real
  input shape (the first layer's input needs no gradient, the second's does), weight and bias
  gradients reset each call as ``zero_grad`` would. Target ratio ≤ 2.0. Medians of
  ``--repeats`` runs; TinyTorch at 1 and 2 BLAS threads and PyTorch at 1 and 2 threads, the
  faster of each kept (``benchlib``).
- Epoch row: one pass over the 60,000 Fashion-MNIST training images (469 Adam steps:
  forward, cross-entropy, backward, step), the same model, initial weights, optimizer and
  batch size in both frameworks. An epoch takes 15-60 s, so each side is timed once per
  thread count (1 and 2, the faster kept), after 5 warm-up steps: TinyTorch through its
  ``DataLoader`` (the milestone's input path), PyTorch with batches sliced straight out of one
  shuffled tensor, its fastest input path. Target ratio ≤ 2.0. Needs the Fashion-MNIST files
  under ``$TINYTORCH_DATA``; ``--no-epoch`` skips it.

Run: python tools/bench_cnn.py [--repeats N] [--no-epoch]
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
import numpy as np

import tinytorch as tt
from tinytorch.arch.models import LeNet5

BATCH = 128
# (name, in, out, kernel, padding, input H, input needs grad) — the layers of LeNet5(16, 32)
CONVS = [("conv1 1->16 5x5 pad 2, 28x28 (no dx)", 1, 16, 5, 2, 28, False),
         ("conv2 16->32 5x5, 14x14", 16, 32, 5, 0, 14, True)]


def conv_case(lib: Any, c_in: int, c_out: int, k: int, pad: int, size: int,
              x_grad: bool) -> Callable[[], Callable[[], None]]:
    """Builder of one conv forward+backward at batch 128 in ``lib`` (tinytorch or torch)."""
    def build() -> Callable[[], None]:
        rng = np.random.default_rng(0)
        layer = lib.nn.Conv2d(c_in, c_out, k, padding=pad, bias=False)
        x = lib.from_numpy(rng.standard_normal((BATCH, c_in, size, size)).astype(np.float32))
        x.requires_grad_(x_grad)
        out = size + 2 * pad - k + 1
        dy = lib.from_numpy(rng.standard_normal((BATCH, c_out, out, out)).astype(np.float32))

        def step() -> None:
            layer.weight.grad = None
            x.grad = None
            layer(x).backward(dy)
        return step
    return build


def torch_lenet(torch: Any, ours: Any) -> Any:
    """The same network in PyTorch, starting from ``ours``'s weights (same state-dict keys)."""
    nn = torch.nn

    class TorchLeNet5(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 16, 5, padding=2, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                nn.MaxPool2d(2), nn.Conv2d(16, 32, 5, bias=False), nn.BatchNorm2d(32),
                nn.ReLU(), nn.MaxPool2d(2))
            self.classifier = nn.Sequential(
                nn.Flatten(), nn.Linear(800, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                nn.Linear(84, 10))

        def forward(self, x: Any) -> Any:
            return self.classifier(self.features(x))

    model = TorchLeNet5()
    model.load_state_dict({k: torch.from_numpy(np.array(v.numpy()))
                           for k, v in ours.state_dict().items()})
    return model


def fashion_mnist() -> tuple[np.ndarray, np.ndarray]:
    """Standardised float32 training images (60000, 1, 28, 28) and int64 labels."""
    train = tt.data.FashionMNIST(train=True)
    x = train.data.numpy().astype(np.float32)[:, None] / 255
    x = (x - x.mean()) / x.std()
    return x.astype(np.float32), train.targets.numpy()


def blas_threads(threads: int) -> Any:
    """A context limiting NumPy's BLAS to ``threads`` (threadpoolctl), or a no-op without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def tinytorch_epoch(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Seconds for one epoch of milestone 04's training loop; the faster of 1 and 2 threads."""
    return min((tinytorch_epoch_at(threads, x, y), threads) for threads in (1, 2))


def tinytorch_epoch_at(threads: int, x: np.ndarray, y: np.ndarray) -> float:
    """One timed epoch at ``threads`` BLAS threads, after 5 warm-up steps."""
    tt.manual_seed(0)
    model = LeNet5(channels=(16, 32), batch_norm=True)
    opt = tt.optim.Adam(model.parameters(), lr=3e-3)
    data = tt.data.TensorDataset(tt.from_numpy(x), tt.from_numpy(y))
    loader = tt.data.DataLoader(data, batch_size=BATCH, shuffle=True)

    def steps(limit: int | None) -> None:
        for i, (xb, yb) in enumerate(loader):
            if limit is not None and i == limit:
                return
            loss = tt.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

    with blas_threads(threads):
        steps(5)
        return benchlib.median_time(lambda: steps(None), repeats=1, warmup=0)


def torch_epoch(torch: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Seconds for the same epoch in PyTorch; the faster of 1 and 2 threads."""
    tt.manual_seed(0)
    ours = LeNet5(channels=(16, 32), batch_norm=True)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    before = torch.get_num_threads()
    try:
        return min((torch_epoch_at(torch, torch_lenet(torch, ours), threads, xs, ys), threads)
                   for threads in (1, 2))
    finally:
        torch.set_num_threads(before)


def torch_epoch_at(torch: Any, model: Any, threads: int, xs: Any, ys: Any) -> float:
    """One timed epoch of ``model`` at ``threads`` threads, after 5 warm-up steps."""
    torch.set_num_threads(threads)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def steps(limit: int | None) -> None:
        for i, idx in enumerate(torch.randperm(len(xs)).split(BATCH)):
            if limit is not None and i == limit:
                return
            loss = torch.nn.functional.cross_entropy(model(xs[idx]), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()

    steps(5)
    return benchlib.median_time(lambda: steps(None), repeats=1, warmup=0)


def main() -> None:
    p = benchlib.arg_parser(__doc__.splitlines()[0])
    p.add_argument("--no-epoch", action="store_true", help="skip the one-epoch comparison")
    args = p.parse_args()
    torch = benchlib.torch_or_none()
    cases = [benchlib.Case(f"{name}, B={BATCH}", conv_case(tt, *cfg),
                           conv_case(torch, *cfg) if torch else None, target=2.0,
                           repeats=args.repeats)
             for name, *cfg in CONVS]
    benchlib.run(cases, "Milestone 04 convolutions, forward + backward (float32, CPU)")
    if args.no_epoch:
        return
    x, y = fashion_mnist()
    ours, our_threads = tinytorch_epoch(x, y)
    print(f"\nOne training epoch of milestone 04's LeNet5 (60,000 Fashion-MNIST images, "
          f"B={BATCH}, Adam), each timed once per thread count")
    print(f"  tinytorch  {ours:8.1f} s  ({our_threads}t)")
    if torch is None:
        return
    ref, threads = torch_epoch(torch, x, y)
    print(f"  pytorch    {ref:8.1f} s  ({threads}t)")
    print(f"  ratio      {ours / ref:8.2f}    (target ≤ 2.0)")


if __name__ == "__main__":
    main()
