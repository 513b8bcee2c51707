"""Anomaly detection: find the op whose backward produced NaN or inf, and where it ran.

``tinytorch.autograd.set_detect_anomaly(True)`` (or ``with detect_anomaly():``) makes every op
recorded from then on keep the Python stack of the line that ran its forward, and makes the
engine check every gradient a backward returns. The first non-finite one raises a
RuntimeError that names the op and shows that forward stack, so a NaN loss can be traced to
the ``log`` of a zero or the division that overflowed.

Systems view: off by default, because it costs a stack capture (tens of µs) per recorded op
and one ``isfinite`` pass over every gradient. The flag is process-wide, as in PyTorch.
"""

from __future__ import annotations

import warnings


class _AnomalyState:
    enabled: bool = False


def enabled() -> bool:
    """True while anomaly detection is on (``is_anomaly_enabled`` in PyTorch)."""
    return _AnomalyState.enabled


class set_detect_anomaly:
    """Turn anomaly detection on or off: at once, or for a ``with`` block."""

    def __init__(self, mode: bool) -> None:
        self.prev = _AnomalyState.enabled
        _AnomalyState.enabled = bool(mode)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _AnomalyState.enabled = self.prev


class detect_anomaly:
    """Anomaly detection on inside a ``with`` block (or for a decorated function's call)."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan

    def __enter__(self) -> None:
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", stacklevel=2)
        self.prev = _AnomalyState.enabled
        _AnomalyState.enabled = self.check_nan

    def __exit__(self, *exc: object) -> None:
        _AnomalyState.enabled = self.prev


def describe(node_name: str, index: int, kind: str, trace: list[str] | None) -> str:
    """The error message for a backward that returned NaN or inf values."""
    where = ("".join(trace) if trace else
             "  (no forward traceback: the op was recorded before anomaly mode was switched on)\n")
    return (f"Function '{node_name}' returned {kind} values in its {index}th output.\n"
            f"The forward call that created it:\n{where}")
