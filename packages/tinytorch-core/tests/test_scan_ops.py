"""``cumsum`` and ``cumprod``: values and gradients by hand (zeros in the input included),
against finite differences in float64, shapes from hypothesis, and against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch as tt

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def test_cumsum_and_cumprod_by_hand() -> None:
    x = tt.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert tt.cumsum(x, 1).tolist() == [[1.0, 3.0, 6.0], [4.0, 9.0, 15.0]]
    assert x.cumsum(dim=0).tolist() == [[1.0, 2.0, 3.0], [5.0, 7.0, 9.0]]
    assert tt.cumprod(x, -1).tolist() == [[1.0, 2.0, 6.0], [4.0, 20.0, 120.0]]


def test_cumsum_gradient_is_the_suffix_sum_of_the_output_gradient() -> None:
    x = tt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x.cumsum(0) * tt.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert x.grad.tolist() == [111.0, 110.0, 100.0]


def test_cumprod_gradient_by_hand_without_zeros() -> None:
    # y = [a, ab, abc]; d(sum y)/da = 1 + b + bc, /db = a + ac, /dc = ab
    x = tt.tensor([2.0, 3.0, 4.0], requires_grad=True)
    x.cumprod(0).sum().backward()
    assert x.grad.tolist() == [1 + 3 + 12, 2 + 8, 6]


@pytest.mark.parametrize("values, expected", [
    ([2.0, 0.0, 3.0, 4.0], [1.0, 2 + 6 + 24, 0.0, 0.0]),    # y = [2, 0, 0, 0]
    ([0.0, 0.0, 3.0], [1.0, 0.0, 0.0]),                      # only the first zero gets grad
    ([0.0, 5.0], [6.0, 0.0]),                                # y = [a, ab]: dy/da = 1 + b
])
def test_cumprod_gradient_is_exact_with_zeros_in_the_input(values: list, expected: list) -> None:
    x = tt.tensor(values, dtype=tt.float64, requires_grad=True)
    x.cumprod(0).sum().backward()
    assert x.grad.tolist() == expected
    assert tt.gradcheck(lambda t: t.cumprod(0), (tt.tensor(values, dtype=tt.float64,
                                                           requires_grad=True),))


def test_integer_and_bool_inputs_scan_in_int64_and_dtype_casts_first() -> None:
    assert tt.cumsum(tt.tensor([1, 2, 3], dtype=tt.int32), 0).dtype == tt.int64
    assert tt.cumsum(tt.tensor([True, True]), 0).tolist() == [1, 2]
    assert tt.cumprod(tt.tensor([1.5, 2.0]), 0, dtype=tt.float64).dtype == tt.float64


def test_zero_dimensional_input_is_returned_as_is() -> None:
    assert tt.cumsum(tt.tensor(3.0), 0).item() == 3.0
    assert tt.cumprod(tt.tensor(3.0), -1).shape == ()


def test_dim_out_of_range_raises_index_error() -> None:
    with pytest.raises(IndexError, match="Dimension out of range"):
        tt.cumsum(tt.ones(2, 3), 2)


@given(shapes, st.data())
def test_scans_keep_the_shape_and_pass_gradcheck(shape: tuple, data: st.DataObject) -> None:
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    a = rng.standard_normal(shape)
    a[rng.random(shape) < 0.2] = 0.0                     # zeros exercise the exact cumprod path
    for fn in (tt.cumsum, tt.cumprod):
        x = tt.tensor(a, requires_grad=True)
        assert fn(x, dim).shape == shape
        assert tt.gradcheck(lambda t, fn=fn: fn(t, dim), (x,))


def test_scans_match_pytorch_with_zeros() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a = rng.standard_normal((3, 5, 4))
    a[rng.random(a.shape) < 0.25] = 0.0
    w = rng.standard_normal(a.shape)
    for name in ("cumsum", "cumprod"):
        for dim in range(3):
            x, y = tt.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
            o, r = getattr(tt, name)(x, dim), getattr(torch, name)(y, dim)
            np.testing.assert_allclose(o.detach().numpy(), r.detach().numpy(), rtol=1e-12)
            (o * tt.tensor(w)).sum().backward()
            (r * torch.tensor(w)).sum().backward()
            np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-10, atol=1e-12)
