"""``inplace=True`` for pointwise ops: ``apply_inplace`` writes an op's result into its input.

It follows core's in-place arithmetic: without a graph the result is written into the input's
memory (so views of it see the change); with one, the op is recorded out of place and the input
tensor takes over the result and its history. The cost is the op's own plus one copy of ``n``
elements when no graph is recorded. The blocked, threaded evaluation of GELU and SiLU lives in
``tinytorch.nn._kernels.pointwise``.
"""

from __future__ import annotations

from collections.abc import Callable

from tinytorch.core.grad_mode import is_grad_enabled
from tinytorch.core.inplace import check_inplace
from tinytorch.core.tensor import Tensor, write_inplace


def apply_inplace(input: Tensor, op: Callable[[Tensor], Tensor]) -> Tensor:
    """``op(input)`` written back into ``input`` (PyTorch's ``inplace=True``).

    Without a graph the result is copied into ``input``'s own memory, so views of it see the
    change; with a graph the op is recorded out of place and ``input`` takes over the result
    and its history, as core's in-place arithmetic does. A leaf that requires grad is refused.
    """
    check_inplace(input)          # a leaf that requires grad, or a view of one, is refused
    if is_grad_enabled() and input.requires_grad:
        return write_inplace(input, op(input._alias()))
    return write_inplace(input, op(input))
