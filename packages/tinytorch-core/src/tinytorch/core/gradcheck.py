"""``gradcheck``: compare autograd's gradients with central finite differences in float64.

Method (a random projection, like PyTorch's ``fast_mode``, but exact per input element): the
outputs ``y_k = f(x)`` are collapsed to one scalar ``s(x) = sum_k <v_k, y_k(x)>`` with fixed
random vectors ``v_k`` (a private seeded generator, so the check is reproducible and leaves the
global RNG alone). Then

- analytic: one backward pass from all outputs with ``grad_output = v_k`` gives ``ds/dx_i``
  for every input at once (``v^T J``);
- numerical: for every element ``j`` of every input, ``(s(x + eps e_j) - s(x - eps e_j)) / 2eps``
  with recording switched off.

A wrong gradient for any (output, input) pair changes ``v^T J`` except on a set of ``v`` of
measure zero, so one projection catches it, and mismatches are reported per input element.

Cost: one forward + one backward, then ``2 * sum(numel(x_i))`` forwards. This is a testing
tool, so the loop over perturbed elements is deliberate; keep the inputs small.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinytorch.core.engine import run_backward
from tinytorch.core.grad_mode import no_grad
from tinytorch.core.tensor import Tensor

_SEED = 20240601


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when analytic and numerical gradients disagree."""


def _as_tuple(x: Any) -> tuple[Any, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _float_outputs(out: Tensor | Sequence[Tensor]) -> list[Tensor]:
    """The floating-point tensor outputs of ``func`` (integer outputs are not differentiable)."""
    outs = [o for o in _as_tuple(out) if isinstance(o, Tensor) and o.array.dtype.kind == "f"]
    if not outs:
        raise GradcheckError("gradcheck: the function returned no floating-point Tensor output")
    return outs


def _projection(func: Callable[..., Any], inputs: Sequence[Any], vs: Sequence[np.ndarray]) -> float:
    """``s(x) = sum_k <v_k, y_k(x)>`` evaluated without recording a graph."""
    with no_grad():
        outs = _float_outputs(func(*inputs))
    return float(sum(np.vdot(v, o.array.astype(np.float64)) for v, o in zip(vs, outs)))


def _fail(msg: str, raise_exception: bool) -> bool:
    if raise_exception:
        raise GradcheckError(msg)
    return False


def gradcheck(
    func: Callable[..., Any],
    inputs: Tensor | Sequence[Any],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check the gradients of ``func(*inputs)`` against central differences.

    ``inputs`` is a Tensor or a tuple of arguments; every Tensor that requires grad should be
    float64 (another dtype gets a warning, as in PyTorch). Returns True when
    ``|analytic - numerical| <= atol + rtol * |numerical|`` for every element of every such
    input; otherwise raises ``GradcheckError`` (a ``RuntimeError``) naming the input, the
    worst element and the max abs error, or returns False when ``raise_exception=False``.
    """
    inputs = _as_tuple(inputs)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff:
        raise ValueError(
            "gradcheck expects at least one input tensor to require gradient, "
            "but none of them have requires_grad=True"
        )
    for i in diff:
        if inputs[i].array.dtype != np.float64:  # PyTorch warns and goes on; so do we
            warnings.warn(
                f"gradcheck: input {i} requires grad and is not a double precision floating "
                f"point tensor (dtype {inputs[i].array.dtype}, shape "
                f"{tuple(inputs[i].shape)}); finite differences in it are too coarse, so the "
                f"check will likely fail unless every input is float64", UserWarning,
                stacklevel=2,
            )

    outs = _float_outputs(func(*inputs))
    rng = np.random.default_rng(_SEED)
    vs = [rng.standard_normal(o.array.shape) for o in outs]

    # analytic: v^T J for every differentiable input, from one backward pass
    roots = [o for o in outs if o.requires_grad]
    grads = [v.astype(o.array.dtype) for v, o in zip(vs, outs) if o.requires_grad]
    targets = [inputs[i] for i in diff]
    analytic: list[np.ndarray | None] = [None] * len(diff)
    if roots:
        analytic = run_backward(roots, grads, retain_graph=False, inputs=targets) or analytic

    for slot, i in enumerate(diff):
        x = inputs[i].array
        a = analytic[slot]
        a = np.zeros(x.shape) if a is None else np.asarray(a, dtype=np.float64)
        if a.shape != x.shape:
            return _fail(
                f"gradcheck: the gradient for input {i} has shape {tuple(a.shape)}, "
                f"expected the input's shape {tuple(x.shape)}", raise_exception)
        numerical = np.empty(x.shape)
        for idx in np.ndindex(*x.shape):
            orig = x[idx]
            x[idx] = orig + eps
            plus = _projection(func, inputs, vs)
            x[idx] = orig - eps
            minus = _projection(func, inputs, vs)
            x[idx] = orig
            numerical[idx] = (plus - minus) / (2 * eps)
        err = np.abs(a - numerical)
        bad = err > atol + rtol * np.abs(numerical)
        if bad.any():
            worst = np.unravel_index(int(np.argmax(np.where(bad, err, -1.0))), x.shape)
            return _fail(
                f"gradcheck: gradient mismatch for input {i} (shape {tuple(x.shape)}): "
                f"max abs error {float(err.max()):.6g}; at element {tuple(int(j) for j in worst)} "
                f"analytic {float(a[worst]):.6g} vs numerical {float(numerical[worst]):.6g} "
                f"(projected onto a random output direction; atol={atol}, rtol={rtol})",
                raise_exception)
    return True
