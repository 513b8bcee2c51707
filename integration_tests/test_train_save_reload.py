"""End to end across tiers: train an MLP with ``fit`` on a ``DataLoader``, save its state dict,
reload it into a fresh model and get the same predictions; resume a run from a checkpoint and
land on the same weights as an uninterrupted one."""

from __future__ import annotations

import numpy as np

import tinytorch as tt
from tinytorch import nn, optim
from tinytorch.data import DataLoader, TensorDataset
from tinytorch.optim import lr_scheduler
from tinytorch.train import fit


def spirals(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three interleaved 2-D spirals: not linearly separable, easy for a small MLP."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for k in range(3):
        r = np.linspace(0.1, 1.0, n_per_class)
        theta = np.linspace(k * 2 * np.pi / 3, k * 2 * np.pi / 3 + 3.0, n_per_class)
        theta = theta + rng.normal(0, 0.1, n_per_class)
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        ys.append(np.full(n_per_class, k))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 64),
                         nn.GELU(), nn.Linear(64, 3))


def loaders() -> tuple[DataLoader, DataLoader, np.ndarray]:
    """Shuffled training batches and validation batches of the spirals; also all inputs."""
    x, y = spirals(100, seed=0)
    perm = np.random.default_rng(1).permutation(len(x))
    x, y = x[perm], y[perm]
    train = TensorDataset(tt.tensor(x[:240]), tt.tensor(y[:240]))
    val = TensorDataset(tt.tensor(x[240:]), tt.tensor(y[240:]))
    return DataLoader(train, batch_size=32, shuffle=True), DataLoader(val, batch_size=60), x


def train_run(epochs: int, **kwargs) -> tuple[nn.Module, list[dict[str, float]]]:
    train, val, _ = loaders()
    model = make_model()
    opt = optim.AdamW(model.parameters(), lr=0.01)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=60)
    history = fit(model, nn.CrossEntropyLoss(), opt, train, epochs, val_loader=val,
                  scheduler=sched, metrics=["accuracy"], progress=False, **kwargs)
    return model, history


def test_fit_save_reload_gives_identical_predictions(tmp_path):
    tt.manual_seed(0)
    model, history = train_run(60)
    assert history[-1]["val_accuracy"] >= 0.9
    x = loaders()[2]

    path = tmp_path / "mlp.tt"
    tt.save(model.state_dict(), path)
    tt.manual_seed(42)
    fresh = make_model()
    result = fresh.load_state_dict(tt.load(path))
    assert not result.missing_keys and not result.unexpected_keys

    model.eval()
    fresh.eval()
    with tt.no_grad():
        inputs = tt.tensor(x)
        np.testing.assert_array_equal(fresh(inputs).numpy(), model(inputs).numpy())


def test_run_resumed_from_a_checkpoint_matches_an_uninterrupted_one(tmp_path):
    tt.manual_seed(0)
    whole, _ = train_run(8)
    tt.manual_seed(0)
    train_run(5, checkpoint=tmp_path / "run.tt")
    tt.manual_seed(7)  # a new process: other random state, other initial weights
    resumed, history = train_run(8, checkpoint=tmp_path / "run.tt", resume=True)
    assert [h["epoch"] for h in history] == list(range(1, 9))
    for a, b in zip(whole.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
