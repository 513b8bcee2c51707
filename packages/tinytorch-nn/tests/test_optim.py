"""Optimizers against their update rules written out in NumPy, for several steps, every option."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import optim
from tinytorch.optim.optimizer import Optimizer, required

SHAPES = [(4, 3), (5,)]
STEPS = 5


def make_problem(seed: int, dtype=np.float64):
    """Initial parameters and a fixed gradient sequence (grads[step][param])."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
    return init, grads


def run_optimizer(cls, kwargs, init, grads):
    params = [tt.tensor(a.copy(), requires_grad=True) for a in init]
    opt = cls(params, **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = tt.tensor(g.copy())
        opt.step()
    return [p.array for p in params], opt


# ---------------------------------------------------------------- reference update rules
def sgd_rule(p, grads, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False,
             maximize=False):
    buf = None
    for g in grads:
        g = (-g if maximize else g) + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def adam_rule(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
              maximize=False, decoupled_weight_decay=False):
    b1, b2 = betas
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    v_max = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if decoupled_weight_decay:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_max = np.maximum(v_max, v)
        v_hat = (v_max if amsgrad else v) / (1 - b2**t)
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v_hat) + eps)
    return p


def rmsprop_rule(p, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, maximize=False):
    sq = np.zeros_like(p)
    avg = np.zeros_like(p)
    buf = np.zeros_like(p)
    for g in grads:
        g = (-g if maximize else g) + weight_decay * p
        sq = alpha * sq + (1 - alpha) * g * g
        avg = alpha * avg + (1 - alpha) * g
        rms = np.sqrt(sq - avg * avg if centered else sq) + eps
        if momentum:
            buf = momentum * buf + g / rms
            p = p - lr * buf
        else:
            p = p - lr * g / rms
    return p


def adagrad_rule(p, grads, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, maximize=False):
    total = np.full_like(p, initial_accumulator_value)
    for t, g in enumerate(grads, start=1):
        g = (-g if maximize else g) + weight_decay * p
        total = total + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(total) + eps)
    return p


def combos(**options):
    names = list(options)
    return [dict(zip(names, values)) for values in itertools.product(*options.values())]


def check_against_rule(cls, kwargs, rule, seed=0):
    init, grads = make_problem(seed)
    got, _ = run_optimizer(cls, kwargs, init, grads)
    for i, (p0, p) in enumerate(zip(init, got)):
        want = rule(p0, [g[i] for g in grads], **kwargs)
        np.testing.assert_allclose(p, want, rtol=1e-12, atol=1e-14)
        assert not np.allclose(p, p0)


# ---------------------------------------------------------------- rules, every option
SGD_CASES = [c for c in combos(lr=[0.1], momentum=[0, 0.9], dampening=[0, 0.3],
                               weight_decay=[0, 0.05], nesterov=[False, True],
                               maximize=[False, True])
             if not c["nesterov"] or (c["momentum"] and not c["dampening"])]


@pytest.mark.parametrize("kwargs", SGD_CASES, ids=str)
def test_sgd_follows_its_update_rule(kwargs):
    check_against_rule(optim.SGD, kwargs, sgd_rule)


@pytest.mark.parametrize("kwargs", combos(
    lr=[0.01], betas=[(0.9, 0.999), (0.5, 0.8)], eps=[1e-8, 1e-2], weight_decay=[0, 0.1],
    amsgrad=[False, True], maximize=[False, True], decoupled_weight_decay=[False, True]), ids=str)
def test_adam_follows_its_update_rule(kwargs):
    check_against_rule(optim.Adam, kwargs, adam_rule)


@pytest.mark.parametrize("kwargs", combos(weight_decay=[0.01, 0.3], amsgrad=[False, True],
                                          maximize=[False, True]), ids=str)
def test_adamw_decays_weights_decoupled_from_the_gradient(kwargs):
    init, grads = make_problem(1)
    got, _ = run_optimizer(optim.AdamW, dict(lr=0.02, **kwargs), init, grads)
    for i, p0 in enumerate(init):
        want = adam_rule(p0, [g[i] for g in grads], lr=0.02, decoupled_weight_decay=True,
                         **kwargs)
        np.testing.assert_allclose(got[i], want, rtol=1e-12)


def test_adamw_defaults_to_weight_decay_0_01_and_differs_from_adam_l2():
    p = tt.tensor(np.ones(3), requires_grad=True)
    opt = optim.AdamW([p])
    assert opt.param_groups[0]["weight_decay"] == 0.01
    init, grads = make_problem(2)
    decoupled, _ = run_optimizer(optim.AdamW, dict(lr=0.05, weight_decay=0.5), init, grads)
    coupled, _ = run_optimizer(optim.Adam, dict(lr=0.05, weight_decay=0.5), init, grads)
    assert not np.allclose(decoupled[0], coupled[0])


