"""``LeNet5``: LeCun et al.'s 1998 convolutional network, in its modern form.

Systems view (default widths, 1×28×28 input): two 5×5 convolutions do 86% of the arithmetic
with 4% of the weights, and the fully connected layers hold most of the weights with little
arithmetic — the convolutions *share* each 5×5 filter across every position. Activation memory
per sample, forward: 6·28·28 + 6·14·14 + 16·10·10 + 16·5·5 values, about 7.9k floats.

Changes from the 1998 paper, all standard today: ReLU instead of scaled tanh, max pooling
instead of trainable average "subsampling", a full connection from layer 2 to layer 3
(the paper's C3 used a hand-picked sparse table), and a plain linear output layer trained with
cross-entropy instead of RBF units. The first convolution pads by 2, so a 28×28 image is seen
as the paper's 32×32 input. Optional batch normalization and dropout widen what the same
skeleton can reach.
"""

from __future__ import annotations

from tinytorch.arch.batchnorm import BatchNorm2d
from tinytorch.arch.conv import Conv2d
from tinytorch.arch.pooling import MaxPool2d
from tinytorch.core.tensor import Tensor
from tinytorch.nn import Dropout, Flatten, Linear, Module, ReLU, Sequential


class LeNet5(Module):
    """conv5×5 -> ReLU -> maxpool2 -> conv5×5 -> ReLU -> maxpool2 -> 3 linear layers.

    Input ``(N, in_channels, image_size, image_size)``; output logits ``(N, num_classes)``.

    - ``LeNet5()`` (widths 6/16, hidden 120/84, the paper's): 61,706 parameters,
      833,040 FLOPs per sample on 1×28×28.
    - ``LeNet5(channels=(16, 32), batch_norm=True)`` (milestone 04's Fashion-MNIST model):
      120,430 parameters, 3,401,040 FLOPs per sample on 1×28×28.

    With ``batch_norm=True`` each convolution is followed by ``BatchNorm2d`` and has no bias
    (the normalization would cancel it).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1,
                 channels: tuple[int, int] = (6, 16), hidden: tuple[int, int] = (120, 84),
                 image_size: int = 28, batch_norm: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        c1, c2 = channels

        def block(c_in: int, c_out: int, padding: int) -> list[Module]:
            conv = Conv2d(c_in, c_out, 5, padding=padding, bias=not batch_norm)
            norm = [BatchNorm2d(c_out)] if batch_norm else []
            return [conv, *norm, ReLU(), MaxPool2d(2)]

        self.features = Sequential(*block(in_channels, c1, 2), *block(c1, c2, 0))
        side = ((image_size // 2) - 4) // 2
        drop = [Dropout(dropout)] if dropout > 0 else []
        self.classifier = Sequential(
            Flatten(), Linear(c2 * side * side, hidden[0]), ReLU(), *drop,
            Linear(hidden[0], hidden[1]), ReLU(), *drop, Linear(hidden[1], num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
