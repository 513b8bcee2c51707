"""Debugging tools and guards: hooks, anomaly mode, per-thread grad mode, bad assignments."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.autograd import detect_anomaly, set_detect_anomaly


def test_hook_on_a_leaf_observes_and_replaces_the_gradient() -> None:
    w = tt.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = w.register_hook(lambda g: seen.append(g.numpy().copy()))
    w.register_hook(lambda g: g * 10)
    (w * 3).sum().backward()
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])
    np.testing.assert_array_equal(w.grad.numpy(), [30.0, 30.0])
    handle.remove()
    w.grad = None
    (w * 3).sum().backward()
    assert len(seen) == 1


def test_hook_on_a_non_leaf_changes_what_flows_further() -> None:
    w = tt.tensor([1.0, 2.0], requires_grad=True)
    h = w * 2
    h.register_hook(lambda g: g * 0.5)
    (h * 3).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0])


def test_a_removed_non_leaf_hook_no_longer_runs() -> None:
    w = tt.tensor([1.0], requires_grad=True)
    h = w * 2
    with h.register_hook(lambda g: g * 100):
        pass
    h.sum().backward()
    assert w.grad.item() == 2.0


def test_hook_returning_a_wrong_shape_raises() -> None:
    w = tt.tensor([1.0, 2.0], requires_grad=True)
    w.register_hook(lambda g: tt.ones(3))
    with pytest.raises(RuntimeError, match=r"shape \(3,\)"):
        w.sum().backward()


def test_hook_on_a_tensor_without_grad_raises() -> None:
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        tt.ones(2).register_hook(lambda g: g)


def test_anomaly_mode_names_the_op_and_the_forward_line() -> None:
    x = tt.tensor([0.0, 1.0], requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly Detection"), detect_anomaly():
        y = x.sqrt()                           # the forward line the error should show
        with pytest.raises(RuntimeError, match="SqrtBackward' returned inf") as info:
            y.sum().backward()
    assert "y = x.sqrt()" in str(info.value)
    assert not tt.autograd.is_anomaly_enabled()


def test_without_anomaly_mode_a_nan_gradient_goes_through() -> None:
    x = tt.tensor([0.0, 1.0], requires_grad=True)
    x.sqrt().sum().backward()
    assert np.isinf(x.grad.numpy()[0])


def test_set_detect_anomaly_works_as_a_call_and_a_context() -> None:
    set_detect_anomaly(True)
    try:
        assert tt.autograd.is_anomaly_enabled()
    finally:
        set_detect_anomaly(False)
    with set_detect_anomaly(True):
        assert tt.autograd.is_anomaly_enabled()
    assert not tt.autograd.is_anomaly_enabled()


def test_grad_mode_is_per_thread() -> None:
    """A worker thread inside no_grad must not switch recording off for the training thread."""
    inside = threading.Event()
    release = threading.Event()

    def worker() -> None:
        with tt.no_grad():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert inside.wait(10)
        w = tt.tensor([1.0, 2.0], requires_grad=True)
        loss = (w * w).sum()                   # the training step, while the worker is inside
        assert tt.is_grad_enabled() and loss.requires_grad
        loss.backward()
        np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])
    finally:
        release.set()
        thread.join()


def test_a_new_thread_starts_with_grad_enabled() -> None:
    seen = []
    with tt.no_grad():
        t = threading.Thread(target=lambda: seen.append(tt.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**70])
def test_integers_out_of_int64_range_raise(value: int) -> None:
    with pytest.raises(RuntimeError, match="Overflow"):
        tt.tensor([1, value])


def test_integers_at_the_int64_limits_are_kept() -> None:
    t = tt.tensor([2**63 - 1, -(2**63)])
    assert t.tolist() == [2**63 - 1, -(2**63)]


def test_integers_out_of_range_of_an_explicit_dtype_raise() -> None:
    with pytest.raises(RuntimeError, match="int8"):
        tt.tensor([300], dtype=tt.int8)


def test_an_integer_tensor_cannot_require_grad_by_assignment() -> None:
    t = tt.tensor([1, 2])
    with pytest.raises(RuntimeError, match="floating point"):
        t.requires_grad = True
    assert not t.requires_grad


@pytest.mark.parametrize("shape", [(1,), (3, 1), (2, 3)])
def test_assigning_a_grad_of_another_shape_raises(shape: tuple[int, ...]) -> None:
    w = tt.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="different size"):
        w.grad = tt.ones(*shape)


def test_assigning_a_grad_of_another_dtype_or_type_raises() -> None:
    w = tt.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="different type"):
        w.grad = tt.ones(3, dtype=tt.float64)
    with pytest.raises(TypeError, match="Tensor or None"):
        w.grad = np.ones(3)


def test_a_float64_zero_dim_tensor_does_not_promote_a_float32_tensor() -> None:
    x = tt.ones(3)
    s = tt.tensor(2.0, dtype=tt.float64)
    for result in (x + s, s * x, x / s, x - s, x**s, tt.maximum(x, s), tt.where(x > 0, x, s)):
        assert result.dtype == tt.float32
    assert (tt.ones(3, dtype=tt.int64) + s).dtype == tt.float64   # a higher category wins
    assert (tt.ones(3, dtype=tt.int32) + tt.tensor(2)).dtype == tt.int32
