"""``tinytorch.autograd``: ``Function``, ``grad``, ``backward``, ``gradcheck`` and anomaly
detection, at PyTorch's paths."""

from tinytorch.core.anomaly import detect_anomaly, set_detect_anomaly
from tinytorch.core.anomaly import enabled as is_anomaly_enabled
from tinytorch.core.engine import backward, grad
from tinytorch.core.function import Function
from tinytorch.core.grad_mode import enable_grad, no_grad, set_grad_enabled
from tinytorch.core.gradcheck import GradcheckError, gradcheck

__all__ = ["Function", "GradcheckError", "backward", "detect_anomaly", "enable_grad", "grad",
           "gradcheck", "is_anomaly_enabled", "no_grad", "set_detect_anomaly",
           "set_grad_enabled"]
