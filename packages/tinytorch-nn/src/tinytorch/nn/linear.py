"""``Linear`` (a fully connected layer) and ``Identity``.

Systems view of ``Linear(in, out)`` on an input with ``M`` rows (all leading dims folded):
parameters ``out·in + out``; forward ``2·M·in·out`` FLOPs (one GEMM) + ``M·out`` for the bias;
backward ``4·M·in·out`` FLOPs (two GEMMs); activation memory: the input (``M·in``) is saved
for the weight gradient and the output (``M·out``) is new. The weight is stored as
``(out, in)``, PyTorch's layout, so checkpoints move between the two frameworks unchanged.

Default initialisation is PyTorch's: ``kaiming_uniform_(W, a=√5)``, i.e. U(-1/√in, 1/√in),
and the bias U(-1/√in, 1/√in) — small enough that a deep stack of fresh layers does not blow
up its activations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.tensor import Tensor
from tinytorch.core.types import DTypeLike
from tinytorch.nn import init
from tinytorch.nn.functional.linear import linear
from tinytorch.nn.module import Module
from tinytorch.nn.parameter import Parameter


def _check_device(device: Any) -> None:
    if device is not None and not str(device).startswith("cpu"):
        raise RuntimeError(f"TinyTorch runs on the CPU only; got device {device!r}")


class Identity(Module):
    """Returns its input unchanged; accepts (and ignores) any constructor arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """``y = x @ Wᵀ + b``: (*, in_features) -> (*, out_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: DTypeLike = None) -> None:
        super().__init__()
        _check_device(device)
        d = dtypes.as_dtype(dtype)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(Tensor._wrap(np.empty((out_features, in_features), dtype=d)))
        if bias:
            self.bias = Parameter(Tensor._wrap(np.empty((out_features,), dtype=d)))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.linear_like_(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
