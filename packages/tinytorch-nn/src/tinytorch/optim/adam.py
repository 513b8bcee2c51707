"""``Adam``: adaptive moment estimation (Kingma & Ba, 2015), with AMSGrad and weight decay.

The update at step t, with ``g`` the gradient (negated when ``maximize``)::

    p ← p·(1 − lr·wd)                        decoupled weight decay (AdamW), else g ← g + wd·p
    m ← m + (1 − β1)·(g − m)                 first moment  (= β1·m + (1 − β1)·g)
    v ← β2·v + (1 − β2)·g²                   second moment
    v̂ ← max(v̂, v)                            AMSGrad only; v̂ replaces v below
    p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)

Systems view, per parameter of n elements: state is ``exp_avg`` and ``exp_avg_sq`` (2n floats;
3n with AMSGrad) plus a scalar ``step``. A step is 12 passes over n (about 12n FLOPs and one
square root per element): 3 for m, 4 for v, 5 for the update, whose bias corrections are folded
into two scalars computed once per parameter in Python floats (float64); AMSGrad adds 1 pass,
weight decay 2 (L2) or 1 (decoupled). For float32 that is about 12 × 4 × 3 bytes of memory
traffic per element. Temporaries live in the optimizer's two shared scratch buffers, so a step
allocates nothing after the first.
"""

from __future__ import annotations

import math
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


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (``decoupled_weight_decay=True`` makes it AdamW)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_non_negative(lr=lr, eps=eps)
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        check_non_negative(weight_decay=weight_decay)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, amsgrad, maximize = group["weight_decay"], group["amsgrad"], group["maximize"]
        decoupled = group["decoupled_weight_decay"]
        for p in group["params"]:
            if p.grad is None:
                continue
            x = p.array
            state = self.state[p]
            if not state:
                state["step"] = new_step_counter()
                state["exp_avg"] = Tensor._wrap(np.zeros_like(x))
                state["exp_avg_sq"] = Tensor._wrap(np.zeros_like(x))
                if amsgrad:
                    state["max_exp_avg_sq"] = Tensor._wrap(np.zeros_like(x))
            step = increment(state["step"])
            m, v = state["exp_avg"].array, state["exp_avg_sq"].array
            tmp = self._scratch(x, 1)

            if weight_decay and decoupled:
                np.multiply(x, 1 - lr * weight_decay, out=x)
            g = grad_for_update(x, p.grad.array, 0 if decoupled else weight_decay, maximize,
                                self._scratch(x, 0))
            # m ← m + (1 − β1)(g − m): x, g, m: (n,) -> m updated in place
            np.subtract(g, m, out=tmp)
            np.multiply(tmp, 1 - beta1, out=tmp)
            np.add(m, tmp, out=m)
            # v ← β2·v + (1 − β2)·g²
            np.multiply(v, beta2, out=v)
            np.multiply(g, g, out=tmp)
            np.multiply(tmp, 1 - beta2, out=tmp)
            np.add(v, tmp, out=v)
            if amsgrad:
                v_max = state["max_exp_avg_sq"].array
                v = np.maximum(v_max, v, out=v_max)
            # p ← p − lr/(1 − β1ᵗ) · m / (√v/√(1 − β2ᵗ) + ε), with √(1 − β2ᵗ) moved into the
            # scalars: p ← p − (lr·√(1 − β2ᵗ)/(1 − β1ᵗ)) · m / (√v + ε·√(1 − β2ᵗ))
            root_bc2 = math.sqrt(1 - beta2**step)
            np.sqrt(v, out=tmp)
            np.add(tmp, eps * root_bc2, out=tmp)
            np.divide(m, tmp, out=tmp)
            np.multiply(tmp, lr * root_bc2 / (1 - beta1**step), out=tmp)
            np.subtract(x, tmp, out=x)
            p._increment_version()   # backward of a graph that saved p now raises
