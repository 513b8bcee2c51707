"""``Embedding`` and ``F.embedding``: a lookup table from integer ids to learned vectors.

Systems view: the table ``weight`` is ``(num_embeddings, embedding_dim)``, ``V·D`` floats. The
forward pass is a row gather, ``N·D`` copies for ``N`` ids and no FLOPs. The backward pass is a
*scatter-add*: every id adds its output gradient to its row, so repeated ids (the common case
in text) accumulate. It is written as a segment sum: sort the ids (``N log N``), gather the
gradient rows in that order and add each run of equal ids with one ``np.add.reduceat``
(``N·D`` adds), then write the ``U`` distinct rows into a zero ``(V, D)`` gradient. The
trade-off: a sort instead of ``np.add.at``, whose unbuffered per-element adds are several
times slower, or a ``bincount`` over flattened ``(id, column)`` pairs, which needs an
``N·D`` index array. The row ``padding_idx`` is never updated: it gets a zero gradient, as in
PyTorch.

``max_norm``: before the lookup, every row that the ids select and whose ``norm_type``-norm
exceeds ``max_norm`` is rescaled to that norm, in place in ``weight`` and outside autograd,
as PyTorch does (``U·D`` work for the ``U`` distinct ids). ``scale_grad_by_freq`` divides
each row's gradient by how often its id occurs in the batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tinytorch
from tinytorch.core.dtypes import dtype_name
from tinytorch.core.function import Function
from tinytorch.core.grad_mode import no_grad
from tinytorch.core.tensor import Tensor
from tinytorch.nn import Module, Parameter, init


class EmbeddingFunction(Function):
    """Row gather ``weight[indices]`` with a segment-sum backward."""

    @staticmethod
    def forward(ctx: Function, weight: np.ndarray, indices: np.ndarray, *,
                padding_idx: int | None = None, scale_grad_by_freq: bool = False) -> np.ndarray:
        # weight: (V, D), indices: (*) integers -> (*, D)
        ctx.save_for_backward(indices)
        ctx.shape = weight.shape
        ctx.padding_idx = padding_idx
        ctx.scale_grad_by_freq = scale_grad_by_freq
        return np.take(weight, indices, axis=0)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray, None]:
        # grad: (*, D) -> dweight: (V, D), the sum of grad rows per id
        (indices,) = ctx.saved_tensors
        shape, padding_idx = ctx.shape, ctx.padding_idx
        ids = indices.reshape(-1)
        rows = grad.reshape(ids.size, shape[1])
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
        dweight = np.zeros(shape, dtype=grad.dtype)
        if ids.size:
            sums = np.add.reduceat(rows[order], starts, axis=0)           # (U, D)
            if ctx.scale_grad_by_freq:
                sums /= np.diff(np.append(starts, ids.size))[:, None].astype(grad.dtype)
            dweight[sorted_ids[starts]] = sums
        if padding_idx is not None:
            dweight[padding_idx] = 0
        return dweight, None


def _check_indices(input: Tensor, num_embeddings: int) -> None:
    """PyTorch's checks: integer ids in ``[0, num_embeddings)``."""
    if input.dtype.kind not in "iu":
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar "
            f"types: Long, Int; but got {dtype_name(input.dtype)} "
            f"of shape {tuple(input.shape)} instead"
        )
    ids = input.array
    if ids.size and (ids.min() < 0 or ids.max() >= num_embeddings):
        bad = int(ids.min()) if ids.min() < 0 else int(ids.max())
        raise IndexError(
            f"index out of range in self: id {bad} for an embedding table with "
            f"{num_embeddings} rows (valid ids are 0..{num_embeddings - 1})"
        )


def _normalize_padding_idx(padding_idx: int | None, num_embeddings: int) -> int | None:
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(
            f"padding_idx must be within num_embeddings: got {padding_idx} for "
            f"{num_embeddings} embeddings"
        )
    return padding_idx % num_embeddings


def _renorm_(weight: Tensor, ids: np.ndarray, max_norm: float, norm_type: float) -> None:
    """Rescale, in place and outside autograd, the rows ``ids`` whose norm exceeds max_norm."""
    rows = np.unique(ids)
    norms = np.linalg.norm(weight.array[rows], ord=norm_type, axis=1)   # (U,)
    big = norms > max_norm
    if not big.any():
        return
    rows = rows[big]
    scale = (max_norm / (norms[big] + 1e-7)).astype(weight.dtype)[:, None]
    with no_grad():
        weight[Tensor._wrap(rows)] = Tensor._wrap(weight.array[rows] * scale)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of ``weight``: ``(*)`` integer ids and ``(V, D)`` table -> ``(*, D)``.

    The row ``padding_idx`` (if given; negative counts from the end) receives no gradient.
    With ``max_norm``, the looked-up rows of ``weight`` whose ``norm_type``-norm exceeds it
    are first rescaled to norm ``max_norm``, in place (PyTorch's behaviour).
    ``scale_grad_by_freq`` divides each row's gradient by its id's count in ``input``.
    """
    if sparse:
        raise NotImplementedError("embedding: sparse gradients are not supported; use "
                                  "sparse=False")
    if weight.ndim != 2:
        raise ValueError(
            f"embedding expects a 2-D weight (num_embeddings, embedding_dim), got shape "
            f"{tuple(weight.shape)}"
        )
    _check_indices(input, weight.shape[0])
    padding_idx = _normalize_padding_idx(padding_idx, weight.shape[0])
    if max_norm is not None:
        _renorm_(weight, input.array.reshape(-1), max_norm, norm_type)
    return EmbeddingFunction.apply(weight, input, padding_idx=padding_idx,
                                   scale_grad_by_freq=scale_grad_by_freq)


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, indexed by integer ids.

    ``weight`` starts as N(0, 1) samples, like PyTorch's, with the ``padding_idx`` row zeroed.
    Input ``(*)`` int64 ids -> output ``(*, embedding_dim)``. ``max_norm``, ``norm_type`` and
    ``scale_grad_by_freq`` are as in ``embedding``.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Tensor | None = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if sparse:
            raise NotImplementedError("Embedding: sparse gradients are not supported; use "
                                      "sparse=False")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = _normalize_padding_idx(padding_idx, num_embeddings)
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = Parameter(tinytorch.empty(num_embeddings, embedding_dim, device=device,
                                                    dtype=dtype))
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise AssertionError(f"Shape of weight does not match num_embeddings and "
                                     f"embedding_dim: got {tuple(_weight.shape)}, expected "
                                     f"{(num_embeddings, embedding_dim)}")
            self.weight = Parameter(_weight.detach(), requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """Redraw ``weight`` from N(0, 1) and zero the padding row."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.array[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True,
                        padding_idx: int | None = None, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An ``Embedding`` holding a copy of the 2-D tensor ``embeddings`` (frozen by default)."""
        if embeddings.ndim != 2:
            raise ValueError(
                f"Embeddings parameter is expected to be 2-dimensional, got shape "
                f"{tuple(embeddings.shape)}"
            )
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings.detach().clone(), _freeze=freeze)

    def forward(self, input: Tensor) -> Tensor:
        return embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2.0:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        return s
