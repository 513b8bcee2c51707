"""Every differentiable op of tinytorch-core against central differences, in float64.

Hypothesis draws the shapes (mutually broadcastable ones for binary ops, batch dims for
matmul, dims and keepdim for reductions) and a seed for the values; each example runs
``tinytorch.gradcheck``, which compares the analytic gradient of every input with finite
differences. Values are drawn away from the points where an op is not differentiable (zero
for ``log``/``sqrt``/division, ties for ``max``) so a failure means a wrong backward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch as tt
from tinytorch.core.gradcheck import GradcheckError
from tinytorch.core.ops.shape import pad

SIDE = 4
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=SIDE)
nd_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=SIDE)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=SIDE)
seeds = st.integers(0, 2**32 - 1)


def leaf(rng: np.random.Generator, shape: tuple[int, ...], kind: str = "any") -> tt.Tensor:
    """A float64 leaf that requires grad. kind: any, positive (0.5..2) or nonzero (|x| >= 0.5)."""
    if kind == "positive":
        a = rng.uniform(0.5, 2.0, shape)
    elif kind == "nonzero":
        a = rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)
    else:
        a = rng.standard_normal(shape)
    return tt.tensor(a, dtype=tt.float64, requires_grad=True)


def check(fn: Callable[..., Any], *inputs: Any) -> None:
    assert tt.gradcheck(fn, inputs)


# ---------------------------------------------------------------- gradcheck itself can fail
class _WrongSquare(tt.autograd.Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * a

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * a  # should be 2 * a


def test_gradcheck_rejects_a_wrong_backward() -> None:
    x = leaf(np.random.default_rng(0), (3,))
    with pytest.raises(GradcheckError, match="input 0"):
        tt.gradcheck(_WrongSquare.apply, (x,))
    assert tt.gradcheck(_WrongSquare.apply, (x,), raise_exception=False) is False


def test_gradcheck_warns_about_inputs_that_are_not_float64_and_still_checks() -> None:
    x = tt.ones(3, requires_grad=True)
    with pytest.warns(UserWarning, match="input 0 .*not a double precision"):
        right = tt.gradcheck(lambda t: t * 2, (x,), eps=1e-2, atol=1e-3,
                             raise_exception=False)
    with pytest.warns(UserWarning, match="input 0 .*not a double precision"):
        wrong = tt.gradcheck(_WrongSquare.apply, (x,), eps=1e-2, atol=1e-3,
                             raise_exception=False)
    assert right is True
    assert wrong is False


# ---------------------------------------------------------------- arithmetic
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
    "add_alpha": lambda a, b: tt.add(a, b, alpha=2.5),
    "sub_alpha": lambda a, b: tt.sub(a, b, alpha=-0.5),
    "maximum": tt.maximum,
    "minimum": tt.minimum,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=pairs, seed=seeds)
def test_binary_op_gradients_with_broadcasting(name: str, shapes: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a = leaf(rng, sa, "positive" if name == "pow" else "any")
    b = leaf(rng, sb, "nonzero" if name == "div" else "any")
    check(BINARY[name], a, b)


SCALAR = {
    "x+s": lambda x: x + 2.5,
    "s+x": lambda x: 2.5 + x,
    "x-s": lambda x: x - 2.5,
    "s-x": lambda x: 2.5 - x,
    "x*s": lambda x: x * -1.5,
    "s*x": lambda x: -1.5 * x,
    "x/s": lambda x: x / 3.0,
    "s/x": lambda x: 3.0 / x,
    "x**2": lambda x: x ** 2,
    "x**3": lambda x: x ** 3,
    "x**-1.5": lambda x: x ** -1.5,
    "x**0.5": lambda x: x ** 0.5,
    "s**x": lambda x: 2.5 ** x,
    "x*int": lambda x: x * 3,
    "neg": lambda x: -x,
    "neg_fn": tt.neg,
}


@pytest.mark.parametrize("name", sorted(SCALAR))
@given(shape=shapes, seed=seeds)
def test_tensor_scalar_arithmetic_gradients(name: str, shape: tuple[int, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    kind = "positive" if name in ("x**-1.5", "x**0.5") else "nonzero"
    check(SCALAR[name], leaf(rng, shape, kind))


# ---------------------------------------------------------------- elementwise
UNARY = {
    "abs": (tt.abs, "nonzero"),
    "exp": (tt.exp, "any"),
    "log": (tt.log, "positive"),
    "sqrt": (tt.sqrt, "positive"),
    "rsqrt": (tt.rsqrt, "positive"),
    "sin": (tt.sin, "any"),
    "cos": (tt.cos, "any"),
    "tanh": (tt.tanh, "any"),
    "sigmoid": (tt.sigmoid, "any"),
    "relu": (tt.relu, "nonzero"),
    "clamp": (lambda x: tt.clamp(x, -0.7, 0.8), "any"),
    "clamp_min": (lambda x: x.clamp(min=0.2), "any"),
    "clamp_max": (lambda x: x.clamp(max=-0.3), "any"),
    "method_exp_log": (lambda x: x.exp().log().sqrt(), "positive"),
    "clone": (lambda x: x.clone() * 2, "any"),
    "to_same_dtype": (lambda x: x.to(tt.float64) * 2, "any"),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=seeds)
def test_unary_op_gradients(name: str, shape: tuple[int, ...], seed: int) -> None:
    fn, kind = UNARY[name]
    check(fn, leaf(np.random.default_rng(seed), shape, kind))


@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=SIDE),
       seed=seeds)
def test_clamp_with_tensor_bounds_gradients(shapes: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sx, slo, shi = shapes.input_shapes
    x = leaf(rng, sx)
    lo = tt.tensor(-np.abs(rng.standard_normal(slo)) - 0.1, dtype=tt.float64, requires_grad=True)
    hi = tt.tensor(np.abs(rng.standard_normal(shi)) + 0.1, dtype=tt.float64, requires_grad=True)
    check(lambda a, b, c: tt.clamp(a, min=b, max=c), x, lo, hi)


@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=SIDE),
       seed=seeds)
def test_where_gradients_flow_to_the_chosen_side(shapes: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sc, sx, sy = shapes.input_shapes
    cond = tt.tensor(rng.random(sc) > 0.5)
    x, y = leaf(rng, sx), leaf(rng, sy)
    check(lambda a, b: tt.where(cond, a, b), x, y)


@given(shapes=pairs, seed=seeds)
def test_masked_fill_gradients(shapes: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sx, sm = shapes.input_shapes
    target = np.broadcast_shapes(sx, sm)
    if target != tuple(sx):  # the mask must broadcast to the input, not grow it
        sm = sx
    mask = tt.tensor(rng.random(sm) > 0.5)
    check(lambda a: a.masked_fill(mask, -3.0), leaf(rng, sx))


# ---------------------------------------------------------------- matmul
@given(batch=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3),
       mkn=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
       form=st.sampled_from(["mat@mat", "vec@mat", "mat@vec", "vec@vec"]), seed=seeds)
def test_matmul_gradients_1d_2d_batched_and_broadcast(batch: Any, mkn: tuple[int, int, int],
                                                      form: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, k, n = mkn
    ba, bb = batch.input_shapes
    sa = (k,) if form.startswith("vec") else ba + (m, k)
    sb = (k,) if form.endswith("vec") else bb + (k, n)
    check(lambda a, b: a @ b, leaf(rng, sa), leaf(rng, sb))


def test_matmul_gradients_against_a_shared_2d_weight() -> None:
    rng = np.random.default_rng(1)
    check(tt.matmul, leaf(rng, (2, 3, 4)), leaf(rng, (4, 5)))
    check(lambda a, b: a.mm(b), leaf(rng, (3, 4)), leaf(rng, (4, 2)))
    check(lambda a, b: a.bmm(b), leaf(rng, (2, 3, 4)), leaf(rng, (2, 4, 2)))


# ---------------------------------------------------------------- reductions
@st.composite
def reduction(draw: Any, min_side: int = 1, tuples: bool = True) -> tuple[Any, ...]:
    """(shape, dim, keepdim) with dim None, an int (maybe negative) or a tuple of dims."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=min_side, max_side=SIDE))
    nd = len(shape)
    kinds = ["none", "int", "tuple"] if tuples else ["int"]
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        dim: Any = None
    elif kind == "int":
        dim = draw(st.integers(-nd, nd - 1))
    else:
        axes = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
        dim = tuple(a - nd if draw(st.booleans()) else a for a in axes)
    return shape, dim, draw(st.booleans())


