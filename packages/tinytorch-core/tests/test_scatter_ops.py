"""``scatter``, ``scatter_add`` and their in-place forms: values by hand, gradients against
finite differences, the in-place rules (leaf check, version counter, views), shapes from
hypothesis, and agreement with PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch as tt

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def test_scatter_by_hand_with_a_tensor_and_with_a_value() -> None:
    x = tt.zeros(2, 3)
    index = tt.tensor([[2], [0]])
    assert tt.scatter(x, 1, index, tt.tensor([[7.0], [8.0]])).tolist() == [[0, 0, 7], [8, 0, 0]]
    assert x.scatter(1, index, 5.0).tolist() == [[0, 0, 5], [5, 0, 0]]
    assert x.scatter(1, index, value=5.0).tolist() == [[0, 0, 5], [5, 0, 0]]
    assert x.tolist() == [[0.0] * 3] * 2                     # out of place


def test_scatter_reads_only_the_index_shaped_corner_of_src() -> None:
    out = tt.zeros(2, 3).scatter(0, tt.tensor([[1, 0]]), tt.tensor([[1.0, 2.0, 9.0],
                                                                    [9.0, 9.0, 9.0]]))
    assert out.tolist() == [[0.0, 2.0, 0.0], [1.0, 0.0, 0.0]]


def test_scatter_add_sums_repeated_indices() -> None:
    out = tt.scatter_add(tt.zeros(2, 3), 1, tt.tensor([[2, 2], [0, 1]]), tt.ones(2, 3))
    assert out.tolist() == [[0.0, 0.0, 2.0], [1.0, 1.0, 0.0]]
    counts = tt.zeros(4, dtype=tt.int64).scatter_add(0, tt.tensor([1, 3, 1, 1]),
                                                     tt.ones(4, dtype=tt.int64))
    assert counts.tolist() == [0, 3, 0, 1]                    # a histogram


def test_scatter_reduce_add_and_multiply() -> None:
    x = tt.tensor([[1.0, 2.0, 3.0]])
    index = tt.tensor([[0, 0, 2]])
    assert x.scatter(1, index, tt.tensor([[4.0, 5.0, 6.0]]), reduce="add").tolist() == [
        [10.0, 2.0, 9.0]]
    assert x.scatter(1, index, 2.0, reduce="multiply").tolist() == [[4.0, 2.0, 6.0]]


def test_scatter_gradients_by_hand() -> None:
    x = tt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    src = tt.tensor([10.0, 20.0], requires_grad=True)
    out = tt.scatter(x, 0, tt.tensor([2, 0]), src)
    (out * tt.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [0.0, 2.0, 0.0]                 # overwritten values get nothing
    assert src.grad.tolist() == [3.0, 1.0]                    # a gather of the gradient
    x.grad = src.grad = None
    (tt.scatter_add(x, 0, tt.tensor([2, 2]), src) * tt.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [1.0, 2.0, 3.0] and src.grad.tolist() == [3.0, 3.0]


def test_scatter_with_reduce_has_no_gradient_as_in_pytorch() -> None:
    x = tt.ones(3, requires_grad=True)
    out = tt.scatter(x, 0, tt.tensor([0]), 2.0, reduce="multiply")
    with pytest.raises(RuntimeError, match="reduce='multiply' is not implemented"):
        out.sum().backward()


@pytest.mark.parametrize("fn, message", [
    (lambda: tt.scatter(tt.zeros(3), 0, tt.tensor([4]), 1.0), "index 4 is out of bounds"),
    (lambda: tt.scatter(tt.zeros(3), 0, tt.tensor([[1]]), 1.0), "same number of dimensions"),
    (lambda: tt.scatter(tt.zeros(3), 0, tt.tensor([1, 2]), tt.ones(1)), "no larger size than src"),
    (lambda: tt.scatter(tt.zeros(3), 0, tt.tensor([1]), tt.ones(1, dtype=tt.float64)),
     "self.dtype to be equal to src.dtype"),
    (lambda: tt.scatter(tt.zeros(3), 0, tt.tensor([1]), 1.0, reduce="max"),
     "reduce argument must be either add or multiply"),
    (lambda: tt.scatter(tt.zeros(3), 0, tt.tensor([1.0]), 1.0), "Expected dtype int64"),
    (lambda: tt.scatter_add(tt.zeros(2, 3), 1, tt.tensor([[2, 2], [0, 1]]), tt.ones(2, 1)),
     "no larger size than src"),
])
def test_scatter_rejects_bad_arguments_like_pytorch(fn, message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        fn()


# ---------------------------------------------------------------- in place
def test_scatter_in_place_writes_into_the_tensor_and_its_views() -> None:
    x = tt.zeros(2, 3)
    row = x[1]
    assert x.scatter_(1, tt.tensor([[0], [2]]), 4.0) is x
    assert x.tolist() == [[4.0, 0.0, 0.0], [0.0, 0.0, 4.0]]
    assert row.tolist() == [0.0, 0.0, 4.0]
    assert x.scatter_add_(0, tt.tensor([[1, 1, 1]]), tt.ones(1, 3)) is x
    assert x.tolist() == [[4.0, 0.0, 0.0], [1.0, 1.0, 5.0]]


def test_scatter_in_place_refuses_a_leaf_that_requires_grad() -> None:
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        tt.zeros(3, requires_grad=True).scatter_(0, tt.tensor([0]), 1.0)


def test_scatter_in_place_is_recorded_on_a_non_leaf() -> None:
    w = tt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    src = tt.tensor([5.0], requires_grad=True)
    y = w * 2
    y.scatter_(0, tt.tensor([1]), src)
    assert y.tolist() == [2.0, 5.0, 6.0]
    (y * tt.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert w.grad.tolist() == [2.0, 0.0, 200.0] and src.grad.tolist() == [10.0]


def test_scatter_in_place_on_a_saved_tensor_raises_in_backward() -> None:
    w = tt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = w * 1
    out = (h * h).sum()                                       # mul saves h
    h.scatter_add_(0, tt.tensor([0]), tt.ones(1))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


# ---------------------------------------------------------------- properties and gradcheck
@given(shapes, st.data())
def test_scatter_and_scatter_add_keep_the_shape_and_pass_gradcheck(shape: tuple,
                                                                   data: st.DataObject) -> None:
    n = len(shape)
    dim = data.draw(st.integers(0, n - 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    index_shape = tuple(int(rng.integers(1, s + 1)) for s in shape)
    src_shape = tuple(s + int(rng.integers(0, 2)) for s in index_shape)
    index = rng.integers(0, shape[dim], index_shape)
    x = tt.tensor(rng.standard_normal(shape), requires_grad=True)
    src = tt.tensor(rng.standard_normal(src_shape), requires_grad=True)
    added = tt.scatter_add(x, dim, tt.tensor(index), src)
    assert added.shape == shape
    np.testing.assert_allclose(added.detach().sum().item(),
                               x.detach().sum().item() + src.detach().numpy()[
                                   tuple(slice(k) for k in index_shape)].sum(), rtol=1e-12)
    assert tt.gradcheck(lambda a, b: tt.scatter_add(a, dim, tt.tensor(index), b), (x, src))
    unique = np.argsort(rng.random(index_shape), axis=dim) % shape[dim]  # no repeats along dim
    unique = np.take(unique, np.arange(min(index_shape[dim], shape[dim])), axis=dim)
    assert tt.gradcheck(lambda a, b: tt.scatter(a, dim, tt.tensor(unique), b), (x, src))


@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
def test_scatter_and_scatter_add_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    a, s = rng.standard_normal((3, 5)), rng.standard_normal((3, 3))   # torch's scatter backward
    # needs src shaped like index (ours also handles a larger src: see the gradcheck above)
    index = np.array([[4, 0, 2], [1, 3, 0], [2, 2, 2]])
    w = rng.standard_normal((3, 5))
    for name in ("scatter", "scatter_add"):
        ours = [tt.tensor(a, requires_grad=True), tt.tensor(s, requires_grad=True)]
        ref = [torch.tensor(a, requires_grad=True), torch.tensor(s, requires_grad=True)]
        idx = index if name == "scatter_add" else np.array([[4, 0, 2], [1, 3, 0], [2, 0, 1]])
        o = getattr(tt, name)(ours[0], 1, tt.tensor(idx), ours[1])
        r = getattr(torch, name)(ref[0], 1, torch.tensor(idx), ref[1])
        np.testing.assert_allclose(o.detach().numpy(), r.detach().numpy(), rtol=1e-12)
        (o * tt.tensor(w)).sum().backward()
        (r * torch.tensor(w)).sum().backward()
        for x, y in zip(ours, ref):
            np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-12)
    for reduce in ("add", "multiply"):
        o = tt.tensor(a).scatter(1, tt.tensor(index), tt.tensor(s), reduce=reduce)
        r = torch.tensor(a).scatter(1, torch.tensor(index), torch.tensor(s), reduce=reduce)
        np.testing.assert_allclose(o.numpy(), r.numpy(), rtol=1e-12)
