"""nn.functional as a namespace: exports, the lazy Architecture-tier lookup, and properties of
linear / layer_norm / dropout checked over generated shapes."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch
import tinytorch.nn as nn
import tinytorch.nn.functional as F
from tinytorch.nn import _lazy


def test_functional_exports_every_documented_name():
    for name in F.__all__:
        assert callable(getattr(F, name)), name
    assert nn.functional is F
    assert callable(nn.init.xavier_uniform_) and callable(nn.utils.clip_grad_norm_)


def test_one_hot_and_pad_are_cores_ops_at_pytorchs_path():
    from tinytorch.core.ops.compare import one_hot
    from tinytorch.core.ops.shape import pad

    assert F.one_hot is one_hot and F.pad is pad
    np.testing.assert_array_equal(F.one_hot(tinytorch.tensor([2, 0]), 3).numpy(),
                                  [[0, 0, 1], [1, 0, 0]])
    assert F.pad(tinytorch.ones(2, 2), (1, 1)).shape == (2, 4)


# ---------------------------------------------------------------- lazy Architecture lookup
def _absent(monkeypatch):
    monkeypatch.setitem(sys.modules, "tinytorch.arch", None)
    monkeypatch.setitem(sys.modules, "tinytorch.arch.functional", None)


def test_arch_layer_without_tinytorch_arch_names_the_distribution(monkeypatch):
    _absent(monkeypatch)
    with pytest.raises(ImportError, match=r"tinytorch\.nn\.Conv2d is provided by the "
                                          r"tinytorch-arch distribution.*pip install "
                                          r"tinytorch-arch"):
        nn.Conv2d
    with pytest.raises(ImportError, match=r"tinytorch\.nn\.functional\.conv2d .*tinytorch-arch"):
        F.conv2d


def test_arch_names_resolve_to_the_arch_objects_when_installed(monkeypatch):
    arch = types.ModuleType("tinytorch.arch")
    functional = types.ModuleType("tinytorch.arch.functional")
    for name in nn.ARCH_LAYERS:
        setattr(arch, name, type(name, (nn.Module,), {}))
    for name in F.ARCH_FUNCTIONS:
        setattr(functional, name, lambda *a, _n=name: _n)
    monkeypatch.setitem(sys.modules, "tinytorch.arch", arch)
    monkeypatch.setitem(sys.modules, "tinytorch.arch.functional", functional)
    assert nn.Conv2d is arch.Conv2d and nn.MultiheadAttention is arch.MultiheadAttention
    assert F.scaled_dot_product_attention() == "scaled_dot_product_attention"
    assert "BatchNorm2d" in dir(nn) and "max_pool2d" in dir(F)


def test_other_import_errors_inside_arch_are_not_disguised(monkeypatch):
    def broken(name):
        raise ModuleNotFoundError("No module named 'onnx'", name="onnx")

    monkeypatch.setattr(_lazy.importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="onnx"):
        nn.Embedding


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'Conv3d'"):
        nn.Conv3d
    with pytest.raises(AttributeError, match="has no attribute 'conv3d'"):
        F.conv3d


# ---------------------------------------------------------------- properties
dims = st.integers(1, 5)


@settings(max_examples=25, deadline=None)
@given(lead=st.lists(dims, min_size=0, max_size=3), fan_in=dims, fan_out=dims,
       bias=st.booleans())
def test_linear_equals_matmul_plus_bias_for_any_leading_shape(lead, fan_in, fan_out, bias):
    rng = np.random.default_rng(len(lead) + fan_in * 7 + fan_out * 31)
    x = rng.standard_normal((*lead, fan_in)).astype(np.float32)
    w = rng.standard_normal((fan_out, fan_in)).astype(np.float32)
    b = rng.standard_normal(fan_out).astype(np.float32) if bias else None
    y = F.linear(tinytorch.tensor(x), tinytorch.tensor(w),
                 tinytorch.tensor(b) if bias else None).numpy()
    ref = x @ w.T + (b if bias else 0)
    assert y.shape == (*lead, fan_out)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(lead=st.lists(dims, min_size=1, max_size=3), norm=st.lists(st.integers(2, 5),
                                                                  min_size=1, max_size=2))
def test_layer_norm_normalises_over_exactly_the_trailing_dims(lead, norm):
    rng = np.random.default_rng(sum(lead) * 13 + sum(norm))
    x = rng.standard_normal((*lead, *norm)) * 3 + 1
    y = F.layer_norm(tinytorch.tensor(x), norm).numpy()
    axes = tuple(range(len(lead), len(lead) + len(norm)))
    ref = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True)
                                                          + 1e-5)
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(dims, min_size=1, max_size=4), p=st.floats(0.05, 0.95))
def test_dropout_output_is_zero_or_scaled_input(shape, p):
    x = tinytorch.rand(*shape) + 0.5
    y = F.dropout(x, p=p).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], x.numpy()[kept] / (1 - p), rtol=1e-5)
    assert F.dropout(x, p=p, training=False) is x


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 6), max_size=3).map(tuple),
       p=st.sampled_from([0.0, 0.25, 0.5, 0.9, 1.0]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_dropout_mask_is_zero_or_the_scale_in_the_asked_dtype_and_reproducible(shape, p, dtype):
    from tinytorch.nn.functional.dropout import dropout_mask

    tinytorch.manual_seed(3)
    m = dropout_mask(shape, p, dtype)
    assert m.shape == shape and m.dtype == dtype
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    assert np.all((m == 0) | (m == dtype(scale)))
    tinytorch.manual_seed(3)
    np.testing.assert_array_equal(dropout_mask(shape, p, dtype), m)
