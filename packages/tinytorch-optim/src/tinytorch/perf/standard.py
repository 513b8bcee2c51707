"""The standard benchmark set that ``tito perf bench`` runs: a few workloads that cover where
a training step spends its time.

| workload | what it exercises |
|---|---|
| matmul fwd+bwd | one GEMM forward, two backward (``G·Bᵀ``, ``Aᵀ·G``): BLAS and its threads |
| MLP Adam step | milestone 03's 784-256-128-10 MLP: a whole training step with ``Adam`` |
| cross_entropy fwd+bwd | a memory-bound fused kernel over ``R·C`` logits |
| conv layer fwd+bwd | ``Conv2d`` 3×3: im2col copies, GEMMs and col2im |
| attention fwd+bwd | causal scaled dot-product attention: batched GEMMs and a softmax |

Every workload runs with TinyTorch's defaults (threads, kernels), as a user gets them, on
fixed float32 inputs from a fixed seed. ``quick`` shrinks the inputs so the whole set takes
a few seconds: for checking that the harness works, not for figures.

FLOPs per call, for reading the times: matmul ``3·2·n³``; the MLP step about
``3·2·B·(784·256 + 256·128 + 128·10)`` plus ``O(params)`` for Adam; the convolution
``3·2·N·O·C·9·H·W``; attention ``3·2·2·B·H·T²·D`` (the causal half is computed and masked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import tinytorch
import tinytorch.nn.functional as F
from tinytorch.arch import Conv2d
from tinytorch.arch.functional import scaled_dot_product_attention

Step = Callable[[], Any]


@dataclass(frozen=True)
class Workload:
    """One row of the standard set: ``build()`` prepares inputs and returns the step to time."""

    name: str
    build: Callable[[], Step]


def _normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32)


def matmul_step(n: int) -> Step:
    """(n, n) @ (n, n) forward and backward with a fixed upstream gradient."""
    rng = np.random.default_rng(0)
    a, b = (tinytorch.tensor(_normal(rng, n, n), requires_grad=True) for _ in range(2))
    g = tinytorch.tensor(_normal(rng, n, n))

    def step() -> None:
        a.grad = b.grad = None
        (a @ b).backward(g)
    return step


def mlp_adam_step(batch: int, sizes: tuple[int, ...] = (784, 256, 128, 10)) -> Step:
    """One Adam training step of an MLP with ReLU between its Linear layers."""
    tinytorch.manual_seed(0)
    layers: list[Any] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(tinytorch.nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(tinytorch.nn.ReLU())
    model = tinytorch.nn.Sequential(*layers)
    opt = tinytorch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(1)
    x = tinytorch.from_numpy(_normal(rng, batch, sizes[0]))
    y = tinytorch.from_numpy(rng.integers(0, sizes[-1], batch))

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def cross_entropy_step(rows: int, classes: int) -> Step:
    rng = np.random.default_rng(2)
    x = tinytorch.tensor(_normal(rng, rows, classes), requires_grad=True)
    target = tinytorch.tensor(rng.integers(0, classes, rows))

    def step() -> None:
        x.grad = None
        F.cross_entropy(x, target).backward()
    return step


def conv_step(n: int, c_in: int, c_out: int, side: int) -> Step:
    """A ``Conv2d(c_in, c_out, 3, padding=1)`` forward and backward on (n, c_in, side, side)."""
    tinytorch.manual_seed(0)
    layer = Conv2d(c_in, c_out, 3, padding=1)
    rng = np.random.default_rng(3)
    x = tinytorch.tensor(_normal(rng, n, c_in, side, side), requires_grad=True)
    g = tinytorch.tensor(_normal(rng, n, c_out, side, side))

    def step() -> None:
        x.grad = None
        layer.zero_grad()
        layer(x).backward(g)
    return step


def attention_step(b: int, h: int, t: int, d: int) -> Step:
    """Causal attention forward and backward into q, k and v, shapes (b, h, t, d)."""
    rng = np.random.default_rng(4)
    q, k, v = (tinytorch.tensor(_normal(rng, b, h, t, d), requires_grad=True) for _ in range(3))
    g = tinytorch.tensor(_normal(rng, b, h, t, d))

    def step() -> None:
        q.grad = k.grad = v.grad = None
        scaled_dot_product_attention(q, k, v, is_causal=True).backward(g)
    return step


def standard_set(quick: bool = False) -> list[Workload]:
    """The workloads of ``tito perf bench`` (``quick``: small inputs)."""
    n = 128 if quick else 512
    batch = 32 if quick else 128
    rows, classes = (256, 100) if quick else (4096, 1000)
    conv = (4, 8, 16, 16) if quick else (32, 16, 32, 32)
    attn = (4, 2, 32, 16) if quick else (32, 4, 64, 32)
    return [
        Workload(f"matmul fwd+bwd {n}x{n} f32", lambda: matmul_step(n)),
        Workload(f"MLP 784-256-128-10 Adam step B={batch}", lambda: mlp_adam_step(batch)),
        Workload(f"cross_entropy fwd+bwd ({rows}, {classes})",
                 lambda: cross_entropy_step(rows, classes)),
        Workload(f"Conv2d 3x3 fwd+bwd N={conv[0]} C={conv[1]}->{conv[2]} {conv[3]}x{conv[3]}",
                 lambda: conv_step(*conv)),
        Workload("attention causal fwd+bwd B={} H={} T={} D={}".format(*attn),
                 lambda: attention_step(*attn)),
    ]
