"""Each fast kernel in ``tinytorch.nn._kernels`` agrees with its plain reference.

For every pair (GELU exact and tanh, SiLU, LayerNorm, RMSNorm, cross-entropy) the public op
runs once under ``use_reference_kernels(True)`` and once with the default kernel, on shapes
hypothesis generates; outputs and gradients must agree. The kernels' blocks are shrunk so the
generated shapes span several blocks and groups. ``gradcheck`` covers both sides in float64.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch
import tinytorch.nn.functional as F
from tinytorch.nn._kernels import cross_entropy, layer_norm, pointwise
from tinytorch.nn.functional import activation, normalization
from tinytorch.nn.functional.cross_entropy import CrossEntropy

SETTINGS = settings(max_examples=12, deadline=None, database=None)
shapes = st.lists(st.integers(1, 7), min_size=1, max_size=3).map(tuple)


@contextmanager
def small_blocks() -> Iterator[None]:
    """Kernel blocks of a few elements, so a small input runs through many blocks."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pointwise, "BLOCK", 8)
        mp.setattr(layer_norm, "BLOCK", 16)
        mp.setattr(cross_entropy, "BLOCK", 16)
        yield


def run(fn: Callable[..., Any], arrays: list[np.ndarray], reference: bool,
        kind: type) -> list[np.ndarray]:
    """``fn(*tensors)`` and the gradients of its tensors for a fixed upstream gradient.

    Checks that the op recorded is ``kind`` (the reference or the kernel Function asked for).
    """
    with tinytorch.use_reference_kernels(reference), small_blocks():
        ts = [tinytorch.tensor(a, requires_grad=True) for a in arrays]
        y = fn(*ts)
        assert type(y.grad_fn) is kind
        g = np.random.default_rng(7).standard_normal(y.shape).astype(y.array.dtype)
        y.backward(tinytorch.tensor(g))
    return [y.detach().numpy()] + [t.grad.numpy() for t in ts]


def assert_pair_agrees(fn: Callable[..., Any], arrays: list[np.ndarray], ref_kind: type,
                       kernel_kind: type, rtol: float, atol: float) -> None:
    ref = run(fn, arrays, True, ref_kind)
    ker = run(fn, arrays, False, kernel_kind)
    for r, k in zip(ref, ker):
        assert r.dtype == k.dtype and r.shape == k.shape
        np.testing.assert_allclose(k, r, rtol=rtol, atol=atol)


def gradcheck_both(fn: Callable[..., Any], arrays: list[np.ndarray]) -> None:
    for reference in (True, False):
        with tinytorch.use_reference_kernels(reference), small_blocks():
            ts = tuple(tinytorch.tensor(a, requires_grad=True) for a in arrays)
            assert tinytorch.gradcheck(fn, ts)


# float32's atol covers the tails of the tanh forms, where 1 ± tanh(z) cancels: the two sides
# round differently by up to eps32 times the size of the intermediate terms (about 10 at
# |x| = 5), so 2.5e-6 apart where the true gradient is 3e-6 (seen at x = -5.31).
TOLERANCE = {np.float32: (2e-5, 1e-5), np.float64: (1e-10, 1e-12)}
POINTWISE = {
    "gelu": (F.gelu, activation.Gelu),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), activation.GeluTanh),
    "silu": (F.silu, activation.Silu),
}


