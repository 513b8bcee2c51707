"""Max/avg/adaptive pooling against per-window loop references, gradcheck, errors, PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.pooling import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    MaxPool2d,
    adaptive_avg_pool2d,
    avg_pool2d,
    max_pool2d,
)


def out_len(size, k, s, p, d, ceil):
    span = size + 2 * p - d * (k - 1) - 1
    n = (math.ceil(span / s) if ceil else span // s) + 1
    if ceil and (n - 1) * s >= size + p:
        n -= 1
    return n


def reference_max_pool(x, k, s, p, d, ceil):
    """Loop over every output position; returns values and flat h*W+w indices."""
    n, c, h, w = x.shape
    ho, wo = out_len(h, k[0], s[0], p[0], d[0], ceil), out_len(w, k[1], s[1], p[1], d[1], ceil)
    out, idx = np.empty((n, c, ho, wo)), np.empty((n, c, ho, wo), np.int64)
    for a in range(n):
        for b in range(c):
            for i in range(ho):
                for j in range(wo):
                    best, arg = -np.inf, -1
                    for u in range(k[0]):
                        for v in range(k[1]):
                            r, q = i * s[0] - p[0] + u * d[0], j * s[1] - p[1] + v * d[1]
                            if 0 <= r < h and 0 <= q < w and x[a, b, r, q] > best:
                                best, arg = x[a, b, r, q], r * w + q
                    out[a, b, i, j], idx[a, b, i, j] = best, arg
    return out, idx


def reference_avg_pool(x, k, s, p, ceil, include_pad, divisor=None):
    n, c, h, w = x.shape
    ho, wo = out_len(h, k[0], s[0], p[0], 1, ceil), out_len(w, k[1], s[1], p[1], 1, ceil)
    out = np.empty((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            r0, q0 = i * s[0] - p[0], j * s[1] - p[1]
            r1, q1 = min(r0 + k[0], h + p[0]), min(q0 + k[1], w + p[1])
            count = (r1 - r0) * (q1 - q0)
            r0, q0, r1, q1 = max(r0, 0), max(q0, 0), min(r1, h), min(q1, w)
            if not include_pad:
                count = (r1 - r0) * (q1 - q0)
            total = x[:, :, r0:r1, q0:q1].sum(axis=(2, 3))
            out[:, :, i, j] = total / (divisor or count)
    return out


def reference_adaptive_avg(x, oh, ow):
    h, w = x.shape[-2:]
    out = np.empty(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, r1 = (i * h) // oh, math.ceil((i + 1) * h / oh)
            q0, q1 = (j * w) // ow, math.ceil((j + 1) * w / ow)
            out[..., i, j] = x[..., r0:r1, q0:q1].mean(axis=(-2, -1))
    return out


def t64(a, grad=False):
    return tinytorch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


MAX_CASES = [  # kernel, stride, padding, dilation, ceil_mode
    ((2, 2), (2, 2), (0, 0), (1, 1), False),
    ((3, 3), (2, 2), (1, 1), (1, 1), False),      # overlapping windows, stride ∤ input
    ((3, 3), (2, 2), (1, 1), (1, 1), True),
    ((2, 3), (1, 2), (0, 1), (2, 1), False),      # dilation
    ((2, 2), (2, 2), (0, 0), (1, 1), True),       # ceil mode on odd sizes
    ((1, 1), (1, 1), (0, 0), (1, 1), False),      # kernel 1
    ((3, 2), (3, 1), (1, 1), (1, 2), True),
]


@pytest.mark.parametrize("k, s, p, d, ceil", MAX_CASES)
def test_max_pool2d_matches_loop_reference_with_indices(k, s, p, d, ceil):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 9))
    out, idx = max_pool2d(t64(x), k, s, p, d, ceil, return_indices=True)
    ref, ref_idx = reference_max_pool(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(out.numpy(), ref)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    assert idx.dtype == np.int64


@pytest.mark.parametrize("k, s, p, d, ceil", MAX_CASES)
def test_max_pool2d_gradcheck(k, s, p, d, ceil):
    x = t64(np.random.default_rng(1).permutation(2 * 2 * 7 * 9).reshape(2, 2, 7, 9) / 10, True)
    assert tinytorch.gradcheck(lambda a: max_pool2d(a, k, s, p, d, ceil), (x,))


def test_max_pool2d_gradient_goes_only_to_the_maximum():
    x = t64([[[[1.0, 5.0], [3.0, 2.0]]]], True)
    max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0.0, 1.0], [0.0, 0.0]]]])


def test_max_pool2d_propagates_nan_like_pytorch():
    x = t64([[[[1.0, np.nan], [3.0, 2.0]]]])
    out, idx = max_pool2d(x, 2, return_indices=True)
    assert np.isnan(out.numpy()).all() and idx.numpy().item() == 1


AVG_CASES = [  # kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
    ((2, 2), (2, 2), (0, 0), False, True, None),
    ((3, 3), (2, 2), (1, 1), False, True, None),
    ((3, 3), (2, 2), (1, 1), False, False, None),
    ((3, 3), (2, 2), (1, 1), True, True, None),   # ceil overhang is never counted
    ((3, 3), (2, 2), (1, 1), True, False, None),
    ((2, 3), (1, 2), (1, 1), False, True, 4),
    ((3, 2), (3, 3), (0, 1), True, True, None),
]


@pytest.mark.parametrize("k, s, p, ceil, include_pad, divisor", AVG_CASES)
def test_avg_pool2d_matches_loop_reference_and_gradcheck(k, s, p, ceil, include_pad, divisor):
    x = np.random.default_rng(2).standard_normal((2, 3, 7, 8))
    out = avg_pool2d(t64(x), k, s, p, ceil, include_pad, divisor)
    np.testing.assert_allclose(out.numpy(), reference_avg_pool(x, k, s, p, ceil, include_pad,
                                                               divisor), atol=1e-12)
    assert tinytorch.gradcheck(lambda a: avg_pool2d(a, k, s, p, ceil, include_pad, divisor),
                               (t64(x[:1, :2], True),))


@pytest.mark.parametrize("size", [1, (3, 4), (5, None), (7, 9), (10, 11), (2, 1)])
def test_adaptive_avg_pool2d_matches_loop_reference_and_gradcheck(size):
    x = np.random.default_rng(3).standard_normal((2, 3, 7, 9))
    out = adaptive_avg_pool2d(t64(x), size)
    oh, ow = (size, size) if isinstance(size, int) else (size[0], size[1] or 9)
    np.testing.assert_allclose(out.numpy(), reference_adaptive_avg(x, oh, ow), atol=1e-12)
    assert tinytorch.gradcheck(lambda a: adaptive_avg_pool2d(a, size), (t64(x[:1, :2], True),))


def test_unbatched_inputs_give_unbatched_outputs():
    x = np.random.default_rng(4).standard_normal((3, 6, 6))
    for fn in (lambda a: max_pool2d(a, 2), lambda a: avg_pool2d(a, 3, 2, 1),
               lambda a: adaptive_avg_pool2d(a, 2)):
        y = fn(t64(x))
        assert y.ndim == 3
        np.testing.assert_allclose(y.numpy(), fn(t64(x[None])).numpy()[0])
        assert tinytorch.gradcheck(fn, (t64(x, True),))
    _, idx = max_pool2d(t64(x), 2, return_indices=True)
    assert idx.shape == (3, 3, 3)


def test_float32_stays_float32():
    x = tinytorch.randn(2, 3, 8, 8, requires_grad=True)
    for layer in (MaxPool2d(2), AvgPool2d(3, 1, 1), AdaptiveAvgPool2d(1)):
        y = layer(x)
        assert y.dtype == np.float32
        y.sum().backward()
        assert x.grad.dtype == np.float32
        x.grad = None


def test_kernel_larger_than_input_raises_runtime_error_naming_shapes():
    with pytest.raises(RuntimeError, match=r"max_pool2d: input of shape \(1, 1, 2, 2\).*"
                                           r"kernel 3 x 3"):
        MaxPool2d(3)(tinytorch.zeros(1, 1, 2, 2))
    with pytest.raises(RuntimeError, match="avg_pool2d: input of shape"):
        AvgPool2d(4)(tinytorch.zeros(1, 1, 3, 8))


def test_bad_arguments_raise():
    x = tinytorch.zeros(1, 1, 8, 8)
    with pytest.raises(RuntimeError, match="pad should be at most half of effective kernel"):
        max_pool2d(x, 3, padding=2)
    with pytest.raises(RuntimeError, match="pad should be at most half"):
        avg_pool2d(x, 2, padding=2)
    with pytest.raises(RuntimeError, match="must be positive"):
        max_pool2d(x, 2, stride=0)
    with pytest.raises(RuntimeError, match="3D .* or 4D"):
        max_pool2d(tinytorch.zeros(8, 8), 2)
    with pytest.raises(RuntimeError, match="divisor must be not zero"):
        avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(RuntimeError, match="floating-point"):
        max_pool2d(tinytorch.zeros(1, 1, 4, 4, dtype=tinytorch.int64), 2)


def test_module_defaults_and_repr_match_pytorch():
    m = MaxPool2d(2)
    assert m.stride == 2
    assert repr(m) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert repr(AvgPool2d(3, 1)) == "AvgPool2d(kernel_size=3, stride=1, padding=0)"
    assert repr(AdaptiveAvgPool2d((5, 7))) == "AdaptiveAvgPool2d(output_size=(5, 7))"
    out, idx = MaxPool2d(2, return_indices=True)(tinytorch.randn(1, 2, 4, 4))
    assert out.shape == idx.shape == (1, 2, 2, 2)


@pytest.mark.parametrize("kind", ["max", "avg", "adaptive"])
def test_matches_pytorch(kind):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 11, 10))
    ours = {"max": lambda a: max_pool2d(a, 3, 2, 1, 2, True),
            "avg": lambda a: avg_pool2d(a, 3, 2, 1, True, False),
            "adaptive": lambda a: adaptive_avg_pool2d(a, (4, 3))}[kind]
    theirs = {"max": lambda a: F.max_pool2d(a, 3, 2, 1, 2, True),
              "avg": lambda a: F.avg_pool2d(a, 3, 2, 1, True, False),
              "adaptive": lambda a: F.adaptive_avg_pool2d(a, (4, 3))}[kind]
    xt, xr = t64(x, True), torch.tensor(x, requires_grad=True)
    y, yr = ours(xt), theirs(xr)
    g = rng.standard_normal(tuple(yr.shape))
    y.backward(t64(g))
    yr.backward(torch.tensor(g))
    np.testing.assert_allclose(y.detach().numpy(), yr.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), atol=1e-12)
