"""Contractions: ``einsum``, and the fused multiply-adds ``addmm`` and ``baddbmm``.

``einsum('bij,bjk->bik', a, b)`` names every axis with a letter. A letter in both operands and
the output is a *batch* axis, one in both operands only is *contracted* (summed), one in a
single operand is *kept* (or summed first, when the output does not name it), and a repeated
letter in one operand takes a diagonal.

How it runs (the trade-off chosen): NumPy's own ``np.einsum`` is a C loop that reaches BLAS
only for some contractions (with ``optimize``, through ``tensordot``, which has no batch axes).
Here each pair of operands is laid out as ``(batch..., kept, contracted)`` and
``(batch..., contracted, kept)`` with one transpose and one reshape each, then multiplied by one
batched ``matmul``, so every contraction is a BLAS product, batch axes included. Diagonals are
strided views (the stride of ``ii`` is the sum of both strides) and single-operand sums are
plain ``sum``. More than two operands are contracted left to right, as PyTorch does without
opt_einsum; put the small operands first.

Cost: for ``(B, M, K) x (B, K, N)``, ``2·B·M·K·N`` FLOPs in one BLAS call, plus a copy of an
operand whose transposed layout cannot be reshaped in place (``numel * itemsize`` bytes).

Gradient: the gradient of an operand is itself an einsum, of the output gradient with the other
operands, onto that operand's letters. Since the pair contraction above is closed under this
(every letter of the operand appears in the gradient or in another operand once lone sums and
diagonals are taken), the backward reuses the same machinery: again one matmul per pair.
A letter the operand alone has gets the gradient broadcast along it; a diagonal gets it
written back through the same strided view into a zero array.

``addmm``/``baddbmm`` are ``beta * input + alpha * (m1 @ m2)`` as one op with one product, as
PyTorch fuses them; with ``beta == 0`` the ``input`` is ignored, NaNs included.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tinytorch.core import dtypes
from tinytorch.core.function import Function, to_tensor

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tinytorch.core.tensor import Tensor
    from tinytorch.core.types import Grad

_LETTERS = frozenset(string.ascii_letters)
_ELLIPSIS = [chr(0x100 + i) for i in range(64)]  # private labels for the dims '...' covers

Labels = list[str]


# ---------------------------------------------------------------------------- the equation
def _parse(equation: str, shapes: Sequence[tuple[int, ...]]) -> tuple[list[Labels], Labels]:
    """Per-operand labels (``...`` expanded, right-aligned) and the output's labels."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        more = "more" if len(shapes) > len(terms) else "fewer"
        raise RuntimeError(f"einsum(): {more} operands were provided than specified in the "
                           f"equation {equation!r} ({len(shapes)} operands, {len(terms)} terms)")
    named = [t.replace("...", "", 1) for t in terms]
    for k, (term, letters, shape) in enumerate(zip(terms, named, shapes)):
        bad = [c for c in letters if c not in _LETTERS]
        if bad:
            raise RuntimeError(f"einsum(): invalid subscript {bad[0]!r} in term {term!r} of "
                               f"{equation!r}; subscripts must be letters in [a-zA-Z]")
        if len(letters) > len(shape) or (len(letters) < len(shape) and "..." not in term):
            raise RuntimeError(f"einsum(): the number of subscripts in the equation "
                               f"({len(letters)}) does not match the number of dimensions "
                               f"({len(shape)}) for operand {k}"
                               + ("" if "..." in term else " and no ellipsis was given"))
    n_ell = max((len(s) - len(n) for t, n, s in zip(terms, named, shapes) if "..." in t),
                default=0)
    ell = _ELLIPSIS[:n_ell]
    subs = []
    for term, letters, shape in zip(terms, named, shapes):
        head, _, tail = term.partition("...")
        mid = ell[n_ell - (len(shape) - len(letters)):] if "..." in term else []
        subs.append(list(head) + mid + list(tail))
    if not arrow:
        counts = [c for s in named for c in s]
        out = ell + sorted(c for c in set(counts) if counts.count(c) == 1)
    else:
        head, _, tail = rhs.partition("...")
        out = list(head) + (ell if "..." in rhs else []) + list(tail)
        for c in head + tail:
            if c not in _LETTERS:
                raise RuntimeError(f"einsum(): invalid subscript {c!r} in the output of "
                                   f"{equation!r}")
            if not any(c in s for s in subs):
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the "
                                   f"equation for any input operand")
            if out.count(c) > 1:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once in "
                                   f"the output")
    return subs, out


