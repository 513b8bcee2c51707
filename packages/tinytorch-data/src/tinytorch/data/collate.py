"""``default_collate`` and ``default_convert``: from a list of samples to one batch.

PyTorch's rules, recursively: tensors and NumPy arrays are stacked along a new first axis
(``B`` samples of shape S -> one ``(B, *S)`` tensor, one copy of ``B * prod(S) * itemsize``
bytes); Python ints become int64, floats float64 and bools bool tensors of shape (B,); strings
stay a list; dicts collate per key; tuples and lists collate per position (``[x, y]`` for a
batch of ``(x, y)`` samples, as in PyTorch). Collating costs one Python step per sample per
leaf, which is why ``DataLoader`` skips it for datasets that can ``get_batch`` directly.
"""

from __future__ import annotations

import collections.abc
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinytorch.core.tensor import Tensor

_NUMBER_DTYPES = {bool: np.bool_, int: np.int64, float: np.float64}


def _stack(arrays: Sequence[np.ndarray]) -> Tensor:
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise RuntimeError(f"stack expects each tensor to be equal size, but got shapes "
                           f"{sorted(shapes)} in one batch")
    return Tensor._wrap(np.stack(arrays))


def default_collate(batch: Sequence[Any]) -> Any:
    """Collate a list of samples into a batch (see the module docstring for the rules)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack([b.array for b in batch])
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OSUV":
            raise TypeError(f"default_collate: cannot collate numpy arrays of dtype {elem.dtype}")
        return _stack(batch)  # type: ignore[arg-type]
    if isinstance(elem, (str, bytes)):  # before np.generic: np.str_ is both
        return list(batch)
    if isinstance(elem, np.generic):
        return Tensor._wrap(np.asarray(batch))
    for kind, dtype in _NUMBER_DTYPES.items():  # bool before int: bool subclasses int
        if isinstance(elem, kind):
            return Tensor._wrap(np.asarray(batch, dtype=dtype))
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(s) != size for s in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError("default_collate: batch must contain tensors, numpy arrays, numbers, dicts "
                    f"or lists; found {type(elem)}")


def default_convert(data: Any) -> Any:
    """One sample without batching (``batch_size=None``): arrays become tensors, recursively."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "OSUV":
        return Tensor._wrap(data)
    if isinstance(data, np.generic):
        return Tensor._wrap(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return {key: default_convert(v) for key, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(d) for d in data)
    return data
