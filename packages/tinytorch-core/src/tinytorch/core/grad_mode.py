"""Gradient recording switches: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

Systems view: one flag per thread, read by ``Function.apply`` on every op. It is per thread as in
PyTorch: a DataLoader worker thread that runs a transform under ``no_grad`` must not switch off
recording in the training thread meanwhile. Recording a node
costs a small Python object per op plus the arrays it saves for backward; turning recording off
(evaluation, optimizer updates) saves that memory and roughly a third of the per-op overhead.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _ThreadGradState(threading.local):
    """Holds the flag for the current thread; every new thread starts with recording on."""

    enabled: bool = True


_GradState = _ThreadGradState()


def is_grad_enabled() -> bool:
    """Return True when operations are being recorded for autograd."""
    return _GradState.enabled


class set_grad_enabled:
    """Context manager (and decorator) that turns gradient recording on or off.

    Like PyTorch's, calling it also sets the mode immediately, so ``set_grad_enabled(False)`` on
    its own line switches recording off until switched back.
    """

    def __init__(self, mode: bool) -> None:
        self.prev = _GradState.enabled
        self.mode = bool(mode)
        _GradState.enabled = self.mode

    def __enter__(self) -> None:
        _GradState.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _GradState.enabled = self.prev

    def __call__(self, fn: F) -> F:
        mode = self.mode
        _GradState.enabled = self.prev

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class _GradModeContext:
    """Shared body of ``no_grad`` and ``enable_grad``: set a fixed mode inside a block."""

    mode: bool = True

    def __enter__(self) -> None:
        self.prev = _GradState.enabled
        _GradState.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _GradState.enabled = self.prev

    def __call__(self, fn: F) -> F:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradModeContext):
    """Inside this block no graph is recorded: results have ``requires_grad=False``."""

    mode = False


class enable_grad(_GradModeContext):
    """Turn recording back on inside a ``no_grad`` block."""

    mode = True
