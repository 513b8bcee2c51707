"""Learning-rate schedulers against their formulas, written out here epoch by epoch."""

from __future__ import annotations

import math
import warnings
from bisect import bisect_right

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import optim
from tinytorch.optim import lr_scheduler as sched

BASES = (0.1, 0.5)  # two parameter groups with different initial rates


def make_optimizer(cls=optim.SGD, **kwargs):
    a = tt.tensor(np.zeros(2), requires_grad=True)
    b = tt.tensor(np.zeros(2), requires_grad=True)
    return cls([{"params": [a]}, {"params": [b], "lr": BASES[1]}], lr=BASES[0], **kwargs)


def lrs_over(scheduler, epochs):
    """get_last_lr() after construction and after each of ``epochs`` steps."""
    out = [scheduler.get_last_lr()]
    for _ in range(epochs):
        scheduler.optimizer.step()
        scheduler.step()
        out.append(scheduler.get_last_lr())
        assert out[-1] == [g["lr"] for g in scheduler.optimizer.param_groups]
    return np.array(out)


def expected(formula, epochs):
    return np.array([[formula(base, e) for base in BASES] for e in range(epochs + 1)])


def check(scheduler, formula, epochs, rtol=1e-12):
    np.testing.assert_allclose(lrs_over(scheduler, epochs), expected(formula, epochs),
                               rtol=rtol, atol=1e-15)


