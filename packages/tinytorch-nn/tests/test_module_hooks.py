"""Module hooks: forward pre-hooks and forward hooks (with kwargs, prepend, always_call),
full backward hooks and backward pre-hooks, removable handles; checked against gradients
worked out by hand, gradcheck, and PyTorch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinytorch
import tinytorch.nn as nn


def _f64(values, requires_grad=True):
    return tinytorch.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def _linear(weight, bias):
    m = nn.Linear(len(weight[0]), len(weight)).double()
    m.weight.data = _f64(weight, requires_grad=False)
    m.bias.data = _f64(bias, requires_grad=False)
    return m


class Scale(nn.Module):
    def forward(self, x, factor=1.0, *, shift=0.0):
        return x * factor + shift


class Mix(nn.Module):
    """Three positional arguments, one of them not a Tensor; a tuple of three outputs."""

    def forward(self, a, k, b):
        return a * b, a + b, k


# ---------------------------------------------------------------------------- forward hooks

def test_forward_pre_hook_with_kwargs_can_replace_args_and_kwargs():
    m = Scale()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"shift": 10.0}),
                                with_kwargs=True)
    assert m(_f64([1.0]), 2.0, shift=0.0).item() == 12.0
    m2 = Scale()
    m2.register_forward_pre_hook(lambda mod, args, kwargs: "bad", with_kwargs=True)
    with pytest.raises(RuntimeError, match="tuple of \\(new_args, new_kwargs\\)"):
        m2(_f64([1.0]))


def test_forward_hook_with_kwargs_sees_them_and_can_replace_the_output():
    m = Scale()
    seen = []
    m.register_forward_hook(lambda mod, args, kwargs, out: seen.append(dict(kwargs)) or out + 1,
                            with_kwargs=True)
    assert m(_f64([1.0]), shift=2.0).item() == 4.0 and seen == [{"shift": 2.0}]


def test_prepend_puts_a_hook_first_and_handles_remove_from_every_registry():
    m = Scale()
    order = []
    m.register_forward_hook(lambda *a: order.append("first"))
    h = m.register_forward_hook(lambda mod, args, kwargs, out: order.append("second"),
                                prepend=True, with_kwargs=True)
    m(_f64([1.0]))
    assert order == ["second", "first"]
    h.remove()
    assert h.id not in m._forward_hooks and h.id not in m._forward_hooks_with_kwargs
    with m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,)):
        assert m(_f64([3.0])).item() == 0.0
    assert m(_f64([3.0])).item() == 3.0                 # removed on leaving the block


def test_always_call_hook_runs_when_forward_raises():
    class Broken(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    m = Broken()
    calls = []
    m.register_forward_hook(lambda mod, args, out: calls.append(("always", out)),
                            always_call=True)
    m.register_forward_hook(lambda mod, args, out: calls.append(("normal", out)))
    with pytest.raises(ValueError, match="boom"):
        m(1)
    assert calls == [("always", None)]


# ---------------------------------------------------------------------------- backward hooks

def test_full_backward_hook_receives_grad_input_and_grad_output_by_hand():
    # y = x Wᵀ + b summed: grad_output = ones (N, 2), grad_input = ones @ W
    lin = _linear([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [0.0, 0.0])
    seen = []
    lin.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go)))
    x = _f64(np.ones((4, 3)))
    lin(x).sum().backward()
    (grad_input, grad_output), = seen
    assert len(grad_input) == 1 and len(grad_output) == 1
    np.testing.assert_array_equal(grad_output[0].numpy(), np.ones((4, 2)))
    np.testing.assert_array_equal(grad_input[0].numpy(), np.tile([5.0, 7.0, 9.0], (4, 1)))
    np.testing.assert_array_equal(x.grad.numpy(), grad_input[0].numpy())


def test_full_backward_hook_can_replace_grad_input():
    lin = _linear([[1.0, 2.0]], [0.0])
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 10,))
    x = _f64([[1.0, 1.0]])
    lin(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[10.0, 20.0]])
    np.testing.assert_array_equal(lin.weight.grad.numpy(), [[1.0, 1.0]])   # untouched


def test_several_inputs_and_outputs_are_reported_in_one_call():
    m = Mix()
    calls = []

    def hook(mod, gi, go):
        calls.append((gi, go))
        return (gi[0] * 10, None, gi[2])

    m.register_full_backward_hook(hook)
    a, b = _f64([1.0, 1.0]), _f64([2.0, 2.0])
    out = m(a, 5, b)
    assert out[2] == 5
    out[0].sum().backward()
    (gi, go), = calls
    np.testing.assert_array_equal(gi[0].numpy(), [2.0, 2.0])       # d(a·b)/da = b
    assert gi[1] is None
    np.testing.assert_array_equal(gi[2].numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(go[0].numpy(), [1.0, 1.0])
    assert go[1] is None and go[2] is None                         # unused output, not a Tensor
    np.testing.assert_array_equal(a.grad.numpy(), [20.0, 20.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])


def test_a_hook_returning_the_wrong_number_or_shape_of_gradients_raises():
    m = Mix()
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0],))
    out = m(_f64([1.0]), 1, _f64([2.0]))
    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 1, but expected 3"):
        out[0].sum().backward()
    lin = _linear([[1.0, 2.0]], [0.0])
    lin.register_full_backward_hook(lambda mod, gi, go: (gi[0][:, :1],))
    with pytest.raises(RuntimeError, match="shape \\(1, 1\\); expected shape \\(1, 2\\)"):
        lin(_f64([[1.0, 1.0]])).sum().backward()


def test_without_inputs_needing_grad_the_hook_fires_with_none_and_may_not_return_grads():
    lin = _linear([[1.0, 2.0]], [0.0])
    seen = []
    lin.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go)))
    with pytest.warns(UserWarning, match="no inputs require gradients"):
        lin(_f64([[1.0, 1.0]], requires_grad=False)).sum().backward()
    (gi, go), = seen
    assert gi == (None,) and go[0].numpy().tolist() == [[1.0]]
    np.testing.assert_array_equal(lin.weight.grad.numpy(), [[1.0, 1.0]])
    bad = _linear([[1.0, 2.0]], [0.0])
    bad.register_full_backward_hook(lambda m, gi, go: (tinytorch.ones(1, 2),))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="should always return None"):
            bad(_f64([[1.0, 1.0]], requires_grad=False)).sum().backward()


def test_backward_pre_hook_can_replace_grad_output_before_it_enters_the_module():
    lin = _linear([[1.0, 2.0]], [0.0])
    lin.register_full_backward_pre_hook(lambda m, go: (go[0] * 3,))
    x = _f64([[1.0, 1.0]])
    lin(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 6.0]])
    np.testing.assert_array_equal(lin.weight.grad.numpy(), [[3.0, 3.0]])


def test_removed_backward_hook_no_longer_fires_and_gradients_are_unchanged():
    lin = _linear([[1.0, -1.0], [0.5, 2.0]], [0.1, 0.2])
    calls = []
    handle = lin.register_full_backward_hook(lambda m, gi, go: calls.append(1))
    x = _f64([[0.3, -0.7]])
    y = lin(x)
    (y * y).sum().backward()
    hooked = x.grad.numpy().copy()
    handle.remove()
    x.grad = None
    y = lin(x)
    (y * y).sum().backward()
    assert calls == [1]
    np.testing.assert_array_equal(x.grad.numpy(), hooked)


def test_hooks_do_not_run_under_no_grad_and_retain_graph_runs_them_per_backward():
    lin = _linear([[1.0, 2.0]], [0.0])
    calls = []
    lin.register_full_backward_hook(lambda m, gi, go: calls.append(gi[0].numpy().copy()))
    with tinytorch.no_grad():
        y = lin(_f64([[1.0, 1.0]]))
    assert not y.requires_grad
    x = _f64([[1.0, 1.0]])
    out = lin(x).sum()
    out.backward(retain_graph=True)
    out.backward()
    assert len(calls) == 2
    np.testing.assert_array_equal(calls[0], calls[1])
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 4.0]])


def test_hook_on_a_container_sees_the_gradient_at_its_own_input():
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    seen = []
    net.register_full_backward_hook(lambda m, gi, go: seen.append(gi[0].numpy().copy()))
    x = _f64(np.random.default_rng(0).normal(size=(5, 3)))
    net(x).pow(2).sum().backward()
    np.testing.assert_allclose(seen[0], x.grad.numpy())


def test_gradients_through_a_hooked_module_pass_gradcheck():
    lin = nn.Linear(3, 2).double()
    lin.register_full_backward_hook(lambda m, gi, go: None)
    lin.register_forward_hook(lambda m, args, out: out * 2)
    x = _f64(np.random.default_rng(1).normal(size=(4, 3)))
    assert tinytorch.gradcheck(lambda t: lin(t).tanh(), (x,))


def test_backward_hook_values_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    w, b, x = rng.normal(size=(2, 3)), rng.normal(size=2), rng.normal(size=(4, 3))
    ours, theirs = [], []
    lin = _linear(w, b)
    lin.register_full_backward_hook(lambda m, gi, go: ours.append((gi, go)))
    lin(_f64(x)).tanh().sum().backward()
    tlin = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        tlin.weight.copy_(torch.tensor(w))
        tlin.bias.copy_(torch.tensor(b))
    tlin.register_full_backward_hook(lambda m, gi, go: theirs.append((gi, go)))
    tlin(torch.tensor(x, requires_grad=True)).tanh().sum().backward()
    (gi, go), = ours
    (tgi, tgo), = theirs
    np.testing.assert_allclose(gi[0].numpy(), tgi[0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(go[0].numpy(), tgo[0].numpy(), rtol=1e-12)


def test_an_inplace_first_layer_keeps_gradients_right_and_refuses_a_leaf_input():
    def make():
        return nn.Sequential(nn.ELU(inplace=True), _linear([[1.0, -2.0], [0.5, 3.0]], [0.1, 0]))

    hooked, plain = make(), make()
    seen = []
    hooked.register_full_backward_hook(lambda m, gi, go: seen.append(gi[0].numpy().copy()))
    xs = [_f64([[-1.0, 2.0]]) for _ in range(2)]
    for net, x in zip((hooked, plain), xs):
        net(x * 1.0).pow(2).sum().backward()
    np.testing.assert_allclose(xs[0].grad.numpy(), xs[1].grad.numpy(), rtol=1e-15)
    np.testing.assert_allclose(seen[0], xs[1].grad.numpy(), rtol=1e-15)
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        hooked(_f64([[-1.0, 2.0]]))