def _check_sizes(subs: list[Labels], shapes: Sequence[tuple[int, ...]]) -> None:
    """Each label has one size across operands (size 1 broadcasts); a label repeated in one
    operand needs equal sizes there."""
    size: dict[str, int] = {}
    for k, (labels, shape) in enumerate(zip(subs, shapes)):
        own: dict[str, int] = {}
        for c, n in zip(labels, shape):
            if own.setdefault(c, n) != n:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {k} but the "
                                   f"sizes don't match, {own[c]} != {n} (shape {tuple(shape)})")
            seen = size.get(c, 1)
            if n != seen and 1 not in (n, seen):
                name = c if c in _LETTERS else "..."
                raise RuntimeError(f"einsum(): subscript {name} has size {n} for operand {k} "
                                   f"which does not broadcast with previously seen size {seen}")
            if seen == 1:
                size[c] = n


# ---------------------------------------------------------------------------- the contraction
def _diagonal_view(a: np.ndarray, labels: Labels, writeable: bool = False) -> np.ndarray:
    """``a`` with each repeated label taken once: a strided view on the diagonal."""
    uniq = list(dict.fromkeys(labels))
    shape = [a.shape[labels.index(c)] for c in uniq]
    strides = [sum(st for st, lab in zip(a.strides, labels) if lab == c) for c in uniq]
    return as_strided(a, shape, strides, writeable=writeable)


def _sum_out(a: np.ndarray, labels: Labels, keep: set[str]) -> tuple[np.ndarray, Labels]:
    axes = tuple(i for i, c in enumerate(labels) if c not in keep)
    if not axes:
        return a, labels
    return a.sum(axis=axes), [c for c in labels if c in keep]


def _pair(a: np.ndarray, la: Labels, b: np.ndarray, lb: Labels,
          keep: set[str]) -> tuple[np.ndarray, Labels]:
    """Contract two operands (each label once) over the labels not in ``keep``: one matmul."""
    a, la = _sum_out(a, la, keep | set(lb))       # labels only `a` has and nobody needs
    b, lb = _sum_out(b, lb, keep | set(la))
    batch = [c for c in la if c in lb and c in keep]
    summed = [c for c in la if c in lb and c not in keep]
    left = [c for c in la if c not in lb]
    right = [c for c in lb if c not in la]
    nb = len(batch)
    # a: (batch..., left..., summed...), b: (batch..., summed..., right...)
    a = a.transpose([la.index(c) for c in batch + left + summed])
    b = b.transpose([lb.index(c) for c in batch + summed + right])
    ks = tuple(max(a.shape[nb + len(left) + i], b.shape[nb + i]) for i in range(len(summed)))
    a = np.broadcast_to(a, a.shape[:nb + len(left)] + ks)       # a size-1 summed dim broadcasts
    b = np.broadcast_to(b, b.shape[:nb] + ks + b.shape[nb + len(summed):])
    ls, rs = a.shape[nb:nb + len(left)], b.shape[nb + len(summed):]
    k = math.prod(ks)
    # (batch..., L, K) @ (batch..., K, R) -> (batch..., L, R); batch dims broadcast in matmul
    c = np.matmul(a.reshape(a.shape[:nb] + (math.prod(ls), k)),
                  b.reshape(b.shape[:nb] + (k, math.prod(rs))))
    return c.reshape(c.shape[:nb] + ls + rs), batch + left + right


