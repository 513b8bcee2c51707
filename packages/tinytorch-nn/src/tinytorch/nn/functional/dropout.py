"""``dropout``: zero each element with probability ``p`` and scale the survivors by 1/(1-p).

Systems view (``n`` elements): forward draws ``n`` uniform float32 numbers from the global
generator (``tinytorch.core.random``, so ``manual_seed`` reproduces the mask), and builds the
scaled mask ``m = [u >= p] / (1 - p)`` as one array in the input's dtype; the output is
``x · m``. That mask is the only thing saved (``n`` elements), and backward is ``grad · m``.
Scaling at training time ("inverted dropout") makes evaluation the identity: no cost at all.
``dropout_mask`` draws that mask; channel dropout and attention dropout draw theirs with it too.
"""

from __future__ import annotations

import numpy as np

from tinytorch.core.function import Function
from tinytorch.core.random import generator
from tinytorch.core.tensor import Tensor
from tinytorch.nn.functional._pointwise import apply_inplace


def dropout_mask(shape: tuple[int, ...], p: float, dtype: np.dtype) -> np.ndarray:
    """The scaled keep mask of inverted dropout, shaped ``shape`` in ``dtype``.

    Each entry is ``1/(1-p)`` with probability ``1-p`` and 0 otherwise (all 0 when ``p`` is
    1). The draws come from the global generator, so ``manual_seed`` reproduces them. Every
    dropout in the framework (elementwise, channel, attention) draws its mask here.
    """
    keep = generator().random(shape, dtype=np.float32) >= p
    return np.multiply(keep, 0.0 if p >= 1.0 else 1.0 / (1.0 - p), dtype=dtype)


class Dropout(Function):
    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, p: float) -> np.ndarray:
        # x: (*) -> (*); saves the scaled mask (*)
        mask = dropout_mask(x.shape, p, x.dtype)
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        (mask,) = ctx.saved_tensors
        return grad * mask


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Randomly zero elements with probability ``p`` when ``training``; (*) -> (*)."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    if input.array.dtype.kind != "f":
        raise RuntimeError(f"dropout(): expected a floating-point input, got dtype "
                           f"{input.array.dtype}")
    if p == 1.0:
        op = lambda t: t * 0.0  # noqa: E731
    else:
        op = lambda t: Dropout.apply(t, p=float(p))  # noqa: E731
    return apply_inplace(input, op) if inplace else op(input)
