"""``nn.init``: fill a tensor in place with the distributions deep networks start from.

Systems view: every function overwrites ``tensor``'s array in place (no new tensor, no graph
recorded — the same as running under ``no_grad``) with one draw of ``numel`` numbers from
``tinytorch.core.random.generator()``, so ``manual_seed`` makes initialisation reproducible.
Cost: O(numel) time, and one temporary array of ``numel`` float64 numbers from the generator.

The scaled schemes keep the variance of activations roughly constant from layer to layer:
Xavier/Glorot uses ``Var(w) = gain² · 2 / (fan_in + fan_out)``, Kaiming/He uses
``Var(w) = gain² / fan`` with ``fan`` = fan_in (forward pass) or fan_out (backward pass).
``orthogonal_`` instead makes the weight an exact isometry (all singular values ``gain``), at
the cost of one QR factorisation: O(r·c·min(r, c)) FLOPs for an (r, c) matrix.
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch.core.random import Generator
from tinytorch.core.random import generator as _rng
from tinytorch.core.tensor import Tensor

_LINEAR_LIKE = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                "conv_transpose3d")


def _fill(tensor: Tensor, values: np.ndarray | float) -> Tensor:
    """Write ``values`` into ``tensor``'s array in place, casting to its dtype."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init expects a Tensor, got {type(tensor).__name__}")
    np.copyto(tensor.array, values, casting="unsafe")
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain to scale a weight's std by, for a layer followed by ``nonlinearity``."""
    if nonlinearity in _LINEAR_LIKE or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shaped (out, in, *kernel): in·k and out·k."""
    if tensor.ndim < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
            f"(got shape {tuple(tensor.shape)})"
        )
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: Generator | None = None) -> Tensor:
    """Fill with U(a, b)."""
    return _fill(tensor, _rng(generator).uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: Generator | None = None) -> Tensor:
    """Fill with N(mean, std²)."""
    return _fill(tensor, _rng(generator).normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _fill(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0,
                    generator: Generator | None = None) -> Tensor:
    """Glorot uniform: U(-a, a) with ``a = gain · sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0,
                   generator: Generator | None = None) -> Tensor:
    """Glorot normal: N(0, std²) with ``std = gain · sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: Generator | None = None) -> Tensor:
    """He uniform: U(-b, b) with ``b = gain · sqrt(3 / fan)``, gain from ``nonlinearity``, a."""
    if 0 in tensor.shape:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def linear_like_(weight: Tensor, bias: Tensor | None) -> None:
    """PyTorch's default start for Linear, Conv and ConvTranspose layers (not a torch name).

    ``kaiming_uniform_(weight, a=√5)``, which is U(-1/√fan_in, 1/√fan_in), and the bias, if
    any, from the same range; ``fan_in`` is computed from the weight's layout.
    """
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: Generator | None = None) -> Tensor:
    """He normal: N(0, std²) with ``std = gain / sqrt(fan)``."""
    if 0 in tensor.shape:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: Generator | None = None) -> Tensor:
    """N(mean, std²) restricted to [a, b], by vectorized rejection sampling.

    Each round draws enough normals for the values still missing, divided by the probability
    ``P(a <= X <= b)``, so a few rounds suffice. Intervals holding less than 1e-6 of the
    distribution are refused (ValueError): rejection would need millions of draws per value.
    """
    if std <= 0:
        raise ValueError(f"trunc_normal_ needs std > 0, got {std}")
    if not a < b:
        raise ValueError(f"trunc_normal_ needs a < b, got a={a}, b={b}")
    lo, hi = (a - mean) / std, (b - mean) / std
    mass = 0.5 * (math.erfc(-hi / math.sqrt(2)) - math.erfc(-lo / math.sqrt(2)))
    if mass < 1e-6:
        raise ValueError(
            f"trunc_normal_: [a, b] = [{a}, {b}] holds only {mass:.3g} of N({mean}, {std}²); "
            "choose an interval closer to the mean"
        )
    rng = _rng(generator)
    n = tensor.array.size
    out = np.empty(n)
    filled = 0
    while filled < n:
        want = n - filled
        draw = rng.normal(mean, std, int(want / mass * 1.1) + 16)
        keep = draw[(draw >= a) & (draw <= b)][:want]
        out[filled:filled + keep.size] = keep
        filled += keep.size
    return _fill(tensor, out.reshape(tensor.shape))


def orthogonal_(tensor: Tensor, gain: float = 1, generator: Generator | None = None) -> Tensor:
    """Fill with a (semi-)orthogonal matrix scaled by ``gain`` (Saxe et al., 2013).

    ``tensor`` is viewed as (rows, cols) = (shape[0], numel / shape[0]). Draw a normal matrix,
    take Q of its QR factorisation (of the transpose when rows < cols, so Q is as large as
    possible) and flip each column of Q by the sign of R's diagonal: without that flip the
    distribution depends on the QR routine's sign convention; with it, Q is uniform (Haar)
    over the orthogonal matrices. The rows (rows <= cols) or columns are then orthonormal.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init expects a Tensor, got {type(tensor).__name__}")
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported, got shape "
                         f"{tuple(tensor.shape)}")
    if tensor.array.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.array.size // rows
    a = _rng(generator).normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        a = a.T                                   # (cols, rows): tall, so Q has rows columns
    q, r = np.linalg.qr(a)                        # a: (m, k) -> q: (m, k), r: (k, k)
    q *= np.sign(np.diag(r))                      # column j times sign(r_jj)
    if rows < cols:
        q = q.T
    return _fill(tensor, (gain * q).reshape(tensor.shape))
