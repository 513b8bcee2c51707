"""Datasets: ``Dataset``, ``IterableDataset``, ``TensorDataset``, ``Subset``, ``ConcatDataset``,
``random_split``, with PyTorch's semantics.

A map-style dataset answers ``len(ds)`` and ``ds[i]``; an iterable one yields samples. The
batch protocol (a TinyTorch extension): a dataset may define ``get_batch(indices)``, returning
exactly what ``default_collate([ds[i] for i in indices])`` would, and a ``batchable`` flag.
``DataLoader`` then fetches a whole batch with one fancy index per array instead of ``B`` item
lookups and a stack. For ``TensorDataset`` of ``(N, D)`` float32 features a batch costs one
gather of ``B * D * 4`` bytes; the per-item path costs ``B`` Python calls plus the same copy.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from tinytorch.core.random import Generator
from tinytorch.core.random import generator as rng_of
from tinytorch.core.tensor import Tensor

T_co = TypeVar("T_co", covariant=True)


class Dataset(Generic[T_co]):
    """A map from indices to samples. Subclasses define ``__getitem__`` (and ``__len__``)."""

    def __getitem__(self, index: int) -> T_co:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset[T_co]) -> ConcatDataset[T_co]:
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co]):
    """A stream of samples. Subclasses define ``__iter__``; in ``DataLoader`` workers each
    worker iterates its own copy, so shard with ``get_worker_info()`` to avoid duplicates."""

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other: Dataset[T_co]) -> Any:
        raise TypeError("ConcatDataset does not support IterableDataset; chain the iterables")


class TensorDataset(Dataset[tuple[Tensor, ...]]):
    """Samples are ``(t[i] for t in tensors)``; every tensor has the same first dimension N."""

    batchable = True

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        sizes = [t.shape[0] if t.ndim else None for t in tensors]
        if any(s != sizes[0] for s in sizes) or sizes[0] is None:
            raise ValueError(f"Size mismatch between tensors: first dimensions {sizes}, "
                             "expected all equal")
        self.tensors = tensors
        self._arrays = [t.array for t in tensors]

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(Tensor._wrap(a[index]) for a in self._arrays)

    def get_batch(self, indices: np.ndarray) -> list[Tensor]:
        """``[t[indices] for t in tensors]``: (B, ...) per tensor, one gather each."""
        return [Tensor._wrap(a[indices]) for a in self._arrays]

    def __len__(self) -> int:
        return self._arrays[0].shape[0]


class Subset(Dataset[T_co]):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset[T_co], indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices
        self._index = np.asarray(indices, dtype=np.int64)

    def __getitem__(self, idx: int | list[int]) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    @property
    def batchable(self) -> bool:
        return hasattr(self.dataset, "get_batch") and getattr(self.dataset, "batchable", True)

    def get_batch(self, indices: np.ndarray) -> Any:
        """The parent's batch at the mapped indices (needs ``dataset.get_batch``)."""
        return self.dataset.get_batch(self._index[indices])

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset[T_co]):
    """Several datasets end to end: index ``i`` falls in the first one whose running size
    exceeds it (a binary search over the cumulative sizes)."""

    def __init__(self, datasets: Sequence[Dataset[T_co]]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> T_co:
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][idx - start]


def random_split(dataset: Dataset[T_co], lengths: Sequence[int | float],
                 generator: Generator | None = None) -> list[Subset[T_co]]:
    """Split into non-overlapping random ``Subset``s of the given lengths (or fractions).

    Fractions are turned into counts by flooring, then the remainder is handed out one at a
    time round-robin, as PyTorch does.
    """
    n = len(dataset)  # type: ignore[arg-type]
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!"
                         f" (lengths {list(lengths)} sum to {sum(lengths)}, dataset has {n})")
    order = rng_of(generator).permutation(n)
    offsets = np.cumsum([0, *lengths])
    return [Subset(dataset, order[a:b].tolist()) for a, b in zip(offsets[:-1], offsets[1:])]