def contract(arrays: Sequence[np.ndarray], subs: Sequence[Labels], out: Labels) -> np.ndarray:
    """The einsum of ``arrays`` labelled ``subs`` onto ``out`` (every label of ``out`` is in
    some operand), pairwise from the left."""
    views = [(_diagonal_view(a, s), list(dict.fromkeys(s))) for a, s in zip(arrays, subs)]
    acc, labels = views[0]
    for k in range(1, len(views)):
        needed = set(out).union(*(lab for _, lab in views[k + 1:]))
        acc, labels = _pair(acc, labels, *views[k], needed)
    acc, labels = _sum_out(acc, labels, set(out))
    return acc.transpose([labels.index(c) for c in out])


def _operand_grad(grad: np.ndarray, out: Labels, others: list[tuple[np.ndarray, Labels]],
                  shape: tuple[int, ...], labels: Labels) -> np.ndarray:
    """d(sum(grad * einsum))/d(operand): an einsum of ``grad`` and the other operands."""
    uniq = list(dict.fromkeys(labels))
    reached = set(out).union(*(s for _, s in others))
    present = [c for c in uniq if c in reached]
    lone = [c for c in uniq if c not in reached]
    g = contract([grad] + [a for a, _ in others], [out] + [s for _, s in others], present)
    # labels only this operand has: the gradient is constant along them
    g = np.expand_dims(g, tuple(range(g.ndim, g.ndim + len(lone))))
    order = present + lone
    g = g.transpose([order.index(c) for c in uniq])
    target = tuple(shape[labels.index(c)] for c in uniq)
    stretched = tuple(i for i, (n, m) in enumerate(zip(target, g.shape)) if n == 1 and m != 1)
    if stretched:                                  # the operand was broadcast along these
        g = g.sum(axis=stretched, keepdims=True)
    g = np.broadcast_to(g, target)
    if len(uniq) == len(labels):
        return g
    full = np.zeros(shape, grad.dtype)             # a diagonal: write back through the view
    _diagonal_view(full, labels, writeable=True)[...] = g
    return full


class Einsum(Function):
    @staticmethod
    def forward(ctx: Function, *arrays: np.ndarray, subs: tuple[Labels, ...],
                out: Labels) -> np.ndarray:
        # operands labelled by subs -> the output labelled by out
        ctx.save_for_backward(*arrays)
        ctx.subs, ctx.out = subs, out
        result = contract(arrays, subs, out)
        if any(np.may_share_memory(result, a) for a in arrays):
            result = result.copy()                 # a pure relabelling is still a new tensor
        return result

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, ...]:
        arrays = ctx.saved_tensors
        grads = []
        for k, need in enumerate(ctx.needs_input_grad):
            others = [(a, s) for j, (a, s) in enumerate(zip(arrays, ctx.subs)) if j != k]
            grads.append(_operand_grad(grad, ctx.out, others, arrays[k].shape, ctx.subs[k])
                         if need else None)
        return tuple(grads)