REDUCTIONS = {
    "sum": lambda x, d, k: x.sum(dim=d, keepdim=k),
    "sum_fn": lambda x, d, k: tt.sum(x, dim=d, keepdim=k),
    "mean": lambda x, d, k: x.mean(dim=d, keepdim=k),
    "amax": lambda x, d, k: x.amax(dim=() if d is None else d, keepdim=k),
    "amin": lambda x, d, k: tt.amin(x, dim=() if d is None else d, keepdim=k),
    "logsumexp": lambda x, d, k: x.logsumexp(dim=tuple(range(x.ndim)) if d is None else d,
                                             keepdim=k),
    "norm_fro": lambda x, d, k: x.norm(dim=d, keepdim=k),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@given(case=reduction(), seed=seeds)
def test_reduction_gradients_over_dims(name: str, case: tuple[Any, ...], seed: int) -> None:
    shape, dim, keepdim = case
    fn = REDUCTIONS[name]
    check(lambda x: fn(x, dim, keepdim), leaf(np.random.default_rng(seed), shape, "nonzero"))


@pytest.mark.parametrize("name", ["var", "std"])
@given(case=reduction(min_side=2), correction=st.sampled_from([None, 0, 1]), seed=seeds)
def test_var_std_gradients_with_correction(name: str, case: tuple[Any, ...],
                                           correction: Any, seed: int) -> None:
    shape, dim, keepdim = case
    x = leaf(np.random.default_rng(seed), shape)
    check(lambda t: getattr(t, name)(dim=dim, keepdim=keepdim, correction=correction), x)


def test_var_std_unbiased_flag_and_full_reduction_gradients() -> None:
    rng = np.random.default_rng(2)
    x = leaf(rng, (3, 4))
    check(lambda t: t.var(), x)
    check(lambda t: t.std(), x)
    check(lambda t: t.var(1, unbiased=False), x)
    check(lambda t: tt.std(t, dim=0, unbiased=True, keepdim=True), x)


@pytest.mark.parametrize("name", ["max", "min"])
@given(case=reduction(tuples=False), seed=seeds)
def test_max_min_with_dim_gradients_reach_the_selected_elements(
        name: str, case: tuple[Any, ...], seed: int) -> None:
    shape, dim, keepdim = case
    x = leaf(np.random.default_rng(seed), shape)
    check(lambda t: getattr(t, name)(dim=dim, keepdim=keepdim).values, x)
    check(lambda t: getattr(tt, name)(t, dim, keepdim)[0], x)


@pytest.mark.parametrize("name", ["max", "min"])
@given(shape=shapes, seed=seeds)
def test_max_min_of_all_elements_gradients(name: str, shape: tuple[int, ...], seed: int) -> None:
    check(lambda t: getattr(t, name)(), leaf(np.random.default_rng(seed), shape))


@pytest.mark.parametrize("fn", [tt.softmax, tt.log_softmax], ids=["softmax", "log_softmax"])
@given(shape=nd_shapes, data=st.data(), seed=seeds)
def test_softmax_and_log_softmax_gradients(fn: Callable[..., Any], shape: tuple[int, ...],
                                           data: Any, seed: int) -> None:
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = leaf(np.random.default_rng(seed), shape)
    check(lambda t: fn(t, dim=dim), x)
    check(lambda t: getattr(t, fn.__name__)(dim), x)


@pytest.mark.parametrize("p", [1, 2, 3, float("inf"), "fro"])
@given(shape=nd_shapes, data=st.data(), seed=seeds)
def test_norm_gradients_for_each_p(p: Any, shape: tuple[int, ...], data: Any, seed: int) -> None:
    dim = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    keepdim = data.draw(st.booleans())
    x = leaf(np.random.default_rng(seed), shape, "nonzero")
    if p == "fro" or dim is not None:
        check(lambda t: t.norm(p, dim=dim, keepdim=keepdim), x)
    else:
        check(lambda t: tt.norm(t, p), x)


@given(case=reduction(), seed=seeds)
def test_prod_gradients(case: tuple[Any, ...], seed: int) -> None:
    shape, dim, keepdim = case
    x = leaf(np.random.default_rng(seed), shape, "nonzero")
    if isinstance(dim, int):
        check(lambda t: t.prod(dim, keepdim=keepdim), x)
    else:
        check(lambda t: t.prod(), x)


# ---------------------------------------------------------------- shape ops
@given(shape=shapes, data=st.data(), seed=seeds)
def test_reshape_view_flatten_gradients(shape: tuple[int, ...], data: Any, seed: int) -> None:
    x = leaf(np.random.default_rng(seed), shape)
    target = data.draw(st.permutations(shape)) if shape else ()
    check(lambda t: t.reshape(target) * 2, x)
    check(lambda t: t.view(*target, 1), x)
    check(lambda t: tt.reshape(t, (-1,)), x)
    if shape:
        start = data.draw(st.integers(0, len(shape) - 1))
        end = data.draw(st.integers(start, len(shape) - 1))
        check(lambda t: t.flatten(start, end), x)
        check(lambda t: tt.flatten(t, start_dim=start - len(shape)), x)


@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=2), data=st.data(),
       seed=seeds)
