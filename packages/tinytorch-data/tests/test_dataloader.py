"""DataLoader semantics against their definitions, with and without worker threads."""

from __future__ import annotations

import _thread
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch
from tinytorch.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    SequentialSampler,
    TensorDataset,
    default_collate,
    get_worker_info,
)
from tinytorch.data import transforms as T


class Items(Dataset):
    """A map-style dataset of (index, 2 * index) without a batch fetch (per-item path)."""

    def __init__(self, n: int, fail_at: int | None = None, delay: float = 0.0) -> None:
        self.n, self.fail_at, self.delay = n, fail_at, delay

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[int, np.ndarray]:
        if i == self.fail_at:
            raise ValueError(f"item {i} is broken")
        if self.delay:
            time.sleep(self.delay)
        return i, np.full(2, 2 * i, np.float32)


class Stream(IterableDataset):
    """0..n-1, each worker taking every num_workers-th item."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))

    def __len__(self) -> int:
        return self.n


def indices_of(loader: DataLoader) -> list[list[int]]:
    return [b[0].tolist() for b in loader]


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tinytorch-data-worker")]


def wait_for_workers_to_end(seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while worker_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not worker_threads()


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 60), batch_size=st.integers(1, 16), shuffle=st.booleans(),
       fast=st.booleans())
def test_every_index_once_per_epoch(n, batch_size, shuffle, fast):
    ds = TensorDataset(tinytorch.arange(n)) if fast else Items(n)
    batches = indices_of(DataLoader(ds, batch_size=batch_size, shuffle=shuffle))
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(n))
    assert all(len(b) == batch_size for b in batches[:-1]) and 1 <= len(batches[-1]) <= batch_size
    assert len(batches) == len(DataLoader(ds, batch_size=batch_size))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 60), batch_size=st.integers(1, 16))
def test_drop_last_keeps_only_full_batches(n, batch_size):
    loader = DataLoader(Items(n), batch_size=batch_size, shuffle=True, drop_last=True)
    batches = indices_of(loader)
    assert len(batches) == n // batch_size == len(loader)
    assert all(len(b) == batch_size for b in batches)
    assert len({i for b in batches for i in b}) == batch_size * (n // batch_size)


def test_same_generator_seed_gives_the_same_order():
    ds = TensorDataset(tinytorch.arange(100))

    def order(seed: int) -> list[list[int]]:
        g = tinytorch.Generator().manual_seed(seed)
        return indices_of(DataLoader(ds, batch_size=7, shuffle=True, generator=g))

    assert order(1) == order(1)
    assert order(1) != order(2)


def test_global_seed_makes_default_shuffles_reproducible():
    loader = DataLoader(TensorDataset(tinytorch.arange(50)), batch_size=8, shuffle=True)
    tinytorch.manual_seed(42)
    first, second = indices_of(loader), indices_of(loader)
    tinytorch.manual_seed(42)
    assert indices_of(loader) == first and first != second  # epochs differ, seeds repeat


@pytest.mark.parametrize("make", [lambda: TensorDataset(tinytorch.arange(53),
                                                        tinytorch.randn(53, 3)),
                                  lambda: Items(53)])
def test_workers_give_the_same_batches_as_no_workers(make):
    ds = make()

    def batches(workers: int) -> list[list[np.ndarray]]:
        g = tinytorch.Generator().manual_seed(7)
        loader = DataLoader(ds, batch_size=5, shuffle=True, generator=g, num_workers=workers)
        return [[t.numpy().copy() for t in b] for b in loader]

    reference = batches(0)
    for workers in (1, 3):
        got = batches(workers)
        assert len(got) == len(reference)
        for a, b in zip(got, reference):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x, y)
    wait_for_workers_to_end()


def test_random_transforms_in_workers_are_reproducible():
    images = tinytorch.rand(40, 3, 8, 8)
    aug = T.Compose([T.RandomCrop(8, padding=2), T.RandomHorizontalFlip()])

    class Augmented(Dataset):
        def __len__(self) -> int:
            return 40

        def __getitem__(self, i: int):
            return aug(images[i]), i

    def run() -> np.ndarray:
        g = tinytorch.Generator().manual_seed(3)
        loader = DataLoader(Augmented(), batch_size=4, num_workers=2, generator=g)
        return np.concatenate([x.numpy() for x, _ in loader])

    first = run()
    np.testing.assert_array_equal(run(), first)
    assert not np.array_equal(first, images.numpy())


def test_a_worker_exception_surfaces_in_the_caller_with_its_traceback():
    loader = DataLoader(Items(40, fail_at=23), batch_size=4, num_workers=2)
    seen = []
    with pytest.raises(ValueError) as err:
        for batch in loader:
            seen.append(batch[0].tolist())
    message = str(err.value)
    assert "Caught ValueError in DataLoader worker" in message
    assert "item 23 is broken" in message and "__getitem__" in message  # the traceback
    assert [i for b in seen for i in b] == list(range(20))  # batches before it arrived in order
    wait_for_workers_to_end()


def test_an_exception_without_workers_propagates_unchanged():
    with pytest.raises(ValueError, match="^item 3 is broken$"):
        list(DataLoader(Items(8, fail_at=3), batch_size=2))


def test_a_failing_worker_init_fn_is_reported():
    def init(worker_id: int) -> None:
        raise KeyError(f"no config for worker {worker_id}")

    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker"):
        list(DataLoader(Items(8), batch_size=2, num_workers=2, worker_init_fn=init))
    wait_for_workers_to_end()


def test_worker_init_fn_runs_once_in_each_worker():
    seen = []
    list(DataLoader(Items(8), batch_size=2, num_workers=3, worker_init_fn=seen.append))
    assert sorted(seen) == [0, 1, 2]


def test_ctrl_c_in_the_caller_stops_the_workers():
    loader = DataLoader(Items(400, delay=0.002), batch_size=4, num_workers=2)
    with pytest.raises(KeyboardInterrupt):
        for k, _ in enumerate(loader):
            if k == 3:
                _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread
                time.sleep(1)
    wait_for_workers_to_end()


def test_ctrl_c_while_waiting_for_a_batch_stops_the_workers():
    loader = DataLoader(Items(40, delay=0.2), batch_size=4, num_workers=2)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        list(loader)  # blocks in the loader, waiting for the slow workers
    timer.join()
    wait_for_workers_to_end()


def test_breaking_out_of_an_epoch_releases_the_workers():
    for k, _ in enumerate(DataLoader(Items(100), batch_size=2, num_workers=2)):
        if k == 2:
            break
    import gc
    gc.collect()
    wait_for_workers_to_end()


def test_timeout_raises_when_a_batch_takes_too_long():
    loader = DataLoader(Items(4, delay=0.5), batch_size=2, num_workers=1, timeout=0.1)
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.1 seconds"):
        next(iter(loader))
    wait_for_workers_to_end()


@pytest.mark.parametrize("workers", [0, 2])
def test_iterable_dataset_batches_every_item_once(workers):
    loader = DataLoader(Stream(23), batch_size=4, num_workers=workers)
    items = sorted(i for b in loader for i in b.tolist())
    assert items == list(range(23))
    assert len(loader) == 6
    wait_for_workers_to_end()


def test_iterable_dataset_drop_last_and_no_batching():
    assert [b.tolist() for b in DataLoader(Stream(7), batch_size=3, drop_last=True)] == [
        [0, 1, 2], [3, 4, 5]]
    assert list(DataLoader(Stream(3), batch_size=None)) == [0, 1, 2]


def test_batch_size_none_yields_converted_samples():
    out = list(DataLoader(Items(3), batch_size=None))
    assert out[2][0] == 2 and isinstance(out[2][1], tinytorch.Tensor)


def test_batch_sampler_and_sampler_arguments():
    bs = BatchSampler(SequentialSampler(range(6)), 4, drop_last=False)
    assert indices_of(DataLoader(Items(6), batch_sampler=bs)) == [[0, 1, 2, 3], [4, 5]]
    assert indices_of(DataLoader(Items(6), sampler=[5, 3, 1], batch_size=2)) == [[5, 3], [1]]


def test_fast_path_equals_item_by_item_collation():
    ds = TensorDataset(tinytorch.randn(30, 4), tinytorch.arange(30))
    g1, g2 = tinytorch.Generator().manual_seed(0), tinytorch.Generator().manual_seed(0)
    fast = DataLoader(ds, batch_size=8, shuffle=True, generator=g1)
    slow = DataLoader(ds, batch_size=8, shuffle=True, generator=g2,
                      collate_fn=lambda b: default_collate(b))
    assert fast._uses_fast_path() and not slow._uses_fast_path()
    for a, b in zip(fast, slow):
        for x, y in zip(a, b):
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(x.numpy(), y.numpy())


@pytest.mark.parametrize("kwargs,message", [
    ({"shuffle": True, "sampler": [0, 1]}, "sampler option is mutually exclusive with shuffle"),
    ({"batch_sampler": [[0]], "batch_size": 2}, "batch_sampler option is mutually exclusive"),
    ({"batch_size": None, "drop_last": True}, "batch_size=None option disables auto-batching"),
    ({"num_workers": -1}, "num_workers option should be non-negative"),
    ({"prefetch_factor": 2}, "prefetch_factor option could only be specified"),
    ({"timeout": -1}, "timeout option should be non-negative"),
])
def test_invalid_argument_combinations_raise_like_pytorch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(Items(4), **kwargs)


def test_iterable_dataset_rejects_shuffle_and_samplers():
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(3), shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler option"):
        DataLoader(Stream(3), sampler=[0])


def test_pin_memory_warns_that_there_is_nothing_to_pin():
    with pytest.warns(UserWarning, match="no accelerator"):
        DataLoader(Items(2), pin_memory=True)
