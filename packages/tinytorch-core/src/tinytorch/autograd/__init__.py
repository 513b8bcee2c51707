"""``tinytorch.autograd``: ``Function``, ``grad``, ``backward``, ``gradcheck`` (PyTorch's paths)."""

from tinytorch.core.engine import backward, grad
from tinytorch.core.function import Function
from tinytorch.core.grad_mode import enable_grad, no_grad, set_grad_enabled
from tinytorch.core.gradcheck import GradcheckError, gradcheck

__all__ = ["Function", "GradcheckError", "backward", "enable_grad", "grad", "gradcheck", "no_grad",
           "set_grad_enabled"]
