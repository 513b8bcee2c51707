"""MNIST and Fashion-MNIST: 70,000 grayscale 28 x 28 images in 10 classes, as IDX files.

Memory: the training split is 60,000 x 784 uint8 = 47 MB, the test split 7.8 MB; labels are
widened to int64 (480 KB). Loading is one decompression and one ``readinto`` per file
(``idx.py``), about a quarter of a second for the training split here, after the SHA-256 check.
The files are the published ``*.gz`` files, verified by SHA-256 (``download.py``); a copy
already decompressed by another tool (``train-images-idx3-ubyte``) is accepted too, verified
against the SHA-256 of the decompressed bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from tinytorch.data.datasets.vision import VisionDataset
from tinytorch.data.download import Resource, fetch
from tinytorch.data.idx import read_idx

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
FASHION_MIRRORS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
SPLIT_FILES = {True: ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
               False: ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _resources(folder: str, mirrors: tuple[str, ...],
               checksums: dict[str, tuple[str, int, str, int]],
               system_dirs: tuple[str, ...] = ()) -> dict[str, Resource]:
    """Resources from ``{name.gz: (sha256, size, sha256 unpacked, size unpacked)}``."""
    return {name: Resource(folder, name, tuple(m + name for m in mirrors), sha, size, system_dirs,
                           unpacked=(name.removesuffix(".gz"), raw_sha, raw_size))
            for name, (sha, size, raw_sha, raw_size) in checksums.items()}


class MNIST(VisionDataset):
    """Handwritten digits (LeCun, Cortes and Burges, 1998).

    ``MNIST(root=None, train=True, transform=None, target_transform=None, download=False)``:
    files under ``<root>/mnist/`` (root defaults to ``$TINYTORCH_DATA``). A sample is
    ``(image, label)``, image a uint8 (28, 28) Tensor unless ``transform`` says otherwise.
    """

    folder = "mnist"
    title = "handwritten digits, 60,000 + 10,000 grayscale 28x28 images, 10 classes"
    resources = _resources("mnist", MNIST_MIRRORS, {
        "train-images-idx3-ubyte.gz":
            ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9_912_422,
             "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47_040_016),
        "train-labels-idx1-ubyte.gz":
            ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28_881,
             "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60_008),
        "t10k-images-idx3-ubyte.gz":
            ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1_648_877,
             "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7_840_016),
        "t10k-labels-idx1-ubyte.gz":
            ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4_542,
             "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10_008),
    })
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root: str | os.PathLike[str] | None = None, train: bool = True,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 download: bool = False) -> None:
        self.root = root
        self.train = train
        image_file, label_file = SPLIT_FILES[bool(train)]
        image_path = fetch(self.resources[image_file], root, download)
        label_path = fetch(self.resources[label_file], root, download)
        images, labels = read_idx(image_path), read_idx(label_path)
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise ValueError(f"{image_path}: expected uint8 images of shape (N, 28, 28), got "
                             f"{images.dtype} {images.shape}")
        if labels.shape != (images.shape[0],) or labels.dtype != np.uint8:
            raise ValueError(f"{label_path}: expected {images.shape[0]} uint8 labels (one per "
                             f"image in {image_path.name}), got {labels.dtype} {labels.shape}")
        if labels.size and labels.max() >= len(self.classes):
            raise ValueError(f"{label_path}: label {int(labels.max())} out of range, expected "
                             f"0..{len(self.classes) - 1}")
        super().__init__(images, labels, transform, target_transform)


class FashionMNIST(MNIST):
    """Zalando's article images (Xiao, Rasul and Vollgraf, 2017), MNIST's drop-in successor.

    Same format and arguments as ``MNIST``; files under ``<root>/fashion-mnist/``, and
    Debian's ``dataset-fashion-mnist`` copy in ``/usr/share/datasets/fashion-mnist`` is used
    when present and intact.
    """

    folder = "fashion-mnist"
    title = "Zalando articles, 60,000 + 10,000 grayscale 28x28 images, 10 classes"
    resources = _resources("fashion-mnist", FASHION_MIRRORS, {
        "train-images-idx3-ubyte.gz":
            ("b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7", 26_421_856,
             "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47_040_016),
        "train-labels-idx1-ubyte.gz":
            ("0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056", 29_491,
             "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60_008),
        "t10k-images-idx3-ubyte.gz":
            ("cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa", 4_422_079,
             "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7_840_016),
        "t10k-labels-idx1-ubyte.gz":
            ("8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05", 5_125,
             "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10_008),
    }, system_dirs=("/usr/share/datasets/fashion-mnist",))
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
