"""``index_select``, ``masked_select``, ``take_along_dim``, ``repeat_interleave``, ``narrow``,
``nonzero`` (and the existing ``unbind``): values by hand, gradients (repeated indices add up)
against finite differences, shapes from hypothesis, and agreement with PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch as tt

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def leaf(shape: tuple[int, ...], seed: int = 0) -> tt.Tensor:
    a = np.random.default_rng(seed).standard_normal(shape)
    return tt.tensor(a, requires_grad=True)


# ---------------------------------------------------------------- index_select
def test_index_select_by_hand_and_repeated_indices_add_gradients() -> None:
    x = tt.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    out = tt.index_select(x, 0, tt.tensor([2, 0, 2]))
    assert out.tolist() == [[5.0, 6.0], [1.0, 2.0], [5.0, 6.0]]
    out.sum().backward()
    assert x.grad.tolist() == [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]]
    assert x.index_select(1, tt.tensor([1])).tolist() == [[2.0], [4.0], [6.0]]


@pytest.mark.parametrize("index, error, message", [
    (tt.tensor([3]), IndexError, "index out of range in self"),
    (tt.tensor([-1]), IndexError, "index out of range in self"),
    (tt.tensor([[0]]), IndexError, "Index is supposed to be a vector"),
    (tt.tensor([0.0]), RuntimeError, "Expected dtype int32 or int64"),
])
def test_index_select_rejects_bad_indices(index: tt.Tensor, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        tt.index_select(tt.ones(3), 0, index)


# ---------------------------------------------------------------- masked_select
def test_masked_select_broadcasts_the_mask_and_returns_1d() -> None:
    x = tt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    out = tt.masked_select(x, tt.tensor([True, False]))
    assert out.tolist() == [1.0, 3.0]
    out.sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0], [1.0, 0.0]]


def test_masked_select_gradient_sums_over_an_input_that_was_broadcast() -> None:
    x = tt.tensor([1.0, 2.0], requires_grad=True)
    x.masked_select(tt.tensor([[True, True], [True, False]])).sum().backward()
    assert x.grad.tolist() == [2.0, 1.0]


def test_masked_select_needs_a_bool_mask() -> None:
    with pytest.raises(RuntimeError, match="expected BoolTensor for mask"):
        tt.masked_select(tt.ones(2), tt.tensor([1, 0]))


# ---------------------------------------------------------------- take_along_dim
def test_take_along_dim_with_argsort_and_with_dim_none() -> None:
    x = tt.tensor([[10, 30, 20], [60, 40, 50]])
    assert tt.take_along_dim(x, x.argsort(dim=1), dim=1).tolist() == [[10, 20, 30], [40, 50, 60]]
    assert tt.take_along_dim(x, tt.tensor([0, 5])).tolist() == [10, 50]
    assert x.take_along_dim(tt.tensor([[0], [2]]), 1).tolist() == [[10], [50]]


def test_take_along_dim_broadcasts_and_wraps_negative_indices() -> None:
    x = tt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    out = tt.take_along_dim(x, tt.tensor([[0, -1, 1]]), 1)
    assert out.tolist() == [[1.0, 2.0, 2.0], [3.0, 4.0, 4.0]]
    out.sum().backward()
    assert x.grad.tolist() == [[1.0, 2.0], [1.0, 2.0]]


def test_take_along_dim_rejects_mismatched_ranks_and_bounds() -> None:
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        tt.take_along_dim(tt.ones(2, 2), tt.tensor([1]), 0)
    with pytest.raises(IndexError, match="out of bounds"):
        tt.take_along_dim(tt.ones(2, 2), tt.tensor([[2]]), 1)


# ---------------------------------------------------------------- repeat_interleave
def test_repeat_interleave_by_hand() -> None:
    x = tt.tensor([[1, 2], [3, 4]])
    assert tt.repeat_interleave(x, 2).tolist() == [1, 1, 2, 2, 3, 3, 4, 4]
    assert tt.repeat_interleave(x, tt.tensor([1, 2]), dim=0).tolist() == [[1, 2], [3, 4],
                                                                            [3, 4]]
    assert x.repeat_interleave(tt.tensor([2]), dim=1).tolist() == [[1, 1, 2, 2], [3, 3, 4, 4]]
    assert tt.repeat_interleave(tt.tensor([1, 0, 2])).tolist() == [0, 2, 2]
    assert tt.repeat_interleave(tt.tensor(5), 3).tolist() == [5, 5, 5]


def test_repeat_interleave_gradient_sums_the_copies() -> None:
    x = tt.tensor([1.0, 2.0], requires_grad=True)
    (x.repeat_interleave(tt.tensor([3, 1])) * tt.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert x.grad.tolist() == [6.0, 4.0]


@pytest.mark.parametrize("repeats, message", [
    (tt.tensor([1, 2, 3]), "repeats must have the same size as input along dim"),
    (tt.tensor([1, -2]), "can not be negative"),
    (-1, "can not be negative"),
])
def test_repeat_interleave_rejects_bad_repeats(repeats, message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        tt.repeat_interleave(tt.ones(2, 2), repeats, dim=0)


# ---------------------------------------------------------------- narrow / unbind / nonzero
def test_narrow_is_a_view_with_a_gradient_into_its_slice() -> None:
    x = tt.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    assert tt.narrow(x, 1, 1, 2).tolist() == [[1.0, 2.0], [4.0, 5.0]]
    assert x.narrow(1, -1, 1).tolist() == [[2.0], [5.0]]
    assert x.narrow(0, tt.tensor(1), 1).tolist() == [[3.0, 4.0, 5.0]]
    assert x.narrow(1, 3, 0).shape == (2, 0)
    assert np.shares_memory(x.narrow(1, 1, 2).numpy(), x.numpy())
    w = leaf((2, 3))
    w.narrow(1, 1, 2).sum().backward()
    assert w.grad.tolist() == [[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]


def test_narrow_rejects_a_range_outside_the_dim() -> None:
    with pytest.raises(RuntimeError, match=r"start \(2\) \+ length \(2\) exceeds dimension size"):
        tt.narrow(tt.ones(2, 3), 1, 2, 2)
    with pytest.raises(IndexError, match="start out of range"):
        tt.narrow(tt.ones(2, 3), 1, 4, 0)
    with pytest.raises(RuntimeError, match="length must be non-negative"):
        tt.narrow(tt.ones(2, 3), 1, 0, -1)


def test_unbind_gives_slices_whose_gradients_reassemble() -> None:
    x = leaf((2, 3))
    parts = tt.unbind(x, 1)
    assert len(parts) == 3 and parts[0].shape == (2,)
    (parts[0] * 1 + parts[2] * 3).sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0, 3.0], [1.0, 0.0, 3.0]]


def test_nonzero_as_rows_and_as_tuple() -> None:
    x = tt.tensor([[1, 0], [0, 3]])
    assert tt.nonzero(x).tolist() == [[0, 0], [1, 1]]
    rows, cols = x.nonzero(as_tuple=True)
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1] and rows.dtype == tt.int64
    assert tt.nonzero(tt.tensor(5)).shape == (1, 0)
    assert [t.tolist() for t in tt.nonzero(tt.tensor(5), as_tuple=True)] == [[0]]
    assert tt.nonzero(tt.zeros(2, 2)).shape == (0, 2)


# ---------------------------------------------------------------- properties
@given(shapes, st.data())
def test_selections_have_the_expected_shapes_and_pass_gradcheck(shape: tuple,
                                                                 data: st.DataObject) -> None:
    n = len(shape)
    dim = data.draw(st.integers(-n, n - 1))
    size = shape[dim]
    seed = data.draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    x = tt.tensor(rng.standard_normal(shape), requires_grad=True)
    idx = tt.tensor(rng.integers(0, size, data.draw(st.integers(0, 5))))
    out = tt.index_select(x, dim, idx)
    assert out.shape == tuple(len(idx) if d == dim % n else s for d, s in enumerate(shape))
    assert tt.gradcheck(lambda t: tt.index_select(t, dim, idx), (x,))
    reps = tt.tensor(rng.integers(0, 3, size))
    out = tt.repeat_interleave(x, reps, dim)
    assert out.shape[dim] == int(reps.sum().item())
    assert tt.gradcheck(lambda t: tt.repeat_interleave(t, reps, dim), (x,))
    mask = tt.tensor(rng.random(shape) < 0.5)
    assert tt.masked_select(x, mask).shape == (int(mask.sum().item()),)
    assert tt.gradcheck(lambda t: tt.masked_select(t, mask), (x,))
    along = tt.tensor(rng.integers(0, size, shape))
    assert tt.take_along_dim(x, along, dim).shape == shape
    assert tt.gradcheck(lambda t: tt.take_along_dim(t, along, dim), (x,))
    start = data.draw(st.integers(0, size))
    length = data.draw(st.integers(0, size - start))
    assert tt.narrow(x, dim, start, length).shape[dim] == length
    assert tt.nonzero(mask).shape == (int(mask.sum().item()), n)


# ---------------------------------------------------------------- against PyTorch
CASES = {
    "index_select": lambda L, x: L.index_select(x, 1, L.tensor([3, 0, 3])),
    "masked_select": lambda L, x: L.masked_select(x, L.tensor([True, False, True, True])),
    "take_along_dim": lambda L, x: L.take_along_dim(x, L.tensor([[0, 3], [1, 1], [2, 0]]), 1),
    "take_along_dim_none": lambda L, x: L.take_along_dim(x, L.tensor([11, 0, 5, 5])),
    "take_along_dim_broadcast": lambda L, x: L.take_along_dim(x, L.tensor([[2], [0]]), 0),
    "repeat_interleave": lambda L, x: x.repeat_interleave(L.tensor([2, 0, 1]), dim=0),
    "repeat_interleave_flat": lambda L, x: L.repeat_interleave(x, 2),
    "narrow": lambda L, x: x.narrow(1, 1, 2),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(8).standard_normal((3, 4))
    x, y = tt.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    o, r = CASES[name](tt, x), CASES[name](torch, y)
    np.testing.assert_array_equal(o.detach().numpy(), r.detach().numpy())
    w = np.random.default_rng(9).standard_normal(tuple(r.shape))
    (o * tt.tensor(w)).sum().backward()
    (r * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_nonzero_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(10).integers(0, 2, (3, 4, 2))
    np.testing.assert_array_equal(tt.nonzero(tt.tensor(a)).numpy(),
                                  torch.nonzero(torch.tensor(a)).numpy())
    for o, r in zip(tt.nonzero(tt.tensor(a), as_tuple=True),
                    torch.nonzero(torch.tensor(a), as_tuple=True)):
        np.testing.assert_array_equal(o.numpy(), r.numpy())
