"""Image transforms: ``Compose``, ``ToTensor``, ``Normalize``, ``RandomCrop``,
``RandomHorizontalFlip``, ``Lambda``, with torchvision's names and arguments.

Every built-in transform works on one sample and on a whole batch, vectorized over the batch:

- ``t(x)`` infers from ``x.ndim``: ``(C, H, W)`` (or ``(H, W)``) is a sample, ``(N, C, H, W)``
  a batch. ``ToTensor`` takes images the way they are stored, ``(H, W)`` or ``(H, W, C)``
  for a sample and ``(N, H, W, C)`` for a batch, and returns ``(C, H, W)`` / ``(N, C, H, W)``.
- ``t.apply_batch(x)`` says explicitly that axis 0 is the batch (so ``ToTensor`` can take an
  ``(N, H, W)`` grayscale batch). Datasets use it to transform a whole batch at once.

Costs per batch of N images of C x H x W: ``ToTensor`` one pass (uint8 -> float32 / 255,
transposed on the fly into a contiguous output), ``Normalize`` one pass, ``RandomCrop`` one
padded copy plus one gather (per-sample offsets through a strided window view and fancy
indexing, no Python loop over samples), ``RandomHorizontalFlip`` one select pass.

Random transforms draw from the DataLoader worker's generator inside a worker thread and from
TinyTorch's global generator elsewhere, so ``tinytorch.manual_seed`` fixes the augmentation. A
batch draws N values at once, so it gets different (equally distributed) draws than N
separate calls on samples.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinytorch.core.random import generator as global_rng
from tinytorch.core.tensor import Tensor
from tinytorch.data.workers import get_worker_info


def _array(x: Any) -> np.ndarray:
    return x.array if isinstance(x, Tensor) else np.asarray(x)


def _rng() -> np.random.Generator:
    info = get_worker_info()
    return info.generator.rng if info is not None else global_rng()


def _as_batch(a: np.ndarray, name: str) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """View a sample (H, W) / (C, H, W) or a batch (N, C, H, W) as a batch, and undo it."""
    if a.ndim == 2:
        return a[None, None], lambda out: out[0, 0]
    if a.ndim == 3:
        return a[None], lambda out: out[0]
    if a.ndim == 4:
        return a, lambda out: out
    raise ValueError(f"{name}: expected an image (C, H, W) or (H, W) or a batch (N, C, H, W), "
                     f"got shape {a.shape}")


def _as_nchw(a: np.ndarray, name: str) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """View an explicit batch (N, H, W) or (N, C, H, W) as (N, C, H, W), and undo it."""
    if a.ndim == 3:
        return a[:, None], lambda out: out[:, 0]
    if a.ndim == 4:
        return a, lambda out: out
    raise ValueError(f"{name}.apply_batch: expected a batch (N, H, W) or (N, C, H, W), got "
                     f"shape {a.shape}")


class Compose:
    """Apply ``transforms`` one after another."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x

    @property
    def batchable(self) -> bool:
        """True when every member has ``apply_batch`` (a ``Lambda`` does not)."""
        return all(hasattr(t, "apply_batch") and getattr(t, "batchable", True)
                   for t in self.transforms)

    def apply_batch(self, x: Any) -> Any:
        for t in self.transforms:
            x = t.apply_batch(x)
        return x

    def __repr__(self) -> str:
        body = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"{type(self).__name__}({body}\n)"


