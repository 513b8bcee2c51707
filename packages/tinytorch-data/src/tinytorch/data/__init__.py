"""tinytorch.data: datasets, samplers, ``DataLoader``, transforms, downloads and tokenizers.

PyTorch keeps these in ``torch.utils.data`` (loading), ``torchvision`` (image datasets and
transforms) and tokenizer libraries; here they are one tier, ``tinytorch-data``, which needs
only ``tinytorch-core``. ``tinytorch.data.datasets``, ``tinytorch.data.transforms`` and
``tinytorch.data.tokenizers`` are the torchvision-like parts.
"""

from __future__ import annotations

from tinytorch.data import datasets, tokenizers, transforms
from tinytorch.data.collate import default_collate, default_convert
from tinytorch.data.dataloader import DataLoader
from tinytorch.data.dataset import (
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from tinytorch.data.datasets import CIFAR10, MNIST, FashionMNIST, TextFile, TinyShakespeare
from tinytorch.data.download import data_root
from tinytorch.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from tinytorch.data.tokenizers import BPETokenizer, CharTokenizer
from tinytorch.data.workers import WorkerInfo, get_worker_info

__all__ = [
    "BPETokenizer", "BatchSampler", "CIFAR10", "CharTokenizer", "ConcatDataset", "DataLoader",
    "Dataset", "FashionMNIST", "IterableDataset", "MNIST", "RandomSampler", "Sampler",
    "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset", "TextFile",
    "TinyShakespeare", "WeightedRandomSampler", "WorkerInfo", "data_root", "datasets",
    "default_collate", "default_convert", "get_worker_info", "random_split", "tokenizers",
    "transforms",
]
