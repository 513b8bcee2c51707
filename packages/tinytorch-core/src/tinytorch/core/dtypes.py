"""Data types. TinyTorch's dtypes *are* NumPy dtypes, so no conversion sits on the hot path.

Systems view: float32 (4 bytes) is the default for data and parameters; float64 (8 bytes) is
for gradient checks; int64 holds indices and labels; bool holds masks. Nothing is promoted to
float64 silently: a Python float combined with a float32 tensor stays float32, as in PyTorch.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tinytorch.core.types import DTypeLike

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)
int64 = long = np.dtype(np.int64)
bool = np.dtype(np.bool_)

_DEFAULT = float32
_SUPPORTED = (float16, float32, float64, int8, uint8, int16, int32, int64, bool)
_NAMES = {
    float16: "float16", float32: "float32", float64: "float64", int8: "int8", uint8: "uint8",
    int16: "int16", int32: "int32", int64: "int64", bool: "bool",
}


def get_default_dtype() -> np.dtype:
    """The dtype used for floating-point data created from Python numbers (float32)."""
    return _DEFAULT


def set_default_dtype(dtype: DTypeLike) -> None:
    """Set the default floating-point dtype (float32 or float64), like PyTorch."""
    global _DEFAULT
    d = as_dtype(dtype)
    if d not in (float32, float64):
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _DEFAULT = d


def as_dtype(dtype: DTypeLike) -> np.dtype:
    """Turn ``tinytorch.float32``, ``'float32'``, ``np.float32`` or ``float`` into a dtype."""
    if dtype is None:
        return _DEFAULT
    if dtype is builtins.float:
        return _DEFAULT
    try:
        d = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"cannot interpret {dtype!r} as a tinytorch dtype") from e
    if d not in _SUPPORTED:
        raise TypeError(f"unsupported dtype {d}; supported: {', '.join(_NAMES.values())}")
    return d


def dtype_name(dtype: np.dtype) -> str:
    """``tinytorch.float32`` style name used in reprs and error messages."""
    return "tinytorch." + _NAMES.get(dtype, str(dtype))


def is_floating_point(dtype: np.dtype) -> builtins.bool:
    return dtype.kind == "f"
