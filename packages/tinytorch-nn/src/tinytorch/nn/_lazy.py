"""Reach the Architecture tier's layers at PyTorch's paths without importing that tier.

``tinytorch.nn.Conv2d`` and ``tinytorch.nn.functional.conv2d`` are PyTorch's names, but the
code lives in the tinytorch-arch distribution, a *higher* tier that this one must never
import. So ``tinytorch.nn``'s module-level ``__getattr__`` looks such a name up by string, at
first use, through ``importlib``: nothing is imported when tinytorch-arch is absent, and then
the error says which distribution to install.
"""

from __future__ import annotations

import importlib
from typing import Any

ARCH_DISTRIBUTION = "tinytorch-arch"


def from_arch(public: str, module: str, name: str) -> Any:
    """``getattr(import_module(module), name)``, or an ImportError naming tinytorch-arch.

    ``public`` is the namespace the user wrote (``tinytorch.nn``), used in the message.
    """
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is not None and module.startswith(e.name):
            raise ImportError(
                f"{public}.{name} is provided by the {ARCH_DISTRIBUTION} distribution, which "
                f"is not installed: pip install {ARCH_DISTRIBUTION}"
            ) from None
        raise
    return getattr(mod, name)
