"""State-dict round trips for optimizers and schedulers: a run split in two by a save and a
load continues exactly like an uninterrupted one."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import optim
from tinytorch.optim import lr_scheduler as sched

OPTIMIZERS = [
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (optim.Adam, dict(lr=0.01, amsgrad=True)),
    (optim.AdamW, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01)),
]
IDS = [cls.__name__ for cls, _ in OPTIMIZERS]


def make_params(dtype=np.float32):
    rng = np.random.default_rng(0)
    return [tt.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)
            for s in [(3, 2), (4,)]]


def grad_at(step, params):
    rng = np.random.default_rng(100 + step)
    for p in params:
        p.grad = tt.tensor(rng.standard_normal(p.shape).astype(p.dtype))


def train(opt, params, start, stop):
    for step in range(start, stop):
        grad_at(step, params)
        opt.step()


@pytest.mark.parametrize("cls,kwargs", OPTIMIZERS, ids=IDS)
def test_state_dict_has_pytorchs_layout(cls, kwargs):
    params = make_params()
    opt = cls([{"params": params[:1]}, {"params": params[1:], "lr": 0.5}], **kwargs)
    train(opt, params, 0, 2)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert sd["param_groups"][1]["lr"] == 0.5
    assert set(sd["param_groups"][0]) == set(kwargs) | set(opt.defaults) | {"params"}
    assert sorted(sd["state"]) == [0, 1]
    assert sd["state"][1] is opt.state[params[1]]


def through(state, tmp_path, via_file):
    """The state dict itself, or what comes back from a file written by tinytorch.save."""
    if not via_file:
        return state
    tt.save(state, tmp_path / "state.tt")
    return tt.load(tmp_path / "state.tt")


@pytest.mark.parametrize("via_file", [False, True], ids=["in_memory", "via_file"])
@pytest.mark.parametrize("cls,kwargs", OPTIMIZERS, ids=IDS)
def test_round_trip_continues_bit_identically(cls, kwargs, via_file, tmp_path):
    reference = make_params()
    ref_opt = cls(reference, **kwargs)
    train(ref_opt, reference, 0, 6)

    first = make_params()
    opt = cls(first, **kwargs)
    train(opt, first, 0, 3)
    saved = through(opt.state_dict(), tmp_path, via_file)
    resumed = [tt.tensor(p.array.copy(), requires_grad=True) for p in first]
    new_opt = cls(resumed, lr=123.0)  # options come back from the state dict
    new_opt.load_state_dict(saved)
    assert new_opt.param_groups[0]["lr"] == kwargs["lr"]
    train(new_opt, resumed, 3, 6)
    for p, q in zip(resumed, reference):
        np.testing.assert_array_equal(p.array, q.array)


@pytest.mark.parametrize("cls,kwargs", OPTIMIZERS, ids=IDS)
def test_loading_copies_buffers_so_the_source_is_never_updated(cls, kwargs):
    params = make_params()
    opt = cls(params, **kwargs)
    train(opt, params, 0, 2)
    saved = opt.state_dict()
    before = {k: {n: np.array(v.array) for n, v in s.items()} for k, s in saved["state"].items()}
    other = make_params()
    opt2 = cls(other, **kwargs)
    opt2.load_state_dict(saved)
    train(opt2, other, 2, 4)
    for k, s in saved["state"].items():
        for n, v in s.items():
            np.testing.assert_array_equal(v.array, before[k][n])


def test_loading_casts_state_to_each_parameters_dtype():
    params64 = make_params(np.float64)
    opt = optim.Adam(params64)
    train(opt, params64, 0, 1)
    params32 = make_params(np.float32)
    opt32 = optim.Adam(params32)
    opt32.load_state_dict(opt.state_dict())
    state = opt32.state[params32[0]]
    assert state["exp_avg"].dtype == np.float32 and state["exp_avg_sq"].dtype == np.float32
    assert state["step"].item() == 1.0


def test_loading_a_mismatched_state_dict_names_the_difference():
    params = make_params()
    opt = optim.SGD(params, momentum=0.9)
    train(opt, params, 0, 1)
    sd = opt.state_dict()
    two_groups = optim.SGD([{"params": params[:1]}, {"params": params[1:]}], momentum=0.9)
    with pytest.raises(ValueError, match=r"different number of parameter groups \(1\).*\(2\)"):
        two_groups.load_state_dict(sd)
    with pytest.raises(ValueError, match="group 0 has 2 parameters in the state dict and 1"):
        optim.SGD(params[:1], momentum=0.9).load_state_dict(sd)
    swapped = [tt.tensor(np.zeros(4, np.float32), requires_grad=True),
               tt.tensor(np.zeros((3, 2), np.float32), requires_grad=True)]
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 has shape \(3, 2\)"):
        optim.SGD(swapped, momentum=0.9).load_state_dict(sd)


def test_adagrad_state_exists_before_the_first_step():
    params = make_params()
    opt = optim.Adagrad(params, initial_accumulator_value=0.25)
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 1]
    np.testing.assert_array_equal(sd["state"][0]["sum"].array, np.full((3, 2), 0.25, np.float32))


def test_state_dict_matches_pytorchs_keys():
    torch = pytest.importorskip("torch")
    params = make_params()
    opt = optim.Adam(params, amsgrad=True)
    train(opt, params, 0, 1)
    ref = torch.optim.Adam([torch.zeros(3, 2, requires_grad=True)], amsgrad=True)
    ref.param_groups[0]["params"][0].grad = torch.ones(3, 2)
    ref.step()
    ours, theirs = opt.state_dict(), ref.state_dict()
    assert set(ours["state"][0]) == set(theirs["state"][0])
    torch_only = {"foreach", "capturable", "differentiable", "fused"}
    assert set(ours["param_groups"][0]) == set(theirs["param_groups"][0]) - torch_only


# ---------------------------------------------------------------- schedulers
class Halving:
    """A callable object (not a function), so LambdaLR's state dict keeps its attributes."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def __call__(self, epoch: int) -> float:
        return self.factor**epoch


