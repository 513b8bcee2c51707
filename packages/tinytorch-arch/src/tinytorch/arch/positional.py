"""Positional information for attention: learned, sinusoidal and rotary encodings.

Attention is permutation-invariant, so a transformer must be told where each token sits. Three
standard ways, all for sequences laid out as ``(..., T, E)`` (positions along dim -2):

- ``LearnedPositionalEmbedding`` (GPT-2): a trained table ``(P, E)`` whose first ``T`` rows are
  added to the token embeddings. ``P·E`` parameters; forward is one add (``N·T·E`` FLOPs), the
  backward sums the gradient over the batch into the used rows.
- ``SinusoidalPositionalEncoding`` ("Attention Is All You Need", 2017): the same add with a
  fixed table ``PE[p, 2i] = sin(p / 10000^(2i/E))``, ``PE[p, 2i+1] = cos(...)``; no parameters,
  and it is defined for any position.
- ``RotaryEmbedding`` (RoPE, Su et al. 2021): instead of adding, rotate each pair of features of
  the queries and keys by an angle proportional to the position, so ``q·k`` depends only on the
  *relative* offset. Applied inside attention to every head; ``6·T·D`` FLOPs per head forward
  and the same backward (the inverse rotation). Pairs are the two halves of the head dimension
  (``x[..., :D/2]`` with ``x[..., D/2:]``), the GPT-NeoX layout, so the rotation is four
  contiguous multiply-adds rather than strided gathers.

The fixed tables are kept in float64 and cast once per dtype on first use; they are not part of
the state dict, since they are a pure function of the constructor arguments.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tinytorch
from tinytorch.core.function import Function
from tinytorch.core.tensor import Tensor
from tinytorch.nn import Module, Parameter, init


class AddPositional(Function):
    """``x + table[offset:offset + T]`` broadcast over the leading dims of ``x``."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, table: np.ndarray, *, offset: int) -> np.ndarray:
        # x: (..., T, E), table: (P, E) -> (..., T, E)
        t = x.shape[-2]
        ctx.table_shape, ctx.offset, ctx.length = table.shape, offset, t
        return x + table[offset:offset + t]

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray, Any]:
        # grad: (..., T, E) -> dx: (..., T, E), dtable: (P, E) nonzero only in the used rows
        shape, offset, t = ctx.table_shape, ctx.offset, ctx.length
        dtable = None
        if ctx.needs_input_grad[1]:
            dtable = np.zeros(shape, dtype=grad.dtype)
            dtable[offset:offset + t] = grad.reshape(-1, t, shape[1]).sum(axis=0)
        return grad, dtable


def _check_positions(x: Tensor, offset: int, num_positions: int, what: str) -> None:
    if x.ndim < 2:
        raise ValueError(f"{what} expects input of shape (..., T, E), got {tuple(x.shape)}")
    t = x.shape[-2]
    if offset < 0 or offset + t > num_positions:
        raise IndexError(
            f"{what}: positions {offset}..{offset + t - 1} of an input of shape "
            f"{tuple(x.shape)} fall outside the table of {num_positions} positions"
        )


def sinusoidal_encoding(num_positions: int, embedding_dim: int, base: float = 10000.0,
                        dtype: Any = np.float32) -> Tensor:
    """The fixed table ``(num_positions, embedding_dim)`` of sines (even) and cosines (odd)."""
    pos = np.arange(num_positions, dtype=np.float64)[:, None]          # (P, 1)
    inv_freq = base ** (-np.arange(0, embedding_dim, 2) / embedding_dim)  # (ceil(E/2),)
    angles = pos * inv_freq                                              # (P, ceil(E/2))
    table = np.empty((num_positions, embedding_dim))
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, : embedding_dim // 2])
    return Tensor._wrap(table.astype(dtype))


class LearnedPositionalEmbedding(Module):
    """A trained table ``weight`` of shape ``(num_positions, embedding_dim)``, added to ``x``.

    ``forward(x, offset=0)``: ``x`` of shape ``(..., T, E)`` gets rows ``offset..offset+T-1``
    added. ``weight`` starts as N(0, 1) samples, like ``Embedding``.
    """

    def __init__(self, num_positions: int, embedding_dim: int, *, dtype: Any = None) -> None:
        super().__init__()
        self.num_positions = num_positions
        self.embedding_dim = embedding_dim
        self.weight = Parameter(tinytorch.empty(num_positions, embedding_dim, dtype=dtype))
        init.normal_(self.weight)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        _check_positions(x, offset, self.num_positions, "LearnedPositionalEmbedding")
        return AddPositional.apply(x, self.weight, offset=offset)

    def extra_repr(self) -> str:
        return f"{self.num_positions}, {self.embedding_dim}"


