"""Convolution over a batch cut into chunks on several threads: the values of one whole batch,
the same results on every run, and correct gradients; how the batch is cut; and the input
gradient computed only when it is needed."""

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


@pytest.fixture(params=[0, 10_000], ids=["batch-columns", "sample-columns"])
def layout(request, monkeypatch):
    """Both column layouts: each product's K above ``SAMPLE_MAX_K``, or within it."""
    monkeypatch.setattr(conv, "SAMPLE_MAX_K", request.param)
    monkeypatch.setattr(conv, "MIN_CHUNK", 1)       # let the tests' small batches split


OPTIONS = [{"padding": 2}, {"stride": 2, "padding": 1, "groups": 2},
           {"padding": 1, "padding_mode": "reflect", "dilation": 2}]


@pytest.mark.parametrize("x_grad", [True, False])   # batch columns: batch-last, batch-major
@pytest.mark.parametrize("options", OPTIONS)
def test_chunked_runs_repeat_bit_for_bit(monkeypatch, layout, x_grad, options):
    monkeypatch.setattr(conv, "BATCH_CHUNK", 2)     # 7 samples: chunks of 2, 2, 2, 1
    tinytorch.set_num_threads(2)
    x = np.random.default_rng(0).standard_normal((7, 4, 9, 11)).astype(np.float32)
    for a, b in zip(_run(x, x_grad, options), _run(x, x_grad, options)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("options", OPTIONS)
def test_chunks_give_the_values_of_one_whole_batch(monkeypatch, layout, options):
    x = np.random.default_rng(1).standard_normal((7, 4, 9, 11))
    tinytorch.set_num_threads(1)                    # one thread: one whole batch
    whole = _run(x, True, options)
    monkeypatch.setattr(conv, "BATCH_CHUNK", 3)
    tinytorch.set_num_threads(2)
    for a, b in zip(_run(x, True, options), whole):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_chunked_gradients_pass_gradcheck(monkeypatch, layout):
    monkeypatch.setattr(conv, "BATCH_CHUNK", 2)
    tinytorch.set_num_threads(2)
    rng = np.random.default_rng(2)
    x = tinytorch.tensor(rng.standard_normal((5, 2, 6, 6)), requires_grad=True)
    w = tinytorch.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = tinytorch.tensor(rng.standard_normal(3), requires_grad=True)
    assert tinytorch.gradcheck(lambda x, w, b: tinytorch.nn.functional.conv2d(x, w, b, padding=1),
                               (x, w, b))


@pytest.mark.parametrize("layout", ["sample", "batch_last", "batch_major"])
@pytest.mark.parametrize("n, threads, sizes", [
    (64, 2, [32, 32]),          # one chunk per thread
    (128, 2, [32, 32, 32, 32]),  # at most BATCH_CHUNK samples
    (20, 2, [10, 10]),
    (20, 4, [8, 8, 4]),         # at least MIN_CHUNK samples
    (15, 2, [15]),              # fewer than 2 * MIN_CHUNK samples: not split
    (0, 2, [0]),
])
def test_the_batch_is_cut_into_one_chunk_per_thread(n, threads, sizes, layout):
    tinytorch.set_num_threads(threads)
    assert _sizes(conv._chunk_spans(n, layout), n) == sizes


@pytest.mark.parametrize("layout, sizes", [
    ("sample", [100]),                      # per-sample columns: the whole batch
    ("batch_last", [32, 32, 32, 4]),        # batch columns: chunks that stay in the cache
    ("batch_major", [32, 32, 32, 4]),
])
def test_one_thread_keeps_batch_columns_in_cache_sized_chunks(layout, sizes):
    tinytorch.set_num_threads(1)
    assert _sizes(conv._chunk_spans(100, layout), 100) == sizes


def _sizes(spans: list[slice], n: int) -> list[int]:
    """The chunk sizes, after checking that the chunks cover ``range(n)`` in order."""
    assert spans[0].start == 0 and spans[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(spans, spans[1:]))
    return [s.stop - s.start for s in spans]


@pytest.mark.parametrize("sample_max_k", [0, 10_000])
def test_no_input_gradient_is_computed_when_the_input_needs_none(monkeypatch, sample_max_k):
    monkeypatch.setattr(conv, "SAMPLE_MAX_K", sample_max_k)

    def must_not_run(*args, **kwargs):
        raise AssertionError("col2im ran for an input that needs no gradient")

    monkeypatch.setattr(conv, "_col2im_into", must_not_run)
    x = np.random.default_rng(3).standard_normal((4, 1, 8, 8)).astype(np.float32)
    layer = tinytorch.nn.Conv2d(1, 4, 3, padding=1)
    layer(tinytorch.tensor(x)).sum().backward()      # the first layer: x needs no gradient
    assert layer.weight.grad is not None and layer.bias.grad is not None


@pytest.mark.parametrize("x_grad", [True, False])
def test_an_empty_batch_gives_empty_outputs_and_zero_gradients(layout, x_grad):
    x = np.zeros((0, 4, 9, 11), dtype=np.float32)
    out, gw, gb, *gx = _run(x, x_grad, {"padding": 1})
    assert out.shape == (0, 6, 9, 11)
    assert not gw.any() and not gb.any()
    assert [g.shape for g in gx] == ([(0, 4, 9, 11)] if x_grad else [])
