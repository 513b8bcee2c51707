"""Helpers for pointwise ops: cache-blocked evaluation, and ``inplace=True``.

Systems view: a formula of ``k`` NumPy ufunc calls over an array of ``n`` elements streams the
array through memory ``k`` times; with ``n`` in the millions each pass runs at DRAM speed
(about 0.7 ns/element here). Evaluating the same calls on blocks of ``BLOCK`` elements keeps
the block and its scratch arrays in cache, where a simple pass costs about 0.15 ns/element:
several times faster for formulas of 20+ passes, at the price of one Python-level loop
iteration (about ``k`` µs of call overhead) per block. Scratch arrays are allocated once per
call and reused. This is a loop over *blocks*, never over elements.

``inplace=True`` (``apply_inplace``) follows core's in-place arithmetic: without a graph the
result is written into the input's memory; with one, the op is recorded out of place and the
input tensor takes over the result and its history.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinytorch.core.grad_mode import is_grad_enabled
from tinytorch.core.tensor import Tensor

BLOCK = 32768   # elements: 128 KB per float32 array; fastest of 8K-128K measured here

Kernel = Callable[[np.ndarray, list[np.ndarray], list[np.ndarray]], None]


def blocked(kernel: Kernel, x: np.ndarray, n_out: int, n_scratch: int,
            bool_scratch: int = 0) -> list[np.ndarray]:
    """Run ``kernel(x_block, out_blocks, scratch_blocks)`` over ``x`` in cache-sized blocks.

    Returns ``n_out`` fresh arrays shaped and typed like ``x``. The kernel writes every element
    of each output block; scratch blocks hold garbage on entry. ``bool_scratch`` extra scratch
    arrays of dtype bool follow the float ones.
    """
    src = np.ascontiguousarray(x).reshape(-1)
    n = src.size
    outs = [np.empty(n, dtype=x.dtype) for _ in range(n_out)]
    size = min(BLOCK, n)
    scratch = [np.empty(size, dtype=x.dtype) for _ in range(n_scratch)]
    scratch += [np.empty(size, dtype=bool) for _ in range(bool_scratch)]
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        m = stop - start
        kernel(src[start:stop], [o[start:stop] for o in outs], [s[:m] for s in scratch])
    return [o.reshape(x.shape) for o in outs]


def apply_inplace(input: Tensor, op: Callable[[Tensor], Tensor]) -> Tensor:
    """``op(input)`` written back into ``input`` (PyTorch's ``inplace=True``).

    Without a graph the result is copied into ``input``'s own memory, so views of it see the
    change; with a graph the op is recorded out of place and ``input`` takes over the result
    and its history, as core's in-place arithmetic does. A leaf that requires grad is refused.
    """
    if input.requires_grad and input.grad_fn is None and is_grad_enabled():
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an in-place operation."
        )
    if is_grad_enabled() and input.requires_grad:
        return input._rebind(op(input._alias()))
    out = op(input)
    np.copyto(input.array, out.array, casting="unsafe")
    return input
