"""The optimisations the lower tiers make, each paired with the plain path it replaces.

| pair | reference (plain) | kernel (optimised) |
|---|---|---|
| cross_entropy | all log-probabilities, then NLL | one pass in row blocks, saves the gradient |
| gelu, silu | the formula, op by op | value and derivative in one blocked sweep |
| layer_norm, rms_norm | pass after pass over the array | row blocks in cache, saves statistics |
| conv2d | im2col, a GEMM per sample, col2im | batch in the columns, fused col2im |
| max_pool2d | window-major windows, argmax | kernel-major windows, running maximum |
| batch_norm | the formula with temporaries | contractions and in-place passes |
| attention | a new array at every step | in place, cached causal bias |
| conv2d forward | one product per kernel offset | im2col: one large product |
| threaded rows | the kernel on 1 thread | the kernel on every usable core |
| cache blocking | A @ B one row at a time | A @ B in cache-sized tiles |
| BLAS | the tiled loop above | one ``A @ B`` call |

The first rows switch with ``tinytorch.use_reference_kernels``, entered around each timed
block, so both sides run the same public function on the same inputs. The kernel side runs
with TinyTorch's default thread policy, as a user gets it. Every side returns the output and
the gradients of its inputs (forward and backward are both timed and both checked), except
the direct convolution and the matrix products, which are forward only.

The threaded rows hold the thread count with ``tinytorch.core.parallel.num_threads`` around
each block (1 on one side, every usable core on the other), which puts the count and the
default policy back as they were afterwards.

Sizes: the default ones make each op take milliseconds, large enough for threads and caches
to matter; ``quick=True`` shrinks everything so the whole set runs in seconds (for checking
that it works, not for figures).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

import tinytorch
import tinytorch.nn.functional as F
from tinytorch.arch.functional import batch_norm, conv2d, max_pool2d, scaled_dot_product_attention
from tinytorch.core.parallel import num_threads
from tinytorch.core.reference import use_reference_kernels
from tinytorch.core.tensor import Tensor
from tinytorch.perf.acceleration.blocked_matmul import (
    block_for_cache,
    matmul_blocked,
    matmul_by_rows,
)
from tinytorch.perf.acceleration.direct_conv import conv2d_direct
from tinytorch.perf.acceleration.pair import KernelPair
from tinytorch.perf.compare import Side
from tinytorch.perf.environment import cache_sizes, usable_cores

Step = Callable[[], list[np.ndarray]]


@dataclass(frozen=True)
class Sizes:
    """The input sizes of the pairs."""

    rows: int                            # rows of the (rows, width) pointwise and norm inputs
    width: int
    classes: int                         # cross-entropy classes
    image: tuple[int, int, int, int]     # (N, C, H, W) of the convolution and pooling inputs
    out_channels: int
    attention: tuple[int, int, int, int]  # (B, H, T, D)
    matmul: int                          # side of the square matrices


FULL = Sizes(rows=4096, width=1024, classes=1000, image=(32, 16, 32, 32), out_channels=32,
             attention=(32, 4, 64, 32), matmul=512)
QUICK = Sizes(rows=256, width=256, classes=100, image=(4, 8, 16, 16), out_channels=8,
              attention=(4, 2, 32, 16), matmul=192)

# A convolution's weight gradient sums N·H_out·W_out float32 products (32,768 at full size),
# and the two sides add them in different orders: they agree to about 1e-4 of the sum's
# magnitude, not of each (possibly cancelling) element.
_CONV_TOL = 1e-3


def fwd_bwd(op: Callable[..., Tensor], inputs: Sequence[np.ndarray], seed: int = 0) -> Step:
    """A step that runs ``op`` on tensors made from ``inputs`` (each requiring grad) and
    back-propagates a fixed random gradient (none for a scalar output), returning the output
    and each input's gradient."""
    tensors = [tinytorch.tensor(a, requires_grad=True) for a in inputs]
    upstream: list[Tensor] = []

    def step() -> list[np.ndarray]:
        for t in tensors:
            t.grad = None
        out = op(*tensors)
        if out.array.ndim == 0:
            out.backward()
        else:
            if not upstream:
                rng = np.random.default_rng(seed)
                upstream.append(tinytorch.tensor(
                    rng.standard_normal(out.array.shape).astype(out.array.dtype)))
            out.backward(upstream[0])
        return [out.array, *(t.grad.array for t in tensors)]   # type: ignore[union-attr]
    return step


def switched(step: Step) -> tuple[Side, Side]:
    """The same step as (reference, kernel), switched by ``use_reference_kernels``."""
    return (Side(step, "reference", lambda: use_reference_kernels(True)),
            Side(step, "kernel", lambda: use_reference_kernels(False)))


@contextlib.contextmanager
def kernels_on_threads(n: int) -> Iterator[None]:
    """The fast kernels on ``n`` threads inside the block; the thread policy as it was after."""
    with num_threads(n), use_reference_kernels(False):
        yield


def threaded(step: Step, n: int) -> tuple[Side, Side]:
    """The same step as (1 thread, ``n`` threads), fast kernels on both sides."""
    return (Side(step, "1 thread", lambda: kernels_on_threads(1)),
            Side(step, f"{n} threads", lambda: kernels_on_threads(n)))


def _normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32)


def _cross_entropy(s: Sizes) -> Step:
    rng = np.random.default_rng(0)
    target = tinytorch.tensor(rng.integers(0, s.classes, s.rows))
    return fwd_bwd(lambda x: F.cross_entropy(x, target), [_normal(rng, s.rows, s.classes)])


