"""Exact int32 accumulators: bit for bit equal to int64, even past float32's 2^24."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch.perf.quantization import matmul_int32
from tinytorch.perf.quantization.integer_matmul import exact_chunk, exact_matmul


def int64_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.matmul(a.astype(np.int64), b.astype(np.int64))


def test_chunk_keeps_every_partial_sum_below_two_to_the_24():
    chunk = exact_chunk(255, 128)
    assert chunk == 514
    assert chunk * 255 * 128 <= 2 ** 24 < (chunk + 1) * 255 * 128


def test_naive_float32_is_wrong_past_two_to_the_24():
    # the failure the chunks prevent: 1,101 terms of 255·127 = 32,385 sum to an odd number
    # above 2^24, which no float32 holds, whatever order a BLAS adds in
    a = np.full((1, 1101), 255, np.uint8)
    b = np.full((1101, 1), 127, np.int8)
    exact = int64_reference(a, b)
    assert int(exact[0, 0]) > 2 ** 24 and int(exact[0, 0]) % 2 == 1
    naive = np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.int64)
    assert not np.array_equal(naive, exact)
    assert np.array_equal(matmul_int32(a, b), exact)


@pytest.mark.parametrize("k", [1, 514, 515, 1101, 4097])
@pytest.mark.parametrize("a_value, b_value", [(255, 127), (255, -128), (127, -128), (-128, -128)])
def test_extreme_values_are_exact(k, a_value, b_value):
    a_dtype = np.uint8 if a_value > 127 else np.int8
    a = np.full((3, k), a_value, a_dtype)
    b = np.full((k, 2), b_value, np.int8)
    out = matmul_int32(a, b)
    assert out.dtype == np.int32
    assert np.array_equal(out, int64_reference(a, b))


def test_random_extremes_mixed_signs_are_exact():
    rng = np.random.default_rng(0)
    a = rng.choice(np.array([0, 255], np.uint8), size=(17, 3000))
    b = rng.choice(np.array([-128, 127], np.int8), size=(3000, 9))
    assert np.array_equal(matmul_int32(a, b), int64_reference(a, b))


def test_shifted_activations_are_exact_across_chunks():
    # (q - z) in [-255, 255] against int8 weights: the quantized layers' case
    rng = np.random.default_rng(1)
    a = rng.choice(np.array([-255.0, 255.0], np.float32), size=(4, 1500))
    b = rng.choice(np.array([-128.0, 127.0], np.float32), size=(1500, 5))
    got = exact_matmul(a, b, 255, 128)
    assert np.array_equal(got, int64_reference(a.astype(np.int64), b.astype(np.int64)))


def test_batched_dims_broadcast():
    rng = np.random.default_rng(2)
    a = rng.integers(-128, 128, size=(2, 3, 4, 1200), dtype=np.int8)
    b = rng.integers(-128, 128, size=(3, 1200, 5), dtype=np.int8)
    assert np.array_equal(matmul_int32(a, b), int64_reference(a, b))


@given(st.integers(1, 6), st.integers(1, 1500), st.integers(1, 6), st.integers(0, 2 ** 31))
@settings(max_examples=40, deadline=None)
def test_random_shapes_are_exact(m, k, n, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, size=(m, k), dtype=np.uint8)
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    assert np.array_equal(matmul_int32(a, b), int64_reference(a, b))


def test_int32_overflow_is_refused_not_wrapped():
    a = np.zeros((1, 70_000), np.float32)
    b = np.zeros((70_000, 1), np.float32)
    with pytest.raises(RuntimeError, match="overflow the int32 accumulator"):
        exact_matmul(a, b, 255, 128)


def test_wrong_dtype_and_shape_are_refused():
    with pytest.raises(TypeError, match="int8 or uint8, got float32"):
        matmul_int32(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.int8))
    with pytest.raises(RuntimeError, match=r"\(2, 3\) and \(2, 2\)"):
        matmul_int32(np.zeros((2, 3), np.int8), np.zeros((2, 2), np.int8))
