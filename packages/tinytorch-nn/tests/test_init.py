"""nn.init: in-place fills, their distributions, gains, fans and reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinytorch
import tinytorch.nn as nn
from tinytorch.nn import init


def test_fills_happen_in_place_without_recording_a_graph():
    w = nn.Parameter(tinytorch.empty(3, 4))
    arr = w.array
    for fn in (init.zeros_, init.ones_, lambda t: init.constant_(t, 2.5),
               init.xavier_uniform_, init.kaiming_normal_, init.trunc_normal_):
        assert fn(w) is w
        assert w.array is arr and w.grad_fn is None and w.requires_grad
    init.constant_(w, 2.5)
    assert np.all(arr == 2.5) and arr.dtype == np.float32
    init.zeros_(w)
    assert not arr.any()
    init.ones_(w)
    assert np.all(arr == 1)


def test_uniform_and_normal_match_their_parameters():
    tinytorch.manual_seed(0)
    t = tinytorch.empty(200, 500)
    init.uniform_(t, -2.0, 3.0)
    a = t.numpy()
    assert a.min() >= -2.0 and a.max() < 3.0
    assert abs(a.mean() - 0.5) < 0.02 and abs(a.std() - 5 / math.sqrt(12)) < 0.02
    init.normal_(t, mean=1.0, std=0.5)
    assert abs(t.numpy().mean() - 1.0) < 0.01 and abs(t.numpy().std() - 0.5) < 0.01


def test_calculate_gain_values():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", "big")


def test_fan_in_and_fan_out_include_the_receptive_field():
    assert init._calculate_fan_in_and_fan_out(tinytorch.empty(5, 3)) == (3, 5)
    assert init._calculate_fan_in_and_fan_out(tinytorch.empty(16, 8, 3, 3)) == (72, 144)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(tinytorch.empty(4))


def test_xavier_uniform_bound_and_xavier_normal_std():
    tinytorch.manual_seed(1)
    t = tinytorch.empty(300, 200)
    init.xavier_uniform_(t, gain=2.0)
    bound = 2.0 * math.sqrt(6 / 500)
    assert np.abs(t.numpy()).max() <= bound and np.abs(t.numpy()).max() > 0.99 * bound
    init.xavier_normal_(t)
    assert abs(t.numpy().std() - math.sqrt(2 / 500)) < 0.002


def test_kaiming_uniform_and_normal_follow_fan_and_gain():
    tinytorch.manual_seed(2)
    t = tinytorch.empty(256, 400)
    init.kaiming_uniform_(t, nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / 400)
    assert np.abs(t.numpy()).max() <= bound and np.abs(t.numpy()).max() > 0.99 * bound
    init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    assert abs(t.numpy().std() - math.sqrt(2 / 256)) < 0.002
    init.kaiming_uniform_(t, a=math.sqrt(5))             # Linear's default: U(-1/√in, 1/√in)
    assert np.abs(t.numpy()).max() <= 1 / math.sqrt(400)
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(t, mode="fan_avg")


def test_kaiming_on_an_empty_tensor_is_a_no_op():
    t = tinytorch.empty(0, 3)
    assert init.kaiming_uniform_(t) is t


def test_trunc_normal_stays_in_bounds_with_the_right_moments():
    tinytorch.manual_seed(3)
    t = tinytorch.empty(100, 1000)
    init.trunc_normal_(t, mean=0.0, std=1.0, a=-2.0, b=2.0)
    a = t.numpy()
    assert a.min() >= -2.0 and a.max() <= 2.0
    assert abs(a.mean()) < 0.01
    assert abs(a.std() - 0.8796) < 0.01                  # std of N(0,1) truncated to [-2, 2]
    init.trunc_normal_(t, mean=5.0, std=0.02, a=4.97, b=5.5)
    assert t.numpy().min() >= 4.97 and t.numpy().max() <= 5.5


def test_trunc_normal_refuses_an_interval_with_almost_no_mass():
    with pytest.raises(ValueError, match="holds only"):
        init.trunc_normal_(tinytorch.empty(3), mean=0.0, std=1.0, a=8.0, b=9.0)
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(tinytorch.empty(3), a=1.0, b=0.0)


def test_manual_seed_makes_every_init_reproducible():
    for fn in (init.uniform_, init.normal_, init.xavier_normal_, init.kaiming_uniform_,
               init.trunc_normal_):
        tinytorch.manual_seed(11)
        a = fn(tinytorch.empty(8, 8)).numpy().copy()
        tinytorch.manual_seed(11)
        np.testing.assert_array_equal(a, fn(tinytorch.empty(8, 8)).numpy())


def test_a_private_generator_leaves_the_global_stream_alone():
    tinytorch.manual_seed(4)
    expected = tinytorch.rand(3).numpy()
    tinytorch.manual_seed(4)
    init.normal_(tinytorch.empty(5, 5), generator=tinytorch.Generator().manual_seed(9))
    np.testing.assert_array_equal(tinytorch.rand(3).numpy(), expected)
