"""Benchmark: milestone 04's CNN — each Conv2d forward+backward, and one training epoch.

Model: ``LeNet5(channels=(16, 32), batch_norm=True)`` at batch 128, as milestone 04 trains it.

- Conv rows: ``y = conv(x); y.backward(dy)`` for each convolution of the model at its real
  input shape (the first layer's input needs no gradient, the second's does), weight and bias
  gradients reset each call as ``zero_grad`` would. Target ratio ≤ 2.0. Medians of
  ``--repeats`` runs; TinyTorch with its defaults, PyTorch at the faster of 1 and 2 threads
  (``benchlib``).
- CIFAR-10 row: one Adam step (forward, cross-entropy, backward, update) of ``CifarCNN()``,
  milestone 04's ``--dataset cifar10`` model, on a fixed batch of 128 random 3x32x32 images:
  its speed, since the dataset itself cannot be downloaded on every machine. An epoch is 391
  such steps plus the augmentation. No target.
- Epoch row: one pass over the 60,000 Fashion-MNIST training images (469 Adam steps:
  forward, cross-entropy, backward, step), the same model, initial weights, optimizer and
  batch size in both frameworks: TinyTorch through its ``DataLoader`` (the milestone's input
  path), PyTorch with batches sliced straight out of one shuffled tensor, its fastest input
  path. An epoch takes 15-60 s, longer than this machine stays at one speed, so the two
  epochs run *interleaved*: about 59 steps of TinyTorch, then 59 of PyTorch, and so on, each
  side's time being the sum of its segments (with ``benchlib.SETTLE`` seconds of untimed quiet
  before each segment, so the other side's threads have stopped spinning). TinyTorch runs one
  epoch with its defaults, PyTorch one at each of ``benchlib.TORCH_THREADS`` (all three
  interleaved, after 5 warm-up steps each), and its faster is kept. Target ratio ≤ 2.0.
  Needs the
  Fashion-MNIST files under ``$TINYTORCH_DATA``; ``--no-epoch`` skips it.
- Kernel rows: the conv and CIFAR-10 cases again, TinyTorch only, with its fast kernels and
  with their plain references (``tinytorch.use_reference_kernels``): each kernel's gain.

Run: python tools/bench_cnn.py [--repeats N] [--no-epoch]
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
import numpy as np

import tinytorch as tt
from tinytorch.arch.models import CifarCNN, LeNet5

BATCH = 128
# (name, in, out, kernel, padding, input H, input needs grad) — the layers of LeNet5(16, 32)
CONVS = [("conv1 1->16 5x5 pad 2, 28x28 (no dx)", 1, 16, 5, 2, 28, False),
         ("conv2 16->32 5x5, 14x14", 16, 32, 5, 0, 14, True)]


def conv_case(lib: Any, c_in: int, c_out: int, k: int, pad: int, size: int,
              x_grad: bool) -> Callable[[], Callable[[], None]]:
    """Builder of one conv forward+backward at batch 128 in ``lib`` (tinytorch or torch)."""
    def build() -> Callable[[], None]:
        rng = np.random.default_rng(0)
        lib.manual_seed(0)                          # the same weights at every build
        layer = lib.nn.Conv2d(c_in, c_out, k, padding=pad, bias=False)
        x = lib.from_numpy(rng.standard_normal((BATCH, c_in, size, size)).astype(np.float32))
        x.requires_grad_(x_grad)
        out = size + 2 * pad - k + 1
        dy = lib.from_numpy(rng.standard_normal((BATCH, c_out, out, out)).astype(np.float32))

        def step() -> list[Any]:
            layer.weight.grad = None
            x.grad = None
            y = layer(x)
            y.backward(dy)
            return [y.detach(), layer.weight.grad]  # what kernel_vs_reference checks
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


def torch_cifar_cnn(torch: Any, ours: Any) -> Any:
    """``CifarCNN()`` in PyTorch, starting from ``ours``'s weights (same state-dict keys)."""
    nn = torch.nn
    layers: list[Any] = []
    c_in = 3
    for c_out in (32, 64, 128):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                   nn.ReLU(), nn.MaxPool2d(2)]
        c_in = c_out
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(*layers))
    model.add_module("classifier", nn.Sequential(
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(128 * 4 * 4, 256), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(256, 10)))
    model.load_state_dict({k: torch.from_numpy(np.array(v.numpy()))
                           for k, v in ours.state_dict().items()})
    return model


def cifar_step_case(lib: Any) -> Callable[[], Callable[[], None]]:
    """One Adam training step of milestone 04's CIFAR-10 model at batch 128 in ``lib``, on a
    fixed batch of random CIFAR-shaped images (the cost does not depend on the pixels)."""
    def build() -> Callable[[], None]:
        rng = np.random.default_rng(0)
        tt.manual_seed(0)
        ours = CifarCNN()
        model = ours if lib is tt else torch_cifar_cnn(lib, ours)
        opt = lib.optim.Adam(model.parameters(), lr=2e-3)
        x = lib.from_numpy(rng.standard_normal((BATCH, 3, 32, 32)).astype(np.float32))
        y = lib.from_numpy(rng.integers(0, 10, BATCH))

        def step() -> Any:
            loss = lib.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return [loss.detach()]                  # what kernel_vs_reference checks
        return step
    return build