def test_step_lr_decays_by_gamma_every_step_size_epochs():
    check(sched.StepLR(make_optimizer(), step_size=3, gamma=0.5),
          lambda b, e: b * 0.5 ** (e // 3), 20)


def test_multistep_lr_decays_at_each_milestone_and_repeats_count_twice():
    milestones = [2, 5, 5, 9]
    check(sched.MultiStepLR(make_optimizer(), milestones, gamma=0.3),
          lambda b, e: b * 0.3 ** bisect_right(milestones, e), 15)


def test_exponential_lr_is_gamma_to_the_epoch():
    check(sched.ExponentialLR(make_optimizer(), gamma=0.9), lambda b, e: b * 0.9**e, 30)


@pytest.mark.parametrize("t_max,eta_min", [(7, 0.001), (10, 0.0), (1, 0.01)])
def test_cosine_annealing_follows_the_half_cosine_and_its_periodic_extension(t_max, eta_min):
    def cosine(b, e):
        return eta_min + (b - eta_min) * (1 + math.cos(math.pi * e / t_max)) / 2

    check(sched.CosineAnnealingLR(make_optimizer(), T_max=t_max, eta_min=eta_min), cosine,
          3 * t_max, rtol=1e-9)


def test_lambda_lr_scales_the_initial_rate_per_group():
    fns = [lambda e: 1 / (e + 1), lambda e: 0.8**e]
    opt = make_optimizer()
    got = lrs_over(sched.LambdaLR(opt, fns), 10)
    want = np.array([[BASES[0] / (e + 1), BASES[1] * 0.8**e] for e in range(11)])
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("start,end,total", [(0.25, 1.0, 6), (1.0, 0.1, 4), (0.5, 0.5, 3)])
def test_linear_lr_interpolates_the_factor_then_holds_it(start, end, total):
    check(sched.LinearLR(make_optimizer(), start, end, total),
          lambda b, e: b * (start + (end - start) * min(e, total) / total), 12)


def one_cycle_formula(max_lrs, total, pct, anneal, three_phase, div=25.0, final_div=1e4):
    def interp(a, b, frac):
        if anneal == "cos":
            return b + (a - b) * (1 + math.cos(math.pi * frac)) / 2
        return a + (b - a) * frac

    def at(group, step):
        peak = max_lrs[group]
        low = peak / div
        floor = low / final_div
        up_end = pct * total - 1
        if step <= up_end:
            return interp(low, peak, step / up_end)
        if three_phase:
            down_end = 2 * pct * total - 2
            if step <= down_end:
                return interp(peak, low, (step - up_end) / (down_end - up_end))
            return interp(low, floor, (step - down_end) / (total - 1 - down_end))
        return interp(peak, floor, (step - up_end) / (total - 1 - up_end))

    return at


@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_lr_follows_its_phases(anneal, three_phase):
    total, pct = 40, 0.25
    opt = make_optimizer(momentum=0.9)
    s = sched.OneCycleLR(opt, max_lr=[1.0, 2.0], total_steps=total, pct_start=pct,
                         anneal_strategy=anneal, three_phase=three_phase)
    at = one_cycle_formula([1.0, 2.0], total, pct, anneal, three_phase)
    got = lrs_over(s, total - 1)
    want = np.array([[at(g, e) for g in (0, 1)] for e in range(total)])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[0][0] == pytest.approx(1.0 / 25) and got.max() == pytest.approx(2.0)
    assert got[-1][0] == pytest.approx(1.0 / 25 / 1e4)
    with pytest.raises(ValueError, match=f"Tried to step {total + 1} times"):
        s.step()
        s.step()


def test_one_cycle_cycles_sgd_momentum_inversely_to_the_lr():
    opt = make_optimizer(momentum=0.9)
    s = sched.OneCycleLR(opt, max_lr=1.0, epochs=2, steps_per_epoch=10, pct_start=0.5)
    moms = [opt.param_groups[0]["momentum"]]
    for _ in range(19):
        opt.step()
        s.step()
        moms.append(opt.param_groups[0]["momentum"])
    # momentum anneals max -> base while the lr rises (steps 0..9), then base -> max
    for e, m in enumerate(moms):
        if e <= 9:
            want = 0.85 + (0.95 - 0.85) * (1 + math.cos(math.pi * e / 9)) / 2
        else:
            want = 0.95 + (0.85 - 0.95) * (1 + math.cos(math.pi * (e - 9) / 10)) / 2
        assert m == pytest.approx(want, rel=1e-12)


def test_one_cycle_cycles_adam_beta1_and_keeps_beta2():
    opt = make_optimizer(optim.Adam, betas=(0.9, 0.98))
    s = sched.OneCycleLR(opt, max_lr=0.01, total_steps=10, base_momentum=0.8,
                         max_momentum=0.9)
    assert opt.param_groups[0]["betas"] == (0.9, 0.98)
    for _ in range(3):
        opt.step()
        s.step()
    beta1, beta2 = opt.param_groups[1]["betas"]
    assert 0.8 < beta1 < 0.9 and beta2 == 0.98


def test_one_cycle_needs_momentum_or_betas_when_cycling_momentum():
    opt = make_optimizer(optim.Adagrad)
    with pytest.raises(ValueError, match="momentum or beta1"):
        sched.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    sched.OneCycleLR(opt, max_lr=0.1, total_steps=10, cycle_momentum=False)


@pytest.mark.parametrize("kwargs,match", [
    (dict(max_lr=0.1), "either total_steps OR"),
    (dict(max_lr=0.1, total_steps=0), "positive integer total_steps"),
    (dict(max_lr=0.1, epochs=2, steps_per_epoch=0), "positive integer steps_per_epoch"),
    (dict(max_lr=0.1, total_steps=10, pct_start=1.5), "pct_start"),
    (dict(max_lr=0.1, total_steps=10, anneal_strategy="step"), "anneal_strategy"),
    (dict(max_lr=[0.1, 0.2, 0.3], total_steps=10), "expected 2 values for max_lr, got 3"),
])
def test_one_cycle_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sched.OneCycleLR(make_optimizer(momentum=0.9), **kwargs)


def test_sequential_lr_warms_up_then_runs_the_next_scheduler_from_its_epoch_0():
    opt = make_optimizer()
    warmup = sched.LinearLR(opt, start_factor=0.1, total_iters=4)
    cosine = sched.CosineAnnealingLR(opt, T_max=10, eta_min=0.01)
    s = sched.SequentialLR(opt, [warmup, cosine], milestones=[4])

    def formula(b, e):
        if e < 4:
            return b * (0.1 + 0.9 * e / 4)
        return 0.01 + (b - 0.01) * (1 + math.cos(math.pi * (e - 4) / 10)) / 2

    check(s, formula, 14, rtol=1e-9)


def test_sequential_lr_with_three_schedulers_switches_at_each_milestone():
    opt = make_optimizer()
    s = sched.SequentialLR(opt, [sched.ExponentialLR(opt, 0.9), sched.StepLR(opt, 2, 0.5),
                                 sched.ExponentialLR(opt, 0.8)], milestones=[3, 8])

    def formula(b, e):
        if e < 3:
            return b * 0.9**e
        if e < 8:
            return b * 0.5 ** ((e - 3) // 2)
        return b * 0.8 ** (e - 8)

    check(s, formula, 12)


def test_sequential_lr_rejects_mismatched_arguments():
    opt = make_optimizer()
    other = make_optimizer()
    with pytest.raises(ValueError, match="at least one scheduler"):
        sched.SequentialLR(opt, [], [])
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        sched.SequentialLR(opt, [sched.StepLR(opt, 2)], [3])
    with pytest.raises(ValueError, match="same optimizer"):
        sched.SequentialLR(opt, [sched.StepLR(opt, 2), sched.StepLR(other, 2)], [3])


def test_chained_schedulers_multiply_their_factors():
    opt = make_optimizer()
    a = sched.ExponentialLR(opt, 0.9)
    b = sched.StepLR(opt, 3, 0.5)
    got = [[g["lr"] for g in opt.param_groups]]
    for _ in range(10):
        opt.step()
        a.step()
        b.step()
        got.append([g["lr"] for g in opt.param_groups])
    np.testing.assert_allclose(got, expected(lambda base, e: base * 0.9**e * 0.5 ** (e // 3),
                                             10), rtol=1e-12)


def test_construction_sets_initial_lr_and_the_first_value():
    opt = make_optimizer()
    s = sched.LinearLR(opt, start_factor=0.5, total_iters=2)
    assert [g["initial_lr"] for g in opt.param_groups] == list(BASES)
    assert s.base_lrs == list(BASES) and s.last_epoch == 0
    assert s.get_last_lr() == [0.05, 0.25]


def test_resuming_needs_initial_lr_in_every_group():
    with pytest.raises(KeyError, match=r"initial_lr.*param_groups\[0\]"):
        sched.StepLR(make_optimizer(), step_size=2, last_epoch=5)


def test_resuming_with_last_epoch_keeps_the_current_rate():
    opt = make_optimizer()
    for group in opt.param_groups:
        group["initial_lr"] = group["lr"]
        group["lr"] *= 0.9**4
    s = sched.ExponentialLR(opt, 0.9, last_epoch=4)
    np.testing.assert_allclose(s.get_last_lr(), [b * 0.9**4 for b in BASES], rtol=1e-12)
    opt.step()
    s.step()
    np.testing.assert_allclose(s.get_last_lr(), [b * 0.9**5 for b in BASES], rtol=1e-12)


def test_step_with_an_epoch_warns_and_jumps_with_the_closed_form():
    s = sched.CosineAnnealingLR(make_optimizer(), T_max=10)
    s.optimizer.step()
    with pytest.warns(UserWarning, match="deprecated"):
        s.step(7)
    want = [b * (1 + math.cos(math.pi * 7 / 10)) / 2 for b in BASES]
    np.testing.assert_allclose(s.get_last_lr(), want, rtol=1e-12)


def test_linear_lr_rejects_factors_outside_its_range():
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        sched.LinearLR(make_optimizer(), start_factor=0)
    with pytest.raises(ValueError, match="Ending multiplicative factor"):
        sched.LinearLR(make_optimizer(), end_factor=1.5)


def test_scheduler_needs_an_optimizer():
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        sched.StepLR([], step_size=1)


def test_lambda_lr_needs_one_function_per_group():
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        sched.LambdaLR(make_optimizer(), [lambda e: 1.0])


def test_stepping_the_scheduler_before_the_optimizer_warns_once():
    opt = make_optimizer()
    s = sched.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match=r"lr_scheduler.step\(\)` before `optimizer.step\(\)"):
        s.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.step()                                  # only the first call is checked
        right = sched.StepLR(make_optimizer(), step_size=2)
        right.optimizer.step()
        right.step()


def test_an_optimizer_with_its_own_step_is_not_second_guessed():
    class Manual(optim.SGD):
        def step(self, closure=None):
            return None

    s = sched.StepLR(Manual([tt.tensor(np.zeros(2), requires_grad=True)], lr=0.1), 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.step()
