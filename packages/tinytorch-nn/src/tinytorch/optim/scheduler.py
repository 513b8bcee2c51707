"""``LRScheduler``: the base of every learning-rate scheduler (``tinytorch.optim.lr_scheduler``).

It owns the bookkeeping PyTorch's schedulers share: ``last_epoch`` (the index of the epoch the
current ``lr`` belongs to, -1 before the first step), each group's ``initial_lr`` (the
``base_lrs``), writing new values into the optimizer's groups, ``get_last_lr()`` and the state
dict. A subclass only says what the next learning rates are (``get_lr``), and optionally how to
jump straight to an epoch (``_closed_form_lr``).
"""

from __future__ import annotations

import warnings
from typing import Any

from tinytorch.optim.optimizer import Optimizer


class LRScheduler:
    """Base class. ``last_epoch=-1`` starts a schedule; another value resumes one, which needs
    ``initial_lr`` in every group (load the optimizer's state dict first)."""

    _is_initial: bool = False  # True only during the step a scheduler takes when it is built

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(
                    f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                    f"a scheduler with last_epoch={last_epoch}; load the optimizer's state dict "
                    "(which holds it) before building the scheduler"
                )
        self.base_lrs: list[float] = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """Take step 0 (or, when resuming, re-apply the current epoch's rates)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rate of each group for epoch ``last_epoch`` (called by ``step``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_lr()")

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set, one per parameter group."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch and write the new rates into the optimizer's groups.

        ``epoch`` (deprecated, as in PyTorch) jumps to that epoch using the closed form.
        """
        if self._step_count == 1:     # the first call after the one in __init__
            self._check_order()
        self._step_count += 1
        if epoch is not None:
            warnings.warn(
                "The epoch parameter in `scheduler.step()` is deprecated; call "
                "`scheduler.step()` without it.", UserWarning, stacklevel=2,
            )
        self._update_lr(epoch)

    def _check_order(self) -> None:
        """Warn when ``scheduler.step()`` comes before any ``optimizer.step()``, as PyTorch does:
        the schedule's first rate would then never be used. (An optimizer whose class replaces
        ``step`` cannot be checked and is trusted.)"""
        own_step = type(self.optimizer).step is Optimizer.step
        if own_step and not getattr(self.optimizer, "_opt_called", False):
            warnings.warn(
                "Detected a call of `lr_scheduler.step()` before `optimizer.step()`. Call "
                "`optimizer.step()` first in each epoch (or step); in this order the first "
                "value of the learning-rate schedule is skipped.", UserWarning, stacklevel=3,
            )

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form = getattr(self, "_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def _current_lrs(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer (numbers and small lists)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)
