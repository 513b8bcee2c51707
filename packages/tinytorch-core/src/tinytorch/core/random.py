"""Random number generation: one global ``numpy.random.Generator`` seeded by ``manual_seed``.

Every random op in every tier (``rand``, ``randn``, init, dropout, shuffling) draws from
``generator()``, so ``manual_seed(s)`` makes a whole run reproducible. ``get_rng_state`` and
``set_rng_state`` capture and restore it exactly (checkpoints use them to resume bit-for-bit).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _fresh_seed() -> int:
    """A seed from the operating system's entropy pool, in int64's range."""
    entropy = np.random.SeedSequence().entropy
    assert isinstance(entropy, int)
    return entropy % (2**63)


class Generator:
    """A seedable random stream, PyTorch's ``torch.Generator`` on top of NumPy's PCG64."""

    def __init__(self, device: str = "cpu") -> None:
        self._seed = _fresh_seed()
        self.rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self.rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict[str, Any]:
        return dict(self.rng.bit_generator.state)

    def set_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state


default_generator = Generator()


def generator(gen: Generator | None = None) -> np.random.Generator:
    """The NumPy generator to draw from: ``gen``'s when given, else the global one."""
    return (gen or default_generator).rng


def manual_seed(seed: int) -> Generator:
    """Seed the global generator; returns it, like ``torch.manual_seed``."""
    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed expected an int, got {type(seed).__name__}")
    return default_generator.manual_seed(int(seed))


def seed() -> int:
    """Re-seed the global generator from the OS entropy pool and return the seed."""
    s = _fresh_seed()
    default_generator.manual_seed(s)
    return s


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> dict[str, Any]:
    """A picklable-free copy of the global generator's state (a plain dict)."""
    return default_generator.get_state()


def set_rng_state(state: dict[str, Any]) -> None:
    default_generator.set_state(state)
