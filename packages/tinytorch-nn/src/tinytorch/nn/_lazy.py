"""Reach a higher tier's layers at PyTorch's paths without importing that tier.

``tinytorch.nn.Conv2d`` and ``tinytorch.nn.functional.conv2d`` are PyTorch's names, but the
code lives in the tinytorch-arch distribution, a *higher* tier that this one must never
import. So ``tinytorch.nn``'s module-level ``__getattr__`` looks such a name up by string, at
first use, through ``importlib``: nothing is imported when tinytorch-arch is absent, and then
the error says which distribution to install.
"""

from __future__ import annotations

import importlib
from typing import Any


def from_tier(public: str, name: str, module: str, distribution: str) -> Any:
    """``getattr(import_module(module), name)``, or an ImportError naming ``distribution``.

    ``public`` is the namespace the user wrote (``tinytorch.nn``), used in the message;
    ``module`` and ``distribution`` come from the tier table (``tinytorch.core.tiers``).
    """
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is not None and module.startswith(e.name):
            raise ImportError(
                f"{public}.{name} is provided by the {distribution} distribution, which "
                f"is not installed: pip install {distribution}"
            ) from None
        raise
    return getattr(mod, name)
