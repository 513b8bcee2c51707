"""``verify``: run an exported file in onnxruntime and compare it with the model itself.

Every output is compared element by element: floating outputs within
``|ort - ours| <= atol + rtol * |ours|`` (``numpy.allclose``'s rule), integer and boolean
outputs exactly. The report gives, per output, the shapes and the largest absolute and relative
errors, so a near miss can be judged rather than only failed.

Cost: one forward pass in each runtime, plus the session's graph optimisation when it loads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from tinytorch.core.function import is_tensor
from tinytorch.core.grad_mode import no_grad

ORT_MISSING = ("tinytorch.onnx.verify needs onnxruntime: "
               "pip install tinytorch-optim[onnxruntime]")


@dataclass(frozen=True)
class OutputCheck:
    """How one output compared: names, shapes and the largest errors (0 for exact matches)."""

    name: str
    shape: tuple[int, ...]
    ort_shape: tuple[int, ...]
    dtype: str
    max_abs_error: float
    max_rel_error: float
    ok: bool


@dataclass(frozen=True)
class VerifyReport:
    """The result of ``verify``: one ``OutputCheck`` per graph output, in order."""

    outputs: tuple[OutputCheck, ...]
    rtol: float
    atol: float

    def __str__(self) -> str:
        rows = [f"{o.name}: shape {o.shape} {o.dtype}, max abs err {o.max_abs_error:.3g}, "
                f"max rel err {o.max_rel_error:.3g}{'' if o.ok else '  MISMATCH'}"
                for o in self.outputs]
        return "\n".join(rows)


def verify(model: Any, args: Any, f_or_proto: str | os.PathLike[str] | IO[bytes] | Any, *,
           rtol: float = 1e-4, atol: float = 1e-5) -> VerifyReport:
    """Run ``f_or_proto`` in onnxruntime on ``args`` and compare with ``model(*args)``.

    Raises ``AssertionError`` naming each output that differs (shape, dtype or values beyond
    ``rtol``/``atol``; integers must be equal). Returns a ``VerifyReport`` otherwise.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise ImportError(ORT_MISSING) from None
    args = args if isinstance(args, tuple) else (args,)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            ours = _tensors(model(*args))
    finally:
        for m, training in modes:
            m.training = training
    session = ort.InferenceSession(_model_source(f_or_proto), providers=["CPUExecutionProvider"])
    feeds = {i.name: a.array for i, a in zip(session.get_inputs(), [a for a in args
                                                                     if is_tensor(a)])}
    names = [o.name for o in session.get_outputs()]
    theirs = session.run(names, feeds)
    if len(theirs) != len(ours):
        raise AssertionError(f"verify: the file has {len(theirs)} outputs {names}, the model "
                             f"returned {len(ours)}")
    checks = tuple(_compare(n, a, b, rtol, atol) for n, a, b in zip(names, ours, theirs))
    report = VerifyReport(checks, rtol, atol)
    bad = [c for c in checks if not c.ok]
    if bad:
        raise AssertionError(f"verify: onnxruntime and tinytorch differ (rtol={rtol}, "
                             f"atol={atol}; integer outputs must be equal):\n{report}")
    return report


def _tensors(output: Any) -> list[np.ndarray]:
    if is_tensor(output):
        return [output.array]
    return [o.array for o in output if o is not None]


def _model_source(f: Any) -> str | bytes:
    """What ``InferenceSession`` takes: a path (external data is found beside it) or bytes."""
    if isinstance(f, (str, os.PathLike)):
        return os.fspath(f)
    if hasattr(f, "SerializeToString"):
        return f.SerializeToString()
    if hasattr(f, "seek"):
        f.seek(0)
    return f.read()


def _compare(name: str, ours: np.ndarray, theirs: np.ndarray, rtol: float,
             atol: float) -> OutputCheck:
    shape_ok = ours.shape == theirs.shape
    exact = not np.issubdtype(ours.dtype, np.floating)
    dtype_ok = ours.dtype == theirs.dtype
    if shape_ok and ours.size:
        a, b = ours.astype(np.float64), theirs.astype(np.float64)
        diff = np.abs(a - b)
        abs_err = float(np.nanmax(diff))
        rel_err = float(np.nanmax(diff / np.maximum(np.abs(a), np.finfo(np.float64).tiny)))
        same_nan = bool(np.array_equal(np.isnan(a), np.isnan(b)))
        close = (np.array_equal(ours, theirs) if exact
                 else same_nan and bool(np.allclose(b, a, rtol=rtol, atol=atol, equal_nan=True)))
    else:
        abs_err = rel_err = 0.0 if shape_ok else float("inf")
        close = shape_ok
    return OutputCheck(name, tuple(ours.shape), tuple(theirs.shape), str(ours.dtype),
                       abs_err, rel_err, close and dtype_ok and shape_ok)
