"""Every fast kernel agrees with its reference: values and gradients on generated shapes, and
both pass gradcheck in float64 (convolution, pooling, batch norm, attention)."""

from __future__ import annotations

from collections.abc import Callable
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch
from tinytorch.arch import _spatial as sp
from tinytorch.arch._kernels import conv as conv_kernel
from tinytorch.arch.attention import scaled_dot_product_attention as sdpa
from tinytorch.arch.batchnorm import batch_norm
from tinytorch.arch.conv import _conv
from tinytorch.arch.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d

SETTINGS = settings(max_examples=15, deadline=None)
MODES = ("zeros", "reflect", "replicate", "circular")


def _both(fn: Callable[..., tinytorch.Tensor], arrays: list[np.ndarray],
          needs_grad: list[bool] | None = None) -> list[list[np.ndarray]]:
    """[kernel, reference]: the output and each input's gradient under a fixed upstream grad.

    The random generator is reseeded before each run, so ops with dropout draw the same mask.
    """
    needs_grad = needs_grad or [True] * len(arrays)
    runs = []
    for reference in (False, True):
        tinytorch.manual_seed(0)
        with tinytorch.use_reference_kernels(reference):
            inputs = [tinytorch.tensor(a, requires_grad=g) for a, g in zip(arrays, needs_grad)]
            out = fn(*inputs)
            upstream = np.random.default_rng(1).standard_normal(out.shape)
            out.backward(tinytorch.tensor(upstream.astype(out.detach().numpy().dtype)))
            runs.append([out.detach().numpy()] + [t.grad.numpy() for t, g in
                                                  zip(inputs, needs_grad) if g])
    return runs


