"""``Dropout``: zero activations at random while training, the identity in ``eval()``.

Systems view: no parameters. Training: ``n`` random draws, one mask of ``n`` elements kept for
backward, 2 FLOPs per element (compare, scale-multiply); evaluation costs nothing. A
regulariser: each step trains a random sub-network, so units cannot co-adapt.
"""

from __future__ import annotations

from tinytorch.core.tensor import Tensor
from tinytorch.nn.functional.dropout import _check_p, dropout
from tinytorch.nn.module import Module


class Dropout(Module):
    """Zero each element with probability ``p`` during training, scale the rest by 1/(1-p)."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        _check_p(p)
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