class ToTensor:
    """Stored images to float tensors: HWC -> CHW; uint8 is scaled to [0, 1] (/255), other
    dtypes keep their values, as in torchvision."""

    def __call__(self, pic: Any) -> Tensor:
        a = _array(pic)
        if a.ndim == 2:  # (H, W) -> (1, H, W)
            return self._convert(a[None, :, :, None])[0]
        if a.ndim == 3:  # (H, W, C) -> (C, H, W)
            return self._convert(a[None])[0]
        if a.ndim == 4:  # (N, H, W, C) -> (N, C, H, W)
            return self._convert(a)
        raise ValueError(f"ToTensor: expected an image (H, W) or (H, W, C) or a batch "
                         f"(N, H, W, C), got shape {a.shape}")

    def apply_batch(self, pics: Any) -> Tensor:
        """(N, H, W) -> (N, 1, H, W); (N, H, W, C) -> (N, C, H, W)."""
        a = _array(pics)
        if a.ndim == 3:
            return self._convert(a[..., None])
        if a.ndim == 4:
            return self._convert(a)
        raise ValueError(f"ToTensor.apply_batch: expected a batch (N, H, W) or (N, H, W, C), "
                         f"got shape {a.shape}")

    @staticmethod
    def _convert(a: np.ndarray) -> Tensor:
        # a: (N, H, W, C) -> (N, C, H, W), one pass writing a contiguous result
        chw = a.transpose(0, 3, 1, 2)
        if a.dtype != np.uint8:
            return Tensor._wrap(np.ascontiguousarray(chw))
        out = np.empty(chw.shape, np.float32)
        np.divide(chw, np.float32(255), out=out)
        return Tensor._wrap(out)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """``(x - mean[c]) / std[c]`` per channel of a float (C, H, W) image or (N, C, H, W) batch."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        self.mean = [float(v) for v in np.atleast_1d(np.asarray(mean, np.float64))]
        self.std = [float(v) for v in np.atleast_1d(np.asarray(std, np.float64))]
        self.inplace = inplace
        self._mean = np.asarray(self.mean, np.float32).reshape(-1, 1, 1)
        self._inv_std = np.asarray(self.std, np.float32).reshape(-1, 1, 1)
        if np.any(self._inv_std == 0):
            raise ValueError(f"std evaluated to zero after conversion to float32, leading to "
                             f"division by zero (std={self.std})")
        self._inv_std = (1 / self._inv_std).astype(np.float32)

    def __call__(self, tensor: Any) -> Tensor:
        a = _array(tensor)
        if a.dtype.kind != "f":
            raise TypeError(f"Input tensor should be a float tensor. Got {a.dtype}.")
        if a.ndim < 3:
            raise ValueError(f"Expected tensor to be a tensor image of size (..., C, H, W). "
                             f"Got tensor.size() = {a.shape}")
        channels = a.shape[-3]
        if len(self._mean) not in (1, channels) or len(self._inv_std) not in (1, channels):
            raise ValueError(f"Normalize: mean has {len(self._mean)} and std "
                             f"{len(self._inv_std)} values for an image with {channels} "
                             f"channels (shape {a.shape}); expected 1 or {channels}")
        mean, inv_std = self._mean.astype(a.dtype), self._inv_std.astype(a.dtype)
        if self.inplace:
            a -= mean
            a *= inv_std
            return tensor if isinstance(tensor, Tensor) else Tensor._wrap(a)
        out = a - mean
        out *= inv_std
        return Tensor._wrap(out)

    apply_batch = __call__

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


def _pair(size: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(size, numbers.Integral):
        return int(size), int(size)
    if len(size) == 1:
        return int(size[0]), int(size[0])
    if len(size) != 2:
        raise ValueError(f"{name} should be an int or a sequence of 1 or 2 ints, got {size}")
    return int(size[0]), int(size[1])


class RandomCrop:
    """Pad by ``padding`` (int, (left/right, top/bottom) or (left, top, right, bottom)), then
    crop ``size`` at a uniformly random position, independently for each image of a batch."""

    _MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect",
              "symmetric": "symmetric"}

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] | None = None,
                 pad_if_needed: bool = False, fill: float = 0,
                 padding_mode: str = "constant") -> None:
        if padding_mode not in self._MODES:
            raise ValueError(f"padding_mode should be one of {sorted(self._MODES)}, got "
                             f"{padding_mode!r}")
        self.size = _pair(size, "size")
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode
        left = top = right = bottom = 0
        if padding is not None:
            p = [padding] if isinstance(padding, numbers.Integral) else list(padding)
            if len(p) == 1:
                left = top = right = bottom = int(p[0])
            elif len(p) == 2:
                left = right = int(p[0])
                top = bottom = int(p[1])
            elif len(p) == 4:
                left, top, right, bottom = (int(v) for v in p)
            else:
                raise ValueError(f"padding must be an int or a 1, 2 or 4 element sequence, "
                                 f"got {padding}")
        self._pad = (top, bottom, left, right)

    def __call__(self, img: Any) -> Tensor:
        batch, undo = _as_batch(_array(img), "RandomCrop")
        return Tensor._wrap(undo(self._crop(batch)))

    def apply_batch(self, imgs: Any) -> Tensor:
        batch, undo = _as_nchw(_array(imgs), "RandomCrop")
        return Tensor._wrap(undo(self._crop(batch)))

    def _crop(self, x: np.ndarray) -> np.ndarray:
        # x: (N, C, H, W) -> (N, C, h, w)
        h, w = self.size
        top, bottom, left, right = self._pad
        if self.pad_if_needed:  # like torchvision: the shortfall on both sides
            dh = max(0, h - (x.shape[2] + top + bottom))
            dw = max(0, w - (x.shape[3] + left + right))
            top, bottom = top + dh, bottom + dh
            left, right = left + dw, right + dw
        if top or bottom or left or right:
            widths = ((0, 0), (0, 0), (top, bottom), (left, right))
            extra = {"constant_values": self.fill} if self.padding_mode == "constant" else {}
            x = np.pad(x, widths, mode=self._MODES[self.padding_mode], **extra)
        n, _, height, width = x.shape
        if height < h or width < w:
            raise ValueError(f"Required crop size {(h, w)} is larger than input image size "
                             f"{(height, width)}")
        rng = _rng()
        i = rng.integers(0, height - h + 1, n)
        j = rng.integers(0, width - w + 1, n)
        windows = np.lib.stride_tricks.sliding_window_view(x, (h, w), axis=(2, 3))
        # windows: (N, C, Hp-h+1, Wp-w+1, h, w); picking (n, i_n, j_n) gives (N, C, h, w)
        return np.ascontiguousarray(windows[np.arange(n), :, i, j])

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror the width axis with probability ``p``, independently for each image."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img: Any) -> Tensor:
        batch, undo = _as_batch(_array(img), "RandomHorizontalFlip")
        return Tensor._wrap(undo(self._flip(batch)))

    def apply_batch(self, imgs: Any) -> Tensor:
        batch, undo = _as_nchw(_array(imgs), "RandomHorizontalFlip")
        return Tensor._wrap(undo(self._flip(batch)))

    def _flip(self, x: np.ndarray) -> np.ndarray:
        # x: (N, C, H, W) -> (N, C, H, W), flipped where a uniform draw < p
        flip = _rng().random(x.shape[0]) < self.p
        return np.where(flip[:, None, None, None], x[..., ::-1], x)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Lambda:
    """Apply a user function. It has no ``apply_batch``: datasets using it fetch per item."""

    def __init__(self, lambd: Callable[[Any], Any]) -> None:
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, x: Any) -> Any:
        return self.lambd(x)

    def __repr__(self) -> str:
        return "Lambda()"