def _assert_agree(runs: list[list[np.ndarray]], tol: float = 1e-10) -> None:
    kernel, reference = runs
    for a, b in zip(kernel, reference, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def _gradcheck_both(fn: Callable[..., tinytorch.Tensor], arrays: list[np.ndarray]) -> None:
    for reference in (False, True):
        with tinytorch.use_reference_kernels(reference):
            tinytorch.manual_seed(0)
            inputs = tuple(tinytorch.tensor(a, requires_grad=True) for a in arrays)
            assert tinytorch.gradcheck(fn, inputs), f"reference={reference}"


# ----------------------------------------------------------------------------- convolution
@st.composite
def conv_cases(draw: st.DrawFn) -> dict:
    groups = draw(st.sampled_from([1, 2]))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    size = [max(3, d * (k - 1) + 1) + draw(st.integers(0, 3)) for k, d in zip(kernel, dilation)]
    batch = draw(st.sampled_from([(), (1,), (3,)]))                    # () = unbatched
    return dict(x=(*batch, groups * draw(st.integers(1, 2)), *size),
                w=(groups * draw(st.integers(1, 2)), 0, *kernel), groups=groups,
                stride=(draw(st.integers(1, 2)), draw(st.integers(1, 2))), pads=pads,
                dilation=dilation, mode=draw(st.sampled_from(MODES)),
                bias=draw(st.booleans()), x_grad=draw(st.booleans()),
                sample_max_k=draw(st.sampled_from([0, conv_kernel.SAMPLE_MAX_K])))


@SETTINGS
@given(conv_cases())
def test_conv_kernel_matches_reference(case: dict) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case["x"])
    c = case["x"][-3]
    w = rng.standard_normal((case["w"][0], c // case["groups"], *case["w"][2:]))
    arrays = [x, w] + ([rng.standard_normal(case["w"][0])] if case["bias"] else [])

    def conv(x, w, b=None):
        return _conv(x, w, b, case["stride"], case["pads"], case["dilation"], case["groups"],
                     case["mode"])

    # every column layout: per sample (these small K), or batch-last with an input gradient
    # and batch-major without one
    with mock.patch.object(conv_kernel, "SAMPLE_MAX_K", case["sample_max_k"]):
        _assert_agree(_both(conv, arrays, [case["x_grad"]] + [True] * (len(arrays) - 1)))


@pytest.mark.parametrize("stride, pads, dilation, groups, mode", [
    ((1, 1), (1, 1, 1, 1), (1, 1), 1, "zeros"),
    ((2, 1), (1, 2, 0, 1), (1, 2), 2, "reflect"),
    ((1, 2), (2, 1, 1, 1), (2, 1), 1, "circular"),
])
def test_conv_kernel_and_reference_pass_gradcheck(stride, pads, dilation, groups, mode):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((4, 2 // groups, 2, 3)),
              rng.standard_normal(4)]
    _gradcheck_both(lambda x, w, b: _conv(x, w, b, stride, pads, dilation, groups, mode),
                    arrays)


# ----------------------------------------------------------------------------- pooling
@st.composite
def pool_cases(draw: st.DrawFn) -> dict:
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = tuple(draw(st.integers(0, (d * (k - 1) + 1) // 2))
                    for k, d in zip(kernel, dilation))
    size = tuple(d * (k - 1) + 1 + draw(st.integers(0, 4)) for k, d in zip(kernel, dilation))
    batch = draw(st.sampled_from([(), (2,)]))
    return dict(shape=(*batch, 2, *size), kernel=kernel, dilation=dilation, padding=padding,
                stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                ceil_mode=draw(st.booleans()))


@SETTINGS
@given(pool_cases())
def test_max_pool_kernel_matches_reference_with_indices(case: dict) -> None:
    x = np.random.default_rng(0).standard_normal(case["shape"])
    args = (case["kernel"], case["stride"], case["padding"], case["dilation"], case["ceil_mode"])
    _assert_agree(_both(lambda t: max_pool2d(t, *args), [x]))
    indices = []
    for reference in (False, True):
        with tinytorch.use_reference_kernels(reference):
            indices.append(max_pool2d(tinytorch.tensor(x), *args, return_indices=True)[1])
    np.testing.assert_array_equal(indices[0].numpy(), indices[1].numpy())


@SETTINGS
@given(pool_cases(), st.booleans(), st.sampled_from([None, 3]))
def test_avg_pool_kernel_matches_reference(case: dict, include_pad: bool, divisor) -> None:
    x = np.random.default_rng(0).standard_normal(case["shape"])
    padding = tuple(min(p, k // 2) for p, k in zip(case["padding"], case["kernel"]))
    _assert_agree(_both(lambda t: avg_pool2d(t, case["kernel"], case["stride"], padding,
                                             case["ceil_mode"], include_pad, divisor), [x]))


@SETTINGS
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 5), st.integers(1, 5))
def test_adaptive_avg_pool_kernel_matches_reference(h, w, out_h, out_w) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, h, w))
    _assert_agree(_both(lambda t: adaptive_avg_pool2d(t, (out_h, out_w)), [x]))


def test_pooling_kernels_and_references_pass_gradcheck() -> None:
    x = np.random.default_rng(4).standard_normal((2, 2, 7, 6))
    _gradcheck_both(lambda t: max_pool2d(t, (3, 2), (2, 1), (1, 1), (1, 2), True), [x])
    _gradcheck_both(lambda t: avg_pool2d(t, 3, 2, 1, True, False), [x])
    _gradcheck_both(lambda t: adaptive_avg_pool2d(t, (3, 4)), [x])


# ----------------------------------------------------------------------------- batch norm
@SETTINGS
@given(st.sampled_from([(5, 3), (4, 3, 6), (2, 3, 4, 5)]), st.booleans(), st.booleans())
def test_batch_norm_kernel_matches_reference(shape, training, affine) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape)] + ([rng.standard_normal(3), rng.standard_normal(3)]
                                             if affine else [])
    stats = []

    def bn(x, w=None, b=None):
        stats.append((tinytorch.tensor(np.full(3, 0.5)), tinytorch.tensor(np.full(3, 2.0))))
        return batch_norm(x, *stats[-1], w, b, training, 0.1, 1e-5)

    _assert_agree(_both(bn, arrays))
    for kernel_stat, reference_stat in zip(*stats):       # the running statistics too
        np.testing.assert_allclose(kernel_stat.numpy(), reference_stat.numpy(), rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_kernel_and_reference_pass_gradcheck(training) -> None:
    rng = np.random.default_rng(5)
    mean, var = tinytorch.tensor(rng.standard_normal(3)), tinytorch.tensor(np.full(3, 1.5))
    arrays = [rng.standard_normal((4, 3, 2, 3)), rng.standard_normal(3), rng.standard_normal(3)]
    _gradcheck_both(lambda x, w, b: batch_norm(x, None if training else mean,
                                               None if training else var, w, b, training),
                    arrays)


# ----------------------------------------------------------------------------- attention
@st.composite
def attention_cases(draw: st.DrawFn) -> dict:
    batch = draw(st.sampled_from([(), (2,), (2, 3), (9, 2)]))   # 18 slices: the row threads
    length, keys = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    e, ev = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    mask = draw(st.sampled_from(["none", "bool", "float", "causal", "broadcast bool"]))
    return dict(q=(*batch, length, e), k=(*batch, keys, e), v=(*batch, keys, ev), mask=mask,
                dropout=draw(st.sampled_from([0.0, 0.0, 0.3])))


@SETTINGS
@given(attention_cases(), st.sampled_from([1, 2]))
def test_attention_kernel_matches_reference(case: dict, threads: int) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(case[name]) for name in "qkv"]
    scores = case["q"][:-1] + case["k"][-2:-1]
    mask = None
    if case["mask"] == "bool":
        mask = tinytorch.tensor(rng.random(scores) < 0.7)      # some rows fully masked
    elif case["mask"] == "broadcast bool":
        mask = tinytorch.tensor(rng.random(scores[-1:]) < 0.7)
    elif case["mask"] == "float":
        mask = tinytorch.tensor(rng.standard_normal(scores))
    before = tinytorch.get_num_threads()
    tinytorch.set_num_threads(threads)
    try:
        _assert_agree(_both(lambda q, k, v: sdpa(q, k, v, mask, case["dropout"],
                                                 case["mask"] == "causal"), arrays))
    finally:
        tinytorch.set_num_threads(before)


@pytest.mark.parametrize("options", [{}, {"is_causal": True}, {"dropout_p": 0.4}])
def test_attention_kernel_and_reference_pass_gradcheck(options) -> None:
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((2, 3, 4, 3)), rng.standard_normal((2, 3, 5, 3)),
              rng.standard_normal((2, 3, 5, 2))]
    if options.get("is_causal"):
        arrays[1], arrays[2] = arrays[1][..., :4, :], arrays[2][..., :4, :]

    def attend(q, k, v):
        tinytorch.manual_seed(0)                             # the same dropout mask each call
        return sdpa(q, k, v, **options)

    _gradcheck_both(attend, arrays)


