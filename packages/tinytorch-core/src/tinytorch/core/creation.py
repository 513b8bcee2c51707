"""Creation ops: ``tensor``, ``zeros``, ``ones``, ``arange``, ``randn``, ... with PyTorch's rules.

Systems view: each allocates one array of ``numel * itemsize`` bytes (``empty`` skips the
fill). Floating results default to float32; integer ranges to int64; ``from_numpy`` shares
memory with the array it wraps instead of copying it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.random import Generator, generator
from tinytorch.core.tensor import Tensor, _as_array

if TYPE_CHECKING:
    from tinytorch.core.types import DTypeLike, Number, SizeArg


def _size(size: tuple[Any, ...]) -> tuple[int, ...]:
    """Accept ``zeros(2, 3)``, ``zeros((2, 3))`` and ``zeros([2, 3])``."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = s.item()
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"size must be a sequence of ints, got {size!r}")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
        out.append(int(s))
    return tuple(out)


def _make(array: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor._wrap(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _check_device(device: Any) -> None:
    if device is not None and not str(device).startswith("cpu"):
        raise RuntimeError(f"TinyTorch runs on the CPU only; got device {device!r}")


def tensor(data: Any, dtype: DTypeLike = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (Python numbers, nested lists, arrays, tensors)."""
    _check_device(device)
    return _make(_as_array(data, dtype), requires_grad)


def as_tensor(data: Any, dtype: DTypeLike = None, device: Any = None) -> Tensor:
    """Like ``tensor`` but reuses ``data``'s memory when it already is a suitable array/tensor."""
    _check_device(device)
    if isinstance(data, Tensor) and (dtype is None or dtypes.as_dtype(dtype) == data.dtype):
        return data
    if isinstance(data, np.ndarray) and data.dtype in dtypes._SUPPORTED:
        if dtype is None or dtypes.as_dtype(dtype) == data.dtype:
            return Tensor._wrap(data)
    return Tensor._wrap(_as_array(data, dtype))


def from_numpy(array: np.ndarray) -> Tensor:
    """Wrap ``array`` without copying: changes to one are seen by the other."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    if array.dtype not in dtypes._SUPPORTED:
        raise TypeError(
            f"can't convert np.ndarray of type {array.dtype}. The only supported types are: "
            "float64, float32, float16, int64, int32, int16, int8, uint8, and bool."
        )
    return Tensor._wrap(array)


def zeros(*size: SizeArg, dtype: DTypeLike = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    _check_device(device)
    return _make(np.zeros(_size(size), dtypes.as_dtype(dtype)), requires_grad)


def ones(*size: SizeArg, dtype: DTypeLike = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    _check_device(device)
    return _make(np.ones(_size(size), dtypes.as_dtype(dtype)), requires_grad)


def empty(*size: SizeArg, dtype: DTypeLike = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    _check_device(device)
    return _make(np.empty(_size(size), dtypes.as_dtype(dtype)), requires_grad)


def full(size: SizeArg, fill_value: Number, dtype: DTypeLike = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Filled with ``fill_value``; the dtype follows it (bool, int64 or float32) unless given."""
    _check_device(device)
    if dtype is None:
        if isinstance(fill_value, bool):
            dtype = dtypes.bool
        elif isinstance(fill_value, (int, np.integer)):
            dtype = dtypes.int64
    shape = _size((size,) if isinstance(size, (tuple, list)) else (size,))
    return _make(np.full(shape, fill_value, dtypes.as_dtype(dtype)), requires_grad)


def _like(t: Tensor, dtype: DTypeLike) -> np.dtype:
    return t.dtype if dtype is None else dtypes.as_dtype(dtype)


def zeros_like(input: Tensor, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    return _make(np.zeros(input.shape, _like(input, dtype)), requires_grad)


def ones_like(input: Tensor, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    return _make(np.ones(input.shape, _like(input, dtype)), requires_grad)


def empty_like(input: Tensor, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    return _make(np.empty(input.shape, _like(input, dtype)), requires_grad)


def full_like(input: Tensor, fill_value: Number, dtype: DTypeLike = None,
              requires_grad: bool = False) -> Tensor:
    return _make(np.full(input.shape, fill_value, _like(input, dtype)), requires_grad)


def rand_like(input: Tensor, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    return rand(*input.shape, dtype=_like(input, dtype), requires_grad=requires_grad)


def randn_like(input: Tensor, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    return randn(*input.shape, dtype=_like(input, dtype), requires_grad=requires_grad)


def randint_like(input: Tensor, low: int = 0, high: int | None = None,
                 dtype: DTypeLike = None) -> Tensor:
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, dtype=_like(input, dtype))


def arange(start: Number, end: Number | None = None, step: Number = 1, dtype: DTypeLike = None,
           device: Any = None, requires_grad: bool = False) -> Tensor:
    """``[start, end)`` in steps; int64 when all bounds are ints, else float32."""
    _check_device(device)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = dtypes.int64 if ints else dtypes.get_default_dtype()
    d = dtypes.as_dtype(dtype)
    return _make(np.arange(start, end, step).astype(d), requires_grad)


def linspace(start: float, end: float, steps: int, dtype: DTypeLike = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    _check_device(device)
    if steps < 0:
        raise RuntimeError(f"linspace: number of steps must be non-negative, got {steps}")
    return _make(np.linspace(start, end, steps).astype(dtypes.as_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, dtype: DTypeLike = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    _check_device(device)
    return _make(np.eye(n, m, dtype=dtypes.as_dtype(dtype)), requires_grad)


def rand(*size: SizeArg, generator: Generator | None = None, dtype: DTypeLike = None,
         device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform on [0, 1)."""
    _check_device(device)
    d = dtypes.as_dtype(dtype)
    return _make(_rng(generator).random(_size(size), dtype=np.float64).astype(d), requires_grad)


def randn(*size: SizeArg, generator: Generator | None = None, dtype: DTypeLike = None,
          device: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal."""
    _check_device(device)
    d = dtypes.as_dtype(dtype)
    draws = _rng(generator).standard_normal(_size(size), dtype=np.float32 if d == np.float32
                                            else np.float64)
    return _make(draws.astype(d, copy=False), requires_grad)


def randint(low: int, high: Any = None, size: Any = None, *, generator: Generator | None = None,
            dtype: DTypeLike = None, device: Any = None) -> Tensor:
    """Integers in ``[low, high)``; ``randint(high, size)`` starts at 0. int64 by default."""
    _check_device(device)
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint() missing required argument 'size' (a tuple of ints)")
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    shape = _size((size,) if isinstance(size, (tuple, list)) else (size,))
    d = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype)
    return Tensor._wrap(_rng(generator).integers(low, high, shape).astype(d))


def randperm(n: int, *, generator: Generator | None = None, dtype: DTypeLike = None) -> Tensor:
    d = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype)
    return Tensor._wrap(_rng(generator).permutation(n).astype(d))


def _rng(gen: Generator | None) -> np.random.Generator:
    return generator(gen)
