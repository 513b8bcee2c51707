"""``Adagrad``: per-element learning rates that shrink with the sum of squared gradients
(Duchi, Hazan & Singer, 2011).

The update at step t, with ``g`` the gradient (negated when ``maximize``) plus
``weight_decay·p``::

    lr_t ← lr / (1 + (t − 1)·lr_decay)
    S ← S + g²                               sum, starting at initial_accumulator_value
    p ← p − lr_t · g / (√S + ε)

Systems view, per parameter of n elements: state is ``sum`` (n floats) and a scalar ``step``,
created with the optimizer (as in PyTorch), so a state dict taken before the first step already
holds them. A step is 7 passes over n (one square root per element); weight decay adds 2,
maximize 1. Temporaries come from the optimizer's shared scratch buffers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_non_negative,
    grad_for_update,
    increment,
    new_step_counter,
)


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        check_non_negative(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                           initial_accumulator_value=initial_accumulator_value, eps=eps)
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value,
                    "maximize": maximize}
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group and create its state (``step`` and ``sum``) right away."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            self.state[p]["step"] = new_step_counter()
            self.state[p]["sum"] = Tensor._wrap(
                np.full_like(p.array, group["initial_accumulator_value"]))

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        for p in group["params"]:
            if p.grad is None:
                continue
            x = p.array
            state = self.state[p]
            step = increment(state["step"])
            tmp = self._scratch(x, 1)
            g = grad_for_update(x, p.grad.array, weight_decay, maximize, self._scratch(x, 0))
            # S ← S + g²;  p ← p − lr_t · g / (√S + ε): x, g, S: (n,)
            total = state["sum"].array
            np.multiply(g, g, out=tmp)
            np.add(total, tmp, out=total)
            np.sqrt(total, out=tmp)
            np.add(tmp, eps, out=tmp)
            np.divide(g, tmp, out=tmp)
            np.multiply(tmp, lr / (1 + (step - 1) * lr_decay), out=tmp)
            np.subtract(x, tmp, out=x)
            p._increment_version()   # backward of a graph that saved p now raises
