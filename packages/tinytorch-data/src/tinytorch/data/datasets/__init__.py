"""Datasets with verified downloads: ``MNIST``, ``FashionMNIST``, ``CIFAR10``,
``TinyShakespeare`` and ``TextFile``. ``CATALOG`` maps each cache folder name to its class."""

from __future__ import annotations

from tinytorch.data.datasets.cifar import CIFAR10
from tinytorch.data.datasets.mnist import MNIST, FashionMNIST
from tinytorch.data.datasets.text import TextFile, TinyShakespeare
from tinytorch.data.datasets.vision import VisionDataset

CATALOG = {cls.folder: cls for cls in (MNIST, FashionMNIST, CIFAR10, TinyShakespeare)}

__all__ = ["CATALOG", "CIFAR10", "FashionMNIST", "MNIST", "TextFile", "TinyShakespeare",
           "VisionDataset"]
