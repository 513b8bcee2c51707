"""``CifarCNN``: a small VGG-style network for 32×32 colour images (CIFAR-10).

Systems view: three blocks of conv3×3 -> BatchNorm -> ReLU -> maxpool2 double the channels
(32, 64, 128) as they halve the resolution (32 -> 16 -> 8 -> 4), so each block after the first
costs the same ~9.4 MFLOPs per sample; a two-layer classifier (2048 -> 256 -> 10) holds 85% of
the parameters but costs only 5% of the arithmetic. Training forward+backward is about
3 × 21.7 MFLOPs per image, so one CIFAR-10 epoch (50,000 images) is about 3.3 TFLOPs.
Batch normalization keeps training stable at a high learning rate, and random-crop and flip
augmentation (milestone 04) keeps the large classifier from memorising the 50,000 images.
"""

from __future__ import annotations

from tinytorch.arch.batchnorm import BatchNorm2d
from tinytorch.arch.conv import Conv2d
from tinytorch.arch.pooling import MaxPool2d
from tinytorch.core.tensor import Tensor
from tinytorch.nn import Dropout, Flatten, Linear, Module, ReLU, Sequential


class CifarCNN(Module):
    """3 × (conv3×3 -> BatchNorm2d -> ReLU -> maxpool2) -> Linear -> ReLU -> Linear.

    Input ``(N, 3, 32, 32)``; output logits ``(N, num_classes)``. Default configuration
    ``CifarCNN()``: 620,586 parameters, 21,697,536 FLOPs per sample.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3,
                 widths: tuple[int, int, int] = (32, 64, 128), hidden: int = 256,
                 image_size: int = 32, dropout: float = 0.3) -> None:
        super().__init__()
        layers: list[Module] = []
        c_in = in_channels
        for c_out in widths:
            layers += [Conv2d(c_in, c_out, 3, padding=1, bias=False), BatchNorm2d(c_out),
                       ReLU(), MaxPool2d(2)]
            c_in = c_out
        self.features = Sequential(*layers)
        side = image_size // 2 ** len(widths)
        self.classifier = Sequential(
            Flatten(), Dropout(dropout), Linear(c_in * side * side, hidden), ReLU(),
            Dropout(dropout), Linear(hidden, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
