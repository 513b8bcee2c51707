"""Kernel for GELU (exact and tanh) and SiLU: output and derivative in one cache-blocked sweep.

What differs from the references in ``nn/functional/activation.py``, and why:

- **Fused forward.** The reference saves ``x`` and recomputes Φ (or the sigmoid) in backward.
  Here forward computes ``y`` *and* ``dy/dx`` in the same sweep, from the intermediates it
  already has, and saves only ``dy/dx`` (``n`` elements, the memory saving ``x`` would take).
  Backward is then one multiply ``grad · dy/dx``: no second evaluation of Φ or ``exp``. When
  no gradient will be needed (``no_grad``, eval) the derivative is not computed.
- **Cache-sized blocks.** Each formula is 10-30 NumPy passes (exact GELU's Φ alone is about
  20). On whole arrays every pass streams memory; on blocks of ``BLOCK`` elements
  (``core.blocks.map_row_blocks``) the passes run from cache and memory sees one read of
  ``x`` and one write of each output.
- **Threads.** Blocks go to ``parallel_rows``'s threads, each with its own scratch arrays.
  NumPy drops the GIL inside each call but every call takes it back, so many short calls
  leave the cores waiting on each other: ``BLOCK`` is large (512 KB of float32), where one
  thread is no slower than with small blocks and two threads gain the most. The block grid
  does not depend on the thread count: results are bit-identical for any number of threads.
- **Last-use reuse.** Backward writes ``grad · dy/dx`` into ``dy/dx`` itself when the graph
  will not be used again (``ctx.last_use``), so backward allocates nothing; the multiply is
  split by rows among the threads, since it is memory-bound and two cores share bandwidth
  better than one.
- **Formulas chosen for few passes.** Tanh GELU is evaluated as the identical ``x·σ(2a)`` (one
  ``exp`` instead of a slower ``tanh``); huge ``|x|`` overflows to ``inf`` inside the blocks
  and every formula turns that into the right saturated value.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from tinytorch.core.blocks import map_row_blocks
from tinytorch.core.function import Function
from tinytorch.core.parallel import parallel_rows
from tinytorch.nn.functional._special import normal_cdf_into

BLOCK = 131072   # elements per block (512 KB of float32): see the module docstring

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_SQRT_2_OVER_PI = 2.0 * math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715

Kernel = Callable[[np.ndarray, list[np.ndarray], list[np.ndarray]], None]


def blocked(kernel: Kernel, x: np.ndarray, n_out: int, n_scratch: int,
            bool_scratch: int = 0) -> list[np.ndarray]:
    """Run ``kernel(x_block, out_blocks, scratch_blocks)`` over ``x`` in cache-sized blocks.

    Returns ``n_out`` fresh arrays shaped and typed like ``x``, each owning its memory (so a
    leaf can keep one as its gradient without a copy). The kernel writes every element of each
    output block; scratch blocks hold garbage on entry. ``bool_scratch`` extra scratch arrays
    of dtype bool follow the float ones.
    """
    src = np.ascontiguousarray(x).reshape(-1)                  # (n,)
    n = src.size
    outs = [np.empty(x.shape, dtype=x.dtype) for _ in range(n_out)]
    flat = [o.reshape(-1) for o in outs]                       # views of the same memory
    size = min(BLOCK, n)

    def scratch() -> list[np.ndarray]:
        return ([np.empty(size, dtype=x.dtype) for _ in range(n_scratch)]
                + [np.empty(size, dtype=bool) for _ in range(bool_scratch)])

    def work(blk: slice, group: int, tmp: list[np.ndarray]) -> None:
        m = blk.stop - blk.start
        kernel(src[blk], [o[blk] for o in flat], [s[:m] for s in tmp])

    map_row_blocks(n, BLOCK, work, scratch=scratch)
    return outs


def multiply(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = a · b`` for arrays shaped like ``out``, split by leading rows among threads.

    One pass that is bound by memory bandwidth, which two cores share better than one; blocks
    of at least ``BLOCK`` elements per thread keep the hand-off worth it.
    """
    if out.ndim == 0 or out.size <= BLOCK:
        return np.multiply(a, b, out=out)

    def rows(r: slice) -> None:
        np.multiply(a[r], b[r], out=out[r])

    row = out.size // out.shape[0]
    parallel_rows(out.shape[0], rows, min_rows=max(1, BLOCK // max(row, 1)))
    return out


def _gelu_exact_kernel(x: np.ndarray, outs: list[np.ndarray], tmp: list[np.ndarray]) -> None:
    y = outs[0]
    gauss, t, u, positive = tmp
    normal_cdf_into(x, y, gauss, t, u, positive)     # y = Φ(x), gauss = exp(-x²/2)
    if len(outs) == 2:
        dydx = outs[1]
        np.multiply(x, gauss, out=dydx)
        dydx *= _INV_SQRT_2PI
        dydx += y                                     # Φ(x) + x·φ(x)
    y *= x


def _gelu_tanh_kernel(x: np.ndarray, outs: list[np.ndarray], tmp: list[np.ndarray]) -> None:
    y = outs[0]
    poly, sig = tmp
    np.multiply(x, x, out=poly)
    poly *= _GELU_CUBIC
    poly += 1.0                                       # 1 + c·x²
    np.multiply(poly, x, out=sig)
    sig *= -_TWO_SQRT_2_OVER_PI                       # -2a
    np.exp(sig, out=sig)                              # inf for very negative x: σ becomes 0
    sig += 1.0
    np.divide(1.0, sig, out=sig)                      # σ(2a)
    np.multiply(x, sig, out=y)
    if len(outs) == 2:
        dydx = outs[1]
        np.clip(x, -1e4, 1e4, out=dydx)               # beyond ±1e4, σ(1-σ) is exactly 0
        np.multiply(dydx, dydx, out=poly)
        poly *= 3 * _GELU_CUBIC * _TWO_SQRT_2_OVER_PI
        poly += _TWO_SQRT_2_OVER_PI                   # 2a' = 2√(2/π)(1 + 3c·x²)
        poly *= dydx
        poly *= sig                                   # x·σ·2a', finite for any x
        np.subtract(1.0, sig, out=dydx)
        dydx *= poly
        dydx += sig                                   # σ + x·σ(1-σ)·2a'


def _silu_kernel(x: np.ndarray, outs: list[np.ndarray], tmp: list[np.ndarray]) -> None:
    y = outs[0]
    (sig,) = tmp
    np.negative(x, out=sig)
    np.exp(sig, out=sig)
    sig += 1.0
    np.divide(1.0, sig, out=sig)                      # σ(x)
    np.multiply(x, sig, out=y)
    if len(outs) == 2:
        dydx = outs[1]
        np.subtract(1.0, sig, out=dydx)
        dydx *= y
        dydx += sig                                   # σ + y(1 - σ)


KERNELS = {  # name -> (kernel, float scratch arrays, bool scratch arrays)
    "gelu": (_gelu_exact_kernel, 3, 1),
    "gelu_tanh": (_gelu_tanh_kernel, 2, 0),
    "silu": (_silu_kernel, 1, 0),
}


class Pointwise(Function):
    """``y = f(x)`` for a kernel that also yields ``dy/dx``; backward is ``grad · dy/dx``."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, kernel: str, need_grad: bool) -> np.ndarray:
        # x: (*) -> y: (*); saves dy/dx: (*)
        fn, n_scratch, n_bool = KERNELS[kernel]
        # x² and exp(-x) may overflow to inf for huge |x|; every kernel is written to turn
        # that into the right saturated value (0, 1 or x), so the warning is noise here
        with np.errstate(over="ignore"):
            outs = blocked(fn, x, 2 if need_grad else 1, n_scratch, n_bool)
        ctx.save_for_backward(outs[1] if need_grad else None)
        return outs[0]

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: (*) -> (*)
        (dydx,) = ctx.saved_tensors
        out = dydx if ctx.last_use else np.empty_like(dydx)   # dy/dx dies here: reuse it
        return multiply(grad, dydx, out=out)
