"""``Embedding`` and ``F.embedding``: a lookup table from integer ids to learned vectors.

Systems view: the table ``weight`` is ``(num_embeddings, embedding_dim)``, ``V·D`` floats. The
forward pass is a row gather, ``N·D`` copies for ``N`` ids and no FLOPs. The backward pass is a
*scatter-add*: every id adds its output gradient to its row, so repeated ids (the common case
in text) accumulate. It is written as a segment sum: sort the ids (``N log N``), gather the
gradient rows in that order and add each run of equal ids with one ``np.add.reduceat``
(``N·D`` adds), then write the ``U`` distinct rows into a zero ``(V, D)`` gradient. Measured
here for the character GPT (V=65, N=2048, D=128) this took about 1.0 ms against 5 ms for
``np.add.at`` and for a ``bincount`` over flattened ``(id, column)`` pairs, and it stays
competitive for a 50,000-token vocabulary. The row ``padding_idx`` is never updated: it gets a
zero gradient, as in PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tinytorch
from tinytorch.core.dtypes import dtype_name
from tinytorch.core.function import Function
from tinytorch.core.tensor import Tensor
from tinytorch.nn import Module, Parameter, init


class EmbeddingFunction(Function):
    """Row gather ``weight[indices]`` with a segment-sum backward."""

    @staticmethod
    def forward(ctx: Function, weight: np.ndarray, indices: np.ndarray, *,
                padding_idx: int | None = None) -> np.ndarray:
        # weight: (V, D), indices: (*) integers -> (*, D)
        ctx.saved_tensors = (indices, weight.shape, padding_idx)
        return np.take(weight, indices, axis=0)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray, None]:
        # grad: (*, D) -> dweight: (V, D), the sum of grad rows per id
        indices, shape, padding_idx = ctx.saved_tensors
        ids = indices.reshape(-1)
        rows = grad.reshape(ids.size, shape[1])
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
        dweight = np.zeros(shape, dtype=grad.dtype)
        if ids.size:
            dweight[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)
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


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Look up rows of ``weight``: ``(*)`` integer ids and ``(V, D)`` table -> ``(*, D)``.

    The row ``padding_idx`` (if given; negative counts from the end) receives no gradient.
    """
    if weight.ndim != 2:
        raise ValueError(
            f"embedding expects a 2-D weight (num_embeddings, embedding_dim), got shape "
            f"{tuple(weight.shape)}"
        )
    _check_indices(input, weight.shape[0])
    padding_idx = _normalize_padding_idx(padding_idx, weight.shape[0])
    return EmbeddingFunction.apply(weight, input, padding_idx=padding_idx)


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, indexed by integer ids.

    ``weight`` starts as N(0, 1) samples, like PyTorch's, with the ``padding_idx`` row zeroed.
    Input ``(*)`` int64 ids -> output ``(*, embedding_dim)``.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 *, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = _normalize_padding_idx(padding_idx, num_embeddings)
        self.weight = Parameter(tinytorch.empty(num_embeddings, embedding_dim, device=device,
                                                dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw ``weight`` from N(0, 1) and zero the padding row."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.array[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True,
                        padding_idx: int | None = None) -> Embedding:
        """An ``Embedding`` holding a copy of the 2-D tensor ``embeddings`` (frozen by default)."""
        if embeddings.ndim != 2:
            raise ValueError(
                f"Embeddings parameter is expected to be 2-dimensional, got shape "
                f"{tuple(embeddings.shape)}"
            )
        rows, cols = embeddings.shape
        module = cls(rows, cols, padding_idx, dtype=embeddings.dtype)
        module.weight.array[...] = embeddings.array
        module.weight.requires_grad = not freeze
        return module

    def forward(self, input: Tensor) -> Tensor:
        return embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
