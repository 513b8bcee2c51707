"""Sparse checkpoints: a pruned model's file shrinks with its sparsity, and loads back exactly.

Layout chosen: **bitmask + values**. For a tensor of ``n`` elements with ``nnz`` non-zero ones
of ``b`` bytes each, the file holds one bit per element (``numpy.packbits``) and the ``nnz``
values in row-major order:

- bitmask: ``n/8 + b·nnz`` bytes;
- CSR (values, int32 column indices, row pointers): about ``(b + 4)·nnz`` bytes;
- dense: ``b·n`` bytes.

For float32 the bitmask is the smaller of the two sparse layouts while more than 1 in 32
weights are non-zero (below 97% sparsity), which covers the sparsities pruning leaves a model
at that still works; CSR wins only beyond that, and it needs a 2-D view of every tensor. Each
tensor is stored in the smaller of bitmask and dense, so biases, normalization statistics and
unpruned layers cost nothing extra.

Exactness: an element is left out only when all of its bits are 0 (``+0.0``), so ``-0.0``,
NaNs and every other value come back bit for bit; unpacking fills the rest with ``+0.0``.

The file is an ordinary ``tinytorch.save`` archive (JSON manifest and ``.npy`` arrays, written
atomically, never pickled) holding ``{"format": "tinytorch.perf.sparse", "version": 1,
"tensors": {name: entry}}``, where an entry is ``{"layout": "dense", "values": array}`` or
``{"layout": "bitmask", "shape": [...], "mask": uint8 array, "values": array}``.
Cost: one pass over every tensor to write and one to read.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from tinytorch.core.serialization import load, save
from tinytorch.core.tensor import Tensor
from tinytorch.nn import Module

FORMAT = "tinytorch.perf.sparse"
VERSION = 1


def _nonzero_bits(array: np.ndarray) -> np.ndarray:
    """True where an element has any bit set (so ``-0.0`` counts as a value)."""
    return array.reshape(-1).view(np.dtype(f"u{array.dtype.itemsize}")) != 0


def _entry(array: np.ndarray) -> dict[str, Any]:
    array = np.asarray(array, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
    if array.ndim == 0 or array.dtype.kind not in "biuf":
        return {"layout": "dense", "values": array}
    keep = _nonzero_bits(array)
    nnz = int(np.count_nonzero(keep))
    if (array.size + 7) // 8 + nnz * array.itemsize >= array.nbytes:
        return {"layout": "dense", "values": array}
    return {"layout": "bitmask", "shape": tuple(array.shape), "mask": np.packbits(keep),
            "values": array.reshape(-1)[keep]}


def save_sparse(obj: Module | Mapping[str, Any], f: str | os.PathLike[str]) -> None:
    """Write a model's ``state_dict`` (or a state dict of Tensors/arrays) to ``f``, each tensor
    as a bitmask and its non-zero values when that is smaller than the dense array."""
    state = obj.state_dict() if isinstance(obj, Module) else obj
    if not isinstance(state, Mapping):
        raise TypeError(f"save_sparse: expected a Module or a state dict, got "
                        f"{type(obj).__name__}")
    tensors = {}
    for name, value in state.items():
        if not isinstance(value, (Tensor, np.ndarray)):
            raise TypeError(f"save_sparse: state dict entry '{name}' is a "
                            f"{type(value).__name__}, expected a Tensor or ndarray")
        tensors[name] = _entry(value.array if isinstance(value, Tensor) else value)
    save({"format": FORMAT, "version": VERSION, "tensors": tensors}, f)


def _restore(name: str, entry: Mapping[str, Any], f: Any) -> np.ndarray:
    if entry.get("layout") == "dense":
        return entry["values"]
    shape, mask, values = entry["shape"], entry["mask"], entry["values"]
    size = int(np.prod(shape))
    keep = np.unpackbits(mask, count=size).astype(bool)
    if int(np.count_nonzero(keep)) != values.size:
        raise RuntimeError(f"load_sparse: '{name}' in {f} is corrupt: its bitmask marks "
                           f"{int(np.count_nonzero(keep))} values but {values.size} are stored")
    out = np.zeros(size, dtype=values.dtype)
    out[keep] = values
    return out.reshape(shape)


def load_sparse(f: str | os.PathLike[str]) -> OrderedDict[str, Tensor]:
    """Read a file written by ``save_sparse``; returns the state dict (name -> Tensor), with
    every array bit-identical to the one saved. Load it with ``model.load_state_dict``."""
    archive = load(f)
    if not (isinstance(archive, dict) and archive.get("format") == FORMAT):
        raise RuntimeError(f"load_sparse: {f} is not a sparse checkpoint (expected format "
                           f"'{FORMAT}', written by save_sparse)")
    if archive.get("version") != VERSION:
        raise RuntimeError(f"load_sparse: {f} has format version {archive.get('version')}; "
                           f"this TinyTorch reads version {VERSION}")
    return OrderedDict((name, Tensor._wrap(_restore(name, entry, f)))
                       for name, entry in archive["tensors"].items())
