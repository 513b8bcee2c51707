"""Sparse checkpoints: smaller on disk as sparsity grows, and bit-identical when loaded."""

from __future__ import annotations

import copy
import os
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch as tt
from tinytorch import nn
from tinytorch.arch import BatchNorm1d
from tinytorch.perf import load_sparse, prune_magnitude, save_sparse


def bits(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array).tobytes()


def assert_identical(saved: dict, loaded: dict) -> None:
    assert list(saved) == list(loaded)
    for name, value in saved.items():
        a = value.array if isinstance(value, tt.Tensor) else value
        b = loaded[name].array
        assert (a.dtype, a.shape, bits(a)) == (b.dtype, b.shape, bits(b)), name


def test_file_shrinks_with_sparsity_measured_on_disk(tmp_path):
    tt.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 64))
    tt.save(model.state_dict(), tmp_path / "dense.tt")
    dense = os.path.getsize(tmp_path / "dense.tt")
    sizes = {}
    for amount in (0.5, 0.9):
        prune_magnitude(model, amount)
        save_sparse(model, tmp_path / f"sparse{amount}.tt")
        sizes[amount] = os.path.getsize(tmp_path / f"sparse{amount}.tt")
    weights = 256 * 256 + 256 * 64
    # bitmask (1 bit per weight) + the kept float32 weights + the dense biases
    for amount, size in sizes.items():
        expected = weights / 8 + 4 * round((1 - amount) * weights) + 4 * (256 + 64)
        assert expected <= size < expected + 4096  # + headers and manifest
    assert sizes[0.5] < 0.56 * dense
    assert sizes[0.9] < 0.16 * dense


def test_a_pruned_model_loads_back_bit_for_bit(tmp_path):
    tt.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 16), BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))
    model(tt.randn(8, 32))  # running statistics that are not round numbers
    prune_magnitude(model, 0.8)
    save_sparse(model, tmp_path / "m.tt")
    loaded = load_sparse(tmp_path / "m.tt")
    assert_identical(model.state_dict(), loaded)
    fresh = nn.Sequential(nn.Linear(32, 16), BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))
    fresh.load_state_dict(loaded)
    model.eval()
    fresh.eval()
    x = tt.randn(3, 32)
    np.testing.assert_array_equal(fresh(x).array, model(x).array)


def test_negative_zero_nan_and_every_dtype_survive(tmp_path):
    weights = np.zeros((40, 10), np.float32)
    weights[0, :4] = [-0.0, np.nan, np.inf, -1e-45]
    state = {"w": weights, "w64": np.where(np.arange(100) % 7 == 0, 1.5, 0.0),
             "ints": np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 5] * 4, np.int64),
             "flags": np.zeros(64, bool), "step": np.array(3, np.int64),
             "empty": np.zeros((0, 3), np.float32), "half": np.zeros(50, np.float16)}
    save_sparse(state, tmp_path / "s.tt")
    assert_identical(state, load_sparse(tmp_path / "s.tt"))


@settings(max_examples=40, deadline=None)
@given(array=hnp.arrays(st.sampled_from([np.float32, np.float64, np.int32]),
                        hnp.array_shapes(max_dims=3, max_side=9),
                        elements=st.sampled_from([0, 0, 0, 1, -2]).map(float)))
def test_any_array_round_trips_exactly(array, tmp_path_factory):
    path = tmp_path_factory.mktemp("sparse") / "a.tt"
    save_sparse({"a": array}, path)
    assert_identical({"a": array}, load_sparse(path))


def test_the_file_is_a_tinytorch_archive_without_pickles(tmp_path):
    save_sparse({"w": np.zeros((64, 64), np.float32)}, tmp_path / "z.tt")
    with zipfile.ZipFile(tmp_path / "z.tt") as archive:
        names = archive.namelist()
    assert "tinytorch.json" in names
    assert all(n == "tinytorch.json" or n.endswith(".npy") for n in names)


def test_dense_tensors_stay_dense(tmp_path):
    tt.manual_seed(0)
    state = nn.Linear(128, 128).state_dict()
    tt.save(state, tmp_path / "plain.tt")
    save_sparse(state, tmp_path / "sparse.tt")
    assert os.path.getsize(tmp_path / "sparse.tt") < os.path.getsize(tmp_path / "plain.tt") + 512


def test_a_file_that_is_not_a_sparse_checkpoint_is_refused(tmp_path):
    tt.save({"w": tt.zeros(3)}, tmp_path / "plain.tt")
    with pytest.raises(RuntimeError, match=r"plain\.tt is not a sparse checkpoint"):
        load_sparse(tmp_path / "plain.tt")


def test_a_corrupt_bitmask_is_reported(tmp_path):
    save_sparse({"w": np.zeros((64, 64), np.float32)}, tmp_path / "s.tt")
    archive = tt.load(tmp_path / "s.tt")
    archive = copy.deepcopy(archive)
    archive["tensors"]["w"]["mask"][0] = 255
    tt.save(archive, tmp_path / "bad.tt")
    with pytest.raises(RuntimeError, match=r"'w' in .*bad\.tt is corrupt: its bitmask marks 8"):
        load_sparse(tmp_path / "bad.tt")


def test_entries_that_are_not_tensors_are_refused(tmp_path):
    with pytest.raises(TypeError, match="entry 'lr' is a float"):
        save_sparse({"lr": 0.1}, tmp_path / "x.tt")
    with pytest.raises(TypeError, match="expected a Module or a state dict"):
        save_sparse([np.zeros(3)], tmp_path / "x.tt")
