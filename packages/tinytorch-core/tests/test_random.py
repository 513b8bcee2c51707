"""Random numbers: ``manual_seed`` reproducibility, RNG state capture/restore, Generators."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch as tt


def draws() -> list[np.ndarray]:
    """One of every random constructor, in a fixed order."""
    return [
        tt.rand(3, 2).numpy(),
        tt.randn(4).numpy(),
        tt.randint(0, 10, (5,)).numpy(),
        tt.randperm(7).numpy(),
        tt.rand_like(tt.zeros(2, dtype=tt.float64)).numpy(),
        tt.randn(3, dtype=tt.float64).numpy(),
        tt.empty(4).uniform_(-2.0, 2.0).numpy(),
        tt.empty(4).normal_(1.0, 0.5).numpy(),
    ]


def assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


def test_manual_seed_makes_every_random_op_reproducible() -> None:
    tt.manual_seed(1234)
    first = draws()
    tt.manual_seed(1234)
    assert_same(first, draws())


def test_different_seeds_give_different_streams() -> None:
    tt.manual_seed(1)
    a = tt.randn(16).numpy()
    tt.manual_seed(2)
    assert not np.array_equal(a, tt.randn(16).numpy())


def test_consecutive_draws_differ() -> None:
    tt.manual_seed(0)
    assert not np.array_equal(tt.rand(8).numpy(), tt.rand(8).numpy())


def test_get_and_set_rng_state_replays_the_stream() -> None:
    tt.manual_seed(7)
    tt.randn(5)
    state = tt.get_rng_state()
    ahead = draws()
    tt.randn(100)  # move on
    tt.set_rng_state(state)
    assert_same(ahead, draws())


def test_rng_state_is_a_snapshot_not_a_live_view() -> None:
    tt.manual_seed(3)
    state = tt.get_rng_state()
    first = tt.rand(4).numpy()
    tt.rand(4)
    tt.set_rng_state(state)
    np.testing.assert_array_equal(tt.rand(4).numpy(), first)


def test_manual_seed_returns_a_generator_and_initial_seed_reports_it() -> None:
    gen = tt.manual_seed(42)
    assert isinstance(gen, tt.Generator)
    assert tt.initial_seed() == 42
    with pytest.raises(TypeError):
        tt.manual_seed(1.5)


def test_seed_reseeds_from_entropy_and_reports_the_seed() -> None:
    s = tt.seed()
    assert tt.initial_seed() == s
    x = tt.rand(4).numpy()
    tt.manual_seed(s)
    np.testing.assert_array_equal(tt.rand(4).numpy(), x)


def test_a_private_generator_is_reproducible_and_leaves_the_global_stream_alone() -> None:
    tt.manual_seed(5)
    expected_global = tt.rand(3).numpy()

    tt.manual_seed(5)
    g1 = tt.Generator().manual_seed(99)
    a = tt.randn(6, generator=g1).numpy()
    assert_global = tt.rand(3).numpy()
    np.testing.assert_array_equal(assert_global, expected_global)

    g2 = tt.Generator().manual_seed(99)
    np.testing.assert_array_equal(tt.randn(6, generator=g2).numpy(), a)
    assert tt.randint(0, 100, (4,), generator=g1).shape == (4,)


def test_generator_state_round_trip() -> None:
    g = tt.Generator().manual_seed(11)
    state = g.get_state()
    a = tt.rand(5, generator=g).numpy()
    g.set_state(state)
    np.testing.assert_array_equal(tt.rand(5, generator=g).numpy(), a)


def test_float32_and_float64_randn_are_each_reproducible() -> None:
    for dtype in (tt.float32, tt.float64):
        tt.manual_seed(0)
        a = tt.randn(10, dtype=dtype)
        tt.manual_seed(0)
        b = tt.randn(10, dtype=dtype)
        assert a.dtype == dtype
        np.testing.assert_array_equal(a.numpy(), b.numpy())
