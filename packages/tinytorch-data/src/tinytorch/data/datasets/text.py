"""Text datasets for next-token prediction: ``TextFile`` (any UTF-8 file) and ``TinyShakespeare``.

The text is encoded once into an int64 token array (8 bytes per token: TinyShakespeare's
1.1 M characters take 8.9 MB); the first ``train_fraction`` of the tokens is the training
split and the rest the validation split, as in nanoGPT. Sample ``i`` is the pair
``(x, y) = (tokens[i : i+T], tokens[i+1 : i+T+1])`` for block size T, so there are
``len(tokens) - T`` samples. ``get_batch`` gathers B windows with one fancy index over a
strided window view (``B * (T + 1) * 8`` bytes copied), no per-sample Python.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.data.dataset import Dataset
from tinytorch.data.download import Resource, fetch
from tinytorch.data.tokenizers.base import Tokenizer
from tinytorch.data.tokenizers.char import CharTokenizer

SHAKESPEARE = Resource(
    "tinyshakespeare", "input.txt",
    ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",),
    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", 1_115_394,
)


class TextFile(Dataset[tuple[Tensor, Tensor]]):
    """Blocks of ``block_size`` tokens from a text file and their one-step-shifted targets.

    ``tokenizer`` defaults to a ``CharTokenizer`` trained on the whole file, so the training
    and validation splits share one vocabulary. ``dataset.tokens`` holds the split's ids.
    """

    batchable = True

    def __init__(self, path: str | os.PathLike[str], block_size: int = 256, train: bool = True,
                 tokenizer: Tokenizer | None = None, train_fraction: float = 0.9,
                 encoding: str = "utf-8") -> None:
        if block_size < 1:
            raise ValueError(f"block_size must be positive, got {block_size}")
        if not 0 < train_fraction < 1:
            raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
        self.path = Path(path)
        try:
            self.text = self.path.read_text(encoding=encoding)
        except UnicodeDecodeError as e:
            raise ValueError(f"{self.path}: not valid {encoding} text ({e})") from e
        self.tokenizer = tokenizer if tokenizer is not None else CharTokenizer().train(self.text)
        ids = np.asarray(self.tokenizer.encode(self.text), dtype=np.int64)
        cut = int(len(ids) * train_fraction)
        split = ids[:cut] if train else ids[cut:]
        if len(split) <= block_size:
            raise ValueError(f"{self.path}: the {'train' if train else 'validation'} split has "
                             f"{len(split)} tokens, fewer than block_size + 1 = {block_size + 1}")
        self.train = train
        self.block_size = block_size
        self.tokens = Tensor._wrap(split)
        self._windows = np.lib.stride_tricks.sliding_window_view(split, block_size + 1)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def __len__(self) -> int:
        return len(self._windows)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        w = self._windows[index]
        return Tensor._wrap(w[:-1].copy()), Tensor._wrap(w[1:].copy())

    def get_batch(self, indices: np.ndarray) -> list[Tensor]:
        """``[x, y]``, each (B, block_size) int64, for the windows starting at ``indices``."""
        w = self._windows[indices]  # (B, T + 1), one gather
        return [Tensor._wrap(np.ascontiguousarray(w[:, :-1])),
                Tensor._wrap(np.ascontiguousarray(w[:, 1:]))]


class TinyShakespeare(TextFile):
    """Karpathy's 1.1 MB of Shakespeare (char-rnn), under ``<root>/tinyshakespeare/input.txt``.

    ``TinyShakespeare(root=None, train=True, block_size=256, tokenizer=None, download=False)``.
    """

    folder = "tinyshakespeare"
    title = "1.1 million characters of Shakespeare's plays (char-rnn)"
    resources = {SHAKESPEARE.filename: SHAKESPEARE}

    def __init__(self, root: str | os.PathLike[str] | None = None, train: bool = True,
                 block_size: int = 256, tokenizer: Tokenizer | None = None,
                 download: bool = False) -> None:
        self.root = root
        path = fetch(self.resources[SHAKESPEARE.filename], root, download)
        super().__init__(path, block_size, train, tokenizer)
