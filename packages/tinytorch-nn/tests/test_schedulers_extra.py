"""ReduceLROnPlateau and CosineAnnealingWarmRestarts against sequences worked out by hand,
their state dicts and errors, and a cross-check against PyTorch."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import optim
from tinytorch.optim import lr_scheduler as sched


def make_optimizer(lrs=(1.0,)):
    groups = [{"params": [tt.tensor(np.zeros(2), requires_grad=True)], "lr": lr} for lr in lrs]
    return optim.SGD(groups, lr=lrs[0])


def run_plateau(scheduler, metrics):
    out = []
    for m in metrics:
        scheduler.step(m)
        out.append(scheduler.get_last_lr()[0])
        assert scheduler.get_last_lr() == [g["lr"] for g in scheduler.optimizer.param_groups]
    return out


# ---------------------------------------------------------------------------- ReduceLROnPlateau

def test_plateau_reduces_after_more_than_patience_bad_epochs():
    # best 10, then 9; three epochs at 9 are bad (9 is not < 9): the third exceeds patience 2
    s = sched.ReduceLROnPlateau(make_optimizer(), factor=0.5, patience=2, threshold=0)
    lrs = run_plateau(s, [10, 9, 9, 9, 9, 8, 8, 8, 8])
    assert lrs == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25]


def test_plateau_cooldown_ignores_bad_epochs_after_a_reduction():
    s = sched.ReduceLROnPlateau(make_optimizer(), factor=0.1, patience=0, cooldown=2)
    lrs = run_plateau(s, [1.0] * 8)
    np.testing.assert_allclose(lrs, [1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001])


def test_plateau_relative_and_absolute_thresholds():
    rel = sched.ReduceLROnPlateau(make_optimizer(), patience=0, threshold=0.1)
    run_plateau(rel, [10.0, 9.5])                    # needs < 9.0: a bad epoch
    assert rel.best == 10.0 and rel.get_last_lr() == [0.1]
    absolute = sched.ReduceLROnPlateau(make_optimizer(), patience=0, threshold=0.6,
                                       threshold_mode="abs")
    run_plateau(absolute, [10.0, 9.3])               # 9.3 < 10 - 0.6: an improvement
    assert absolute.best == 9.3 and absolute.get_last_lr() == [1.0]


def test_plateau_max_mode_watches_an_increasing_metric():
    s = sched.ReduceLROnPlateau(make_optimizer(), mode="max", factor=0.5, patience=1,
                                threshold=0)
    lrs = run_plateau(s, [0.5, 0.6, 0.6, 0.55, 0.7, 0.7])
    assert lrs == [1, 1, 1, 0.5, 0.5, 0.5]


def test_plateau_respects_min_lr_per_group_and_eps():
    s = sched.ReduceLROnPlateau(make_optimizer((1.0, 0.5)), factor=0.1, patience=0,
                                min_lr=[0.05, 0.0])
    run_plateau(s, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(s.get_last_lr(), [0.05, 0.005])
    tiny = sched.ReduceLROnPlateau(make_optimizer((1e-8,)), factor=0.5, patience=0, eps=1e-8)
    run_plateau(tiny, [1.0, 1.0])                    # the change 5e-9 is under eps: skipped
    assert tiny.get_last_lr() == [1e-8]


def test_plateau_state_dict_resumes_the_same_decisions():
    metrics = [5, 4, 4.5, 4.2, 4.1, 4.3, 3.0, 3.5, 3.5, 3.4, 3.6, 3.7]
    full = sched.ReduceLROnPlateau(make_optimizer(), factor=0.5, patience=1, cooldown=1)
    expected = run_plateau(full, metrics)
    first = sched.ReduceLROnPlateau(make_optimizer(), factor=0.5, patience=1, cooldown=1)
    got = run_plateau(first, metrics[:5])
    state = first.state_dict()
    assert "optimizer" not in state and state["best"] == 4
    opt = make_optimizer()
    opt.param_groups[0]["lr"] = first.optimizer.param_groups[0]["lr"]
    resumed = sched.ReduceLROnPlateau(opt)
    resumed.load_state_dict(state)
    got += run_plateau(resumed, metrics[5:])
    assert got == expected


def test_plateau_errors():
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        sched.ReduceLROnPlateau(make_optimizer(), factor=1.0)
    with pytest.raises(ValueError, match="mode sideways is unknown"):
        sched.ReduceLROnPlateau(make_optimizer(), mode="sideways")
    with pytest.raises(ValueError, match="threshold mode pct is unknown"):
        sched.ReduceLROnPlateau(make_optimizer(), threshold_mode="pct")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 1"):
        sched.ReduceLROnPlateau(make_optimizer((1.0, 1.0)), min_lr=[0.1])
    with pytest.raises(TypeError, match="is not an Optimizer"):
        sched.ReduceLROnPlateau(object())
    s = sched.ReduceLROnPlateau(make_optimizer())
    with pytest.warns(UserWarning, match="deprecated"):
        s.step(1.0, epoch=3)
    assert s.last_epoch == 3 and isinstance(s, sched.LRScheduler)


def test_plateau_matches_pytorch():
    torch = pytest.importorskip("torch")
    metrics = list(np.random.default_rng(0).normal(1.0, 0.1, 60).cumsum() / np.arange(1, 61))
    for kwargs in ({"patience": 2, "factor": 0.5, "cooldown": 1},
                   {"mode": "max", "patience": 1, "threshold": 0.01, "threshold_mode": "abs"},
                   {"patience": 0, "min_lr": 0.01}):
        ours = sched.ReduceLROnPlateau(make_optimizer(), **kwargs)
        p = torch.nn.Parameter(torch.zeros(1))
        theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(torch.optim.SGD([p], lr=1.0),
                                                            **kwargs)
        for m in metrics:
            ours.step(m)
            theirs.step(m)
            assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-15)


# ---------------------------------------------------------------------------- warm restarts

def cosine(base, eta_min, t_cur, t_i):
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2


def test_warm_restarts_cycles_grow_by_t_mult():
    s = sched.CosineAnnealingWarmRestarts(make_optimizer((0.1,)), T_0=3, T_mult=2, eta_min=0.01)
    lrs = [s.get_last_lr()[0]]
    for _ in range(10):
        s.optimizer.step()
        s.step()
        lrs.append(s.get_last_lr()[0])
    # cycles: epochs 0-2 (T_i = 3), 3-8 (T_i = 6), 9-20 (T_i = 12)
    positions = [(0, 3), (1, 3), (2, 3), (0, 6), (1, 6), (2, 6), (3, 6), (4, 6), (5, 6),
                 (0, 12), (1, 12)]
    np.testing.assert_allclose(lrs, [cosine(0.1, 0.01, c, t) for c, t in positions],
                               rtol=1e-14)
    assert lrs[3] == pytest.approx(0.1)                        # the restart


def test_warm_restarts_with_t_mult_one_repeats_the_same_cycle():
    s = sched.CosineAnnealingWarmRestarts(make_optimizer((1.0, 0.5)), T_0=4)
    lrs = [s.get_last_lr()]
    for _ in range(9):
        s.step()
        lrs.append(s.get_last_lr())
    expected = [[cosine(b, 0.0, e % 4, 4) for b in (1.0, 0.5)] for e in range(10)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-14, atol=1e-15)


def test_warm_restarts_fractional_epochs_and_interleaving():
    s = sched.CosineAnnealingWarmRestarts(make_optimizer((0.1,)), T_0=3, T_mult=2, eta_min=0.01)
    s.step(4.5)                  # the second cycle starts at epoch 3: T_cur = 1.5 of T_i = 6
    assert (s.T_cur, s.T_i, s.last_epoch) == (1.5, 6, 4)
    assert s.get_last_lr()[0] == pytest.approx(cosine(0.1, 0.01, 1.5, 6), rel=1e-14)
    s.step()                     # continues from there: T_cur = 2.5, epoch 5
    assert (s.T_cur, s.T_i, s.last_epoch) == (2.5, 6, 5)
    s.step(0.25)
    assert (s.T_cur, s.T_i) == (0.25, 3)
    flat = sched.CosineAnnealingWarmRestarts(make_optimizer((1.0,)), T_0=3)
    flat.step(7.5)
    assert flat.T_cur == pytest.approx(1.5)


def test_warm_restarts_errors_and_state_dict():
    opt = make_optimizer()
    for kwargs, match in [({"T_0": 0}, "positive integer T_0"),
                          ({"T_0": 2.0}, "positive integer T_0"),
                          ({"T_0": 2, "T_mult": 0}, "integer T_mult >= 1"),
                          ({"T_0": 2, "eta_min": "0"}, "float or int eta_min")]:
        with pytest.raises(ValueError, match=match):
            sched.CosineAnnealingWarmRestarts(opt, **kwargs)
    s = sched.CosineAnnealingWarmRestarts(make_optimizer(), T_0=2, T_mult=3)
    with pytest.raises(ValueError, match="non-negative epoch"):
        s.step(-1)
    for _ in range(4):
        s.step()
    other = sched.CosineAnnealingWarmRestarts(make_optimizer(), T_0=2, T_mult=3)
    other.load_state_dict(s.state_dict())
    s.step()
    other.step()
    assert other.get_last_lr() == s.get_last_lr() and other.T_i == s.T_i == 6


def test_warm_restarts_matches_pytorch_with_fractional_epochs():
    torch = pytest.importorskip("torch")
    ours = sched.CosineAnnealingWarmRestarts(make_optimizer((0.3,)), T_0=2, T_mult=3,
                                             eta_min=0.001)
    p = torch.nn.Parameter(torch.zeros(1))
    theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        torch.optim.SGD([p], lr=0.3), T_0=2, T_mult=3, eta_min=0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in range(12):
            for i in range(4):
                ours.step(epoch + i / 4)
                theirs.step(epoch + i / 4)
                assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-13)
        for _ in range(5):
            ours.step()
            theirs.step()
            assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-13)
