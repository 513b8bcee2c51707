"""``Parameter``: a Tensor that a Module registers as one of its learnable weights.

Systems view: a Parameter *is* a Tensor (same single ndarray, no copy when made from one), with
``requires_grad=True`` by default. The only thing the subclass adds is identity: assigning one
to a Module attribute registers it, so ``parameters()``, ``state_dict()`` and the optimizers
find it. Its memory is ``numel * itemsize`` bytes for the value, and the same again for
``.grad`` once a backward pass has run.
"""

from __future__ import annotations

from typing import Any, SupportsIndex

import numpy as np

from tinytorch.core.tensor import Tensor, _as_array


class Parameter(Tensor):
    """A learnable tensor: ``Parameter(torch.empty(3, 4))`` shares the tensor's memory."""

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            array = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            array = data.array
        else:
            array = _as_array(data)
        self._setup(array, requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[type[Parameter], tuple[Tensor, bool]]:
        return (Parameter, (Tensor._wrap(self.array), self.requires_grad))

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        out = Parameter(Tensor._wrap(self.array.copy()), self.requires_grad)
        if self.grad is not None:
            out.grad = Tensor._wrap(self.grad.array.copy())
        memo[id(self)] = out
        return out
