"""Autograd semantics a PyTorch user relies on: graph shape, accumulation, modes and errors."""

from __future__ import annotations

import gc
import inspect
import sys
import weakref

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.autograd import Function


def leaf(*values: float) -> tt.Tensor:
    return tt.tensor(list(values), dtype=tt.float64, requires_grad=True)


# ---------------------------------------------------------------- graph shape
def test_shared_subexpression_gets_the_sum_of_both_paths() -> None:
    x = leaf(1.0, 2.0)
    h = x * 3                 # used twice below
    y = (h * h + h).sum()     # dy/dx = 3 * (2h + 1)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * (2 * np.array([3.0, 6.0]) + 1))


def test_a_node_used_many_times_accumulates_every_use() -> None:
    x = leaf(0.5, -1.0, 2.0)
    total = x * 0
    for k in range(1, 51):
        total = total + x * k
    total.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, sum(range(1, 51))))


def test_same_tensor_as_both_operands() -> None:
    x = leaf(3.0)
    (x * x).backward()
    assert x.grad.item() == 6.0
    y = leaf(2.0, 5.0)
    (y @ y).backward()
    np.testing.assert_array_equal(y.grad.numpy(), [4.0, 10.0])


def test_diamond_graph_runs_each_node_once_after_all_consumers() -> None:
    calls = []

    class Recorder(Function):
        @staticmethod
        def forward(ctx, a):
            return a.copy()

        @staticmethod
        def backward(ctx, grad):
            calls.append(grad.copy())
            return grad

    x = leaf(1.0, 2.0)
    r = Recorder.apply(x)
    (r.exp() + r.sin() + r * 2).sum().backward()
    assert len(calls) == 1  # ran once, with all three contributions summed
    np.testing.assert_allclose(calls[0], np.exp([1, 2]) + np.cos([1, 2]) + 2)


def test_ten_thousand_op_chain_does_not_recurse() -> None:
    x = leaf(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.5
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + 100)  # any recursion per node would blow this
    try:
        y.backward()
    finally:
        sys.setrecursionlimit(limit)
    assert x.grad.item() == pytest.approx(1.0001 ** 10_000, rel=1e-9)


def test_gradient_reaches_a_leaf_through_an_int_and_a_no_grad_input() -> None:
    x = leaf(1.0, 2.0)
    c = tt.tensor([3.0, 4.0], dtype=tt.float64)  # does not require grad
    (x * c + 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])
    assert c.grad is None


# ---------------------------------------------------------------- accumulation and freeing
def test_grads_accumulate_across_backward_calls() -> None:
    x = leaf(1.0, 2.0)
    (x * x).sum().backward()
    first = x.grad
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])
    assert x.grad is first  # accumulated in place, like PyTorch


def test_zeroing_grad_by_setting_none_starts_fresh() -> None:
    x = leaf(1.0)
    (x * 2).backward()
    x.grad = None
    (x * 5).backward()
    assert x.grad.item() == 5.0


def test_leaf_grad_does_not_alias_the_gradient_given_to_backward() -> None:
    x = leaf(1.0, 2.0)
    g = tt.tensor([1.0, 1.0], dtype=tt.float64)
    (x + 0).backward(g)
    (x + 0).backward(g)
    np.testing.assert_array_equal(g.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_two_leaves_fed_by_one_add_do_not_share_a_grad_array() -> None:
    a, b = leaf(1.0), leaf(2.0)
    (a + b).backward()
    (a * 10).backward()
    assert a.grad.item() == 11.0
    assert b.grad.item() == 1.0


def test_graph_is_freed_after_backward() -> None:
    x = leaf(1.0, 2.0)
    inner = x.exp()
    y = (inner * 2).sum()
    node = weakref.ref(inner.grad_fn)
    del inner
    y.backward()
    gc.collect()
    assert node() is None  # nothing in the graph keeps the inner node alive any more


def test_retain_graph_keeps_the_graph_for_a_second_backward() -> None:
    x = leaf(1.0, 2.0)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_second_backward_through_a_freed_graph_raises() -> None:
    x = leaf(1.0, 2.0)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_second_backward_through_a_shared_freed_subgraph_raises() -> None:
    x = leaf(1.0, 2.0)
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (h * 2).sum().backward()


def test_intermediates_backward_does_not_need_are_not_kept_alive() -> None:
    x = tt.randn(64, 64, requires_grad=True)
    h = x + 1                        # Add saves nothing; Sum saves only a shape
    arr = weakref.ref(h.array)
    loss = h.sum()
    del h
    gc.collect()
    assert arr() is None
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((64, 64), np.float32))


