"""Comparisons and logic: ``eq``/``ne``/``lt``/``le``/``gt``/``ge``, ``isclose``, ``allclose``,
``equal``, ``logical_*``, ``bitwise_*`` and ``one_hot``. None of them is differentiable.

Systems view: one pass over the broadcast operands, one byte per output element (bool). They
record no graph node, so they cost nothing in backward. ``one_hot`` writes ``numel * C`` int64
(8 bytes each): a (B, T) index tensor with C classes costs ``8 * B * T * C`` bytes, which is why
losses index log-probabilities directly instead of building one-hot targets.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.function import is_tensor, wrap

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import Number, TensorLike


def _arr(x: TensorLike) -> np.ndarray | Number:
    return x.array if is_tensor(x) else x


def _compare(ufunc: np.ufunc, input: TensorLike, other: TensorLike) -> Tensor:
    return wrap(np.asarray(ufunc(_arr(input), _arr(other))))


def eq(input: Tensor, other: TensorLike) -> Tensor:
    """Elementwise ``==`` with broadcasting (bool)."""
    return _compare(np.equal, input, other)


def ne(input: Tensor, other: TensorLike) -> Tensor:
    """Elementwise ``!=`` with broadcasting (bool)."""
    return _compare(np.not_equal, input, other)


def lt(input: Tensor, other: TensorLike) -> Tensor:
    """Elementwise ``<`` with broadcasting (bool)."""
    return _compare(np.less, input, other)


def le(input: Tensor, other: TensorLike) -> Tensor:
    """Elementwise ``<=`` with broadcasting (bool)."""
    return _compare(np.less_equal, input, other)


def gt(input: Tensor, other: TensorLike) -> Tensor:
    """Elementwise ``>`` with broadcasting (bool)."""
    return _compare(np.greater, input, other)


def ge(input: Tensor, other: TensorLike) -> Tensor:
    """Elementwise ``>=`` with broadcasting (bool)."""
    return _compare(np.greater_equal, input, other)


def isclose(input: Tensor, other: TensorLike, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """``|input - other| <= atol + rtol * |other|`` elementwise (bool)."""
    return wrap(np.asarray(np.isclose(_arr(input), _arr(other), rtol=rtol, atol=atol,
                                              equal_nan=equal_nan)))


def allclose(input: Tensor, other: TensorLike, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> builtins.bool:
    """True when ``isclose`` holds for every element (a Python bool)."""
    return builtins.bool(np.allclose(_arr(input), _arr(other), rtol=rtol, atol=atol,
                                     equal_nan=equal_nan))


def equal(input: Tensor, other: Tensor) -> builtins.bool:
    """True when both have the same shape and the same values (a Python bool)."""
    a, b = np.asarray(_arr(input)), np.asarray(_arr(other))
    return a.shape == b.shape and builtins.bool(np.array_equal(a, b))


def logical_not(input: Tensor) -> Tensor:
    """Elementwise ``not`` (bool)."""
    return wrap(np.asarray(np.logical_not(_arr(input))))


def logical_and(input: Tensor, other: TensorLike) -> Tensor:
    """Elementwise ``and`` of truth values (bool)."""
    return _compare(np.logical_and, input, other)


def logical_or(input: Tensor, other: TensorLike) -> Tensor:
    """Elementwise ``or`` of truth values (bool)."""
    return _compare(np.logical_or, input, other)


def logical_xor(input: Tensor, other: TensorLike) -> Tensor:
    """Elementwise ``xor`` of truth values (bool)."""
    return _compare(np.logical_xor, input, other)


def _bitwise(ufunc: np.ufunc, name: str, *operands: TensorLike) -> Tensor:
    """``&``, ``|``, ``^``, ``~`` on bool or integer tensors (logical for bool, as in PyTorch)."""
    arrays = [np.asarray(_arr(x)) for x in operands]
    for a in arrays:
        if a.dtype.kind not in "biu":
            raise TypeError(f"{name} is only supported for integer and bool tensors, got "
                            f"{dtypes.dtype_name(a.dtype)}")
    return wrap(np.asarray(ufunc(*[_arr(x) for x in operands])))


def bitwise_not(input: Tensor) -> Tensor:
    """Bitwise NOT of integers; logical NOT of bools."""
    return _bitwise(np.invert, "bitwise_not", input)


def bitwise_and(input: TensorLike, other: TensorLike) -> Tensor:
    """Bitwise AND of integers; logical AND of bools."""
    return _bitwise(np.bitwise_and, "bitwise_and", input, other)


def bitwise_or(input: TensorLike, other: TensorLike) -> Tensor:
    """Bitwise OR of integers; logical OR of bools."""
    return _bitwise(np.bitwise_or, "bitwise_or", input, other)


def bitwise_xor(input: TensorLike, other: TensorLike) -> Tensor:
    """Bitwise XOR of integers; logical XOR of bools."""
    return _bitwise(np.bitwise_xor, "bitwise_xor", input, other)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """(*) int64 class indices -> (*, num_classes) int64 with a single 1 per row.

    ``num_classes=-1`` uses ``max + 1``. Negative or too-large classes raise a RuntimeError.
    """
    idx = np.asarray(_arr(tensor))
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot is only applicable to index tensor of type LongTensor, "
                           f"got {dtypes.dtype_name(idx.dtype)}")
    if idx.size and idx.min() < 0:
        raise RuntimeError(f"Class values must be non-negative (got {int(idx.min())}).")
    if num_classes == -1:
        if idx.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(idx.max()) + 1
    if idx.size and idx.max() >= num_classes:
        raise RuntimeError(f"Class values must be smaller than num_classes ({num_classes}), "
                           f"got {int(idx.max())}.")
    out = np.zeros(idx.shape + (num_classes,), np.int64)
    np.put_along_axis(out, idx[..., None].astype(np.intp), 1, axis=-1)
    return wrap(out)
