"""Exact integer matrix products on float32 BLAS: the int32 accumulators of an int8 GEMM.

NumPy has no int8 GEMM (an integer ``np.matmul`` runs NumPy's own loops, not BLAS), so the
products run in float32 BLAS, which is exact as long as it never rounds.

The bound. A float32 holds every integer up to ``2^24`` exactly. Every term of a quantized
dot product is ``(q_in - z_in)·q_w`` with ``|q_in - z_in| <= 255`` (uint8 minus a uint8 zero
point) and ``|q_w| <= 128`` (any int8), so ``|term| <= 255·128 = 32,640`` and a sum of ``k``
terms is at most ``32,640·k`` in magnitude. Whatever order the BLAS adds in (blocked, in SIMD
lanes, with fused multiply-adds), each partial result is a sum of a subset of the terms, so
it stays an integer below ``2^24`` as long as ``k <= 2^24 // 32,640 = 514``: then no step
rounds and the float32 result is the exact integer. Longer sums are cut along K into chunks
of at most that many terms; each chunk's exact result is converted to int32 and the chunks
are added in int32, which is the accumulator onnxruntime's integer kernels use. (The argument
needs a BLAS that forms each output as a sum of the products, which OpenBLAS, MKL and
Accelerate do; none of them uses Strassen-style tricks for sgemm.)

The trade-off. Float64 BLAS would be exact in one call up to ``k < 2^53 / 32,640`` (about
2.8·10^11), but a dgemm does half the FLOPs per cycle of an sgemm and its operands take twice
the bytes. The chunked float32 product does the same FLOPs as one sgemm, ``2·M·N·K``, plus
``M·N`` integer additions per extra chunk: for the layers of milestone 03 and 04 (``K`` = 784,
256, 128, 25, 400) that is at most one extra addition of the output.

The int32 accumulator itself overflows past ``2^31 / 32,640 = 65,793`` terms; longer
products raise instead of wrapping around.
"""

from __future__ import annotations

import numpy as np

FLOAT32_EXACT = 2 ** 24                # every integer of magnitude <= 2^24 is a float32
INT32_LIMIT = 2 ** 31 - 1


def exact_chunk(a_bound: int, b_bound: int) -> int:
    """The most terms ``|a|·|b|`` (each at most ``a_bound·b_bound``) float32 sums exactly."""
    return FLOAT32_EXACT // (a_bound * b_bound)


def exact_matmul(a: np.ndarray, b: np.ndarray, a_bound: int, b_bound: int) -> np.ndarray:
    """Exact ``a @ b`` as int32, for float32 arrays that hold integers.

    a: (..., M, K) with ``|a| <= a_bound``; b: (..., K, N) with ``|b| <= b_bound``; the batch
    dims broadcast as in ``np.matmul`` -> int32 (..., M, N). The float32 products run in
    chunks of at most ``exact_chunk(a_bound, b_bound)`` terms along K (module docstring).
    """
    k = a.shape[-1]
    if k * a_bound * b_bound > INT32_LIMIT:
        raise RuntimeError(
            f"integer matmul of {tuple(a.shape)} @ {tuple(b.shape)}: K={k} terms of up to "
            f"{a_bound}·{b_bound} can overflow the int32 accumulator (at most "
            f"{INT32_LIMIT // (a_bound * b_bound)} terms)")
    chunk = exact_chunk(a_bound, b_bound)
    if k <= chunk:
        return np.matmul(a, b).astype(np.int32)
    acc = np.matmul(a[..., :chunk], b[..., :chunk, :]).astype(np.int32)
    for k0 in range(chunk, k, chunk):
        acc += np.matmul(a[..., k0:k0 + chunk], b[..., k0:k0 + chunk, :]).astype(np.int32)
    return acc


def _bound(dtype: np.dtype) -> int:
    info = np.iinfo(dtype)
    return max(-int(info.min), int(info.max))


def matmul_int32(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact int32 ``a @ b`` of 8-bit integer arrays, as ONNX's ``MatMulInteger`` (no zero points).

    a: int8/uint8 (..., M, K); b: int8/uint8 (..., K, N) -> int32 (..., M, N), equal bit for bit
    to the product computed in int64.
    """
    for name, arr in (("a", a), ("b", b)):
        if arr.dtype not in (np.dtype(np.int8), np.dtype(np.uint8)):
            raise TypeError(f"matmul_int32: {name} must be int8 or uint8, got {arr.dtype} "
                            f"of shape {tuple(arr.shape)}")
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        raise RuntimeError(f"matmul_int32: shapes {tuple(a.shape)} and {tuple(b.shape)} "
                           "cannot be multiplied (expected (..., M, K) @ (..., K, N))")
    return exact_matmul(a.astype(np.float32), b.astype(np.float32), _bound(a.dtype),
                        _bound(b.dtype))