# ---------------------------------------------------------------- grad modes
def test_no_grad_records_nothing() -> None:
    x = leaf(1.0)
    with tt.no_grad():
        y = x * 2
        assert not tt.is_grad_enabled()
    assert tt.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None


def test_no_grad_as_a_decorator_and_enable_grad_inside_it() -> None:
    x = leaf(1.0)

    @tt.no_grad()
    def f(t: tt.Tensor) -> tuple[tt.Tensor, tt.Tensor]:
        inside = t * 2
        with tt.enable_grad():
            recorded = t * 3
        return inside, recorded

    inside, recorded = f(x)
    assert not inside.requires_grad
    assert recorded.requires_grad and recorded.grad_fn is not None
    assert tt.is_grad_enabled()


def test_set_grad_enabled_as_context_and_as_a_plain_call() -> None:
    x = leaf(1.0)
    with tt.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    tt.set_grad_enabled(False)
    assert not tt.is_grad_enabled()
    tt.set_grad_enabled(True)
    assert (x * 2).requires_grad


def test_grad_mode_is_restored_when_the_block_raises() -> None:
    with pytest.raises(ValueError):
        with tt.no_grad():
            raise ValueError("boom")
    assert tt.is_grad_enabled()


def test_detach_shares_memory_and_leaves_the_graph() -> None:
    x = leaf(1.0, 2.0)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None
    d.array[0] = 100.0
    assert y.array[0] == 100.0
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [100.0, 4.0])


def test_requires_grad_flag_propagates_and_can_be_set_on_leaves() -> None:
    a = tt.ones(2)
    assert not a.requires_grad and a.is_leaf
    assert a.requires_grad_() is a and a.requires_grad
    b = a * 2
    assert b.requires_grad and not b.is_leaf
    with pytest.raises(RuntimeError, match="leaf"):
        b.requires_grad_(False)
    with pytest.raises(RuntimeError, match="floating point"):
        tt.tensor([1, 2]).requires_grad_()


def test_retain_grad_keeps_the_gradient_of_a_non_leaf() -> None:
    x = leaf(1.0, 2.0)
    h = x * 3
    h.retain_grad()
    other = x * 4
    (h * h + other).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.detach().numpy())
    assert other.grad is None
    np.testing.assert_allclose(x.grad.numpy(), 3 * 2 * h.detach().numpy() + 4)


# ---------------------------------------------------------------- autograd.grad
def test_autograd_grad_returns_gradients_without_touching_dot_grad() -> None:
    x, w = leaf(1.0, 2.0), leaf(3.0, -1.0)
    y = (x * w).sum()
    gx, gw = tt.autograd.grad(y, (x, w))
    np.testing.assert_array_equal(gx.numpy(), [3.0, -1.0])
    np.testing.assert_array_equal(gw.numpy(), [1.0, 2.0])
    assert x.grad is None and w.grad is None


def test_autograd_grad_of_an_intermediate_and_with_grad_outputs() -> None:
    x = leaf(1.0, 2.0)
    h = x * x
    y = h * 5
    (gh,) = tt.autograd.grad(y, h, grad_outputs=tt.tensor([1.0, 2.0], dtype=tt.float64))
    np.testing.assert_array_equal(gh.numpy(), [5.0, 10.0])


def test_autograd_grad_unused_input_raises_unless_allowed() -> None:
    x, unused = leaf(1.0), leaf(2.0)
    y = x * 2
    with pytest.raises(RuntimeError, match="not have been used"):
        tt.autograd.grad(y, (x, unused), retain_graph=True)
    gx, gu = tt.autograd.grad(y, (x, unused), allow_unused=True)
    assert gx.item() == 2.0 and gu is None


# ---------------------------------------------------------------- in-place ops
def test_in_place_op_on_a_non_leaf_keeps_earlier_gradients_right() -> None:
    a = leaf(1.0, 2.0)
    x = a * 2
    y = x * 3          # recorded before the in-place change
    x *= 5             # x's history now ends in a Mul by 5
    (y.sum() + x.sum()).backward()
    np.testing.assert_array_equal(a.grad.numpy(), [6.0 + 10.0, 6.0 + 10.0])


