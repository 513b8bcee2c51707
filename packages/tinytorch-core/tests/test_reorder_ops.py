"""``flip`` and ``roll``: values by hand, gradients (the inverse permutation) against finite
differences, shapes from hypothesis, and agreement with PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch as tt

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def test_flip_by_hand_in_function_and_method_forms() -> None:
    x = tt.tensor([[0, 1, 2], [3, 4, 5]])
    assert tt.flip(x, (1,)).tolist() == [[2, 1, 0], [5, 4, 3]]
    assert tt.flip(x, [0, 1]).tolist() == [[5, 4, 3], [2, 1, 0]]
    assert x.flip(0).tolist() == [[3, 4, 5], [0, 1, 2]]
    assert x.flip(0, 1).tolist() == [[5, 4, 3], [2, 1, 0]]


def test_flip_returns_a_copy_not_a_view() -> None:
    x = tt.tensor([1.0, 2.0, 3.0])
    y = x.flip(0)
    y[0] = 10.0
    assert x.tolist() == [1.0, 2.0, 3.0]


def test_flip_rejects_a_repeated_dim() -> None:
    with pytest.raises(RuntimeError, match="appears multiple times"):
        tt.flip(tt.ones(3), (0, 0))


def test_roll_by_hand() -> None:
    x = tt.tensor([[0, 1, 2], [3, 4, 5]])
    assert tt.roll(x, 1).tolist() == [[5, 0, 1], [2, 3, 4]]            # over the flattened tensor
    assert x.roll(1, 1).tolist() == [[2, 0, 1], [5, 3, 4]]
    assert tt.roll(x, (1, -1), (0, 1)).tolist() == [[4, 5, 3], [1, 2, 0]]


def test_roll_rejects_shifts_and_dims_of_different_lengths() -> None:
    with pytest.raises(RuntimeError, match="shifts and dimensions must align"):
        tt.roll(tt.ones(2, 3), (1, 2), (0,))
    with pytest.raises(RuntimeError, match="shifts and dimensions must align"):
        tt.roll(tt.ones(2, 3), (1, 2))


def test_gradients_go_back_to_the_original_positions() -> None:
    x = tt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x.roll(1) * tt.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert x.grad.tolist() == [10.0, 100.0, 1.0]
    x.grad = None
    (x.flip(0) * tt.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert x.grad.tolist() == [100.0, 10.0, 1.0]


@given(shapes, st.data())
def test_flip_and_roll_keep_the_shape_invert_and_pass_gradcheck(shape: tuple,
                                                                 data: st.DataObject) -> None:
    n = len(shape)
    dims = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    shifts = data.draw(st.lists(st.integers(-5, 5), min_size=len(dims), max_size=len(dims)))
    x = tt.tensor(np.random.default_rng(data.draw(st.integers(0, 2**31))).standard_normal(shape),
                  requires_grad=True)
    assert tt.flip(tt.flip(x, dims), dims).tolist() == x.tolist()
    back = tt.roll(tt.roll(x, shifts, dims), [-s for s in shifts], dims)
    assert back.tolist() == x.tolist()
    assert tt.gradcheck(lambda t: tt.flip(t, dims), (x,))
    assert tt.gradcheck(lambda t: tt.roll(t, shifts, dims), (x,))
    assert tt.gradcheck(lambda t: tt.roll(t, shifts[0]), (x,))


def test_flip_and_roll_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(7).standard_normal((2, 3, 4))
    for fn in (lambda L, x: L.flip(x, (0, 2)), lambda L, x: L.roll(x, (2, -1), (1, 2)),
               lambda L, x: L.roll(x, 5), lambda L, x: x.flip(-1)):
        x, y = tt.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        o, r = fn(tt, x), fn(torch, y)
        np.testing.assert_array_equal(o.detach().numpy(), r.detach().numpy())
        w = np.arange(a.size, dtype=np.float64).reshape(a.shape)
        (o * tt.tensor(w)).sum().backward()
        (r * torch.tensor(w)).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), y.grad.numpy())
