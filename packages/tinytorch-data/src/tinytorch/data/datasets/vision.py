"""What the image datasets share: arrays in memory, samples and whole batches from them.

A ``VisionDataset`` holds its images as one uint8 array (``(N, H, W)`` or ``(N, H, W, C)``,
as published) and its labels as one int64 array, exposed like torchvision as
``dataset.data`` and ``dataset.targets`` (Tensors sharing that memory). Without a transform a
sample is ``(image, label)`` with the raw uint8 image Tensor, as torchvision returns the raw
image; ``transform=ToTensor()`` gives float32 ``(C, H, W)`` in [0, 1].

``get_batch`` serves ``DataLoader``'s fast path: one gather of ``B * H * W * C`` bytes and the
transform's ``apply_batch`` on the whole batch, instead of B item lookups and a stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinytorch.core.tensor import Tensor
from tinytorch.data.dataset import Dataset


def _batchable(transform: Callable[[Any], Any] | None) -> bool:
    return transform is None or (hasattr(transform, "apply_batch")
                                 and bool(getattr(transform, "batchable", True)))


class VisionDataset(Dataset[tuple[Any, Any]]):
    """In-memory images and labels with torchvision's ``transform``/``target_transform``."""

    classes: list[str] = []

    def __init__(self, images: np.ndarray, labels: np.ndarray,
                 transform: Callable[[Any], Any] | None,
                 target_transform: Callable[[Any], Any] | None) -> None:
        self._images = images
        self._labels = labels.astype(np.int64, copy=False)
        self.transform = transform
        self.target_transform = target_transform

    @property
    def data(self) -> Tensor:
        """All images, uint8, sharing memory with the dataset."""
        return Tensor._wrap(self._images)

    @property
    def targets(self) -> Tensor:
        """All labels, int64 (N,)."""
        return Tensor._wrap(self._labels)

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image: Any = Tensor._wrap(self._images[index].copy())  # a sample never aliases data
        target: Any = int(self._labels[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    @property
    def batchable(self) -> bool:
        """Whether ``get_batch`` applies: both transforms (if any) have ``apply_batch``."""
        return _batchable(self.transform) and _batchable(self.target_transform)

    def get_batch(self, indices: np.ndarray) -> list[Any]:
        """``[images, labels]`` for ``indices`` (B,), transformed as whole batches."""
        images: Any = Tensor._wrap(self._images[indices])
        targets: Any = Tensor._wrap(self._labels[indices])
        if self.transform is not None:
            images = self.transform.apply_batch(images)  # type: ignore[attr-defined]
        if self.target_transform is not None:
            targets = self.target_transform.apply_batch(targets)  # type: ignore[attr-defined]
        return [images, targets]

    def __repr__(self) -> str:
        split = "Train" if getattr(self, "train", True) else "Test"
        return (f"Dataset {type(self).__name__}\n    Number of datapoints: {len(self)}\n"
                f"    Split: {split}\n    Image shape: {self._images.shape[1:]}")
