"""``einsum``, ``addmm`` and ``baddbmm``: values worked out by hand, gradients against finite
differences (float64), shapes from hypothesis, and agreement with PyTorch when installed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinytorch as tt


def leaf(shape: tuple[int, ...], seed: int = 0) -> tt.Tensor:
    a = np.random.default_rng(seed).standard_normal(shape)
    return tt.tensor(a, dtype=tt.float64, requires_grad=True)


# ---------------------------------------------------------------- einsum by hand
def test_einsum_matrix_product_by_hand() -> None:
    a = tt.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = tt.tensor([[5.0, 6.0], [7.0, 8.0]])
    assert tt.einsum("ij,jk->ik", a, b).tolist() == [[19.0, 22.0], [43.0, 50.0]]


def test_einsum_trace_diagonal_transpose_and_outer_by_hand() -> None:
    a = tt.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert tt.einsum("ii", a).item() == 5.0
    assert tt.einsum("ii->i", a).tolist() == [1.0, 4.0]
    assert tt.einsum("ij->ji", a).tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert tt.einsum("i,j->ij", tt.tensor([1.0, 2.0]), tt.tensor([3.0, 4.0, 5.0])).tolist() == [
        [3.0, 4.0, 5.0], [6.0, 8.0, 10.0]]


def test_einsum_implicit_output_is_letters_used_once_in_alphabetical_order() -> None:
    a = tt.ones(2, 3)
    assert tt.einsum("ba", a).shape == (3, 2)        # 'ba' -> 'ab': a transpose
    assert tt.einsum("ij,jk", tt.ones(2, 3), tt.ones(3, 4)).shape == (2, 4)


def test_einsum_accepts_a_list_of_operands_and_spaces() -> None:
    out = tt.einsum("i j , j -> i", [tt.ones(2, 3), tt.ones(3)])
    assert out.tolist() == [3.0, 3.0]


def test_einsum_gradient_of_a_trace_is_the_identity() -> None:
    a = tt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    tt.einsum("ii", a).backward()
    assert a.grad.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_einsum_gradient_of_a_sum_is_broadcast_ones() -> None:
    a = tt.ones(2, 3, requires_grad=True)
    tt.einsum("ij->i", a).sum().backward()
    assert a.grad.tolist() == [[1.0] * 3] * 2


def test_einsum_relabelling_returns_a_new_tensor() -> None:
    a = tt.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = tt.einsum("ij->ji", a)
    out[0, 0] = 100.0
    assert a[0, 0].item() == 1.0


def test_einsum_keeps_float32_and_integers() -> None:
    assert tt.einsum("ij,jk->ik", tt.ones(2, 3), tt.ones(3, 2)).dtype == tt.float32
    ints = tt.einsum("i,i->", tt.tensor([1, 2, 3]), tt.tensor([4, 5, 6]))
    assert ints.dtype == tt.int64 and ints.item() == 32


@pytest.mark.parametrize("equation, shapes, message", [
    ("ij,jk->ik", [(2, 3), (4, 5)], "subscript j has size 4 for operand 1"),
    ("ij,jk->ik", [(2, 3)], "fewer operands"),
    ("ij->ik", [(2, 3)], "output subscript k does not appear"),
    ("ij->ii", [(2, 2)], "appears more than once"),
    ("ijk", [(2, 3)], "number of subscripts"),
    ("ii", [(2, 3)], "repeated for operand 0"),
    ("i1", [(2, 3)], "invalid subscript"),
])
def test_einsum_rejects_bad_equations_like_pytorch(equation: str, shapes: list, message: str,
                                                   ) -> None:
    with pytest.raises(RuntimeError, match=message):
        tt.einsum(equation, *[tt.ones(*s) for s in shapes])


def test_einsum_rejects_mixed_dtypes() -> None:
    with pytest.raises(RuntimeError, match="same dtype.*float32.*float64"):
        tt.einsum("ij,jk", tt.ones(2, 3), tt.ones(3, 2, dtype=tt.float64))


# ---------------------------------------------------------------- einsum gradients
EQUATIONS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("ii->i", [(3, 3)]),
    ("iji->j", [(2, 3, 2)]),
    ("ij->", [(2, 3)]),
    ("i,j->ij", [(2,), (3,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("...ij,...jk->...ik", [(3, 2, 3), (3, 2)]),
    ("...i,...i->...", [(4, 1, 3), (2, 3)]),
    ("ij,kj->ik", [(1, 3), (4, 3)]),
    ("iij,jk", [(2, 2, 3), (3, 2)]),
    ("ab,cd->", [(2, 3), (3, 2)]),
]


@pytest.mark.parametrize("equation, shapes", EQUATIONS)
def test_einsum_gradients_match_finite_differences(equation: str, shapes: list) -> None:
    inputs = tuple(leaf(s, i) for i, s in enumerate(shapes))
    assert tt.gradcheck(lambda *xs: tt.einsum(equation, *xs), inputs)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.integers(0, 2**31))
def test_einsum_batched_product_equals_matmul_in_shape_and_value(b: int, m: int, k: int, n: int,
                                                                  seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((b, m, k)), rng.standard_normal((b, k, n))
    out = tt.einsum("bmk,bkn->bmn", tt.tensor(x), tt.tensor(y))
    assert out.shape == (b, m, n)
    np.testing.assert_allclose(out.numpy(), x.astype(np.float32) @ y.astype(np.float32),
                               rtol=1e-5, atol=1e-5)


@given(st.permutations(["i", "j", "k"]), st.integers(0, 2**31))
def test_einsum_permutation_has_the_permuted_shape_and_gradient(order: list, seed: int) -> None:
    x = leaf((2, 3, 4), seed % 1000)
    out = tt.einsum("ijk->" + "".join(order), x)
    assert out.shape == tuple({"i": 2, "j": 3, "k": 4}[c] for c in order)
    out.sum().backward()
    assert x.grad.shape == (2, 3, 4) and np.all(x.grad.numpy() == 1.0)


# ---------------------------------------------------------------- addmm / baddbmm
def test_addmm_by_hand_with_beta_and_alpha() -> None:
    c = tt.tensor([1.0, 2.0])
    a = tt.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = tt.eye(2)
    out = tt.addmm(c, a, b, beta=0.5, alpha=2)
    assert out.tolist() == [[2.5, 5.0], [6.5, 9.0]]
    assert c.addmm(a, b).tolist() == [[2.0, 4.0], [4.0, 6.0]]


def test_addmm_with_beta_zero_ignores_nan_in_input() -> None:
    out = tt.addmm(tt.full((2, 2), float("nan")), tt.ones(2, 3), tt.ones(3, 2), beta=0)
    assert out.tolist() == [[3.0, 3.0], [3.0, 3.0]]


def test_addmm_and_baddbmm_gradients_match_finite_differences() -> None:
    assert tt.gradcheck(lambda c, a, b: tt.addmm(c, a, b, beta=0.7, alpha=-1.5),
                        (leaf((3,), 1), leaf((2, 4), 2), leaf((4, 3), 3)))
    assert tt.gradcheck(lambda c, a, b: tt.baddbmm(c, a, b, beta=2.0, alpha=0.5),
                        (leaf((1, 2, 3), 1), leaf((2, 2, 4), 2), leaf((2, 4, 3), 3)))


def test_baddbmm_by_hand() -> None:
    c = tt.zeros(2, 1, 1)
    a = tt.tensor([[[1.0, 2.0]], [[3.0, 4.0]]])
    b = tt.tensor([[[1.0], [1.0]], [[2.0], [0.5]]])
    assert c.baddbmm(a, b, alpha=2).tolist() == [[[6.0]], [[16.0]]]


@pytest.mark.parametrize("fn, message", [
    (lambda: tt.addmm(tt.ones(2, 2), tt.ones(2, 3), tt.ones(4, 2)), r"\(2x3 and 4x2\)"),
    (lambda: tt.addmm(tt.ones(2), tt.ones(3), tt.ones(3, 2)), "mat1 must be a matrix"),
    (lambda: tt.addmm(tt.ones(3, 3), tt.ones(2, 3), tt.ones(3, 2)), r"shape \(3, 3\)"),
    (lambda: tt.addmm(tt.ones(2, 2), tt.ones(2, 3), tt.ones(3, 2, dtype=tt.float64)),
     "same dtype"),
    (lambda: tt.baddbmm(tt.ones(2, 2), tt.ones(2, 3), tt.ones(2, 3, 2)), "batch1 must be a 3D"),
    (lambda: tt.baddbmm(tt.ones(1), tt.ones(2, 2, 3), tt.ones(3, 3, 2)), r"\[2, 3\] but got"),
])
def test_addmm_and_baddbmm_reject_bad_shapes_and_dtypes(fn, message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        fn()


# ---------------------------------------------------------------- against PyTorch
TORCH_CASES = EQUATIONS + [("ii", [(3, 3)]), ("ba", [(2, 3)]), ("ij,jk", [(2, 0), (0, 3)])]


@pytest.mark.parametrize("equation, shapes", TORCH_CASES)
def test_einsum_values_and_gradients_match_pytorch(equation: str, shapes: list) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in shapes]
    ours = [tt.tensor(a, requires_grad=True) for a in arrays]
    ref = [torch.tensor(a, requires_grad=True) for a in arrays]
    o, r = tt.einsum(equation, *ours), torch.einsum(equation, *ref)
    assert o.shape == tuple(r.shape)
    np.testing.assert_allclose(o.detach().numpy(), r.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = rng.standard_normal(tuple(r.shape))
    (o * tt.tensor(w)).sum().backward()
    (r * torch.tensor(w)).sum().backward()
    for x, y in zip(ours, ref):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_addmm_and_baddbmm_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    for name, shapes in (("addmm", [(3,), (2, 4), (4, 3)]),
                         ("baddbmm", [(2, 1, 3), (2, 2, 4), (2, 4, 3)])):
        arrays = [rng.standard_normal(s) for s in shapes]
        ours = [tt.tensor(a, requires_grad=True) for a in arrays]
        ref = [torch.tensor(a, requires_grad=True) for a in arrays]
        o = getattr(tt, name)(*ours, beta=0.3, alpha=1.7)
        r = getattr(torch, name)(*ref, beta=0.3, alpha=1.7)
        np.testing.assert_allclose(o.detach().numpy(), r.detach().numpy(), rtol=1e-10)
        o.sum().backward()
        r.sum().backward()
        for x, y in zip(ours, ref):
            np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-10)
