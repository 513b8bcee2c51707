"""``log1p``, ``expm1`` and ``atan2``: accuracy near zero and quadrants by hand, gradients
against finite differences, broadcasting shapes from hypothesis, and against PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch as tt


def test_log1p_and_expm1_stay_accurate_where_the_naive_forms_give_zero() -> None:
    x = tt.tensor([1e-10])
    assert (x + 1).log().item() == 0.0                       # 1 + 1e-10 rounds to 1 in float32
    assert math.isclose(tt.log1p(x).item(), 1e-10, rel_tol=1e-6)
    assert math.isclose(x.expm1().item(), 1e-10, rel_tol=1e-6)


def test_log1p_and_expm1_by_hand_and_their_gradients() -> None:
    x = tt.tensor([0.0, 1.0], dtype=tt.float64, requires_grad=True)
    assert tt.log1p(x).tolist() == [0.0, math.log(2.0)]
    tt.log1p(x).sum().backward()
    assert x.grad.tolist() == [1.0, 0.5]                     # 1 / (1 + x)
    x.grad = None
    np.testing.assert_allclose(tt.expm1(x).detach().numpy(), [0.0, math.e - 1], rtol=1e-15)
    tt.expm1(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, math.e], rtol=1e-15)   # exp(x)


def test_integer_inputs_give_float32() -> None:
    assert tt.log1p(tt.tensor([1, 2])).dtype == tt.float32
    assert tt.expm1(tt.tensor([True])).dtype == tt.float32
    assert tt.atan2(tt.tensor([1, 2]), tt.tensor(3)).dtype == tt.float32


def test_atan2_keeps_the_quadrant() -> None:
    y = tt.tensor([1.0, 1.0, -1.0, -1.0, 0.0, 0.0])
    x = tt.tensor([1.0, -1.0, -1.0, 1.0, -1.0, 0.0])
    expected = [math.pi / 4, 3 * math.pi / 4, -3 * math.pi / 4, -math.pi / 4, math.pi, 0.0]
    np.testing.assert_allclose(tt.atan2(y, x).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(y.atan2(x).numpy(), expected, rtol=1e-6)


def test_atan2_gradient_by_hand() -> None:
    y = tt.tensor(3.0, dtype=tt.float64, requires_grad=True)
    x = tt.tensor(4.0, dtype=tt.float64, requires_grad=True)
    tt.atan2(y, x).backward()
    assert math.isclose(y.grad.item(), 4 / 25) and math.isclose(x.grad.item(), -3 / 25)


def test_atan2_promotes_like_pytorch() -> None:
    assert tt.atan2(tt.ones(2), tt.ones(2, dtype=tt.float64)).dtype == tt.float64


@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       st.integers(0, 2**31))
def test_gradients_match_finite_differences(shapes, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = (tt.tensor(rng.uniform(0.5, 2.0, s) * rng.choice([-1, 1], s), dtype=tt.float64,
                      requires_grad=True) for s in shapes.input_shapes)
    assert tt.atan2(a, b).shape == shapes.result_shape
    assert tt.gradcheck(tt.atan2, (a, b))
    positive = tt.tensor(rng.uniform(-0.5, 2.0, shapes.input_shapes[0]), dtype=tt.float64,
                         requires_grad=True)
    assert tt.gradcheck(tt.log1p, (positive,))
    assert tt.gradcheck(tt.expm1, (positive,))


def test_values_and_gradients_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(14)
    a, b = rng.uniform(-0.9, 3.0, (3, 4)), rng.standard_normal((4,))
    for name in ("log1p", "expm1"):
        x, y = tt.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        o, r = getattr(tt, name)(x), getattr(torch, name)(y)
        np.testing.assert_allclose(o.detach().numpy(), r.detach().numpy(), rtol=1e-14)
        o.sum().backward()
        r.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-14)
    xs = [tt.tensor(a, requires_grad=True), tt.tensor(b, requires_grad=True)]
    ys = [torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)]
    o, r = tt.atan2(*xs), torch.atan2(*ys)
    np.testing.assert_allclose(o.detach().numpy(), r.detach().numpy(), rtol=1e-14)
    o.sum().backward()
    r.sum().backward()
    for x, y in zip(xs, ys):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-12)