def test_squeeze_unsqueeze_gradients(shape: tuple[int, ...], data: Any, seed: int) -> None:
    x = leaf(np.random.default_rng(seed), shape)
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    new = data.draw(st.integers(-nd - 1, nd))
    check(lambda t: t.squeeze(), x)
    check(lambda t: t.squeeze(dim), x)
    check(lambda t: tt.unsqueeze(t, new), x)


@given(shape=nd_shapes, data=st.data(), seed=seeds)
def test_transpose_permute_t_mt_gradients(shape: tuple[int, ...], data: Any, seed: int) -> None:
    x = leaf(np.random.default_rng(seed), shape)
    nd = len(shape)
    d0, d1 = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    perm = data.draw(st.permutations(range(nd)))
    check(lambda t: t.transpose(d0, d1), x)
    check(lambda t: tt.transpose(t, d0, d1) * t.transpose(d0, d1), x)
    check(lambda t: t.permute(*perm), x)
    check(lambda t: tt.permute(t, perm), x)
    if nd == 2:
        check(lambda t: t.T @ t, x)
        check(lambda t: t.t(), x)
    if nd >= 2:
        check(lambda t: t.mT, x)


@given(shape=shapes, data=st.data(), seed=seeds)
def test_expand_gradients_sum_over_the_broadcast(shape: tuple[int, ...], data: Any,
                                                 seed: int) -> None:
    other = data.draw(hnp.broadcastable_shapes(shape, max_dims=4, max_side=3))
    target = np.broadcast_shapes(shape, other)
    x = leaf(np.random.default_rng(seed), shape)
    check(lambda t: t.expand(*target), x)
    lead = len(target) - len(shape)
    with_minus_one = target[:lead] + tuple(-1 if n == s else n
                                           for n, s in zip(target[lead:], shape))
    check(lambda t: t.expand(with_minus_one), x)
    check(lambda t: t.expand_as(tt.zeros(target, dtype=tt.float64)), x)


