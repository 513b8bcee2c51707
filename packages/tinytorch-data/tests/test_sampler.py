"""Samplers against their definitions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import tinytorch
from tinytorch.data import (
    BatchSampler,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

DATA = list(range(10))


def test_sequential_sampler_visits_indices_in_order():
    assert list(SequentialSampler(DATA)) == DATA and len(SequentialSampler(DATA)) == 10


def test_random_sampler_is_a_permutation_reproducible_by_seed():
    order = list(RandomSampler(DATA, generator=tinytorch.Generator().manual_seed(3)))
    assert sorted(order) == DATA and order != DATA
    assert list(RandomSampler(DATA, generator=tinytorch.Generator().manual_seed(3))) == order
    tinytorch.manual_seed(5)
    first = list(RandomSampler(DATA))
    tinytorch.manual_seed(5)
    assert list(RandomSampler(DATA)) == first


def test_random_sampler_more_samples_than_data_chains_permutations():
    order = list(RandomSampler(DATA, num_samples=25))
    assert len(order) == 25
    assert sorted(order[:10]) == DATA and sorted(order[10:20]) == DATA
    assert len(set(order[20:])) == 5


def test_random_sampler_with_replacement_draws_independently():
    draws = list(RandomSampler(DATA, replacement=True, num_samples=2000,
                               generator=tinytorch.Generator().manual_seed(0)))
    counts = Counter(draws)
    assert set(counts) == set(DATA) and max(counts.values()) < 260  # about 200 each
    assert len(draws) == 2000


def test_random_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(DATA, num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(DATA, replacement=1)


def test_subset_random_sampler_permutes_the_given_indices():
    order = list(SubsetRandomSampler([4, 8, 15, 16], generator=tinytorch.Generator()))
    assert sorted(order) == [4, 8, 15, 16]


def test_weighted_sampler_follows_the_weights_and_never_draws_zero_weight():
    w = [0.0, 1.0, 3.0]
    draws = list(WeightedRandomSampler(w, 4000, generator=tinytorch.Generator().manual_seed(0)))
    counts = Counter(draws)
    assert 0 not in counts
    assert 2.7 < counts[2] / counts[1] < 3.3


def test_weighted_sampler_without_replacement_draws_distinct_indices():
    draws = list(WeightedRandomSampler(tinytorch.tensor([1.0, 2.0, 3.0, 4.0]), 4,
                                       replacement=False))
    assert sorted(draws) == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="cannot sample n_sample=3 > prob_dist.size"):
        WeightedRandomSampler([1.0, 0.0, 1.0], 3, replacement=False)
    with pytest.raises(RuntimeError, match="invalid multinomial distribution"):
        WeightedRandomSampler([1.0, -1.0], 1)


@pytest.mark.parametrize("drop_last,expected", [(False, [[0, 1, 2], [3, 4, 5], [6, 7]]),
                                                (True, [[0, 1, 2], [3, 4, 5]])])
def test_batch_sampler_groups_indices(drop_last, expected):
    bs = BatchSampler(SequentialSampler(list(range(8))), 3, drop_last)
    assert list(bs) == expected and len(bs) == len(expected)


def test_batch_sampler_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(DATA, 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        BatchSampler(DATA, 2, None)
    assert np.array_equal(list(BatchSampler(iter(DATA), 5, False))[1], [5, 6, 7, 8, 9])
