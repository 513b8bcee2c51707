"""The training loop: it learns, stops early, accumulates gradients exactly, clips, and resumes
from a checkpoint bit-identically."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import nn, optim
from tinytorch.optim import lr_scheduler
from tinytorch.train import EarlyStopping, Trainer, accuracy, fit, load_checkpoint


class Batches:
    """(x, y) batches of an in-memory dataset, reshuffled each epoch with tinytorch's generator."""

    def __init__(self, x, y, batch_size, shuffle=False):
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self):
        n = len(self.x)
        order = tt.randperm(n).numpy() if self.shuffle else np.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield tt.tensor(self.x[idx]), tt.tensor(self.y[idx])


def blobs(n=64, seed=0):
    """Two Gaussian blobs in 2-D, labels 0/1 (int64)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.standard_normal((n, 2)).astype(np.float32) + 2.5 * (2 * y[:, None] - 1)
    return x.astype(np.float32), y.astype(np.int64)


def mlp(seed=0, dropout=0.0):
    tt.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 2))


def params_of(model):
    return [p.detach().numpy().copy() for p in model.parameters()]


def test_fit_learns_a_separable_problem_and_records_history():
    x, y = blobs(128)
    model = mlp()
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.05),
                  Batches(x, y, 32, shuffle=True), epochs=8, val_loader=Batches(x, y, 64),
                  metrics=["accuracy"], progress=False)
    assert [h["epoch"] for h in history] == list(range(1, 9))
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
            "samples_per_s"} <= set(history[-1])
    assert history[-1]["val_accuracy"] >= 0.98
    assert history[-1]["val_loss"] < 0.5 * history[0]["val_loss"]


def test_evaluate_averages_loss_and_accuracy_over_the_whole_loader_without_grad():
    x, y = blobs(50)
    model = mlp()
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters()),
                      metrics={"accuracy": accuracy}, progress=False)
    result = trainer.evaluate(Batches(x, y, 16))  # batches of 16, 16, 16, 2
    with tt.no_grad():
        logits = model(tt.tensor(x))
    logp = logits.numpy() - np.log(np.exp(logits.numpy()).sum(1, keepdims=True))
    assert result["loss"] == pytest.approx(-logp[np.arange(50), y].mean(), rel=1e-5)
    assert result["accuracy"] == pytest.approx((logits.numpy().argmax(1) == y).mean())
    assert model.training and all(p.grad is None for p in model.parameters())


def test_early_stopping_fires_after_patience_epochs_without_improvement():
    x, y = blobs(32)
    model = mlp()
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.0),
                  Batches(x, y, 16), epochs=10, val_loader=Batches(x, y, 32),
                  early_stopping=stopper, progress=False)
    assert len(history) == 3  # epoch 1 sets the best, epochs 2 and 3 fail to beat it
    assert stopper.stopped and stopper.best == history[0]["val_loss"]


@pytest.mark.parametrize("mode,values,stops_after", [
    ("min", [1.0, 0.9, 0.95, 0.91, 0.92], 4),
    ("max", [0.5, 0.6, 0.6, 0.7, 0.69, 0.68], 6),
    ("min", [1.0, 0.99, 0.985, 0.98], 3),  # min_delta 0.02: 0.99 and 0.985 are no gain
])
def test_early_stopping_counts_epochs_since_the_best_value(mode, values, stops_after):
    stopper = EarlyStopping(monitor="m", patience=2, mode=mode,
                            min_delta=0.02 if stops_after == 3 else 0.0)
    fired = [stopper.update(v) for v in values]
    assert fired.index(True) + 1 == stops_after


def test_early_stopping_rejects_bad_settings_and_unknown_monitors():
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        EarlyStopping(mode="up")
    x, y = blobs(16)
    model = mlp()
    with pytest.raises(KeyError, match="monitors 'val_loss'.*pass val_loader"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters()), Batches(x, y, 8), 2,
            early_stopping=EarlyStopping(), progress=False)


@pytest.mark.parametrize("n,small,accumulate", [(64, 8, 4), (40, 8, 2)])
def test_gradient_accumulation_matches_one_large_batch(n, small, accumulate):
    x, y = blobs(n)
    runs = []
    for batch, acc in [(small, accumulate), (small * accumulate, 1)]:
        model = mlp(seed=3)
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5, momentum=0.9),
            Batches(x, y, batch), epochs=3, accumulate=acc, progress=False)
        runs.append(params_of(model))
    for a, b in zip(*runs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class CountingSGD(optim.SGD):
    steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


def test_gradient_accumulation_without_len_applies_the_last_partial_group():
    x, y = blobs(24)
    model = mlp()
    before = params_of(model)
    opt = CountingSGD(model.parameters(), lr=0.1)
    unsized = (batch for batch in Batches(x, y, 8))  # 3 batches, groups of 2 and 1
    Trainer(model, nn.CrossEntropyLoss(), opt, accumulate=2, progress=False).train_epoch(unsized)
    assert opt.steps == 2 and all(p.grad is None for p in model.parameters())
    assert any(not np.array_equal(a, b) for a, b in zip(before, params_of(model)))


def test_grad_clip_bounds_the_gradient_norm_of_each_step():
    x, y = blobs(16)
    y = (y * 1000).astype(np.float32)[:, None]
    model = nn.Sequential(nn.Linear(2, 1))
    before = params_of(model)
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=1.0), Batches(x, y, 16), 1,
        grad_clip=0.5, progress=False)
    change = np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(params_of(model), before)))
    assert change == pytest.approx(0.5, rel=1e-4)


def test_per_step_scheduler_is_stepped_once_per_optimizer_step():
    x, y = blobs(64)
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=3 * 4)  # 8 batches / 2
    fit(model, nn.CrossEntropyLoss(), opt, Batches(x, y, 8), epochs=3, scheduler=sched,
        accumulate=2, scheduler_interval="step", progress=False)
    assert sched.last_epoch == 12


def test_progress_bar_shows_loss_and_throughput(capsys, monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.delenv("TINYTORCH_PROGRESS", raising=False)
    x, y = blobs(32)
    model = mlp()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters()), Batches(x, y, 8), 1,
        progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "train_loss=" in err and "samples_per_s=" in err


# ---------------------------------------------------------------- checkpoints
def make_run(seed):
    """Model with dropout, Adam, a StepLR schedule and early stopping: every piece of state a
    checkpoint must carry."""
    model = mlp(seed=seed, dropout=0.2)
    opt = optim.Adam(model.parameters(), lr=0.02)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    stopper = EarlyStopping(monitor="val_loss", patience=50)
    return model, opt, sched, stopper


def run_fit(run, epochs, path=None, resume=False):
    x, y = blobs(96, seed=1)
    model, opt, sched, stopper = run
    return fit(model, nn.CrossEntropyLoss(), opt, Batches(x, y, 16, shuffle=True), epochs,
               val_loader=Batches(x, y, 48), scheduler=sched, metrics=["accuracy"],
               early_stopping=stopper, checkpoint=path, resume=resume, progress=False)


def test_resume_from_checkpoint_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    tt.manual_seed(123)
    whole = make_run(seed=0)
    full_history = run_fit(whole, 6)

    tt.manual_seed(123)
    first = make_run(seed=0)
    run_fit(first, 3, path=tmp_path / "run.tt")
    tt.manual_seed(999)  # the resumed process starts from a different random state
    second = make_run(seed=7)  # ... and from different weights
    resumed_history = run_fit(second, 6, path=tmp_path / "run.tt", resume=True)

    for a, b in zip(params_of(whole[0]), params_of(second[0])):
        np.testing.assert_array_equal(a, b)
    untimed = [{k: v for k, v in h.items() if k != "samples_per_s"} for h in full_history]
    assert [{k: v for k, v in h.items() if k != "samples_per_s"} for h in resumed_history] \
        == untimed
    assert second[2].get_last_lr() == whole[2].get_last_lr()
    assert second[3].best == whole[3].best


def test_checkpoint_holds_the_run_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "ckpt.tt"
    run = make_run(seed=0)
    run_fit(run, 2, path=path)
    assert os.listdir(tmp_path) == ["ckpt.tt"]
    model, opt, sched, stopper = make_run(seed=5)
    state = load_checkpoint(path, model, opt, sched, stopper)
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert sched.last_epoch == 2
    assert stopper.best == min(h["val_loss"] for h in state["history"])
    for a, b in zip(params_of(run[0]), params_of(model)):
        np.testing.assert_array_equal(a, b)


def test_resume_true_without_a_checkpoint_file_starts_fresh(tmp_path):
    run = make_run(seed=0)
    history = run_fit(run, 2, path=tmp_path / "missing.tt", resume=True)
    assert [h["epoch"] for h in history] == [1, 2]


def test_loading_a_checkpoint_into_a_different_setup_is_refused(tmp_path):
    path = tmp_path / "ckpt.tt"
    run_fit(make_run(seed=0), 1, path=path)
    model, opt, _, _ = make_run(seed=0)
    with pytest.raises(ValueError, match="has scheduler state, but a scheduler was not given"):
        load_checkpoint(path, model, opt)
    tt.save({"weights": tt.ones(2)}, tmp_path / "other.tt")
    with pytest.raises(RuntimeError, match="other.tt is not a training checkpoint"):
        load_checkpoint(tmp_path / "other.tt", model, opt)


# ---------------------------------------------------------------- metrics
def test_accuracy_reads_class_scores_logits_and_thresholded_probabilities():
    scores = tt.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0], [0.0, 0.0, 5.0], [1.0, 0.0, 0.0]])
    assert accuracy(scores, tt.tensor([1, 0, 2, 2])) == 0.75
    assert accuracy(scores, tt.tensor(np.eye(3, dtype=np.float32)[[1, 0, 0, 0]])) == 0.75
    probs, labels = tt.tensor([0.2, 0.7, 0.6]), tt.tensor([0.0, 1.0, 0.0])
    assert accuracy(probs, labels, threshold=0.5) == pytest.approx(2 / 3)
    assert accuracy(probs, labels) == pytest.approx(1 / 3)  # read as logits: all positive
    assert accuracy(tt.tensor([[-3.0], [2.5]]), tt.tensor([[0.0], [1.0]])) == 1.0
    with pytest.raises(ValueError, match=r"output of shape \(4, 3\) gives 4 predictions"):
        accuracy(scores, tt.tensor([1, 0]))
