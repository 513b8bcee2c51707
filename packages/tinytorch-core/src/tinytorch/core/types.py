"""The names TinyTorch's type hints use for what an op accepts, defined once for every tier.

PyTorch's ops take a Tensor, often a Python number in its place (``x * 2``), sizes written as
``f(2, 3)`` or ``f((2, 3))``, dims as an int, a tuple or None, and dtypes in several spellings.
A signature names the case it means with one of these aliases, as ``torch.types`` does::

    def add(input: TensorLike, other: TensorLike, *, alpha: Number = 1) -> Tensor: ...
    def sum(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor: ...

Where a hint still says ``Any``, the value really is open: the data a tensor is built from
(nested lists, arrays, tensors), an index (``x[i]``: ints, slices, None, ..., masks, tensors),
the positional arguments ``Function.apply`` passes through and ``ctx.saved_tensors`` gives
back (arrays, None or Python numbers), configuration dicts (``state_dict``, ``param_groups``)
and what a ``Module``'s forward takes and returns.

Systems view: these are names for the type checker and nothing else; no op looks at them at run
time. ``Tensor`` is named as a string and imported only while type checking, so this module
sits below ``tensor.py`` and any module of core can import it at the top.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

if TYPE_CHECKING:
    from tinytorch.core.tensor import Tensor

Number: TypeAlias = int | float | bool
"""A Python number, the scalars PyTorch accepts in a tensor's place (``x * 2``, ``x.fill_(0)``)."""

TensorLike: TypeAlias = "Tensor | int | float | bool"
"""A Tensor or a Python number: either operand of ``+ - * / **``, comparisons, ``where``."""

SizeArg: TypeAlias = int | Sequence[int]
"""One argument of a size given either way: ``zeros(2, 3)`` or ``zeros((2, 3))``. A shape
itself is a ``tuple[int, ...]``, as ``tensor.shape`` is."""

Dims: TypeAlias = int | Sequence[int] | None
"""The ``dim`` of a reduction: one dim, several, or None for all of them."""

DTypeLike: TypeAlias = np.dtype | type | str | None
"""A dtype in any spelling ``dtypes.as_dtype`` accepts: ``tinytorch.float32``, ``np.float32``,
``'float32'``, ``float``; None means the default."""

Grad: TypeAlias = np.ndarray | None
"""What ``Function.backward`` returns for one input: its gradient array, or None for none."""
