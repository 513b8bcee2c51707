"""How a Tensor prints: PyTorch's ``tensor([...], dtype=..., requires_grad=True)`` form.

Systems view: printing summarises arrays of more than 1,000 elements to their first and last
three entries per dimension, so ``repr`` of a large tensor costs O(edge items), not O(numel).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch.core import dtypes

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor


def format_tensor(t: Tensor) -> str:
    """PyTorch-style ``tensor([...], dtype=..., requires_grad=True)``."""
    a = t.array
    prefix = "tensor("
    opts: dict[str, Any] = {"separator": ", ", "prefix": prefix, "threshold": 1000, "edgeitems": 3}
    if a.dtype.kind == "f" and a.size:
        finite = a[np.isfinite(a)]
        if finite.size and np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e8:
            opts["formatter"] = {"float_kind": lambda v: f"{v:.0f}." if np.isfinite(v) else str(v)}
        else:
            opts["precision"] = 4
            opts["floatmode"] = "fixed"
    body = np.array2string(a, **opts) if a.size else "[]"
    extras = []
    default_dtypes = (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool)
    if a.size == 0 and a.shape != (0,):
        extras.append(f"size={tuple(a.shape)}")
    if a.dtype not in default_dtypes or (a.size == 0 and a.dtype != default_dtypes[0]):
        extras.append(f"dtype={dtypes.dtype_name(a.dtype)}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn={t.grad_fn!r}")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + body + "".join(", " + e for e in extras) + ")"
