"""``tinytorch.nn.functional`` (imported as ``F``): the stateless side of ``tinytorch.nn``.

Every layer's computation is a function here, with PyTorch's name, argument order and
defaults; the modules in ``tinytorch.nn`` only hold parameters and configuration and call
these. Files: ``activation.py``, ``linear.py``, ``dropout.py``, ``normalization.py``,
``loss.py`` (elementwise losses), ``cross_entropy.py`` (class-index losses). ``one_hot`` and
``pad`` are core's ops, re-exported at PyTorch's path.

The Architecture tier's functions (``conv2d``, ``max_pool2d``, ``scaled_dot_product_attention``
...) are reachable here too when tinytorch-arch is installed, through a lazy lookup by name.
"""

from __future__ import annotations

from typing import Any

from tinytorch.core.ops.compare import one_hot
from tinytorch.core.ops.shape import pad
from tinytorch.nn._lazy import from_arch
from tinytorch.nn.functional.activation import (
    gelu,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    silu,
    softmax,
    tanh,
)
from tinytorch.nn.functional.cross_entropy import cross_entropy, nll_loss
from tinytorch.nn.functional.dropout import dropout
from tinytorch.nn.functional.linear import linear
from tinytorch.nn.functional.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    huber_loss,
    l1_loss,
    mse_loss,
)
from tinytorch.nn.functional.normalization import layer_norm, rms_norm

__all__ = [
    "linear", "dropout",
    "relu", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax",
    "layer_norm", "rms_norm",
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "huber_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "one_hot", "pad",
]

ARCH_FUNCTIONS = (
    "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "dropout2d",
    "embedding", "scaled_dot_product_attention",
)


def __getattr__(name: str) -> Any:
    if name in ARCH_FUNCTIONS:
        return from_arch(__name__, "tinytorch.arch.functional", name)
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(ARCH_FUNCTIONS))
