"""TinyTorch: a machine-learning framework built from first principles on NumPy.

``import tinytorch as torch`` runs PyTorch code that stays inside the subset TinyTorch covers.
This file belongs to tinytorch-core. The other distributions (tinytorch-nn, tinytorch-data,
tinytorch-arch, ...) add sub-packages to this same ``tinytorch`` namespace; ``extend_path``
makes that work for wheels and editable installs alike. Names from higher tiers
(``tinytorch.nn``, ``tinytorch.Linear``) are looked up lazily, on first use, so importing
tinytorch never imports a tier you do not use, and a missing tier gives an ImportError that
names the distribution to install.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

__path__ = pkgutil.extend_path(__path__, __name__)

from tinytorch import autograd
from tinytorch.core import tiers
from tinytorch.core.creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from tinytorch.core.dtypes import (
    bool,
    double,
    float,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
    uint8,
)
from tinytorch.core.functional import *
from tinytorch.core.functional import __all__ as _functional_names
from tinytorch.core.grad_mode import (
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from tinytorch.core.gradcheck import gradcheck
from tinytorch.core.parallel import get_num_threads, set_num_threads
from tinytorch.core.random import (
    Generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from tinytorch.core.reference import reference_kernels_enabled, use_reference_kernels
from tinytorch.core.serialization import load, save
from tinytorch.core.tensor import Tensor

__version__ = "0.2.0"

# Higher tiers' packages and names, looked up on first use (the table is in core/tiers.py):
# attribute -> (module that defines it, distribution that ships that module)
_LAZY_MODULES = tiers.lazy_packages("tinytorch")
_LAZY_NAMES = tiers.lazy_names("tinytorch")


def _import_tier(module: str, distribution: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is not None and module.startswith(e.name):
            raise ImportError(
                f"tinytorch.{what} needs the {distribution} distribution, which is not "
                f"installed; install it with: pip install {distribution}"
            ) from None
        raise


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        module, dist = _LAZY_MODULES[name]
        return _import_tier(module, dist, name)
    if name in _LAZY_NAMES:
        module, dist = _LAZY_NAMES[name]
        return getattr(_import_tier(module, dist, name), name)
    raise AttributeError(f"module 'tinytorch' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_MODULES) | set(_LAZY_NAMES))
