"""Edge cases: 0-d tensors, empty dims, negative dims, non-contiguous inputs, dtype rules."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch as tt


def f64(values, requires_grad=True) -> tt.Tensor:
    return tt.tensor(values, dtype=tt.float64, requires_grad=requires_grad)


# ---------------------------------------------------------------- 0-d tensors
def test_zero_dim_tensor_arithmetic_and_backward() -> None:
    x = tt.tensor(3.0, requires_grad=True)
    y = x * x + 1
    assert y.shape == () and y.ndim == 0 and y.numel() == 1
    y.backward()
    assert x.grad.shape == () and x.grad.item() == 6.0


def test_zero_dim_results_are_arrays_that_support_in_place_updates() -> None:
    s = tt.tensor([1.0, 2.0]).sum()
    assert isinstance(s.array, np.ndarray) and s.shape == ()
    s += 1
    assert s.item() == 4.0
    r = tt.tensor(2.0) * 3
    r.zero_()
    assert r.item() == 0.0


def test_zero_dim_broadcasts_against_higher_dims() -> None:
    a = f64(2.0)
    b = f64([[1.0, 2.0], [3.0, 4.0]])
    (a * b).sum().backward()
    assert a.grad.shape == () and a.grad.item() == 10.0
    np.testing.assert_array_equal(b.grad.numpy(), np.full((2, 2), 2.0))


def test_reductions_to_zero_dim_and_keepdim_on_zero_dim() -> None:
    x = f64(5.0)
    assert x.sum().shape == () and x.mean().item() == 5.0
    assert x.sum(dim=0).shape == () and x.sum(dim=-1, keepdim=True).shape == ()


# ---------------------------------------------------------------- empty dims
def test_empty_tensors_flow_through_ops_and_backward() -> None:
    x = tt.zeros(0, 3, dtype=tt.float64, requires_grad=True)
    y = (x * 2 + 1).exp()
    assert y.shape == (0, 3)
    y.sum().backward()
    assert x.grad.shape == (0, 3)


def test_reducing_an_empty_dim() -> None:
    x = tt.zeros(0, 3)
    assert x.sum(dim=0).tolist() == [0.0, 0.0, 0.0]
    assert x.sum(dim=1).shape == (0,)
    assert x.sum().item() == 0.0
    with pytest.raises((RuntimeError, IndexError)):
        x.max(dim=0)


def test_matmul_with_an_empty_inner_dim_gives_zeros() -> None:
    a = tt.zeros(2, 0, dtype=tt.float64, requires_grad=True)
    b = tt.zeros(0, 3, dtype=tt.float64, requires_grad=True)
    out = a @ b
    np.testing.assert_array_equal(out.detach().numpy(), np.zeros((2, 3)))
    out.sum().backward()
    assert a.grad.shape == (2, 0) and b.grad.shape == (0, 3)


def test_cat_with_an_empty_part_and_reshape_of_empty() -> None:
    a, b = f64(np.zeros((0, 2))), f64([[1.0, 2.0]])
    c = tt.cat([a, b])
    assert c.shape == (1, 2)
    c.sum().backward()
    assert a.grad.shape == (0, 2) and b.grad.tolist() == [[1.0, 1.0]]
    assert tt.zeros(0, 4).reshape(2, 0, 2).shape == (2, 0, 2)


# ---------------------------------------------------------------- negative dims
NEGATIVE_DIM_OPS = {  # name: (op, rank of the dim range: ndim, or ndim + 1 for new dims)
    "sum": (lambda t, d: t.sum(dim=d), 3),
    "mean": (lambda t, d: t.mean(d), 3),
    "softmax": (lambda t, d: t.softmax(d), 3),
    "max": (lambda t, d: t.max(dim=d).values, 3),
    "amax": (lambda t, d: t.amax(d), 3),
    "logsumexp": (lambda t, d: t.logsumexp(d), 3),
    "squeeze": (lambda t, d: t.squeeze(d), 3),
    "transpose": (lambda t, d: t.transpose(d, 0), 3),
    "cat": (lambda t, d: tt.cat([t, t], dim=d), 3),
    "split": (lambda t, d: t.split(1, dim=d)[0], 3),
    "flatten": (lambda t, d: t.flatten(d), 3),
    "argmax": (lambda t, d: t.argmax(dim=d), 3),
    "var": (lambda t, d: t.var(d), 3),
    "norm": (lambda t, d: t.norm(dim=d), 3),
    "unsqueeze": (lambda t, d: t.unsqueeze(d), 4),
    "stack": (lambda t, d: tt.stack([t, t], dim=d), 4),
}


@pytest.mark.parametrize("name", sorted(NEGATIVE_DIM_OPS))
def test_negative_dims_count_from_the_end(name: str) -> None:
    op, rank = NEGATIVE_DIM_OPS[name]
    t = tt.tensor(np.random.default_rng(0).standard_normal((2, 1, 3)))
    for neg in range(-rank, 0):
        np.testing.assert_array_equal(op(t, neg).numpy(), op(t, neg + rank).numpy())


@pytest.mark.parametrize("op", [
    lambda t: t.sum(dim=3), lambda t: t.sum(dim=-4), lambda t: t.softmax(5),
    lambda t: t.transpose(0, 3), lambda t: t.unsqueeze(5), lambda t: t.max(dim=3),
], ids=["sum", "sum_negative", "softmax", "transpose", "unsqueeze", "max"])
def test_out_of_range_dims_raise_index_error(op) -> None:
    with pytest.raises(IndexError, match="[Dd]imension out of range"):
        op(tt.zeros(2, 1, 3))


# ---------------------------------------------------------------- non-contiguous inputs
NONCONTIG_OPS = {
    "exp": lambda t: t.exp(),
    "mul_self": lambda t: t * t,
    "matmul": lambda t: t @ t.mT,
    "sum_dim": lambda t: t.sum(dim=1),
    "softmax": lambda t: t.softmax(-1),
    "reshape": lambda t: t.reshape(-1),
    "index": lambda t: t[:, tt.tensor([0, 2])],
    "cat": lambda t: tt.cat([t, t], dim=0),
    "var": lambda t: t.var(dim=0),
}


@pytest.mark.parametrize("name", sorted(NONCONTIG_OPS))
def test_non_contiguous_inputs_give_the_same_values_and_gradients(name: str) -> None:
    op = NONCONTIG_OPS[name]
    base = np.random.default_rng(3).standard_normal((3, 4))
    contiguous = f64(np.ascontiguousarray(base.T))
    strided_leaf = f64(base)
    strided = strided_leaf.T          # (4, 3), Fortran-ordered view
    assert not strided.is_contiguous()
    a, b = op(contiguous), op(strided)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_allclose(contiguous.grad.numpy(), strided_leaf.grad.numpy().T, rtol=1e-12)


def test_view_of_a_non_contiguous_tensor_raises_like_pytorch() -> None:
    t = tt.zeros(2, 3).transpose(0, 1)
    with pytest.raises(RuntimeError, match="view"):
        t.view(6)
    assert t.reshape(6).shape == (6,)


def test_step_slices_and_expanded_inputs_work() -> None:
    x = f64(np.arange(12.0).reshape(3, 4))
    s = x[:, ::2]
    assert not s.is_contiguous()
    (s.exp() * 0 + s).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.tile([1.0, 0.0], (3, 2)))
    e = f64([1.0, 2.0]).unsqueeze(0).expand(3, 2)
    assert (e * 2).sum().item() == 18.0


# ---------------------------------------------------------------- dtype rules
FLOAT64_OPS = {
    "add_scalar": lambda t: t + 1.5,
    "rmul_scalar": lambda t: 2.5 * t,
    "div_int": lambda t: t / 3,
    "pow": lambda t: t ** 2.5,
    "exp": lambda t: t.exp(),
    "sigmoid": lambda t: t.sigmoid(),
    "mean": lambda t: t.mean(dim=0),
    "softmax": lambda t: t.softmax(0),
    "matmul": lambda t: t @ t.T,
    "var": lambda t: t.var(),
    "clamp": lambda t: t.clamp(0.1, 0.5),
    "where": lambda t: tt.where(t > 0.3, t, 0.0),
}


@pytest.mark.parametrize("name", sorted(FLOAT64_OPS))
def test_float64_in_gives_float64_out_and_float64_grads(name: str) -> None:
    x = f64(np.random.default_rng(0).uniform(0.1, 1.0, (3, 3)))
    out = FLOAT64_OPS[name](x)
    assert out.dtype == tt.float64
    out.sum().backward()
    assert x.grad.dtype == tt.float64


@pytest.mark.parametrize("name", sorted(FLOAT64_OPS))
def test_no_silent_promotion_of_float32_to_float64(name: str) -> None:
    x = tt.tensor(np.random.default_rng(0).uniform(0.1, 1.0, (3, 3)).astype(np.float32),
                  requires_grad=True)
    out = FLOAT64_OPS[name](x)
    assert out.dtype == tt.float32
    out.sum().backward()
    assert x.grad.dtype == tt.float32


def test_numpy_float64_scalars_do_not_promote_float32_tensors() -> None:
    x = tt.ones(2)
    assert (x * np.float64(2.0)).dtype == tt.float32
    assert (np.float64(2.0) * x).dtype == tt.float32


def test_mixed_float32_and_float64_tensors_promote_to_float64() -> None:
    assert (tt.ones(2) + tt.ones(2, dtype=tt.float64)).dtype == tt.float64


def test_int_tensors_stay_int_and_true_division_gives_float32() -> None:
    i = tt.tensor([1, 2, 3])
    assert (i + 1).dtype == tt.int64 and (i * i).dtype == tt.int64
    assert (i / 2).dtype == tt.float32 and (i / 2).tolist() == [0.5, 1.0, 1.5]
    assert (i + 0.5).dtype == tt.float32
    assert (i // 2).tolist() == [0, 1, 1] and (i % 2).tolist() == [1, 0, 1]
    assert i.sum().dtype == tt.int64 and i.sum().item() == 6


def test_bool_tensors_from_comparisons() -> None:
    x = tt.tensor([1.0, 2.0, 3.0])
    m = x > 1.5
    assert m.dtype == tt.bool and m.tolist() == [False, True, True]
    assert (x == 2.0).tolist() == [False, True, False]
    assert (~m).tolist() == [True, False, False]
    assert (m & (x < 3)).tolist() == [False, True, False]
    assert not m.requires_grad and not (tt.ones(1, requires_grad=True) > 0).requires_grad
