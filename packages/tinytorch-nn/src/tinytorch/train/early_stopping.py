"""``EarlyStopping``: stop training once a monitored metric stops improving.

After each epoch the loop reports the monitored value; if it has not beaten the best value by
more than ``min_delta`` for ``patience`` epochs in a row, training stops. Its whole state is the
best value, the epochs since it improved and whether it fired, saved in checkpoints so a resumed
run stops where the uninterrupted one would.
"""

from __future__ import annotations

import math
from typing import Any


class EarlyStopping:
    """Stop when ``monitor`` (a history key such as ``"val_loss"`` or ``"val_accuracy"``) has
    not improved by more than ``min_delta`` for ``patience`` epochs in a row.

    ``mode`` is ``"min"`` (lower is better, e.g. a loss) or ``"max"`` (e.g. accuracy).
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "min") -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping mode must be 'min' or 'max', got {mode!r}")
        if patience < 0 or min_delta < 0:
            raise ValueError(f"EarlyStopping needs patience >= 0 and min_delta >= 0, got "
                             f"patience={patience}, min_delta={min_delta}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.mode = mode
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_epochs = 0
        self.stopped = False

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta``."""
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float) -> bool:
        """Record one epoch's value; return True when training should stop."""
        if self.improved(value):
            self.best = value
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        self.stopped = self.bad_epochs >= self.patience
        return self.stopped

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad_epochs": self.bad_epochs, "stopped": self.stopped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]
        self.bad_epochs = state["bad_epochs"]
        self.stopped = state["stopped"]
