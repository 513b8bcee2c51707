"""``MLP``: the multi-layer perceptron, the 1986 backpropagation network.

Systems view: a stack of ``Linear`` layers; for widths ``d_0, ..., d_L`` it has
``Σ (d_i·d_{i+1} + d_{i+1})`` parameters and costs ``2·Σ d_i·d_{i+1}`` FLOPs per sample forward
(about twice that backward). Every pixel is its own input feature, so the model knows nothing
of image structure: that is the gap the convolutional models in this zoo close.
"""

from __future__ import annotations

from collections.abc import Sequence

from tinytorch.core.tensor import Tensor
from tinytorch.nn import Dropout, Flatten, Linear, Module, ReLU, Sequential


class MLP(Module):
    """Flatten -> [Linear -> ReLU (-> Dropout)] per hidden width -> Linear.

    Input ``(N, *)`` is flattened to ``(N, in_features)``; output ``(N, out_features)``.
    Default configuration ``MLP(784, (256, 128), 10)`` for 28×28 images: 235,146 parameters,
    469,504 FLOPs per sample.
    """

    def __init__(self, in_features: int = 784, hidden_features: Sequence[int] = (256, 128),
                 out_features: int = 10, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[Module] = [Flatten()]
        width = in_features
        for hidden in hidden_features:
            layers += [Linear(width, hidden), ReLU()]
            if dropout > 0:
                layers.append(Dropout(dropout))
            width = hidden
        layers.append(Linear(width, out_features))
        self.layers = Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