def test_attention_gradcheck_into_a_float_mask_on_both() -> None:
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal(s) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 5))]
    _gradcheck_both(lambda q, k, v, m: sdpa(q, k, v, m), arrays)


@pytest.mark.parametrize("rotary", [False, True])
def test_transformer_block_gives_the_same_values_on_the_packed_kernel_and_the_reference(rotary):
    tinytorch.manual_seed(0)
    rope = tinytorch.arch.RotaryEmbedding(4) if rotary else None
    block = tinytorch.arch.TransformerBlock(8, 2, rotary=rope).double()
    x = np.random.default_rng(8).standard_normal((2, 5, 8))
    runs = []
    for reference in (False, True):
        block.zero_grad()
        with tinytorch.use_reference_kernels(reference):
            xt = tinytorch.tensor(x, requires_grad=True)
            out = block(xt)
            (out * out).sum().backward()
        runs.append([out.detach().numpy(), xt.grad.numpy()]
                    + [p.grad.numpy() for p in block.parameters()])
    _assert_agree(runs)


def test_spatial_padding_is_core_padding() -> None:
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(sp.pad_gather(x, (1, 2, 2, 0), "reflect"),
                                  np.pad(x, ((0, 0), (0, 0), (1, 2), (2, 0)), mode="reflect"))
