"""``RemovableHandle``: what registering a hook returns, so the hook can be removed again.

Systems view: a hook is one entry in an ordered dict on the module; ``Module.__call__`` checks
whether that dict is empty (one truth test per call) and runs the hooks only if not, so
modules without hooks pay nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class RemovableHandle:
    """Returned by ``register_forward_hook``; ``handle.remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict[int, Callable[..., Any]]) -> None:
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._hooks.pop(self.id, None)
