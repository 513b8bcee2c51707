"""Activation modules: ``ReLU``, ``LeakyReLU``, ``GELU``, ``SiLU``, ``Sigmoid``, ``Tanh``,
``Softmax``, ``LogSoftmax``.

Systems view (``n`` elements): no parameters; each is one pass of O(n) work forward and one
backward, and keeps one ``n``-element array for backward (the output, a mask or ``dy/dx``).
The nonlinearity is what lets a stack of linear layers represent more than one linear map;
the choice trades cost for gradient flow: ReLU is the cheapest (one compare), GELU/SiLU are
smooth (no dead units) at the cost of one ``exp`` per element. The computations are in
``functional/activation.py``.
"""

from __future__ import annotations

from tinytorch.core.tensor import Tensor
from tinytorch.nn.functional import activation as F
from tinytorch.nn.module import Module


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