SCHEDULERS = {
    "StepLR": lambda o: sched.StepLR(o, step_size=2, gamma=0.5),
    "MultiStepLR": lambda o: sched.MultiStepLR(o, [2, 5, 7], gamma=0.3),
    "ExponentialLR": lambda o: sched.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda o: sched.CosineAnnealingLR(o, T_max=6, eta_min=0.001),
    "LambdaLR": lambda o: sched.LambdaLR(o, Halving(0.7)),
    "LinearLR": lambda o: sched.LinearLR(o, start_factor=0.2, total_iters=5),
    "OneCycleLR": lambda o: sched.OneCycleLR(o, max_lr=1.0, total_steps=12),
    "SequentialLR": lambda o: sched.SequentialLR(
        o, [sched.LinearLR(o, 0.1, total_iters=3), sched.ExponentialLR(o, 0.8)], [3]),
}


@pytest.mark.parametrize("via_file", [False, True], ids=["in_memory", "via_file"])
@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scheduler_round_trip_continues_the_same_schedule(name, via_file, tmp_path):
    build = SCHEDULERS[name]

    def fresh():
        return optim.SGD(make_params(), lr=0.1, momentum=0.9)

    ref_opt = fresh()
    ref = build(ref_opt)
    want = []
    for _ in range(10):
        ref_opt.step()
        ref.step()
        want.append((ref.get_last_lr(), ref_opt.param_groups[0]["momentum"]))

    opt = fresh()
    s = build(opt)
    for _ in range(4):
        opt.step()
        s.step()
    opt_sd, s_sd = through((opt.state_dict(), s.state_dict()), tmp_path, via_file)
    assert "optimizer" not in s_sd
    opt2 = fresh()
    s2 = build(opt2)
    opt2.load_state_dict(opt_sd)
    s2.load_state_dict(s_sd)
    got = want[:4]
    for _ in range(6):
        opt2.step()
        s2.step()
        got.append((s2.get_last_lr(), opt2.param_groups[0]["momentum"]))
    assert got == want


def test_multistep_closed_form_works_after_a_file_round_trip(tmp_path):
    opt = optim.SGD(make_params(), lr=1.0)
    s = sched.MultiStepLR(opt, [2, 2, 5], gamma=0.5)
    s2 = sched.MultiStepLR(optim.SGD(make_params(), lr=1.0), [9])
    s2.load_state_dict(through(s.state_dict(), tmp_path, True))
    with pytest.warns(UserWarning):
        s2.step(6)
    assert s2.get_last_lr() == [0.125]


def test_lambda_lr_state_dict_keeps_callable_objects_but_not_functions():
    opt = optim.SGD([{"params": make_params()[:1]}, {"params": make_params()[1:]}], lr=0.1)
    s = sched.LambdaLR(opt, [lambda e: 1.0, Halving(0.5)])
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [None, {"factor": 0.5}]
    other = Halving(0.9)
    s2 = sched.LambdaLR(opt, [lambda e: 1.0, other])
    s2.load_state_dict(sd)
    assert other.factor == 0.5
