"""Padding on arrays: the one implementation of the four padding modes, forward and backward.

``F.pad`` (``core/ops/shape.py``), convolution's ``padding_mode`` and pooling's ``-inf``
padding all pad through here. ``widths`` gives ``(before, after)`` for every axis, both ``>= 0``.

- ``'constant'``: a new array filled with ``value`` and one slice assignment of the input.
- ``'reflect'`` (mirror about the edge, which is not repeated), ``'replicate'`` (repeat the
  edge) and ``'circular'`` (wrap around): each padded axis is one gather (``np.take``) by the
  source position of every padded position (``source_index``).

Cost: one new array of the padded size per padded axis, ``O(numel(out))`` bytes moved.
Backward is the adjoint: the gradient of the interior is a slice; under the gather modes a
source element copied into several padded positions also receives their gradients, added
one padded position at a time (a loop over the padding width, each step a vectorised add over
the other axes), so the work is linear in the padded size.
"""

from __future__ import annotations

import numpy as np

MODES = ("constant", "reflect", "replicate", "circular")

Widths = tuple[tuple[int, int], ...]  # (before, after) per axis


def source_index(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each padded position along one axis, the input position it copies.

    ``size=4, before=2, after=1``: reflect ``[2 1 0 1 2 3 2]``, replicate ``[0 0 0 1 2 3 3]``,
    circular ``[2 3 0 1 2 3 0]``.
    """
    i = np.arange(-before, size + after)
    if mode == "replicate":
        return np.clip(i, 0, size - 1)
    if mode == "circular":
        return i % size
    i = np.abs(i)                                    # reflect: mirror about position 0 ...
    return np.where(i > size - 1, 2 * (size - 1) - i, i)   # ... and about position size-1


def pad(a: np.ndarray, widths: Widths, mode: str = "constant",
        value: float = 0.0) -> np.ndarray:
    """``a`` (..., n_i, ...) -> (..., before_i + n_i + after_i, ...). ``a`` itself if no widths."""
    if not any(b or e for b, e in widths):
        return a
    if mode == "constant":
        out = np.full([b + n + e for n, (b, e) in zip(a.shape, widths)], value, a.dtype)
        out[tuple(slice(b, b + n) for n, (b, _) in zip(a.shape, widths))] = a
        return out
    for axis, (b, e) in enumerate(widths):
        if b or e:
            a = np.take(a, source_index(a.shape[axis], b, e, mode), axis=axis)
    return a


def pad_backward(grad: np.ndarray, widths: Widths, mode: str = "constant") -> np.ndarray:
    """The gradient of ``pad``: padded (..., m_i, ...) -> (..., m_i - before_i - after_i, ...)."""
    if mode == "constant":
        return grad[tuple(slice(b, n - e) for n, (b, e) in zip(grad.shape, widths))]
    for axis in reversed(range(len(widths))):
        b, e = widths[axis]
        if not (b or e):
            continue
        size = grad.shape[axis] - b - e
        at = (slice(None),) * axis
        inner = grad[at + (slice(b, b + size),)].copy()            # the interior's own share
        source = source_index(size, b, e, mode)
        for p in (*range(b), *range(b + size, b + size + e)):      # each padded position
            inner[at + (source[p],)] += grad[at + (p,)]
        grad = inner
    return grad
