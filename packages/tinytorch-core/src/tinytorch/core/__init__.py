"""tinytorch.core: tensors and reverse-mode autograd. ``tensor`` is imported first, then ops."""

from tinytorch.core.tensor import Tensor

__all__ = ["Tensor"]
