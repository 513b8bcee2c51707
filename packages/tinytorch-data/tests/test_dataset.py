"""Dataset containers and default_collate against PyTorch's definitions."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

import tinytorch
from tinytorch.data import (
    ConcatDataset,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    default_convert,
    random_split,
)


class Squares(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i * i


def test_tensor_dataset_indexes_every_tensor_along_dim0():
    x = tinytorch.arange(12).reshape(6, 2)
    y = tinytorch.arange(6) * 10
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    a, b = ds[4]
    assert a.tolist() == [8, 9] and b.item() == 40
    xb, yb = ds.get_batch(np.array([5, 1]))
    assert xb.tolist() == [[10, 11], [2, 3]] and yb.tolist() == [50, 10]


def test_tensor_dataset_rejects_different_lengths():
    with pytest.raises(ValueError, match=r"Size mismatch between tensors: first dimensions "
                                         r"\[3, 4\]"):
        TensorDataset(tinytorch.zeros(3, 2), tinytorch.zeros(4))


def test_subset_maps_indices_and_its_batches():
    ds = TensorDataset(tinytorch.arange(10))
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and sub[0][0].item() == 7
    assert sub.batchable
    assert sub.get_batch(np.array([2, 0]))[0].tolist() == [5, 7]
    assert not Subset(Squares(4), [1]).batchable


def test_concat_dataset_finds_the_right_part_including_negative_indices():
    cat = ConcatDataset([Squares(3), Squares(2)])
    assert len(cat) == 5
    assert [cat[i] for i in range(5)] == [0, 1, 4, 0, 1]
    assert cat[-1] == 1 and cat[-5] == 0
    assert (Squares(2) + Squares(1)).cumulative_sizes == [2, 3]


def test_random_split_partitions_and_is_reproducible():
    ds = Squares(10)
    parts = random_split(ds, [3, 7], generator=tinytorch.Generator().manual_seed(1))
    idx = [i for p in parts for i in p.indices]
    assert sorted(idx) == list(range(10)) and [len(p) for p in parts] == [3, 7]
    again = random_split(ds, [3, 7], generator=tinytorch.Generator().manual_seed(1))
    assert [p.indices for p in again] == [p.indices for p in parts]


def test_random_split_fractions_hand_out_the_remainder_round_robin():
    assert [len(p) for p in random_split(Squares(10), [0.33, 0.33, 0.34])] == [4, 3, 3]
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(Squares(10), [3, 3])


def test_default_collate_stacks_tensors_arrays_and_numbers():
    batch = default_collate([(tinytorch.ones(2), np.zeros(3, np.float32), 1, 2.5, True, "a"),
                             (tinytorch.zeros(2), np.ones(3, np.float32), 2, 0.5, False, "b")])
    t, a, i, f, b, s = batch
    assert isinstance(batch, list)  # tuples collate to a list, as in PyTorch
    assert t.shape == (2, 2) and a.shape == (2, 3) and a.dtype == np.float32
    assert i.dtype == np.int64 and i.tolist() == [1, 2]
    assert f.dtype == np.float64 and b.dtype == np.bool_
    assert s == ["a", "b"]


def test_default_collate_recurses_into_dicts_and_namedtuples():
    Pair = namedtuple("Pair", "x y")
    out = default_collate([{"p": Pair(1, np.int32(3))}, {"p": Pair(2, np.int32(4))}])
    assert isinstance(out["p"], Pair)
    assert out["p"].x.tolist() == [1, 2] and out["p"].y.dtype == np.int32


def test_default_collate_errors_on_ragged_or_unknown_samples():
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal"):
        default_collate([[1, 2], [3]])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        default_collate([tinytorch.zeros(2), tinytorch.zeros(3)])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([object(), object()])


def test_default_convert_turns_arrays_into_tensors_and_keeps_the_rest():
    out = default_convert({"a": np.arange(3), "b": [np.float32(2.0), "s"]})
    assert isinstance(out["a"], tinytorch.Tensor) and out["b"][1] == "s"
    assert isinstance(out["b"][0], tinytorch.Tensor)
