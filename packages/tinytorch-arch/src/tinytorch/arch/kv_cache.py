"""``KVCache``: the keys and values a causal decoder has computed, kept for the next token.

A causal attention layer's key and value at a position depend only on that position and the
ones before it, so once computed they never change while the sequence grows. Generation can
keep them and run each new token alone through the model, attending over the stored keys:

- without a cache, the token after a context of ``T`` costs ``L·(24·E² + 4·T·E)·T`` FLOPs
  (the whole context rerun through ``L`` layers of width ``E``), ``O(T²)`` per token;
- with it, ``L·(24·E² + 4·T·E)``: one position through the projections and one row of
  attention over ``T`` cached keys, ``O(T)`` per token.

Memory: ``2·L·N·H·P·D = 2·L·N·P·E`` numbers (``nbytes``) for batch ``N``, ``H`` heads of size
``D`` and room for ``P`` positions. They are allocated once, up front, as two arrays
``(L, N, H, P, D)``; a step writes its new column in place and attention reads the filled
prefix as a view. Growing the arrays by concatenation instead would copy the whole cache at
every step, ``O(T²)`` bytes over a generation, the cost the cache is there to remove.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.core.dtypes import dtype_name


class KVCache:
    """Preallocated keys and values of ``num_layers`` attention layers.

    ``keys`` and ``values`` are ``(num_layers, batch_size, num_heads, max_len, head_dim)``
    arrays of which positions ``0 .. length - 1`` are filled. A model's cached forward writes
    each layer's new positions with ``update`` and then moves ``length`` on with ``advance``
    once every layer has written them. ``reset`` empties the cache without freeing it.
    """

    def __init__(self, num_layers: int, batch_size: int, num_heads: int, max_len: int,
                 head_dim: int, dtype: Any = np.float32) -> None:
        shape = (num_layers, batch_size, num_heads, max_len, head_dim)
        if min(shape) < 1:
            raise ValueError(f"KVCache needs positive sizes, got (layers, batch, heads, "
                             f"max_len, head_dim) = {shape}")
        self.keys = np.empty(shape, dtype=dtype)
        self.values = np.empty(shape, dtype=dtype)
        self.length = 0
        # per layer, what a decode kernel looks up once per generation (its weights), so each
        # step does not walk the module tree again
        self.plans: dict[int, Any] = {}

    @property
    def max_len(self) -> int:
        """Positions the cache has room for."""
        return self.keys.shape[3]

    @property
    def nbytes(self) -> int:
        """Bytes allocated for keys and values: ``2·L·N·H·P·D·itemsize``."""
        return self.keys.nbytes + self.values.nbytes

    def update(self, layer: int, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Store ``layer``'s keys and values for the new positions; return all of them.

        ``k``, ``v``: ``(N, H, T, D)`` for positions ``length .. length + T - 1``. Returns
        views ``(N, H, length + T, D)`` of every position so far (valid until the next write).
        """
        _, n, h, p, d = self.keys.shape
        end = self.length + k.shape[-2]
        if k.shape != v.shape or k.shape[:2] != (n, h) or k.shape[3] != d:
            raise RuntimeError(
                f"KVCache.update: expected keys and values of shape ({n}, {h}, T, {d}), got "
                f"{tuple(k.shape)} and {tuple(v.shape)}")
        if k.dtype != self.keys.dtype or v.dtype != self.keys.dtype:
            raise RuntimeError(
                f"KVCache.update: the cache holds {dtype_name(self.keys.dtype)} but got keys of "
                f"{dtype_name(k.dtype)} and values of {dtype_name(v.dtype)}; make a new cache "
                "after changing the model's dtype")
        if end > p:
            raise RuntimeError(
                f"KVCache.update: positions {self.length}..{end - 1} do not fit a cache of "
                f"{p} positions; reset it or make a larger one")
        keys, values = self.keys[layer], self.values[layer]          # (N, H, P, D)
        keys[:, :, self.length:end] = k
        values[:, :, self.length:end] = v
        return keys[:, :, :end], values[:, :, :end]

    def advance(self, steps: int) -> None:
        """Count ``steps`` more positions as filled (after every layer has written them)."""
        if self.length + steps > self.max_len:
            raise RuntimeError(f"KVCache.advance: {self.length} + {steps} positions exceed "
                               f"max_len={self.max_len}")
        self.length += steps

    def reset(self) -> None:
        """Forget every position; the arrays are kept for reuse."""
        self.length = 0

    def __repr__(self) -> str:
        layers, n, h, p, d = self.keys.shape
        return (f"KVCache(layers={layers}, batch={n}, heads={h}, max_len={p}, head_dim={d}, "
                f"length={self.length}, dtype={dtype_name(self.keys.dtype)}, "
                f"nbytes={self.nbytes})")
