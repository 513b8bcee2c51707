"""Ops that split their rows among intra-op threads give the same results on one thread."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinytorch
import tinytorch.nn.functional as F
from tinytorch.core import blocks
from tinytorch.core.parallel import parallel_rows
from tinytorch.nn._kernels import cross_entropy, layer_norm, pointwise


@pytest.fixture(autouse=True)
def _restore_threads():
    before = tinytorch.get_num_threads()
    with tinytorch.use_reference_kernels(False):      # these tests are about the kernels
        yield
    tinytorch.set_num_threads(before)


def _cross_entropy_and_grad(threads: int, logits: np.ndarray, target: np.ndarray):
    tinytorch.set_num_threads(threads)
    x = tinytorch.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, tinytorch.tensor(target), label_smoothing=0.1)
    loss.backward()
    return loss.item(), x.grad.numpy()


def test_cross_entropy_is_the_same_on_one_and_two_threads(monkeypatch) -> None:
    monkeypatch.setattr(cross_entropy, "BLOCK", 4096)      # 409 rows a block: 10 blocks
    calls = []

    def recording(rows, work, min_rows=1):
        calls.append(rows // min_rows)
        parallel_rows(rows, work, min_rows)

    monkeypatch.setattr(blocks, "parallel_rows", recording)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 10)).astype(np.float32)
    target = rng.integers(0, 10, size=4000)
    loss1, grad1 = _cross_entropy_and_grad(1, logits, target)
    loss2, grad2 = _cross_entropy_and_grad(2, logits, target)
    assert calls and all(c >= 2 for c in calls)     # the forward had work for two threads
    assert loss1 == pytest.approx(loss2, rel=1e-6)
    np.testing.assert_array_equal(grad1, grad2)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 4096 elements, so a small input spans many blocks, chunks and groups."""
    monkeypatch.setattr(pointwise, "BLOCK", 4096)
    monkeypatch.setattr(layer_norm, "BLOCK", 4096)


def _forward_backward(threads: int, fn, data: np.ndarray, grad: np.ndarray, *params):
    """``fn(x, *params)`` and the gradients of ``x`` and ``params`` on ``threads`` threads."""
    tinytorch.set_num_threads(threads)
    x = tinytorch.tensor(data, requires_grad=True)
    ps = [tinytorch.tensor(p, requires_grad=True) for p in params]
    y = fn(x, *ps)
    y.backward(tinytorch.tensor(grad))
    return [y.detach().numpy(), x.grad.numpy()] + [p.grad.numpy() for p in ps]


def _assert_same_on_one_and_two_threads(fn, shape, n_params=0, d=None):
    rng = np.random.default_rng(1)
    data = (rng.standard_normal(shape) * 3).astype(np.float32)
    grad = rng.standard_normal(shape).astype(np.float32)
    params = [rng.standard_normal(d).astype(np.float32) for _ in range(n_params)]
    one = _forward_backward(1, fn, data, grad, *params)
    two = _forward_backward(2, fn, data, grad, *params)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
}
NORMS = {  # name -> (fn, number of affine parameters)
    "layer_norm": (lambda x: F.layer_norm(x, (300,)), 0),
    "layer_norm_affine": (lambda x, w, b: F.layer_norm(x, (300,), w, b), 2),
    "rms_norm": (lambda x: F.rms_norm(x, (300,)), 0),
    "rms_norm_affine": (lambda x, w: F.rms_norm(x, (300,), w), 1),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_is_bit_identical_on_one_and_two_threads(name, small_blocks):
    _assert_same_on_one_and_two_threads(ACTIVATIONS[name], (251, 300))


@pytest.mark.parametrize("name", NORMS)
def test_norm_is_bit_identical_on_one_and_two_threads(name, small_blocks):
    fn, n_params = NORMS[name]
    _assert_same_on_one_and_two_threads(fn, (251, 300), n_params, 300)


@pytest.mark.parametrize("fn", [F.gelu, lambda x: F.layer_norm(x, (1000,))],
                         ids=["gelu", "layer_norm"])
def test_default_blocks_split_a_large_input_and_agree_across_threads(fn, monkeypatch):
    calls = []

    def recording(rows, work, min_rows=1):
        calls.append(rows // min_rows)
        parallel_rows(rows, work, min_rows)

    monkeypatch.setattr(blocks, "parallel_rows", recording)
    monkeypatch.setattr(pointwise, "parallel_rows", recording)
    _assert_same_on_one_and_two_threads(fn, (300, 1000))
    assert calls and all(c >= 2 for c in calls)     # every pass had work for two threads


def test_small_inputs_stay_on_the_calling_thread(monkeypatch):
    def refuse(rows, work, min_rows=1):
        assert rows < 2 * min_rows, "a small input was split among threads"
        work(slice(0, rows))

    monkeypatch.setattr(blocks, "parallel_rows", refuse)
    monkeypatch.setattr(pointwise, "parallel_rows", refuse)
    tinytorch.set_num_threads(2)
    x = tinytorch.randn(64, 512, requires_grad=True)
    F.layer_norm(F.gelu(x), (512,)).sum().backward()


def test_pool_threads_keep_the_callers_numpy_error_state(small_blocks):
    tinytorch.set_num_threads(2)
    x = np.full((64, 1024), -1e30, dtype=np.float32)       # x² overflows to inf in every block
    x[::2] = 1e30
    t = tinytorch.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in ACTIVATIONS.values():
            t.grad = None
            fn(t).sum().backward()
            assert np.all(np.isfinite(t.grad.numpy()))


def test_gradients_are_right_when_split_into_many_blocks_on_two_threads(monkeypatch):
    monkeypatch.setattr(pointwise, "BLOCK", 64)
    monkeypatch.setattr(layer_norm, "BLOCK", 64)           # 4 rows a block, 10 blocks
    tinytorch.set_num_threads(2)
    rng = np.random.default_rng(2)
    x, w, b = (tinytorch.tensor(rng.standard_normal(s), requires_grad=True)
               for s in ((40, 16), (16,), (16,)))
    assert tinytorch.gradcheck(lambda x, w, b: F.layer_norm(x, (16,), w, b), (x, w, b))
    assert tinytorch.gradcheck(lambda x, w: F.rms_norm(x, (16,), w), (x, w))
    assert tinytorch.gradcheck(F.gelu, (x,))


@pytest.mark.skipif(not tinytorch.core.parallel.blas_controllable(),
                    reason="NumPy's BLAS here is not an OpenBLAS whose threads can be set")
def test_a_large_linear_layer_widens_blas_and_a_small_one_does_not(monkeypatch) -> None:
    from tinytorch.core import parallel

    monkeypatch.setattr(parallel, "free_cores", lambda: 2)       # two idle cores
    monkeypatch.setattr(parallel._blas, "initial", 2)
    tinytorch.set_num_threads(2)
    monkeypatch.setattr(parallel._State, "adaptive", True)
    calls = []
    real = parallel._set_blas
    monkeypatch.setattr(parallel, "_set_blas", lambda n: (calls.append(n), real(n)))
    big = F.linear(tinytorch.randn(256, 256, requires_grad=True),
                   tinytorch.randn(256, 256, requires_grad=True))
    big.sum().backward()
    assert calls == [2, 1, 2, 1]                       # the forward GEMM, then the backward pair
    calls.clear()
    small = F.linear(tinytorch.randn(8, 16), tinytorch.randn(4, 16))
    assert small.shape == (8, 4) and calls == []