@given(shape=shapes, data=st.data(), seed=seeds)
def test_repeat_gradients(shape: tuple[int, ...], data: Any, seed: int) -> None:
    extra = data.draw(st.integers(0, 2))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=len(shape) + extra,
                               max_size=len(shape) + extra))
    if not sizes:
        sizes = [2]
    check(lambda t: t.repeat(*sizes), leaf(np.random.default_rng(seed), shape))


@given(shape=nd_shapes, count=st.integers(1, 3), data=st.data(), seed=seeds)
def test_cat_and_stack_gradients(shape: tuple[int, ...], count: int, data: Any,
                                 seed: int) -> None:
    rng = np.random.default_rng(seed)
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=count, max_size=count))
    parts = []
    for s in sizes:
        sh = list(shape)
        sh[dim] = s
        parts.append(leaf(rng, tuple(sh)))
    if sum(sizes) > 0:
        check(lambda *ts: tt.cat(ts, dim=dim), *parts)
    same = [leaf(rng, shape) for _ in range(count)]
    sdim = data.draw(st.integers(-nd - 1, nd))
    check(lambda *ts: tt.stack(ts, dim=sdim), *same)
    check(lambda *ts: tt.stack(list(ts)), *same)


@given(shape=nd_shapes, data=st.data(), seed=seeds)
def test_split_chunk_unbind_gradients(shape: tuple[int, ...], data: Any, seed: int) -> None:
    x = leaf(np.random.default_rng(seed), shape)
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    n = shape[dim]
    size = data.draw(st.integers(1, n))
    check(lambda t: t.split(size, dim), x)
    cut = data.draw(st.integers(0, n))
    chunks = data.draw(st.integers(1, 4))
    check(lambda t: tt.split(t, [cut, n - cut], dim=dim), x)
    check(lambda t: t.chunk(chunks, dim), x)
    check(lambda t: tt.chunk(t, 2, dim)[0], x)
    check(lambda t: t.unbind(dim), x)


