"""``tinytorch.nn``: modules, layers, activations, losses, initialisation and utilities.

Everything here has PyTorch's name, arguments and semantics: ``Module``, ``Parameter``,
containers, ``Linear``, ``Dropout``, ``LayerNorm``, ``RMSNorm``, activations and losses, plus
the sub-modules ``functional`` (``F``), ``init`` and ``utils``. Each layer's file starts with
its systems view (parameters, FLOPs, activation memory).

The Architecture tier's layers (``Conv2d``, ``BatchNorm2d``, ``MultiheadAttention``, ...) are
reachable here at PyTorch's paths when tinytorch-arch is installed: the module-level
``__getattr__`` looks them up by name at first use, so this tier never imports a higher one.
"""

from __future__ import annotations

from typing import Any

from tinytorch.core import tiers
from tinytorch.nn import functional, init, utils
from tinytorch.nn._lazy import from_tier
from tinytorch.nn.activation import (
    ELU,
    GELU,
    Hardtanh,
    LeakyReLU,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from tinytorch.nn.container import (
    ModuleDict,
    ModuleList,
    ParameterDict,
    ParameterList,
    Sequential,
)
from tinytorch.nn.dropout import Dropout
from tinytorch.nn.flatten import Flatten, Unflatten
from tinytorch.nn.linear import Identity, Linear
from tinytorch.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from tinytorch.nn.module import Module
from tinytorch.nn.normalization import LayerNorm, RMSNorm
from tinytorch.nn.parameter import Parameter

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "ParameterList",
    "ParameterDict", "Identity", "Flatten", "Unflatten", "Linear", "Dropout", "LayerNorm",
    "RMSNorm",
    "ReLU", "LeakyReLU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "ELU", "Softplus", "Hardtanh", "Mish", "PReLU",
    "MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "KLDivLoss", "CrossEntropyLoss",
    "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
    "functional", "init", "utils",
]

# names another tier adds here, from the tier table: name -> (defining module, distribution)
ARCH_LAYERS = tiers.lazy_names("tinytorch.nn")


def __getattr__(name: str) -> Any:
    if name in ARCH_LAYERS:
        return from_tier(__name__, name, *ARCH_LAYERS[name])
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(ARCH_LAYERS))
