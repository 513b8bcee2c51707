"""``parameters_to_vector`` and ``vector_to_parameters``: a model's weights as one flat vector.

Systems view (``P`` parameter elements): each direction copies ``P`` elements once. Useful for
methods that treat all weights as a single vector (line searches, weight averaging, tests).
``parameters_to_vector`` is differentiable (it is ``cat`` of flattened views).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tinytorch.core.ops.shape import cat
from tinytorch.core.tensor import Tensor


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Concatenate the flattened parameters: an iterable of tensors -> (P,)."""
    params = list(parameters)
    if not params:
        raise RuntimeError("parameters_to_vector() expects a non-empty iterable of parameters")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` (P,) into each parameter, in place."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    if vec.ndim != 1:
        raise RuntimeError(f"vector_to_parameters() expects a 1-D vector, got shape "
                           f"{tuple(vec.shape)}")
    params = list(parameters)
    needed = sum(p.array.size for p in params)
    if needed != vec.shape[0]:
        raise RuntimeError(f"vector_to_parameters(): the vector has {vec.shape[0]} elements "
                           f"but the parameters hold {needed}")
    offset = 0
    for p in params:
        n = p.array.size
        np.copyto(p.array, vec.array[offset:offset + n].reshape(p.array.shape),
                  casting="unsafe")
        offset += n
