"""``AdamW``: Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

L2 regularisation in Adam adds ``wd·p`` to the gradient, where the adaptive denominator then
rescales it: parameters with large gradients are barely decayed. AdamW instead shrinks the
parameter directly, ``p ← p·(1 − lr·wd)``, before the Adam update, so every weight decays at the
same rate. Costs are Adam's (see ``adam.py``) with 1 pass over the parameter for the decay.
"""

from __future__ import annotations

from tinytorch.optim.adam import Adam
from tinytorch.optim.optimizer import ParamsT


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW`` (default weight_decay 0.01)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