@pytest.mark.parametrize("kwargs", combos(
    lr=[0.01], alpha=[0.99, 0.8], weight_decay=[0, 0.1], momentum=[0, 0.7],
    centered=[False, True], maximize=[False, True]), ids=str)
def test_rmsprop_follows_its_update_rule(kwargs):
    check_against_rule(optim.RMSprop, kwargs, rmsprop_rule)


@pytest.mark.parametrize("kwargs", combos(
    lr=[0.1], lr_decay=[0, 0.2], weight_decay=[0, 0.1], initial_accumulator_value=[0, 0.5],
    eps=[1e-10, 1e-3], maximize=[False, True]), ids=str)
def test_adagrad_follows_its_update_rule(kwargs):
    check_against_rule(optim.Adagrad, kwargs, adagrad_rule)


def test_default_hyperparameters_match_pytorch():
    p = [tt.tensor(np.zeros(2), requires_grad=True)]
    assert optim.SGD(p).defaults == dict(lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                                         nesterov=False, maximize=False)
    assert optim.Adam(p).defaults == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                                          weight_decay=0, amsgrad=False, maximize=False,
                                          decoupled_weight_decay=False)
    assert optim.RMSprop(p).defaults == dict(lr=1e-2, momentum=0, alpha=0.99, eps=1e-8,
                                             centered=False, weight_decay=0, maximize=False)
    assert optim.Adagrad(p).defaults == dict(lr=1e-2, lr_decay=0, eps=1e-10, weight_decay=0,
                                             initial_accumulator_value=0, maximize=False)


