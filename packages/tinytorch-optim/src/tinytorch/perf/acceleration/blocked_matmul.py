"""Cache blocking, shown on a matrix product written two ways in NumPy.

Both compute ``C = A @ B`` for A (M, K) and B (K, N) with the same ``2·M·K·N`` FLOPs; they
differ only in the order they touch memory.

- **By rows** (``matmul_by_rows``): row ``i`` of C is row ``i`` of A times all of B, one
  vector-matrix product per row (each entry the dot product of a row of A and a column of
  B). Every row reads the whole of B, ``K·N`` elements, so B crosses from wherever it lives
  to the core ``M`` times: ``M·K·N`` element loads for ``2·M·K·N`` FLOPs, 2 FLOPs per load.
  Once B is larger than the L2 cache, those loads come from L3 or DRAM and the product runs
  at the speed of memory, not of the arithmetic units.
- **Blocked** (``matmul_blocked``): C is cut into ``b×b`` tiles, and each tile accumulates
  the products of a ``b×b`` tile of A and one of B. Three tiles, ``3·b²`` elements, fit in a
  cache level when ``b`` is chosen for it (``block_for_cache``), and each element of a B tile
  loaded into it is used for ``b`` rows of A before it leaves. Loads of B fall to
  ``M·K·N / b``: ``2·b`` FLOPs per load instead of 2.

What the measurement in ``tinytorch.perf.acceleration`` shows, honestly: the Python loops
only order the work; each row or tile product runs in NumPy's BLAS (a ``gemv`` for a row, a
small ``gemm`` for a tile, both on one thread as TinyTorch's policy leaves BLAS at rest). So
the gain measured is the gain of data reuse (the same arithmetic, fewer trips to memory), plus
what a small ``gemm`` does better than ``M`` ``gemv`` calls in registers, minus the Python
overhead of ``(M/b)·(N/b)·(K/b)`` tile calls. A single ``A @ B`` is faster than both: BLAS
blocks for every cache level and the registers, packs tiles into contiguous buffers and uses
SIMD kernels; the report shows that row too.

The two orders sum the K terms of an entry in different groupings, so float results agree to
rounding, not bit for bit; with integer-valued float64 inputs (exact sums below 2^53) they
are equal exactly, which the tests use.
"""

from __future__ import annotations

import math

import numpy as np


def _check(a: np.ndarray, b: np.ndarray, caller: str) -> tuple[int, int, int]:
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"{caller}: expected two 2-D arrays, got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"{caller}: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({a.shape[1]} != {b.shape[0]})")
    return a.shape[0], a.shape[1], b.shape[1]


def matmul_by_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` as one vector-matrix product per row of ``a``: (M, K) @ (K, N) -> (M, N)."""
    m, _, n = _check(a, b, "matmul_by_rows")
    c = np.empty((m, n), dtype=np.result_type(a, b))
    for i in range(m):
        np.dot(a[i], b, out=c[i])            # (K,) @ (K, N) -> (N,): reads all of B
    return c


def matmul_blocked(a: np.ndarray, b: np.ndarray, block: int = 64) -> np.ndarray:
    """``a @ b`` tile by tile, ``block``×``block`` tiles: (M, K) @ (K, N) -> (M, N).

    Loops over tiles of C (rows ``i``, columns ``j``) and, inside, over the shared dimension
    ``k``, so a tile of C stays in cache while it accumulates ``K / block`` tile products.
    """
    m, k, n = _check(a, b, "matmul_blocked")
    if not isinstance(block, int) or block < 1:
        raise ValueError(f"matmul_blocked: block must be a positive integer, got {block!r}")
    c = np.zeros((m, n), dtype=np.result_type(a, b))
    for i in range(0, m, block):
        for j in range(0, n, block):
            tile = c[i:i + block, j:j + block]                       # (b, b) view of C
            for p in range(0, k, block):
                tile += a[i:i + block, p:p + block] @ b[p:p + block, j:j + block]
    return c


def block_for_cache(cache_bytes: int, itemsize: int) -> int:
    """The largest power-of-two tile side ``b`` whose three tiles (of A, B and C) take at most
    half of a cache of ``cache_bytes`` (the other half for everything else): ``3·b²·itemsize
    ≤ cache_bytes / 2``; at least 8."""
    side = math.isqrt(max(1, cache_bytes // (2 * 3 * itemsize)))
    return max(8, 1 << (side.bit_length() - 1))