def _conv(s: Sizes) -> Step:
    rng = np.random.default_rng(1)
    n, c, h, w = s.image
    weight = _normal(rng, s.out_channels, c, 3, 3) / np.float32(np.sqrt(9 * c))
    return fwd_bwd(lambda x, wt, b: conv2d(x, wt, b, padding=1),
                   [_normal(rng, n, c, h, w), weight, _normal(rng, s.out_channels)])


def _rowwise(s: Sizes, op: Callable[[Tensor], Tensor]) -> Step:
    return fwd_bwd(op, [_normal(np.random.default_rng(2), s.rows, s.width)])


def _im2col_vs_direct(s: Sizes) -> tuple[Side, Side]:
    rng = np.random.default_rng(3)
    n, c, h, w = s.image
    x, wt, b = (_normal(rng, n, c, h, w), _normal(rng, s.out_channels, c, 3, 3),
                _normal(rng, s.out_channels))
    tx, tw, tb = (tinytorch.tensor(a) for a in (x, wt, b))

    def im2col() -> list[np.ndarray]:
        with tinytorch.no_grad():
            return [conv2d(tx, tw, tb, padding=1).array]

    return (Side(lambda: [conv2d_direct(x, wt, b, padding=1)], "direct"),
            Side(im2col, "im2col", lambda: use_reference_kernels(True)))


def _matrices(s: Sizes) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((2, s.matmul, s.matmul))
    l2 = cache_sizes().get("L2")
    return a, b, block_for_cache(l2, a.itemsize) if l2 else 64


def _blocking(s: Sizes) -> tuple[Side, Side]:
    a, b, block = _matrices(s)
    return (Side(lambda: [matmul_by_rows(a, b)], "by rows"),
            Side(lambda: [matmul_blocked(a, b, block)], f"{block}x{block} tiles"))


def _blas(s: Sizes) -> tuple[Side, Side]:
    a, b, block = _matrices(s)
    return (Side(lambda: [matmul_blocked(a, b, block)], f"{block}x{block} tiles"),
            Side(lambda: [a @ b], "one BLAS call"))


def default_pairs(quick: bool = False) -> list[KernelPair]:
    """Every optimisation of the lower tiers and the two matrix-product demonstrations, at
    the default sizes (``quick``: small ones)."""
    s = QUICK if quick else FULL
    rw = f"({s.rows}, {s.width})"
    n, c, h, w = s.image
    img = f"N={n} C={c}->{s.out_channels} {h}x{w}"
    b, hd, t, d = s.attention
    mm = f"{s.matmul}x{s.matmul} f64"

    def attention() -> Step:
        rng = np.random.default_rng(5)
        return fwd_bwd(lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True),
                       [_normal(rng, *s.attention) for _ in range(3)])

    def pooling() -> Step:
        return fwd_bwd(lambda x: max_pool2d(x, 2),
                       [_normal(np.random.default_rng(6), n, c, h, w)])

    def norm() -> Step:
        rng = np.random.default_rng(7)
        return fwd_bwd(lambda x, g, bt: batch_norm(x, None, None, g, bt, training=True),
                       [_normal(rng, n, c, h, w), _normal(rng, c), _normal(rng, c)])

    pairs = [
        KernelPair(f"cross_entropy ({s.rows}, {s.classes})",
                   "one pass in row blocks", lambda: switched(_cross_entropy(s))),
        KernelPair(f"gelu {rw}", "fused value + derivative",
                   lambda: switched(_rowwise(s, F.gelu))),
        KernelPair(f"silu {rw}", "fused value + derivative",
                   lambda: switched(_rowwise(s, F.silu))),
        KernelPair(f"layer_norm {rw}", "row blocks in cache",
                   lambda: switched(_rowwise(s, lambda x: F.layer_norm(x, (s.width,))))),
        KernelPair(f"rms_norm {rw}", "row blocks in cache",
                   lambda: switched(_rowwise(s, lambda x: F.rms_norm(x, (s.width,))))),
        KernelPair(f"conv2d 3x3 {img}", "batch in the columns, fused col2im",
                   lambda: switched(_conv(s)), rtol=_CONV_TOL, atol=_CONV_TOL),
        KernelPair(f"max_pool2d 2x2 N={n} C={c} {h}x{w}", "kernel-major windows",
                   lambda: switched(pooling())),
        KernelPair(f"batch_norm N={n} C={c} {h}x{w}", "contractions, in place",
                   lambda: switched(norm())),
        KernelPair(f"attention causal B={b} H={hd} T={t} D={d}", "in place, cached causal bias",
                   lambda: switched(attention())),
        KernelPair(f"conv2d forward {img}", "im2col vs one product per offset",
                   lambda: _im2col_vs_direct(s), rtol=_CONV_TOL, atol=_CONV_TOL),
        KernelPair(f"matmul {mm}", "cache blocking", lambda: _blocking(s),
                   rtol=1e-9, atol=1e-9),
        KernelPair(f"matmul {mm}", "BLAS vs the tiled loop", lambda: _blas(s),
                   rtol=1e-9, atol=1e-9),
    ]
    cores = usable_cores()
    if cores > 1:
        pairs += [
            KernelPair(f"cross_entropy ({s.rows}, {s.classes})", "threaded rows",
                       lambda: threaded(_cross_entropy(s), cores)),
            KernelPair(f"layer_norm {rw}", "threaded rows",
                       lambda: threaded(_rowwise(s, lambda x: F.layer_norm(x, (s.width,))),
                                        cores)),
            KernelPair(f"conv2d 3x3 {img}", "batch chunks on threads",
                       lambda: threaded(_conv(s), cores), rtol=_CONV_TOL, atol=_CONV_TOL),
        ]
    return pairs


def select(pairs: Sequence[KernelPair], only: str) -> list[KernelPair]:
    """The pairs whose name or description contains ``only`` (all when it is empty)."""
    return [p for p in pairs if only in p.name or only in p.what]
