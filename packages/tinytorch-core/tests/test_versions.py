"""Version counters, views and in-place updates: no silent wrong gradient, no stale view."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tinytorch as tt

MODIFIED = "modified by an inplace operation"

# Every in-place update a user reaches for, applied to a non-leaf float64 tensor of shape (2, 3).
INPLACE: dict[str, Callable[[tt.Tensor], object]] = {
    "setitem": lambda t: t.__setitem__((0, 1), 7.0),
    "setitem_mask": lambda t: t.__setitem__(t.detach() > 0.5, 0.0),
    "copy_": lambda t: t.copy_(tt.ones(2, 3, dtype=tt.float64)),
    "zero_": lambda t: t.zero_(),
    "fill_": lambda t: t.fill_(3.0),
    "add_": lambda t: t.add_(1.0),
    "sub_": lambda t: t.sub_(1.0),
    "mul_": lambda t: t.mul_(2.0),
    "div_": lambda t: t.div_(2.0),
    "clamp_": lambda t: t.clamp_(0.0, 0.5),
    "masked_fill_": lambda t: t.masked_fill_(tt.tensor([True, False, True]), 0.0),
    "iadd": lambda t: t.__iadd__(1.0),
    "imul": lambda t: t.__imul__(3.0),
    "uniform_": lambda t: t.uniform_(),
    "normal_": lambda t: t.normal_(),
}


def _leaf() -> tt.Tensor:
    return tt.tensor(np.linspace(0.1, 0.9, 6).reshape(2, 3), dtype=tt.float64,
                     requires_grad=True)


@pytest.mark.parametrize("name", sorted(INPLACE))
@pytest.mark.parametrize("recorded", [True, False], ids=["grad", "no_grad"])
def test_inplace_change_of_a_saved_input_raises_in_backward(name: str, recorded: bool) -> None:
    a = _leaf()
    h = a * 1
    out = h * h                                # Mul saves h as its input
    if recorded:
        INPLACE[name](h)
    else:
        with tt.no_grad():
            INPLACE[name](h)
    with pytest.raises(RuntimeError, match=MODIFIED) as info:
        out.sum().backward()
    assert "MulBackward" in str(info.value) and "(2, 3)" in str(info.value)


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_change_of_a_saved_output_raises_in_backward(name: str) -> None:
    a = _leaf()
    out = a.exp()                              # Exp saves its output
    total = out.sum()                          # recorded before the in-place change
    INPLACE[name](out)
    with pytest.raises(RuntimeError, match=MODIFIED) as info:
        total.backward()
    assert "ExpBackward" in str(info.value) and "output 0" in str(info.value)


def test_the_version_counts_every_inplace_write() -> None:
    t = tt.zeros(3)
    assert t._version == 0
    t.add_(1)
    t[0] = 5
    t.zero_()
    assert t._version == 3


def test_an_optimizer_step_between_forward_and_backward_raises() -> None:
    w = tt.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    w.grad = tt.ones(2)
    with tt.no_grad():
        w.sub_(0.1 * w.grad)                   # what every optimizer's step does
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_inplace_on_an_input_that_was_not_saved_is_fine() -> None:
    a = _leaf()
    h = a * 1
    out = h + 1                                # Add saves nothing
    h.mul_(2)
    (out.sum() + h.sum()).backward()
    np.testing.assert_allclose(a.grad.numpy(), np.full((2, 3), 3.0))


def test_a_view_sees_inplace_updates_of_its_base() -> None:
    w = tt.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = w * 1
    v = y.view(2, 2)
    y.add_(1)
    np.testing.assert_array_equal(v.detach().numpy(), [[2.0, 3.0], [4.0, 5.0]])
    y[0] = 10.0
    assert v[0, 0].item() == 10.0


def test_a_base_sees_inplace_updates_of_its_view() -> None:
    y = tt.arange(6.0).reshape(2, 3)
    row = y[1]
    row.mul_(10)
    np.testing.assert_array_equal(y.numpy(), [[0, 1, 2], [30, 40, 50]])
    assert y._version == row._version == 1


def test_a_view_used_after_its_base_changed_differentiates_through_the_change() -> None:
    w = tt.tensor([1.0, 2.0, 3.0, 4.0], dtype=tt.float64, requires_grad=True)
    y = w * 1
    v = y.view(2, 2)
    y.mul_(3)                                  # v's values are now 3 w
    (v * v).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 18 * w.detach().numpy())


def test_inplace_update_of_a_view_reaches_the_base_gradient() -> None:
    w = tt.tensor([1.0, 2.0, 3.0, 4.0], dtype=tt.float64, requires_grad=True)
    y = w * 1
    y[1:3].mul_(5)                             # y = [w0, 5 w1, 5 w2, w3]
    (y * y).sum().backward()
    x = w.detach().numpy()
    np.testing.assert_allclose(w.grad.numpy(), 2 * x * np.array([1, 25, 25, 1]))


def test_augmented_assignment_through_an_index_matches_finite_differences() -> None:
    def f(w: tt.Tensor) -> tt.Tensor:
        y = w * 1
        y[:, 0] += w[:, 1] * 2                 # getitem, iadd on the view, setitem
        return (y * y).sum()

    w = tt.tensor(np.arange(6.0).reshape(3, 2) / 7, dtype=tt.float64, requires_grad=True)
    assert tt.gradcheck(f, (w,))


def test_inplace_on_a_view_of_a_leaf_that_requires_grad_raises() -> None:
    w = tt.zeros(4, requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        w[:2].add_(1)


def test_a_plain_tensor_updated_inplace_with_a_tensor_that_requires_grad_joins_the_graph() -> None:
    w = tt.tensor([1.0, 2.0], requires_grad=True)
    x = tt.zeros(3)
    x[1:] += w
    assert x.requires_grad and not x.is_leaf
    (x * x).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 4.0])


def test_detach_shares_memory_and_version() -> None:
    a = _leaf()
    h = a * 1
    out = h * h
    h.detach().zero_()
    assert h.sum().item() == 0
    with pytest.raises(RuntimeError, match=MODIFIED):
        out.sum().backward()


def test_copy_carries_the_gradient_to_its_source() -> None:
    src = tt.tensor([1.0, 2.0, 3.0], dtype=tt.float64, requires_grad=True)
    dst = tt.zeros(2, 3, dtype=tt.float32)
    dst.copy_(src)                             # broadcast over rows, cast to float32
    assert dst.requires_grad and dst.dtype == tt.float32
    (dst * tt.tensor([[1.0], [2.0]])).sum().backward()
    np.testing.assert_allclose(src.grad.numpy(), [3.0, 3.0, 3.0])
    assert src.grad.dtype == tt.float64


def test_copy_into_a_non_leaf_sends_no_gradient_to_the_overwritten_values() -> None:
    a = _leaf()
    src = tt.full((2, 3), 2.0, dtype=tt.float64, requires_grad=True)
    h = a * 3
    h.copy_(src)
    h.sum().backward()
    assert a.grad is None
    np.testing.assert_array_equal(src.grad.numpy(), np.ones((2, 3)))


def test_copy_into_a_leaf_that_requires_grad_raises() -> None:
    with pytest.raises(RuntimeError, match="leaf Variable"):
        tt.zeros(2, requires_grad=True).copy_(tt.ones(2))


@pytest.mark.parametrize("name", ["fill_", "zero_", "uniform_", "normal_"])
def test_overwriting_a_non_leaf_keeps_it_in_the_graph_and_sends_no_gradient_back(
        name: str) -> None:
    a = _leaf()
    h = a * 2
    INPLACE[name](h)
    assert h.requires_grad and not h.is_leaf
    (h * 3 + a).sum().backward()                   # only the direct use of a has a gradient
    np.testing.assert_array_equal(a.grad.numpy(), np.ones((2, 3)))
