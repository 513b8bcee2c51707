"""``SGD``: stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

The update, with ``g`` the gradient (negated when ``maximize``) plus ``weight_decay·p``::

    b ← g                                   on the first step (momentum > 0)
    b ← momentum·b + (1 − dampening)·g      afterwards
    d ← g + momentum·b   (nesterov)   |   b   (momentum > 0)   |   g   (no momentum)
    p ← p − lr·d

Systems view, per parameter of n elements: state is one buffer ``momentum_buffer`` of n
floats when momentum > 0, none otherwise. A plain step is 2 passes over n (2n FLOPs); momentum
adds 2–3 passes, Nesterov 2 more, weight decay 2, maximize 1 — all in place with ``out=``, using
the optimizer's shared scratch buffer rather than new arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.optim.optimizer import Optimizer, ParamsT, check_non_negative, grad_for_update


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        check_non_negative(lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        weight_decay, nesterov = group["weight_decay"], group["nesterov"]
        maximize = group["maximize"]
        for p in group["params"]:
            if p.grad is None:
                continue
            x = p.array
            tmp = self._scratch(x, 0)
            d = grad_for_update(x, p.grad.array, weight_decay, maximize, tmp)
            if momentum:
                state = self.state[p]
                buf_t = state.get("momentum_buffer")
                if buf_t is None:
                    buf = np.array(d, dtype=x.dtype, copy=True)
                    state["momentum_buffer"] = Tensor._wrap(buf)
                else:
                    buf = buf_t.array
                    np.multiply(buf, momentum, out=buf)
                    if dampening:
                        d = np.multiply(d, 1 - dampening, out=tmp)
                    np.add(buf, d, out=buf)
                if nesterov:
                    acc = self._scratch(x, 1)
                    np.multiply(buf, momentum, out=acc)
                    d = np.add(acc, d, out=acc)
                else:
                    d = buf
            np.multiply(d, lr, out=tmp)
            np.subtract(x, tmp, out=x)
            p._increment_version()   # backward of a graph that saved p now raises