# ---------------------------------------------------------------------- GELU and SiLU
@pytest.mark.parametrize("name", POINTWISE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@SETTINGS
@given(shape=shapes, seed=st.integers(0, 2**16), spread=st.sampled_from([1.0, 4.0, 30.0]))
def test_pointwise_kernel_matches_its_reference(name, dtype, shape, seed, spread):
    fn, ref = POINTWISE[name]
    x = (np.random.default_rng(seed).standard_normal(shape) * spread).astype(dtype)
    assert_pair_agrees(fn, [x], ref, pointwise.Pointwise, *TOLERANCE[dtype])


@pytest.mark.parametrize("name", POINTWISE)
def test_pointwise_reference_and_kernel_pass_gradcheck(name):
    x = np.random.default_rng(3).standard_normal((5, 7)) * 3
    gradcheck_both(POINTWISE[name][0], [x])


# ---------------------------------------------------------------- LayerNorm and RMSNorm
def _norm_case(seed: int, lead: tuple[int, ...], norm: tuple[int, ...], dtype: Any,
               n_params: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(lead + norm) * 2 + 1
    return [x.astype(dtype)] + [rng.standard_normal(norm).astype(dtype)
                                for _ in range(n_params)]


NORMS = {  # name -> (fn of (x, *params) over the normalised shape, params, reference, kernel)
    "layer_norm": (lambda s: lambda x: F.layer_norm(x, s), 0,
                   normalization.LayerNorm, layer_norm.LayerNormKernel),
    "layer_norm_affine": (lambda s: lambda x, w, b: F.layer_norm(x, s, w, b), 2,
                          normalization.LayerNorm, layer_norm.LayerNormKernel),
    "rms_norm": (lambda s: lambda x: F.rms_norm(x, s), 0,
                 normalization.RMSNorm, layer_norm.RMSNormKernel),
    "rms_norm_affine": (lambda s: lambda x, w: F.rms_norm(x, s, w), 1,
                        normalization.RMSNorm, layer_norm.RMSNormKernel),
}


@pytest.mark.parametrize("name", NORMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@SETTINGS
@given(lead=st.lists(st.integers(1, 9), max_size=2).map(tuple),
       norm=st.lists(st.integers(1, 6), min_size=1, max_size=2).map(tuple),
       seed=st.integers(0, 2**16))
def test_norm_kernel_matches_its_reference(name, dtype, lead, norm, seed):
    make, n_params, ref, kernel = NORMS[name]
    rtol, atol = (1e-4, 1e-5) if dtype == np.float32 else (1e-9, 1e-11)
    arrays = _norm_case(seed, lead, norm, dtype, n_params)
    assert_pair_agrees(make(norm), arrays, ref, kernel, rtol, atol)


@pytest.mark.parametrize("name", NORMS)
def test_norm_reference_and_kernel_pass_gradcheck(name):
    make, n_params, _, _ = NORMS[name]
    gradcheck_both(make((3, 4)), _norm_case(5, (6,), (3, 4), np.float64, n_params))


# --------------------------------------------------------------------- cross-entropy
def _ce_case(seed: int, n: int, c: int, extra: tuple[int, ...], dtype: Any,
             ignore: bool, weighted: bool) -> tuple[np.ndarray, np.ndarray, Any]:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c) + extra) * 3).astype(dtype)
    t = rng.integers(0, c, (n,) + extra)
    if ignore:
        t[rng.random(t.shape) < 0.3] = -100
    w = tinytorch.tensor(rng.random(c).astype(dtype) + 0.5) if weighted else None
    return x, t, w


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@SETTINGS
@given(n=st.integers(1, 9), c=st.integers(1, 6), extra=st.lists(st.integers(1, 3),
       max_size=2).map(tuple), seed=st.integers(0, 2**16), ignore=st.booleans(),
       weighted=st.booleans(), smoothing=st.sampled_from([0.0, 0.1, 1.0]),
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_kernel_matches_its_reference(dtype, n, c, extra, seed, ignore, weighted,
                                                    smoothing, reduction):
    x, t, w = _ce_case(seed, n, c, extra, dtype, ignore, weighted)

    def fn(logits):
        return F.cross_entropy(logits, tinytorch.tensor(t), weight=w, reduction=reduction,
                               label_smoothing=smoothing)

    rtol, atol = (1e-4, 1e-6) if dtype == np.float32 else (1e-9, 1e-12)
    ref = run(fn, [x], True, CrossEntropy)
    ker = run(fn, [x], False, cross_entropy.CrossEntropyKernel)
    for r, k in zip(ref, ker):
        assert r.dtype == k.dtype and r.shape == k.shape
        np.testing.assert_allclose(k, r, rtol=rtol, atol=atol)     # nan where both are nan


def test_cross_entropy_kernel_matches_its_reference_unbatched():
    x = np.random.default_rng(4).standard_normal(5)
    for reduction in ("mean", "none"):
        def fn(logits, reduction=reduction):
            return F.cross_entropy(logits, tinytorch.tensor(3), reduction=reduction,
                                   label_smoothing=0.2)
        assert_pair_agrees(fn, [x], CrossEntropy, cross_entropy.CrossEntropyKernel,
                           1e-10, 1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_reference_and_kernel_pass_gradcheck(smoothing):
    x, t, w = _ce_case(6, 7, 4, (2,), np.float64, ignore=True, weighted=True)
    t[0, 0] = 1                                    # at least one row counts

    def fn(logits):
        return F.cross_entropy(logits, tinytorch.tensor(t), weight=w,
                               label_smoothing=smoothing)

    gradcheck_both(fn, [x])


def test_the_switch_picks_the_function_and_restores_the_previous_mode():
    x = tinytorch.randn(4, 3, requires_grad=True)
    before = tinytorch.reference_kernels_enabled()
    with tinytorch.use_reference_kernels(False):
        assert type(F.gelu(x).grad_fn) is pointwise.Pointwise
        with tinytorch.use_reference_kernels():
            assert type(F.gelu(x).grad_fn) is activation.Gelu
            assert type(F.layer_norm(x, (3,)).grad_fn) is normalization.LayerNorm
        assert type(F.layer_norm(x, (3,)).grad_fn) is layer_norm.LayerNormKernel
    assert tinytorch.reference_kernels_enabled() is before