def test_in_place_update_under_no_grad_is_allowed_on_a_leaf() -> None:
    w = leaf(1.0, 2.0)
    with tt.no_grad():
        w -= 0.5 * tt.ones(2, dtype=tt.float64)
        w[0] = 10.0
    np.testing.assert_array_equal(w.detach().numpy(), [10.0, 1.5])
    assert w.is_leaf and w.requires_grad


# ---------------------------------------------------------------- PyTorch's errors
def test_backward_on_a_non_scalar_without_gradient_raises() -> None:
    y = leaf(1.0, 2.0) * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        y.backward()


def test_backward_with_a_gradient_of_the_wrong_shape_raises() -> None:
    y = leaf(1.0, 2.0) * 2
    with pytest.raises(RuntimeError, match="shape"):
        y.backward(tt.ones(3, dtype=tt.float64))


def test_backward_on_a_tensor_that_does_not_require_grad_raises() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        tt.ones(1).sum().backward()


@pytest.mark.parametrize("op", [
    lambda t: t.add_(1.0),
    lambda t: t.mul_(2.0),
    lambda t: t.sub_(1.0),
    lambda t: t.div_(2.0),
    lambda t: t.zero_(),
    lambda t: t.fill_(3.0),
    lambda t: t.__setitem__(0, 5.0),
    lambda t: t.clamp_(0.0, 1.0),
], ids=["add_", "mul_", "sub_", "div_", "zero_", "fill_", "setitem", "clamp_"])
def test_in_place_change_to_a_leaf_that_requires_grad_raises(op) -> None:
    w = leaf(1.0, 2.0)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad is being used in an "
                                           "in-place operation"):
        op(w)
    np.testing.assert_array_equal(w.detach().numpy(), [1.0, 2.0])


def test_numpy_on_a_tensor_that_requires_grad_raises() -> None:
    with pytest.raises(RuntimeError, match="detach"):
        leaf(1.0).numpy()


# ---------------------------------------------------------------- custom Functions
def test_custom_function_gets_needs_input_grad_and_saved_tensors() -> None:
    seen = {}

    class ScaleBy(Function):
        @staticmethod
        def forward(ctx, a, b, *, factor):
            ctx.save_for_backward(a, b)
            return a * b * factor

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            seen["needs"] = ctx.needs_input_grad
            return grad * b * 2.0, None

    x = leaf(1.0, 2.0)
    c = tt.tensor([5.0, 7.0], dtype=tt.float64)
    y = ScaleBy.apply(x, c, factor=2.0)
    np.testing.assert_array_equal(y.detach().numpy(), [10.0, 28.0])
    y.sum().backward()
    assert seen["needs"] == (True, False)
    np.testing.assert_array_equal(x.grad.numpy(), [10.0, 14.0])


def test_custom_function_gradient_is_unbroadcast_and_cast_by_the_engine() -> None:
    class Broadcasting(Function):
        @staticmethod
        def forward(ctx, a):
            return np.broadcast_to(a, (4, 3)).copy()

        @staticmethod
        def backward(ctx, grad):
            return grad.astype(np.float64)  # (4, 3) float64 for a (3,) float32 input

    x = tt.ones(3, requires_grad=True)
    Broadcasting.apply(x).sum().backward()
    assert x.grad.shape == (3,) and x.grad.dtype == tt.float32
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0, 4.0])


def test_grad_fn_names_the_op_and_lists_next_functions() -> None:
    x = leaf(1.0)
    y = x.exp() * 2
    assert "Backward" in repr(y.grad_fn)
    nexts = [fn for fn, _ in y.grad_fn.next_functions]
    assert any(fn is not None and "Exp" in repr(fn) for fn in nexts)
    (exp_node,) = [fn for fn in nexts if fn is not None]
    (sink, _), = exp_node.next_functions          # x is a leaf: its gradient is accumulated
    assert repr(sink) == "<AccumulateGrad>" and sink.variable is x
    assert (x * tt.tensor(2.0)).grad_fn.next_functions[1] == (None, 0)  # needs no gradient
