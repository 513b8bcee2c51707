"""``DataLoader``: batches from a dataset, in a sampled order, optionally in background threads.

The arguments and their rules are PyTorch's. Per batch of B samples the loader costs:

- fast path (the dataset defines ``get_batch`` and ``batchable`` is true, and ``collate_fn``
  is ``default_collate``): one fancy-index gather per array, ``B * sample_bytes`` copied and
  O(1) Python steps. ``TensorDataset``, ``Subset`` of one, and the vision datasets take it;
- general path: B calls to ``dataset[i]`` plus ``collate_fn`` (one stack per leaf), O(B)
  Python steps and the same copy.

``num_workers > 0`` runs the fetching in threads with ``prefetch_factor`` batches per worker in
flight (``workers.py`` explains why threads); the batches are the same as without workers.
Before sampling, each epoch draws a base seed from ``generator`` (or the global generator),
as PyTorch does, so the order for a given seed does not depend on ``num_workers``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from tinytorch.core.random import Generator
from tinytorch.core.random import generator as rng_of
from tinytorch.data.collate import default_collate, default_convert
from tinytorch.data.dataset import Dataset, IterableDataset
from tinytorch.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler
from tinytorch.data.workers import END, ThreadedIterator

T_co = TypeVar("T_co", covariant=True)


class DataLoader(Generic[T_co]):
    """Iterate over ``dataset`` in batches: ``for x, y in DataLoader(ds, batch_size=64,
    shuffle=True)``. Map-style and iterable datasets, samplers, workers, as in PyTorch.

    ``pin_memory`` is accepted for compatibility and has nothing to do (there is no
    accelerator); ``persistent_workers`` and ``multiprocessing_context`` are not supported
    because workers are threads that start in microseconds.
    """

    def __init__(
        self,
        dataset: Dataset[T_co],
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler[Any] | Iterable[Any] | None = None,
        batch_sampler: Sampler[Sequence[int]] | Iterable[Sequence[int]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        generator: Generator | None = None,
        *,
        prefetch_factor: int | None = None,
    ) -> None:
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in "
                             "multiprocessing.let num_workers > 0 to enable multiprocessing, "
                             "otherwise set prefetch_factor to None.")
        if prefetch_factor is not None and prefetch_factor <= 0:
            raise ValueError(f"prefetch_factor should be a positive integer, got "
                             f"{prefetch_factor}")
        if pin_memory:
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, "
                          "then device pinned memory won't be used.", stacklevel=2)
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor if num_workers == 0 else (prefetch_factor or 2)
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.generator = generator
        self._iterable = isinstance(dataset, IterableDataset)

        if self._iterable:
            if shuffle not in (False, None):
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None and not self._iterable:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle  # type: ignore
                       else SequentialSampler(dataset))  # type: ignore[arg-type]
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)  # type: ignore[arg-type]

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self._auto_collation = batch_sampler is not None or (self._iterable and
                                                             batch_size is not None)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def _uses_fast_path(self) -> bool:
        return (self._auto_collation and not self._iterable
                and self.collate_fn is default_collate
                and callable(getattr(self.dataset, "get_batch", None))
                and bool(getattr(self.dataset, "batchable", True)))

    def _make_fetcher(self) -> Callable[[Any], Any]:
        """``fetch(task) -> batch`` for one consumer (the main thread or one worker)."""
        dataset, collate = self.dataset, self.collate_fn
        if self._iterable:
            return _IterableFetcher(iter(dataset), self.batch_size, self.drop_last,  # type: ignore
                                    collate)
        if self._uses_fast_path():
            get_batch = dataset.get_batch  # type: ignore[attr-defined]
            return lambda indices: get_batch(np.asarray(indices, dtype=np.int64))
        if self._auto_collation:
            return lambda indices: collate([dataset[i] for i in indices])
        return lambda index: collate(dataset[index])

    def __iter__(self) -> Iterator[Any]:
        # drawn with or without workers, so the sampler sees the same generator state
        base_seed = int(rng_of(self.generator).integers(0, 2**62))
        tasks = None if self._iterable else iter(self._index_sampler)
        if self.num_workers == 0:
            return _SingleThreadIterator(self._make_fetcher(), tasks)
        return ThreadedIterator(self._make_fetcher, tasks, self.num_workers,
                                self.prefetch_factor, base_seed, self.dataset,
                                self.worker_init_fn, self.timeout)

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # type: ignore[arg-type]  (TypeError when it has no len)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self._index_sampler)


class _SingleThreadIterator:
    """Fetches each batch in the calling thread when it is asked for."""

    def __init__(self, fetch: Callable[[Any], Any], tasks: Iterator[Any] | None) -> None:
        self._fetch = fetch
        self._tasks = tasks

    def __iter__(self) -> _SingleThreadIterator:
        return self

    def __next__(self) -> Any:
        task = None if self._tasks is None else next(self._tasks)
        data = self._fetch(task)
        if data is END:
            raise StopIteration
        return data


class _IterableFetcher:
    """Batches of ``batch_size`` consecutive samples from one iterator (END once it is dry)."""

    def __init__(self, it: Iterator[Any], batch_size: int | None, drop_last: bool,
                 collate: Callable[[Any], Any]) -> None:
        self._it = it
        self._batch_size = batch_size
        self._drop_last = drop_last
        self._collate = collate
        self._dry = False

    def __call__(self, _: Any) -> Any:
        if self._dry:
            return END
        if self._batch_size is None:
            item = next(self._it, END)
            if item is END:
                self._dry = True
                return END
            return self._collate(item)
        batch = []
        for item in self._it:
            batch.append(item)
            if len(batch) == self._batch_size:
                return self._collate(batch)
        self._dry = True
        if not batch or (self._drop_last and len(batch) < self._batch_size):
            return END
        return self._collate(batch)
