"""CIFAR-10: 60,000 colour 32 x 32 images in 10 classes (Krizhevsky, 2009).

The published "python version" is a tarball of six pickled batches of 10,000 images each
(``data``: a uint8 array (10000, 3072) holding the red, green and blue planes of each image,
``labels``: a list of ints) plus ``batches.meta`` with the class names. The batches are read
straight out of the verified tarball, without extracting it; memory is 50,000 x 3,072 bytes
= 154 MB for the training split, one transposing copy from planes (N, 3, 32, 32) to the
stored layout (N, 32, 32, 3), as torchvision keeps it.

Unpickling can run arbitrary code, so the batches are read with an unpickler whose
``find_class`` allows exactly three globals and refuses everything else: NumPy's array
reconstructor (``numpy.core.multiarray._reconstruct``, named ``numpy._core...`` since NumPy
2), ``numpy.ndarray`` and ``numpy.dtype``. Those are what a pickled array needs (the
``data`` entry); they only build arrays from the bytes in the file. After loading, every
field is checked for type, dtype and shape, and any surprise is a ``ValueError`` naming the
tarball and member.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from collections.abc import Callable
from typing import Any

import numpy as np

from tinytorch.data.datasets.vision import VisionDataset
from tinytorch.data.download import Resource, fetch

ARCHIVE = Resource(
    "cifar-10", "cifar-10-python.tar.gz",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce", 170_498_071,
)
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's _reconstruct, any version
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that can build dicts, lists, strings, numbers and NumPy arrays only."""

    def __init__(self, file: io.BufferedIOBase, origin: str) -> None:
        super().__init__(file, encoding="latin1")  # the batches were pickled by Python 2
        self.origin = origin

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{self.origin}: refusing to load global '{module}.{name}': a CIFAR-10 batch "
                "holds only dicts, lists, strings, numbers and NumPy uint8 arrays") from None


def load_batch(data: bytes, origin: str) -> dict[str, Any]:
    """Unpickle one batch safely (see the module docstring)."""
    try:
        batch = _BatchUnpickler(io.BytesIO(data), origin).load()
    except Exception as e:  # a malformed pickle can fail in many ways; all mean "unreadable"
        raise ValueError(f"{origin}: not a readable CIFAR-10 batch ({e})") from e
    if not isinstance(batch, dict):
        raise ValueError(f"{origin}: expected a dict, found {type(batch).__name__}")
    return batch


def _check_batch(batch: dict[str, Any], origin: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = batch.get("data"), batch.get("labels")
    ok = (isinstance(images, np.ndarray) and images.dtype == np.uint8
          and images.ndim == 2 and images.shape[1] == 3 * 32 * 32)
    if not ok:
        found = (f"{images.dtype} array of shape {images.shape}"
                 if isinstance(images, np.ndarray) else type(images).__name__)
        raise ValueError(f"{origin}: 'data' should be a uint8 array of shape (N, 3072), "
                         f"found {found}")
    if not isinstance(labels, list) or len(labels) != images.shape[0]:
        raise ValueError(f"{origin}: 'labels' should be a list of {images.shape[0]} ints, found "
                         f"{type(labels).__name__} of length {len(labels) if labels else 0}")
    targets = np.asarray(labels, dtype=np.int64)
    if targets.size and (targets.min() < 0 or targets.max() > 9):
        raise ValueError(f"{origin}: labels should be in 0..9, found {targets.min()}.."
                         f"{targets.max()}")
    return images, targets


def read_archive(path: str | os.PathLike[str], members: tuple[str, ...]
                 ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images (N, 32, 32, 3) uint8, labels (N,) int64 and class names from the tarball."""
    images, labels = [], []
    try:
        with tarfile.open(path, "r:gz") as tar:
            def read(member: str) -> dict[str, Any]:
                name = f"{FOLDER}/{member}"
                try:
                    f = tar.extractfile(name)
                except KeyError:
                    f = None
                if f is None:
                    raise ValueError(f"{path}: the archive has no file {name}")
                return load_batch(f.read(), f"{path}:{name}")

            for member in members:
                x, y = _check_batch(read(member), f"{path}:{FOLDER}/{member}")
                images.append(x)
                labels.append(y)
            names = read("batches.meta").get("label_names")
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ValueError(f"{path}: damaged CIFAR-10 archive ({e})") from e
    if not isinstance(names, list) or len(names) != 10:
        raise ValueError(f"{path}: batches.meta should list 10 label_names, found {names!r}")
    planes = np.concatenate(images).reshape(-1, 3, 32, 32)  # (N, C, H, W), as stored
    return np.ascontiguousarray(planes.transpose(0, 2, 3, 1)), np.concatenate(labels), names


class CIFAR10(VisionDataset):
    """``CIFAR10(root=None, train=True, transform=None, target_transform=None,
    download=False)``: a sample is ``(image, label)``, image a uint8 (32, 32, 3) Tensor
    (height, width, RGB) unless ``transform`` says otherwise (``ToTensor`` gives (3, 32, 32)).
    """

    folder = "cifar-10"
    title = "50,000 + 10,000 colour 32x32 images, 10 classes"
    resources = {ARCHIVE.filename: ARCHIVE}

    def __init__(self, root: str | os.PathLike[str] | None = None, train: bool = True,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 download: bool = False) -> None:
        self.root = root
        self.train = train
        path = fetch(self.resources[ARCHIVE.filename], root, download)
        images, labels, names = read_archive(path, TRAIN_BATCHES if train else TEST_BATCHES)
        self.classes = [str(n) for n in names]
        super().__init__(images, labels, transform, target_transform)
