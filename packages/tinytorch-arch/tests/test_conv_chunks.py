"""Convolution over a batch cut into chunks on several threads: the values of one whole batch,
the same results on every run, and correct gradients."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch.arch._kernels import conv


@pytest.fixture(autouse=True)
def _restore_threads():
    before = tinytorch.get_num_threads()
    yield
    tinytorch.set_num_threads(before)


def _run(x: np.ndarray, x_grad: bool, options: dict) -> list[np.ndarray]:
    tinytorch.manual_seed(0)                        # the same initial weights every time
    layer = tinytorch.nn.Conv2d(4, 6, 3, **options)
    if x.dtype == np.float64:
        layer = layer.double()
    xt = tinytorch.tensor(x, requires_grad=x_grad)
    out = layer(xt)
    (out * out).sum().backward()
    grads = [layer.weight.grad.numpy(), layer.bias.grad.numpy()]
    return [out.detach().numpy()] + grads + ([xt.grad.numpy()] if x_grad else [])


OPTIONS = [{"padding": 2}, {"stride": 2, "padding": 1, "groups": 2},
           {"padding": 1, "padding_mode": "reflect", "dilation": 2}]


@pytest.mark.parametrize("x_grad", [True, False])   # batch-last and batch-major columns
@pytest.mark.parametrize("options", OPTIONS)
def test_chunked_runs_repeat_bit_for_bit(monkeypatch, x_grad, options):
    monkeypatch.setattr(conv, "BATCH_CHUNK", 2)     # 7 samples: chunks of 2, 2, 2, 1
    tinytorch.set_num_threads(2)
    x = np.random.default_rng(0).standard_normal((7, 4, 9, 11)).astype(np.float32)
    for a, b in zip(_run(x, x_grad, options), _run(x, x_grad, options)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("options", OPTIONS)
def test_chunks_give_the_values_of_one_whole_batch(monkeypatch, options):
    x = np.random.default_rng(1).standard_normal((7, 4, 9, 11))
    tinytorch.set_num_threads(1)                    # one thread: one whole batch
    whole = _run(x, True, options)
    monkeypatch.setattr(conv, "BATCH_CHUNK", 3)
    tinytorch.set_num_threads(2)
    for a, b in zip(_run(x, True, options), whole):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_chunked_gradients_pass_gradcheck(monkeypatch):
    monkeypatch.setattr(conv, "BATCH_CHUNK", 2)
    tinytorch.set_num_threads(2)
    rng = np.random.default_rng(2)
    x = tinytorch.tensor(rng.standard_normal((5, 2, 6, 6)), requires_grad=True)
    w = tinytorch.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = tinytorch.tensor(rng.standard_normal(3), requires_grad=True)
    assert tinytorch.gradcheck(lambda x, w, b: tinytorch.nn.functional.conv2d(x, w, b, padding=1),
                               (x, w, b))
