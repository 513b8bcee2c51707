"""``tinytorch.optim``: optimizers and learning-rate schedulers, with PyTorch's API.

Every optimizer updates parameters in place (``param.array``) with numpy ufuncs writing into
their ``out=`` arrays: state buffers are allocated once, on the first step, and temporaries
come from a scratch pool the size of the largest parameter. Each class's module docstring gives
its update rule and its per-step memory traffic and FLOPs per parameter.
"""

from tinytorch.optim import lr_scheduler
from tinytorch.optim.adagrad import Adagrad
from tinytorch.optim.adam import Adam
from tinytorch.optim.adamw import AdamW
from tinytorch.optim.optimizer import Optimizer
from tinytorch.optim.rmsprop import RMSprop
from tinytorch.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
