"""Tensor creation, dtypes, metadata, conversions and printing, with PyTorch's rules."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch as tt


# ---------------------------------------------------------------- creation and dtype inference
@pytest.mark.parametrize("data, dtype", [
    (1.5, tt.float32),
    ([1.0, 2.0], tt.float32),
    ([1, 2], tt.int64),
    ([True, False], tt.bool),
    ([[1, 2], [3, 4]], tt.int64),
    ([1, 2.5], tt.float32),
    (np.array([1.0, 2.0]), tt.float64),          # an array keeps its dtype
    (np.array([1, 2], dtype=np.int32), tt.int32),
    (np.array([1.0], dtype=np.float16), tt.float16),
])
def test_tensor_infers_dtype_like_pytorch(data, dtype) -> None:
    assert tt.tensor(data).dtype == dtype


def test_tensor_copies_its_data_and_from_numpy_shares_it() -> None:
    a = np.array([1.0, 2.0], dtype=np.float32)
    copied, shared = tt.tensor(a), tt.from_numpy(a)
    a[0] = 9.0
    assert copied.tolist() == [1.0, 2.0]
    assert shared.tolist() == [9.0, 2.0]
    shared.array[1] = 7.0
    assert a[1] == 7.0


def test_tensor_with_explicit_dtype_and_requires_grad() -> None:
    t = tt.tensor([1, 2], dtype=tt.float64, requires_grad=True)
    assert t.dtype == tt.float64 and t.requires_grad and t.is_leaf
    assert tt.tensor([1.7, -1.2], dtype=tt.int64).tolist() == [1, -1]


def test_tensor_rejects_strings_and_ragged_lists() -> None:
    with pytest.raises((TypeError, ValueError)):
        tt.tensor(["a", "b"])
    with pytest.raises((TypeError, ValueError)):
        tt.tensor([[1, 2], [3]])


@pytest.mark.parametrize("fn, fill", [(tt.zeros, 0.0), (tt.ones, 1.0)])
def test_zeros_ones_accept_varargs_tuple_and_list(fn, fill) -> None:
    for t in (fn(2, 3), fn((2, 3)), fn([2, 3])):
        assert t.shape == (2, 3) and t.dtype == tt.float32
        assert np.all(t.numpy() == fill)
    assert fn(2, dtype=tt.int64).dtype == tt.int64
    assert fn(()).shape == () and fn(0).shape == (0,)


def test_full_and_empty() -> None:
    assert tt.full((2, 2), 7).dtype == tt.int64
    assert tt.full((2,), 1.5).tolist() == [1.5, 1.5]
    assert tt.full((2,), True).dtype == tt.bool
    assert tt.full((3,), 2.0, dtype=tt.float64).dtype == tt.float64
    e = tt.empty(3, 4)
    assert e.shape == (3, 4) and e.dtype == tt.float32


def test_negative_size_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="negative"):
        tt.zeros(2, -1)


def test_like_constructors_copy_shape_and_dtype() -> None:
    base = tt.ones(2, 3, dtype=tt.float64)
    for t in (tt.zeros_like(base), tt.ones_like(base), tt.empty_like(base), tt.rand_like(base),
              tt.randn_like(base), tt.full_like(base, 4.0)):
        assert t.shape == (2, 3) and t.dtype == tt.float64
    assert tt.zeros_like(base, dtype=tt.int64).dtype == tt.int64
    assert tt.full_like(base, 4.0).tolist() == [[4.0] * 3] * 2
    r = tt.randint_like(tt.zeros(5, dtype=tt.int64), 3)
    assert r.dtype == tt.int64 and r.numpy().max() < 3


def test_arange_dtype_and_values() -> None:
    assert tt.arange(5).tolist() == [0, 1, 2, 3, 4] and tt.arange(5).dtype == tt.int64
    assert tt.arange(1, 7, 2).tolist() == [1, 3, 5]
    assert tt.arange(0, 1, 0.25).dtype == tt.float32
    np.testing.assert_allclose(tt.arange(0, 1, 0.25).numpy(), [0, 0.25, 0.5, 0.75])
    assert tt.arange(5, 0, -2).tolist() == [5, 3, 1]
    assert tt.arange(3, dtype=tt.float64).dtype == tt.float64


def test_linspace_and_eye() -> None:
    lin = tt.linspace(0, 1, 5)
    assert lin.dtype == tt.float32
    np.testing.assert_allclose(lin.numpy(), [0, 0.25, 0.5, 0.75, 1.0])
    assert tt.eye(3).tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert tt.eye(2, 3).shape == (2, 3) and tt.eye(2).dtype == tt.float32


def test_random_constructors_shapes_dtypes_and_ranges() -> None:
    tt.manual_seed(0)
    u = tt.rand(1000)
    assert u.dtype == tt.float32 and 0.0 <= u.numpy().min() and u.numpy().max() < 1.0
    n = tt.randn(4000, dtype=tt.float64)
    assert n.dtype == tt.float64 and abs(n.numpy().mean()) < 0.1 and 0.9 < n.numpy().std() < 1.1
    r = tt.randint(2, 5, (100,))
    assert r.dtype == tt.int64 and r.numpy().min() >= 2 and r.numpy().max() < 5
    assert tt.randint(3, (2, 2)).shape == (2, 2)
    p = tt.randperm(6)
    assert sorted(p.tolist()) == list(range(6)) and p.dtype == tt.int64
    assert tt.randn(2, 3, requires_grad=True).requires_grad


def test_as_tensor_reuses_matching_arrays() -> None:
    a = np.zeros(3, dtype=np.float32)
    assert tt.as_tensor(a).array is a
    t = tt.ones(2)
    assert tt.as_tensor(t) is t
    assert tt.as_tensor([1, 2]).dtype == tt.int64


def test_creation_rejects_non_cpu_devices() -> None:
    assert tt.zeros(2, device="cpu").shape == (2,)
    with pytest.raises(RuntimeError, match="cuda"):
        tt.zeros(2, device="cuda")


# ---------------------------------------------------------------- dtypes
def test_dtype_aliases_and_default_dtype() -> None:
    assert tt.float is tt.float32 and tt.double is tt.float64
    assert tt.long is tt.int64 and tt.half is tt.float16
    assert tt.get_default_dtype() == tt.float32
    tt.set_default_dtype(tt.float64)
    assert tt.tensor([1.5]).dtype == tt.float64 and tt.zeros(1).dtype == tt.float64
    tt.set_default_dtype(tt.float32)
    assert tt.tensor([1.5]).dtype == tt.float32
    with pytest.raises(TypeError):
        tt.set_default_dtype(tt.int64)


def test_float16_tensors_compute_and_keep_their_dtype() -> None:
    h = tt.tensor([1.0, 2.0], dtype=tt.float16)
    assert (h * 2 + 1).dtype == tt.float16
    assert h.half().dtype == tt.float16 and h.float().dtype == tt.float32
    assert h.element_size() == 2 and h.nbytes == 4


@pytest.mark.parametrize("method, dtype", [
    ("float", tt.float32), ("double", tt.float64), ("long", tt.int64), ("bool", tt.bool),
    ("half", tt.float16),
])
def test_conversion_methods(method, dtype) -> None:
    t = tt.tensor([0.0, 1.5, -2.7])
    out = getattr(t, method)()
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.numpy(), t.numpy().astype(dtype))


def test_to_dtype_returns_self_when_nothing_changes_and_accepts_a_tensor() -> None:
    t = tt.ones(2)
    assert t.to(tt.float32) is t
    assert t.to("cpu") is t
    assert t.to(tt.float64).dtype == tt.float64
    assert t.to(dtype=tt.int64).dtype == tt.int64
    assert t.to(tt.zeros(1, dtype=tt.float16)).dtype == tt.float16
    with pytest.raises(RuntimeError, match="CPU"):
        t.to("cuda")


def test_casting_float_to_long_truncates_toward_zero() -> None:
    assert tt.tensor([1.9, -1.9]).long().tolist() == [1, -1]


# ---------------------------------------------------------------- metadata
def test_shape_metadata() -> None:
    t = tt.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.size() == (2, 3, 4)
    assert t.size(1) == 3 and t.size(-1) == 4
    assert t.ndim == 3 and t.dim() == 3
    assert t.numel() == 24 and t.nbytes == 96 and t.element_size() == 4
    assert len(t) == 2
    assert t.device == "cpu" or str(t.device) == "cpu"
    assert t.is_floating_point() and not tt.zeros(1, dtype=tt.int64).is_floating_point()


def test_item_and_python_number_conversions() -> None:
    assert tt.tensor(2.5).item() == 2.5 and isinstance(tt.tensor(2.5).item(), float)
    assert tt.tensor([7]).item() == 7 and isinstance(tt.tensor([7]).item(), int)
    assert tt.tensor(True).item() is True
    assert float(tt.tensor([1.5])) == 1.5 and int(tt.tensor(3)) == 3
    with pytest.raises(RuntimeError, match="2 elements"):
        tt.tensor([1.0, 2.0]).item()


def test_bool_of_a_tensor_follows_pytorch() -> None:
    assert bool(tt.tensor([1.0])) and not bool(tt.tensor(0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(tt.tensor([1.0, 2.0]))


def test_numpy_shares_memory_and_tolist_gives_python_values() -> None:
    t = tt.tensor([[1, 2], [3, 4]])
    t.numpy()[0, 0] = 10
    assert t.tolist() == [[10, 2], [3, 4]]
    assert isinstance(t.tolist()[0][0], int)
    assert tt.tensor(2.0).tolist() == 2.0


def test_clone_copies_memory_and_keeps_the_graph() -> None:
    x = tt.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.requires_grad and c.grad_fn is not None
    assert not np.shares_memory(c.array, x.array)
    (c * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_detach_shares_memory_without_grad() -> None:
    x = tt.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and np.shares_memory(d.array, x.array)


def test_contiguous_copies_only_when_needed() -> None:
    t = tt.arange(6).reshape(2, 3)
    assert t.is_contiguous() and t.contiguous() is t
    tr = t.transpose(0, 1)
    assert not tr.is_contiguous()
    c = tr.contiguous()
    assert c.is_contiguous() and c.tolist() == tr.tolist()


def test_len_and_iteration_over_the_first_dim() -> None:
    rows = list(tt.tensor([[1, 2], [3, 4], [5, 6]]))
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4], [5, 6]]
    with pytest.raises(TypeError):
        len(tt.tensor(1.0))


# ---------------------------------------------------------------- printing
@pytest.mark.parametrize("make, text", [
    (lambda: tt.tensor([1.0, 2.0]), "tensor([1., 2.])"),
    (lambda: tt.tensor([1.5, 2.25]), "tensor([1.5000, 2.2500])"),
    (lambda: tt.tensor([1, 2]), "tensor([1, 2])"),
    (lambda: tt.tensor(3.0), "tensor(3.)"),
    (lambda: tt.tensor([1.0, 2.0], dtype=tt.float64), "tensor([1., 2.], dtype=tinytorch.float64)"),
    (lambda: tt.tensor([True, False]), "tensor([ True, False])"),
    (lambda: tt.zeros(2, 0), "tensor([], size=(2, 0))"),
    (lambda: tt.tensor([]), "tensor([])"),
    (lambda: tt.tensor([], dtype=tt.int64), "tensor([], dtype=tinytorch.int64)"),
    (lambda: tt.tensor(2.5, requires_grad=True), "tensor(2.5000, requires_grad=True)"),
    (lambda: tt.tensor([[1, 2], [3, 4]]), "tensor([[1, 2],\n        [3, 4]])"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_repr_looks_like_pytorch(make, text) -> None:
    assert repr(make()) == text


def test_repr_of_a_result_names_its_grad_fn() -> None:
    y = tt.tensor([1.0, 2.0], requires_grad=True) * 2
    assert repr(y).startswith("tensor([2., 4.], grad_fn=<Mul")


def test_repr_of_a_large_tensor_is_summarised() -> None:
    text = repr(tt.arange(5000))
    assert "..." in text and len(text) < 200


def test_format_of_a_scalar_tensor_accepts_a_format_spec() -> None:
    assert f"{tt.tensor(3.14159):.2f}" == "3.14"