@given(shape=hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=SIDE),
       diagonal=st.integers(-3, 3), seed=seeds)
def test_tril_triu_gradients(shape: tuple[int, ...], diagonal: int, seed: int) -> None:
    x = leaf(np.random.default_rng(seed), shape)
    check(lambda t: t.tril(diagonal), x)
    check(lambda t: tt.triu(t, diagonal=diagonal), x)


@given(shape=nd_shapes, data=st.data(), seed=seeds)
def test_gather_gradients_accumulate_repeated_indices(shape: tuple[int, ...], data: Any,
                                                      seed: int) -> None:
    rng = np.random.default_rng(seed)
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    idx_shape = tuple(data.draw(st.integers(1, SIDE)) if a == dim % nd
                      else data.draw(st.integers(1, n)) for a, n in enumerate(shape))
    index = tt.tensor(rng.integers(0, shape[dim], idx_shape))
    check(lambda t: t.gather(dim, index), leaf(rng, shape))
    check(lambda t: tt.gather(t, dim, index), leaf(rng, shape))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=SIDE), data=st.data(),
       seed=seeds)
def test_pad_gradients_for_each_mode(mode: str, shape: tuple[int, ...], data: Any,
                                     seed: int) -> None:
    dims = data.draw(st.integers(1, len(shape)))
    lo = -1 if mode == "constant" else 0
    widths = []
    for ax in range(dims):
        n = shape[len(shape) - 1 - ax]
        hi = n - 1 if mode == "reflect" else min(n, 3)
        widths += [data.draw(st.integers(lo, hi)), data.draw(st.integers(lo, hi))]
    x = leaf(np.random.default_rng(seed), shape)
    check(lambda t: pad(t, widths, mode=mode), x)
    if mode == "constant":
        check(lambda t: pad(t, widths, value=1.5), x)


# ---------------------------------------------------------------- indexing
INDEXES = {
    "int": lambda n: 1,
    "negative_int": lambda n: -1,
    "slice": lambda n: slice(1, None),
    "step_slice": lambda n: slice(None, None, 2),
    "negative_slice": lambda n: slice(-3, -1),
    "none_ellipsis": lambda n: (None, Ellipsis, 0),
    "int_list": lambda n: [0, 2, 0],
    "int_tensor_repeats": lambda n: tt.tensor([[2, 0], [2, 2]]),
    "bool_mask": lambda n: tt.tensor([True, False, True]),
    "mixed": lambda n: (slice(None), tt.tensor([1, 1, 0])),
    "two_tensors": lambda n: (tt.tensor([0, 2, 2]), tt.tensor([1, 0, 1])),
    "full_mask": lambda n: tt.tensor(n > 0),
}


@pytest.mark.parametrize("name", sorted(INDEXES))
@given(seed=seeds)
def test_indexing_gradients(name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = leaf(rng, (3, 3, 2))
    index = INDEXES[name](rng.standard_normal((3, 3, 2)))
    check(lambda t: t[index], x)


# ---------------------------------------------------------------- composite and cross-checked
@given(shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=SIDE), seed=seeds)
def test_a_small_network_gradients(shape: tuple[int, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, d = shape
    x, w1, b1, w2 = leaf(rng, (n, d)), leaf(rng, (d, 3)), leaf(rng, (3,)), leaf(rng, (3, 2))

    def net(x: tt.Tensor, w1: tt.Tensor, b1: tt.Tensor, w2: tt.Tensor) -> tt.Tensor:
        h = (x @ w1 + b1).tanh()
        return (h @ w2).log_softmax(dim=1).mean()

    check(net, x, w1, b1, w2)
