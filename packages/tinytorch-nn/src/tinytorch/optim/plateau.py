"""``ReduceLROnPlateau``: cut the learning rate when a watched metric stops improving.

Unlike the other schedulers it is driven by a number, not by the epoch count: each
``step(metric)`` compares the metric with the best value seen so far. An epoch counts as an
improvement only when it beats the best by more than ``threshold`` (relative,
``best·(1 ∓ threshold)``, or absolute, ``best ∓ threshold``), so noise around a flat loss does
not reset the count. After more than ``patience`` epochs without improvement every group's
rate is multiplied by ``factor`` (never below its ``min_lr``, and not at all when the change
would be ``eps`` or less), then ``cooldown`` epochs pass in which bad epochs are not counted.

Systems view: a step costs a comparison and a few float operations per parameter group; the
state is a handful of numbers (``best``, ``num_bad_epochs``, ``cooldown_counter``, ...), all
kept in ``state_dict()``, so a resumed run decides exactly as the interrupted one would have.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, SupportsFloat

from tinytorch.optim.optimizer import Optimizer
from tinytorch.optim.scheduler import LRScheduler

_MODES = ("min", "max")
_THRESHOLD_MODES = ("rel", "abs")


class ReduceLROnPlateau(LRScheduler):
    """Multiply each group's ``lr`` by ``factor`` once the metric given to ``step`` has not
    improved for more than ``patience`` epochs, as ``torch.optim.lr_scheduler.ReduceLROnPlateau``.

    ``mode='min'`` watches a loss (lower is better), ``mode='max'`` an accuracy. ``min_lr`` is
    one floor for every group or a list with one per group.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        if factor >= 1.0:
            raise ValueError(f"Factor should be < 1.0, got factor={factor}.")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.factor = factor
        self.optimizer = optimizer
        n_groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n_groups:
                raise ValueError(f"expected {n_groups} min_lrs, got {len(min_lr)}")
            self.default_min_lr: float | None = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * n_groups
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self._set_comparison(mode, threshold, threshold_mode)
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _set_comparison(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode {mode} is unknown! Expected one of {_MODES}")
        if threshold_mode not in _THRESHOLD_MODES:
            raise ValueError(f"threshold mode {threshold_mode} is unknown! Expected one of "
                             f"{_THRESHOLD_MODES}")
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, a: float, best: float) -> bool:
        """Whether ``a`` beats ``best`` by more than the threshold."""
        if self.mode == "min":
            bar = best * (1.0 - self.threshold) if self.threshold_mode == "rel" \
                else best - self.threshold
            return a < bar
        bar = best * (1.0 + self.threshold) if self.threshold_mode == "rel" \
            else best + self.threshold
        return a > bar

    def step(self, metrics: SupportsFloat, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record one epoch's metric and reduce the rates if it has plateaued."""
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn("The epoch parameter in `scheduler.step()` is deprecated; call "
                          "`scheduler.step(metrics)` without it.", UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0          # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"The optimizer has {len(groups)} param groups but ReduceLROnPlateau was "
                    f"built with {len(self.min_lrs)} min_lrs (a group was added since?); set "
                    "`scheduler.min_lrs` to one value per group."
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, floor in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, floor)
            if old - new > self.eps:
                group["lr"] = new

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)
        self._set_comparison(self.mode, self.threshold, self.threshold_mode)
