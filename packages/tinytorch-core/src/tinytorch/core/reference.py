"""The switch between fast kernels and their plain reference implementations.

Several ops have two implementations that compute the same thing. The *reference* is the
algorithm as a textbook writes it (a convolution as padding, strided windows, one matrix
product and col2im; layer norm as mean, variance, normalise). The *kernel* is what runs by
default: the same algorithm with the systems work a learner can skip on first reading
(cache-sized blocks, threads, fused passes, other memory layouts). A test for each pair
keeps the two equal, values and gradients.

``use_reference_kernels(True)`` runs the references everywhere, for learning and for
debugging ("is the bug in the algorithm or in the kernel?"); the Optimization tier times the
two against each other. It is one process-wide flag, like ``torch.backends`` switches, and it
starts on when ``$TINYTORCH_REFERENCE`` is ``1``. Like ``set_grad_enabled``, it works as a plain
call and as a context manager::

    with tinytorch.use_reference_kernels():
        loss = model(x)                 # every op with a kernel runs its reference
"""

from __future__ import annotations

import os


def _initial_mode() -> bool:
    value = os.environ.get("TINYTORCH_REFERENCE", "0")
    if value not in ("0", "1"):
        raise ValueError(f"TINYTORCH_REFERENCE must be 0 or 1, got {value!r}")
    return value == "1"


class _ReferenceState:
    """Holds the flag (a class attribute: the cheapest global read on an op's hot path)."""

    enabled: bool = _initial_mode()


def reference_kernels_enabled() -> bool:
    """True while ops run their reference implementations instead of their fast kernels."""
    return _ReferenceState.enabled


class use_reference_kernels:
    """Run the reference implementations (``True``) or the fast kernels (``False``).

    Calling it sets the mode at once; used with ``with``, the previous mode comes back at the
    end of the block.
    """

    def __init__(self, mode: bool = True) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"use_reference_kernels expects a bool, got {type(mode).__name__}")
        self.prev = _ReferenceState.enabled
        _ReferenceState.enabled = mode

    def __enter__(self) -> use_reference_kernels:
        return self

    def __exit__(self, *exc: object) -> None:
        _ReferenceState.enabled = self.prev