def fashion_mnist() -> tuple[np.ndarray, np.ndarray]:
    """Standardised float32 training images (60000, 1, 28, 28) and int64 labels."""
    train = tt.data.FashionMNIST(train=True)
    x = train.data.numpy().astype(np.float32)[:, None] / 255
    x = (x - x.mean()) / x.std()
    return x.astype(np.float32), train.targets.numpy()


SEGMENT = 59  # training steps per interleaved segment: 8 segments per epoch


def tinytorch_training(x: np.ndarray, y: np.ndarray) -> Iterator[None]:
    """Milestone 04's training loop, one step per ``next()``: 5 warm-up steps, then an epoch."""
    tt.manual_seed(0)
    model = LeNet5(channels=(16, 32), batch_norm=True)
    opt = tt.optim.Adam(model.parameters(), lr=3e-3)
    data = tt.data.TensorDataset(tt.from_numpy(x), tt.from_numpy(y))
    loader = tt.data.DataLoader(data, batch_size=BATCH, shuffle=True)
    for batches in (itertools.islice(loader, 5), loader):
        for xb, yb in batches:
            loss = tt.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            yield


def torch_training(torch: Any, x: np.ndarray, y: np.ndarray) -> Iterator[None]:
    """The same loop in PyTorch, from the same initial weights."""
    tt.manual_seed(0)
    model = torch_lenet(torch, LeNet5(channels=(16, 32), batch_norm=True))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    for batches in (torch.randperm(len(xs))[:5 * BATCH].split(BATCH),
                    torch.randperm(len(xs)).split(BATCH)):
        for idx in batches:
            loss = torch.nn.functional.cross_entropy(model(xs[idx]), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            yield


def interleaved_epochs(runs: list[Iterator[None]], settle: float) -> list[float]:
    """Seconds each run's epoch took, the runs advanced ``SEGMENT`` steps at a time in turn."""
    for run in runs:
        for _ in range(5):
            next(run)                                    # the warm-up steps
    totals = [0.0] * len(runs)
    live = list(range(len(runs)))
    while live:
        for i in list(live):
            time.sleep(settle)
            t0 = time.perf_counter()
            done = sum(1 for _ in itertools.islice(runs[i], SEGMENT))
            totals[i] += time.perf_counter() - t0
            if done < SEGMENT:
                live.remove(i)
    return totals


def torch_threads_each_step(torch: Any, n: int, run: Iterator[None]) -> Iterator[None]:
    """``run``'s steps, each taken with PyTorch on ``n`` threads."""
    end = object()
    while True:
        torch.set_num_threads(n)
        if next(run, end) is end:
            return
        yield


def epoch_times(x: np.ndarray, y: np.ndarray, torch: Any) -> tuple[float,
                                                                    tuple[float, int] | None]:
    """TinyTorch's epoch (seconds, defaults) and PyTorch's faster (seconds, threads) over
    ``benchlib.TORCH_THREADS``, all interleaved."""
    counts = benchlib.TORCH_THREADS if torch is not None else ()
    runs = [tinytorch_training(x, y)] + [
        torch_threads_each_step(torch, n, torch_training(torch, x, y)) for n in counts]
    times = interleaved_epochs(runs, benchlib.SETTLE)
    ref = min(zip(times[1:], counts)) if counts else None
    return times[0], ref


def main() -> None:
    p = benchlib.arg_parser(__doc__.splitlines()[0])
    p.add_argument("--no-epoch", action="store_true", help="skip the one-epoch comparison")
    args = p.parse_args()
    torch = benchlib.torch_or_none()
    cases = [benchlib.Case(f"{name}, B={BATCH}", conv_case(tt, *cfg),
                           conv_case(torch, *cfg) if torch else None, target=2.0,
                           repeats=args.repeats)
             for name, *cfg in CONVS]
    cases.append(benchlib.Case(f"CifarCNN Adam step (04 --dataset cifar10), B={BATCH}",
                               cifar_step_case(tt), cifar_step_case(torch) if torch else None,
                               repeats=max(1, args.repeats // 2)))
    benchlib.run(cases, "Milestone 04 convolutions (forward + backward) and the CIFAR-10 "
                        "model's training step (float32, CPU)")
    benchlib.kernel_vs_reference(cases, "The same cases on TinyTorch's convolution, pooling "
                                        "and batch-norm kernels vs their references")
    if args.no_epoch:
        return
    x, y = fashion_mnist()
    ours, ref = epoch_times(x, y, torch)
    print(f"\nOne training epoch of milestone 04's LeNet5 (60,000 Fashion-MNIST images, "
          f"B={BATCH}, Adam), the two frameworks interleaved")
    print(f"  tinytorch  {ours:8.1f} s")
    if ref is None:
        return
    print(f"  pytorch    {ref[0]:8.1f} s  ({ref[1]}t)")
    print(f"  ratio      {ours / ref[0]:8.2f}    (target ≤ 2.0)")

if __name__ == "__main__":
    main()
