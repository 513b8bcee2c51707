"""A small model zoo of documented configurations: ``MLP``, ``LeNet5`` and ``CifarCNN``.

Each class docstring states its parameter count and its FLOPs per sample for the default
configuration. FLOPs follow the usual convention: 2 per multiply-accumulate in the convolution
and linear layers; bias adds, activations, pooling and normalization are not counted (together
they are a few percent). The test suite recomputes both numbers from the built models.
"""

from tinytorch.arch.models.cifar import CifarCNN
from tinytorch.arch.models.lenet import LeNet5
from tinytorch.arch.models.mlp import MLP

__all__ = ["MLP", "LeNet5", "CifarCNN"]
