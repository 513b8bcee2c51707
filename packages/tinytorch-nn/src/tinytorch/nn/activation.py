"""Activation modules: ``ReLU``, ``LeakyReLU``, ``GELU``, ``SiLU``, ``Sigmoid``, ``Tanh``,
``Softmax``, ``LogSoftmax``, ``ELU``, ``Softplus``, ``Hardtanh``, ``Mish``, ``PReLU``.

Systems view (``n`` elements): no parameters; each is one pass of O(n) work forward and one
backward, and keeps one ``n``-element array for backward (the output, a mask or ``dy/dx``).
The nonlinearity is what lets a stack of linear layers represent more than one linear map;
the choice trades cost for gradient flow: ReLU is the cheapest (one compare), GELU/SiLU are
smooth (no dead units) at the cost of one ``exp`` per element. The computations are in
``functional/activation.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.tensor import Tensor
from tinytorch.core.types import DTypeLike
from tinytorch.nn.functional import activation as F
from tinytorch.nn.module import Module
from tinytorch.nn.parameter import Parameter


class ReLU(Module):
    """``max(x, 0)``; (*) -> (*)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """``x`` if ``x > 0`` else ``negative_slope · x``; (*) -> (*)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """``x · Φ(x)`` (``approximate='none'``) or its tanh approximation; (*) -> (*)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """``x · sigmoid(x)``; (*) -> (*)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``; (*) -> (*)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Tanh(Module):
    """``tanh(x)``; (*) -> (*)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along ``dim``; (*) -> (*)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``x - logsumexp(x)`` along ``dim``; (*) -> (*)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class ELU(Module):
    """``x`` if ``x > 0`` else ``alpha · (exp(x) - 1)``; (*) -> (*)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Softplus(Module):
    """``log(1 + exp(beta · x)) / beta`` (linear above ``threshold``); (*) -> (*)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """``x`` clamped to ``[min_val, max_val]``; (*) -> (*)."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0,
                 inplace: bool = False) -> None:
        super().__init__()
        if not max_val > min_val:
            raise AssertionError(f"max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return (f"min_val={self.min_val}, max_val={self.max_val}"
                + (", inplace=True" if self.inplace else ""))


class Mish(Module):
    """``x · tanh(softplus(x))``; (*) -> (*)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.mish(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class PReLU(Module):
    """``x`` if ``x > 0`` else ``a · x``, with the slope ``a`` learned: one shared
    (``num_parameters=1``) or one per channel (``num_parameters=C``, channels on dim 1);
    (N, C, *) -> (N, C, *). Parameter: ``weight`` (num_parameters,), filled with ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None,
                 dtype: DTypeLike = None) -> None:
        super().__init__()
        if device is not None and not str(device).startswith("cpu"):
            raise RuntimeError(f"TinyTorch runs on the CPU only; got device {device!r}")
        # PyTorch's attribute; on a PReLU it hides Module.num_parameters(), as in PyTorch
        self.num_parameters = num_parameters  # type: ignore[method-assign, assignment]
        self.init = init
        self.weight = Parameter(Tensor._wrap(np.full((num_parameters,), init,
                                                     dtype=dtypes.as_dtype(dtype))))

    def reset_parameters(self) -> None:
        self.weight.array[...] = self.init

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