def einsum(equation: str, *operands: Tensor | Sequence[Tensor]) -> Tensor:
    """Sum of products over the axes an equation names: ``einsum('ij,jk->ik', a, b)`` is
    ``a @ b``, ``einsum('bhqd,bhkd->bhqk', q, k)`` batched scores, ``einsum('ii', a)`` a trace.

    Operands may also come as one list. ``...`` stands for broadcast leading dims; without
    ``->`` the output is ``...`` then the letters used once, in alphabetical order.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"einsum(): expected the equation as a str, got "
                        f"{type(equation).__name__} (the sublist format is not supported)")
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    ts = [to_tensor(t) for t in operands]
    kinds = {t.array.dtype for t in ts}
    if len(kinds) > 1:
        names = ", ".join(dtypes.dtype_name(t.array.dtype) for t in ts)
        raise RuntimeError(f"einsum(): expected all operands to have the same dtype, got {names}")
    shapes = [t.shape for t in ts]
    subs, out = _parse(equation, shapes)
    _check_sizes(subs, shapes)
    return Einsum.apply(*ts, subs=tuple(subs), out=out)


# ---------------------------------------------------------------------------- addmm / baddbmm
class AddMatMul(Function):
    """``beta * c + alpha * (a @ b)`` for matrices or batches of them."""

    @staticmethod
    def forward(ctx: Function, c: np.ndarray, a: np.ndarray, b: np.ndarray, *, beta: float,
                alpha: float) -> np.ndarray:
        # c: broadcastable to (..., M, N), a: (..., M, K), b: (..., K, N) -> (..., M, N)
        ctx.save_for_backward(a, b)
        ctx.beta, ctx.alpha = beta, alpha
        out = np.matmul(a, b)
        if alpha != 1:
            np.multiply(out, alpha, out=out, casting="unsafe")
        if beta != 0:
            np.add(out, c if beta == 1 else beta * c, out=out, casting="unsafe")
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Grad, Grad, Grad]:
        a, b = ctx.saved_tensors
        need_c, need_a, need_b = ctx.needs_input_grad
        g = grad if ctx.alpha == 1 else grad * ctx.alpha
        gc = (grad if ctx.beta == 1 else grad * ctx.beta) if need_c else None
        ga = np.matmul(g, np.swapaxes(b, -1, -2)) if need_a else None   # (..., M, N)(..., N, K)
        gb = np.matmul(np.swapaxes(a, -1, -2), g) if need_b else None   # (..., K, M)(..., M, N)
        return gc, ga, gb


def _check_add_matmul(name: str, input: Tensor, a: Tensor, b: Tensor,
                      out: tuple[int, ...]) -> None:
    kinds = (input.dtype, a.dtype, b.dtype)
    if len(set(kinds)) > 1:
        raise RuntimeError(f"{name}(): expected input and both factors to have the same dtype, "
                           "but got " + ", ".join(dtypes.dtype_name(k) for k in kinds))
    try:
        fits = np.broadcast_shapes(input.shape, out) == out
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"{name}(): the input of shape {tuple(input.shape)} cannot be "
                           f"broadcast to the product's shape {out}")


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1,
          alpha: float = 1) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)``: mat1 (M, K), mat2 (K, N), input
    broadcastable to (M, N). With ``beta=0`` the input is not read (NaNs in it vanish)."""
    for name, t in (("mat1", mat1), ("mat2", mat2)):
        if t.ndim != 2:
            raise RuntimeError(f"addmm(): {name} must be a matrix, got a {t.ndim}-D tensor of "
                               f"shape {tuple(t.shape)}")
    (m, k), (k2, n) = mat1.shape, mat2.shape
    if k != k2:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {k2}x{n})")
    _check_add_matmul("addmm", input, mat1, mat2, (m, n))
    return AddMatMul.apply(input, mat1, mat2, beta=beta, alpha=alpha)


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: float = 1,
            alpha: float = 1) -> Tensor:
    """``beta * input + alpha * (batch1 @ batch2)``: batch1 (B, M, K), batch2 (B, K, N), input
    broadcastable to (B, M, N) (attention scores plus a bias, in one op)."""
    for name, t in (("batch1", batch1), ("batch2", batch2)):
        if t.ndim != 3:
            raise RuntimeError(f"baddbmm(): {name} must be a 3D tensor, got a {t.ndim}-D tensor "
                               f"of shape {tuple(t.shape)}")
    (bs, m, k), (bs2, k2, n) = batch1.shape, batch2.shape
    if (bs2, k2) != (bs, k):
        raise RuntimeError(f"baddbmm(): expected size for first two dimensions of batch2 tensor "
                           f"to be: [{bs}, {k}] but got: [{bs2}, {k2}].")
    _check_add_matmul("baddbmm", input, batch1, batch2, (bs, m, n))
    return AddMatMul.apply(input, batch1, batch2, beta=beta, alpha=alpha)