# ---------------------------------------------------------------- in place, float32, no allocs
ALL = [(optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
       (optim.Adam, dict(amsgrad=True, weight_decay=0.1, maximize=True)),
       (optim.AdamW, dict(amsgrad=True)),
       (optim.RMSprop, dict(momentum=0.9, centered=True, weight_decay=0.1)),
       (optim.Adagrad, dict(lr_decay=0.1, weight_decay=0.1))]


@pytest.mark.parametrize("cls,kwargs", ALL, ids=lambda v: getattr(v, "__name__", ""))
def test_updates_are_in_place_and_stay_float32(cls, kwargs):
    init, grads = make_problem(3, np.float32)
    params = [tt.tensor(a.copy(), requires_grad=True) for a in init]
    arrays = [p.array for p in params]
    opt = cls(params, **kwargs)
    buffers = None
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = tt.tensor(g)
        opt.step()
        now = [id(v.array) for s in opt.state.values() for k, v in s.items() if k != "step"]
        assert buffers is None or now == buffers
        buffers = now
    for p, a in zip(params, arrays):
        assert p.array is a and a.dtype == np.float32
    for s in opt.state.values():
        assert all(v.dtype == np.float32 for v in s.values())
    rule = {optim.SGD: sgd_rule, optim.Adam: adam_rule, optim.AdamW: adam_rule,
            optim.RMSprop: rmsprop_rule, optim.Adagrad: adagrad_rule}[cls]
    kw = dict(kwargs)
    if cls is optim.AdamW:
        kw.update(decoupled_weight_decay=True, weight_decay=0.01)
    for i, p0 in enumerate(init):
        want = rule(p0.astype(np.float64), [g[i].astype(np.float64) for g in grads], **kw)
        np.testing.assert_allclose(params[i].array, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls,kwargs", ALL, ids=lambda v: getattr(v, "__name__", ""))
def test_steady_state_step_allocates_no_parameter_sized_array(cls, kwargs):
    n = 250_000  # 1 MB of float32: any per-step temporary of this size would show
    p = tt.tensor(np.ones(n, np.float32), requires_grad=True)
    q = tt.tensor(np.ones(n // 2, np.float32), requires_grad=True)
    p.grad = tt.tensor(np.full(n, 0.5, np.float32))
    q.grad = tt.tensor(np.full(n // 2, 0.5, np.float32))
    opt = cls([p, q], **kwargs)
    opt.step()
    tracemalloc.start()
    try:
        opt.step()
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n * 4 // 4, f"{cls.__name__} step allocated up to {peak} bytes"


def test_scratch_buffers_are_sized_by_the_largest_parameter_not_the_sum():
    params = [tt.tensor(np.ones(s, np.float32), requires_grad=True) for s in (100, 1000, 10)]
    for p in params:
        p.grad = tt.tensor(np.ones(p.shape, np.float32))
    opt = optim.Adam(params, weight_decay=0.1)
    opt.step()
    assert sorted(b.size for b in opt._scratch_pool.values()) == [1000, 1000]


# ---------------------------------------------------------------- behaviour around the update
def test_parameters_without_grad_are_left_alone_and_get_no_state():
    a = tt.tensor(np.ones(3), requires_grad=True)
    b = tt.tensor(np.ones(3), requires_grad=True)
    a.grad = tt.tensor(np.ones(3))
    opt = optim.Adam([a, b], lr=0.1)
    opt.step()
    assert np.all(b.array == 1) and np.all(a.array < 1)
    assert b not in opt.state and a in opt.state


def test_param_groups_use_their_own_options_and_inherit_the_rest():
    a = tt.tensor(np.ones(2), requires_grad=True)
    b = tt.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.9
    a.grad = tt.tensor(np.ones(2))
    b.grad = tt.tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose(a.array, 0.9)
    np.testing.assert_allclose(b.array, 0.5)


def test_add_param_group_after_construction_is_optimized():
    a = tt.tensor(np.ones(2), requires_grad=True)
    b = tt.tensor(np.ones(2), requires_grad=True)
    opt = optim.Adagrad([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 1.0})
    b.grad = tt.tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose(b.array, 1 - 1.0 / (1 + 1e-10))


def test_named_parameters_are_accepted_and_recorded():
    a = tt.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([("weight", a)], lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 1 and opt.param_groups[0]["params"][0] is a
    assert opt.param_groups[0]["param_names"] == ["weight"]


def test_zero_grad_sets_none_by_default_or_fills_zeros_in_place():
    a = tt.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([a])
    a.grad = tt.tensor(np.ones(2))
    g = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is g and np.all(g.array == 0)
    opt.zero_grad()
    assert a.grad is None


def test_step_runs_the_closure_with_grad_enabled_and_returns_its_loss():
    a = tt.tensor(np.array([3.0]), requires_grad=True)
    opt = optim.SGD([a], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = a * a
        loss.backward()
        return loss

    with tt.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 9.0
    np.testing.assert_allclose(a.array, [3.0 - 0.25 * 6.0])


def test_a_subclass_with_a_required_option_demands_it_in_every_group():
    class Sign(Optimizer):
        def __init__(self, params, lr=required):
            super().__init__(params, {"lr": lr})

        def _update_group(self, group):
            for p in group["params"]:
                p.array -= group["lr"] * np.sign(p.grad.array)

    a = tt.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="required optimization parameter lr"):
        Sign([a])
    opt = Sign([{"params": [a], "lr": 0.5}])
    a.grad = tt.tensor(np.array([2.0, -3.0]))
    opt.step()
    np.testing.assert_allclose(a.array, [0.5, 1.5])


@pytest.mark.parametrize("build,error,match", [
    (lambda p: optim.SGD(p, lr=-1), ValueError, "Invalid learning rate: -1"),
    (lambda p: optim.SGD(p, momentum=-0.1), ValueError, "Invalid momentum value"),
    (lambda p: optim.SGD(p, nesterov=True), ValueError, "Nesterov momentum requires"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "zero dampening"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.9)), ValueError, "beta parameter at index 0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), ValueError, "beta parameter at index 1"),
    (lambda p: optim.Adam(p, eps=-1), ValueError, "Invalid epsilon value"),
    (lambda p: optim.AdamW(p, weight_decay=-1), ValueError, "Invalid weight_decay value"),
    (lambda p: optim.RMSprop(p, alpha=-1), ValueError, "Invalid alpha value"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), ValueError, "Invalid lr_decay value"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1), ValueError,
     "Invalid initial_accumulator_value value"),
    (lambda p: optim.SGD([]), ValueError, "empty parameter list"),
    (lambda p: optim.SGD(p[0]), TypeError, r"iterable of Tensors or dicts.*shape \(2,\)"),
    (lambda p: optim.SGD([{"params": set(p)}]), TypeError, "ordered collections"),
    (lambda p: optim.SGD([p[0].array]), TypeError, "can only optimize Tensors"),
    (lambda p: optim.SGD([p[0] * 2]), ValueError, "non-leaf"),
    (lambda p: optim.SGD([{"params": p}, {"params": p}]), ValueError,
     "more than one parameter group"),
    (lambda p: optim.SGD([p[0], p[0]]), ValueError, "duplicate parameters"),
])
def test_bad_arguments_raise_pytorchs_errors(build, error, match):
    params = [tt.tensor(np.ones(2), requires_grad=True)]
    with pytest.raises(error, match=match):
        build(params)


def test_repr_lists_each_group_options_like_pytorch():
    a = tt.tensor(np.ones(2), requires_grad=True)
    text = repr(optim.SGD([a], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (\nParameter Group 0\n")
    assert "    lr: 0.1\n" in text and "    momentum: 0.9\n" in text and text.endswith(")")
    assert "params" not in text
