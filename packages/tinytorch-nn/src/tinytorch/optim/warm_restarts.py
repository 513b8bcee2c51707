"""``CosineAnnealingWarmRestarts``: cosine decay that restarts, SGDR (Loshchilov & Hutter, 2017).

Within a cycle of ``T_i`` epochs the rate follows half a cosine from ``initial_lr`` down to
``eta_min``,

    lr = eta_min + (initial_lr − eta_min) · (1 + cos(π · T_cur / T_i)) / 2,

where ``T_cur`` counts the epochs since the last restart. At ``T_cur = T_i`` the rate jumps back
to ``initial_lr`` and the next cycle is ``T_mult`` times longer: cycles of ``T_0``,
``T_0·T_mult``, ``T_0·T_mult²``, ... epochs. ``step(epoch)`` accepts fractional epochs
(``epoch + i / iters_per_epoch``), so the cosine can advance every batch: with ``T_mult > 1``
the cycle holding ``epoch`` is ``n = ⌊log_T_mult(epoch/T_0 · (T_mult − 1) + 1)⌋``, which
starts at ``T_0 · (T_mult^n − 1) / (T_mult − 1)``.

Systems view: a step is one cosine and a few float operations per parameter group; the state
is ``T_i``, ``T_cur`` and ``last_epoch``. Values come from the closed form, so nothing drifts.
"""

from __future__ import annotations

import math

from tinytorch.optim.optimizer import Optimizer
from tinytorch.optim.scheduler import LRScheduler


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing with warm restarts every ``T_0·T_mult^k`` epochs, as
    ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``."""

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        if not isinstance(eta_min, (float, int)):
            raise ValueError(
                f"Expected float or int eta_min, but got {eta_min} of type {type(eta_min)}")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur: float = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        cos = (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
        return [self.eta_min + (base - self.eta_min) * cos for base in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Advance one epoch, or jump to ``epoch`` (which may be fractional)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:                 # restart: the next cycle is longer
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise ValueError(f"Expected non-negative epoch, but got {epoch}")
            if epoch < self.T_0:
                self.T_i = self.T_0
                self.T_cur = epoch
            elif self.T_mult == 1:
                self.T_cur = epoch % self.T_0
            else:
                n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                self.T_i = self.T_0 * self.T_mult**n
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._current_lrs()
