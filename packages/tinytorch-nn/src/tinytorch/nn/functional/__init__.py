"""``tinytorch.nn.functional`` (imported as ``F``): the stateless side of ``tinytorch.nn``.

Every layer's computation is a function here, with PyTorch's name, argument order and
defaults; the modules in ``tinytorch.nn`` only hold parameters and configuration and call
these. Files: ``activation.py``, ``linear.py``, ``dropout.py``, ``normalization.py``,
``loss.py`` (elementwise losses), ``cross_entropy.py`` (class-index losses). ``one_hot`` and
``pad`` are core's ops, re-exported at PyTorch's path.

GELU, SiLU, LayerNorm, RMSNorm and cross-entropy are written here in their plain textbook
form (the *references*); by default they run a fast kernel from ``tinytorch.nn._kernels``
that computes the same thing, and ``tinytorch.use_reference_kernels(True)`` runs the
references instead.

The Architecture tier's functions (``conv2d``, ``max_pool2d``, ``scaled_dot_product_attention``
...) are reachable here too when tinytorch-arch is installed, through a lazy lookup by name.
"""

from __future__ import annotations

from typing import Any

from tinytorch.core import tiers
from tinytorch.core.ops.compare import one_hot
from tinytorch.core.ops.shape import pad
from tinytorch.nn._lazy import from_tier
from tinytorch.nn.functional.activation import (
    elu,
    gelu,
    hardtanh,
    leaky_relu,
    log_softmax,
    mish,
    prelu,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from tinytorch.nn.functional.cross_entropy import cross_entropy, nll_loss
from tinytorch.nn.functional.dropout import dropout
from tinytorch.nn.functional.linear import linear
from tinytorch.nn.functional.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    smooth_l1_loss,
)
from tinytorch.nn.functional.normalization import layer_norm, rms_norm

__all__ = [
    "linear", "dropout",
    "relu", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax",
    "elu", "softplus", "hardtanh", "mish", "prelu",
    "layer_norm", "rms_norm",
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "huber_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "smooth_l1_loss", "kl_div",
    "one_hot", "pad",
]

# names another tier adds here, from the tier table: name -> (defining module, distribution)
ARCH_FUNCTIONS = tiers.lazy_names("tinytorch.nn.functional")


def __getattr__(name: str) -> Any:
    if name in ARCH_FUNCTIONS:
        return from_tier(__name__, name, *ARCH_FUNCTIONS[name])
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(ARCH_FUNCTIONS))
