"""PyTorch code runs with ``import tinytorch as torch`` across every tier: data → CNN / GPT →
train → save → load → the same predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import tinytorch as torch
import tinytorch.nn as nn
import tinytorch.nn.functional as F
from tinytorch.utils.data import DataLoader, TensorDataset


class SmallCNN(nn.Module):
    """Written exactly as it would be for PyTorch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 8, kernel_size=3, padding="same")
        self.head = nn.Linear(8 * 4 * 4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.pool(F.relu(self.conv2(x)))
        return self.head(torch.flatten(x, 1))


def _bright_vs_dark(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose label is whether the top half is brighter than the bottom half."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 1, 16, 16)).astype(np.float32)
    y = rng.integers(0, 2, size=n)
    x[y == 1, :, :8] += 1.0
    x[y == 0, :, 8:] += 1.0
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


def test_cnn_trains_saves_and_reloads_through_pytorch_paths(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x, y = _bright_vs_dark(256)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = SmallCNN()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(3):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    assert np.mean(losses[-8:]) < 0.5 * np.mean(losses[:8])

    model.eval()
    with torch.no_grad():
        accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
        expected = model(x[:16])
    assert accuracy > 0.9

    path = tmp_path / "cnn.pt"
    torch.save(model.state_dict(), path)
    fresh = SmallCNN()
    result = fresh.load_state_dict(torch.load(path))
    assert result.missing_keys == [] and result.unexpected_keys == []
    fresh.eval()
    with torch.no_grad():
        np.testing.assert_array_equal(fresh(x[:16]).numpy(), expected.numpy())


def test_gpt_trains_saves_reloads_and_generates_the_same_text(tmp_path: Path) -> None:
    from tinytorch.arch import GPT, GPTConfig

    torch.manual_seed(0)
    text = "to be or not to be that is the question " * 20
    vocab = sorted(set(text))
    ids = torch.tensor([vocab.index(c) for c in text])
    config = GPTConfig(vocab_size=len(vocab), block_size=16, n_layer=1, n_head=2, n_embd=16,
                       dropout=0.0)
    model = GPT(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = last = 0.0
    for step in range(30):
        starts = torch.randint(0, len(text) - 17, (8,)).tolist()
        xb = torch.stack([ids[s:s + 16] for s in starts])
        yb = torch.stack([ids[s + 1:s + 17] for s in starts])
        _, loss = model(xb, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = loss.item() if step == 0 else first
        last = loss.item()
    assert last < 0.75 * first

    path = tmp_path / "gpt.pt"
    torch.save(model.state_dict(), path)
    fresh = GPT(config)
    fresh.load_state_dict(torch.load(path))
    prompt = ids[:4].reshape(1, 4)
    torch.manual_seed(1)
    a = model.generate(prompt, max_new_tokens=20, top_k=5)
    torch.manual_seed(1)
    b = fresh.generate(prompt, max_new_tokens=20, top_k=5)
    assert a.tolist() == b.tolist()
