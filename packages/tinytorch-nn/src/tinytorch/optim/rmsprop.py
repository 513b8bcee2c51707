"""``RMSprop``: divide the gradient by a running root-mean-square of recent gradients (Hinton).

The update, with ``g`` the gradient (negated when ``maximize``) plus ``weight_decay·p``::

    s ← α·s + (1 − α)·g²                     square_avg
    a ← a + (1 − α)·(g − a)                  grad_avg (centered only)
    r ← √(s − a²) + ε   (centered)   |   √s + ε
    b ← momentum·b + g / r;  p ← p − lr·b     (momentum > 0)
    p ← p − lr · g / r                        (otherwise)

Systems view, per parameter of n elements: state is ``square_avg`` (n floats), plus
``momentum_buffer`` (n) when momentum > 0 and ``grad_avg`` (n) when centered, and a scalar
``step``. A plain step is 9 passes over n (one square root per element); centered adds 5 passes,
momentum 2, weight decay 2. Temporaries come from the optimizer's shared scratch buffers.
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


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        check_non_negative(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay,
                           alpha=alpha)
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        weight_decay, centered = group["weight_decay"], group["centered"]
        maximize = group["maximize"]
        for p in group["params"]:
            if p.grad is None:
                continue
            x = p.array
            state = self.state[p]
            if not state:
                state["step"] = new_step_counter()
                state["square_avg"] = Tensor._wrap(np.zeros_like(x))
                if momentum > 0:
                    state["momentum_buffer"] = Tensor._wrap(np.zeros_like(x))
                if centered:
                    state["grad_avg"] = Tensor._wrap(np.zeros_like(x))
            increment(state["step"])
            tmp = self._scratch(x, 1)
            g = grad_for_update(x, p.grad.array, weight_decay, maximize, self._scratch(x, 0))
            # s ← α·s + (1 − α)·g²: x, g, s: (n,) -> s updated in place
            sq = state["square_avg"].array
            np.multiply(sq, alpha, out=sq)
            np.multiply(g, g, out=tmp)
            np.multiply(tmp, 1 - alpha, out=tmp)
            np.add(sq, tmp, out=sq)
            if centered:
                ga = state["grad_avg"].array
                np.subtract(g, ga, out=tmp)
                np.multiply(tmp, 1 - alpha, out=tmp)
                np.add(ga, tmp, out=ga)
                np.multiply(ga, ga, out=tmp)
                np.subtract(sq, tmp, out=tmp)
                np.sqrt(tmp, out=tmp)
            else:
                np.sqrt(sq, out=tmp)
            np.add(tmp, eps, out=tmp)
            np.divide(g, tmp, out=tmp)
            if momentum > 0:
                buf = state["momentum_buffer"].array
                np.multiply(buf, momentum, out=buf)
                np.add(buf, tmp, out=buf)
                np.multiply(buf, lr, out=tmp)
            else:
                np.multiply(tmp, lr, out=tmp)
            np.subtract(x, tmp, out=x)
            p._increment_version()   # backward of a graph that saved p now raises