class SinusoidalPositionalEncoding(Module):
    """The fixed sine/cosine encoding of the 2017 transformer, added to ``x``: no parameters.

    ``forward(x, offset=0)``: ``x`` of shape ``(..., T, E)``, ``E == embedding_dim``.
    """

    def __init__(self, embedding_dim: int, max_len: int = 5000, base: float = 10000.0) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.max_len = max_len
        self.base = base
        self._tables: dict[np.dtype, np.ndarray] = {}

    def table(self, dtype: Any = np.float32) -> np.ndarray:
        """The ``(max_len, embedding_dim)`` table in ``dtype`` (computed once per dtype)."""
        dtype = np.dtype(dtype)
        if dtype not in self._tables:
            self._tables[dtype] = sinusoidal_encoding(
                self.max_len, self.embedding_dim, self.base, dtype).array
        return self._tables[dtype]

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        _check_positions(x, offset, self.max_len, "SinusoidalPositionalEncoding")
        if x.shape[-1] != self.embedding_dim:
            raise ValueError(
                f"SinusoidalPositionalEncoding({self.embedding_dim}) got input of shape "
                f"{tuple(x.shape)}; expected the last dim to be {self.embedding_dim}"
            )
        return AddPositional.apply(x, self.table(x.dtype), offset=offset)

    def extra_repr(self) -> str:
        return f"{self.embedding_dim}, max_len={self.max_len}"


def rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, sign: float = 1.0) -> np.ndarray:
    """Rotate the half-split pairs of ``x (..., T, D)`` by +angle (``sign=1``) or -angle (-1).

    ``cos``/``sin``: ``(T, D/2)``. The transpose of a rotation is the inverse rotation, so the
    backward of ``rotate(x, +1)`` is ``rotate(grad, -1)``.
    """
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    out = np.empty(x.shape, dtype=x.dtype)
    np.subtract(x1 * cos, sign * (x2 * sin), out=out[..., :h])
    np.add(x2 * cos, sign * (x1 * sin), out=out[..., h:])
    return out


class Rotary(Function):
    """RoPE as a differentiable op: ``rotate(x, cos, sin)`` with the inverse rotation backward."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, cos: np.ndarray,
                sin: np.ndarray) -> np.ndarray:
        # x: (..., T, D), cos/sin: (T, D/2) -> (..., T, D)
        ctx.save_for_backward(cos, sin)
        return rotate(x, cos, sin)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> np.ndarray:
        # grad: (..., T, D) -> (..., T, D)
        cos, sin = ctx.saved_tensors
        return rotate(grad, cos, sin, -1.0)


class RotaryEmbedding(Module):
    """Rotary position embedding (RoPE) for per-head queries and keys of size ``dim``.

    ``forward(x, offset=0)``: ``x`` of shape ``(..., T, dim)`` (e.g. ``(N, H, T, D)``) is rotated
    position by position, positions ``offset..offset+T-1``. No parameters. Attention layers take
    it through their ``rotary`` argument and apply it to queries and keys.
    """

    def __init__(self, dim: int, max_seq_len: int = 4096, base: float = 10000.0) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"RotaryEmbedding needs an even head dimension, got dim={dim}")
        self.dim = dim
        self.max_seq_len = max_seq_len
        self.base = base
        self._tables: dict[np.dtype, tuple[np.ndarray, np.ndarray]] = {}

    def tables(self, dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
        """``(cos, sin)``, each ``(max_seq_len, dim/2)``, in ``dtype`` (computed once per dtype)."""
        dtype = np.dtype(dtype)
        if dtype not in self._tables:
            inv_freq = self.base ** (-np.arange(0, self.dim, 2) / self.dim)   # (D/2,)
            angles = np.arange(self.max_seq_len)[:, None] * inv_freq           # (P, D/2)
            self._tables[dtype] = (np.cos(angles).astype(dtype), np.sin(angles).astype(dtype))
        return self._tables[dtype]

    def angles_for(self, seq_len: int, offset: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(cos, sin)`` rows for positions ``offset..offset+seq_len-1``."""
        if offset < 0 or offset + seq_len > self.max_seq_len:
            raise IndexError(
                f"RotaryEmbedding: positions {offset}..{offset + seq_len - 1} fall outside "
                f"max_seq_len={self.max_seq_len}"
            )
        cos, sin = self.tables(dtype)
        return cos[offset:offset + seq_len], sin[offset:offset + seq_len]

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        if x.ndim < 2 or x.shape[-1] != self.dim:
            raise ValueError(
                f"RotaryEmbedding(dim={self.dim}) expects input of shape (..., T, {self.dim}), "
                f"got {tuple(x.shape)}"
            )
        cos, sin = self.angles_for(x.shape[-2], offset, x.dtype)
        return Rotary.apply(x, cos=cos, sin=sin)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, max_seq_len={self.max_seq_len}, base={self.base:g}"
