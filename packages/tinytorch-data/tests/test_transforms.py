"""Transforms on one sample and on a batch."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch.data import transforms as T

RNG = np.random.default_rng(0)


def test_to_tensor_converts_hw_hwc_and_batches_to_scaled_chw():
    gray = RNG.integers(0, 256, (5, 7), dtype=np.uint8)
    out = T.ToTensor()(gray)
    assert out.shape == (1, 5, 7) and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy()[0], gray / 255, rtol=1e-6)
    rgb = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_allclose(T.ToTensor()(tinytorch.tensor(rgb)).numpy(),
                               rgb.transpose(2, 0, 1) / 255, rtol=1e-6)
    batch = RNG.integers(0, 256, (4, 5, 7, 3), dtype=np.uint8)
    out = T.ToTensor()(batch)
    assert out.shape == (4, 3, 5, 7) and out.numpy().flags.c_contiguous
    np.testing.assert_allclose(out.numpy()[2], T.ToTensor()(batch[2]).numpy())


def test_to_tensor_apply_batch_takes_grayscale_batches():
    batch = RNG.integers(0, 256, (4, 5, 7), dtype=np.uint8)
    out = T.ToTensor().apply_batch(batch)
    assert out.shape == (4, 1, 5, 7)
    np.testing.assert_allclose(out.numpy()[1], T.ToTensor()(batch[1]).numpy())


def test_to_tensor_keeps_float_values_unscaled():
    x = np.full((2, 2, 1), 3.0, np.float32)
    assert T.ToTensor()(x).numpy().max() == 3.0


def test_normalize_per_channel_on_sample_and_batch():
    x = RNG.random((3, 4, 4), dtype=np.float32)
    norm = T.Normalize((0.1, 0.2, 0.3), (0.5, 0.25, 2.0))
    expected = (x - np.array([0.1, 0.2, 0.3], np.float32)[:, None, None]) / np.array(
        [0.5, 0.25, 2.0], np.float32)[:, None, None]
    np.testing.assert_allclose(norm(x).numpy(), expected, rtol=1e-6)
    batch = np.stack([x, x * 2])
    out = norm(batch)
    assert out.dtype == np.float32 and out.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(out.numpy()[1], norm(x * 2).numpy(), rtol=1e-6)


def test_normalize_errors():
    with pytest.raises(TypeError, match="should be a float tensor. Got uint8"):
        T.Normalize((0.5,), (0.5,))(np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize((0.5,), (0.0,))
    with pytest.raises(ValueError, match="mean has 2 and std 2 values for an image with 3"):
        T.Normalize((0.5, 0.5), (1, 1))(np.zeros((3, 2, 2), np.float32))


def test_normalize_inplace_modifies_the_input():
    x = tinytorch.ones(1, 2, 2)
    out = T.Normalize((1.0,), (2.0,), inplace=True)(x)
    assert out is x and x.numpy().max() == 0


def is_window(crop: np.ndarray, padded: np.ndarray) -> bool:
    h, w = crop.shape[-2:]
    return any(np.array_equal(padded[..., i:i + h, j:j + w], crop)
               for i in range(padded.shape[-2] - h + 1) for j in range(padded.shape[-1] - w + 1))


def test_random_crop_of_a_sample_is_a_window_of_the_padded_image():
    x = RNG.random((3, 6, 6), dtype=np.float32) + 1
    out = T.RandomCrop(6, padding=2)(x).numpy()
    assert out.shape == (3, 6, 6)
    assert is_window(out, np.pad(x, ((0, 0), (2, 2), (2, 2))))


def test_random_crop_of_a_batch_draws_an_offset_per_image():
    tinytorch.manual_seed(0)
    x = RNG.random((64, 2, 5, 5), dtype=np.float32) + 1
    out = T.RandomCrop(5, padding=3)(x).numpy()
    padded = np.pad(x, ((0, 0), (0, 0), (3, 3), (3, 3)))
    assert out.shape == (64, 2, 5, 5)
    assert all(is_window(out[n], padded[n]) for n in range(64))
    zero_rows = [(out[n, 0] == 0).all(axis=1).sum() for n in range(64)]
    assert len(set(zero_rows)) > 1  # different images were cropped at different offsets


def test_random_crop_padding_modes_and_sizes():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    edge = T.RandomCrop((2, 3), padding=(1, 2), padding_mode="edge")(x).numpy()
    assert edge.shape == (1, 2, 3)
    assert is_window(edge, np.pad(x, ((0, 0), (2, 2), (1, 1)), mode="edge"))
    grown = T.RandomCrop(6, pad_if_needed=True, fill=-1)(x).numpy()
    assert grown.shape == (1, 6, 6) and (grown == -1).any()
    with pytest.raises(ValueError, match=r"Required crop size \(5, 5\) is larger than input "
                                         r"image size \(4, 4\)"):
        T.RandomCrop(5)(x)


def test_horizontal_flip_probability_extremes_and_per_image_choice():
    x = RNG.random((32, 1, 3, 4), dtype=np.float32)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(x).numpy(), x[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(0.0)(x).numpy(), x)
    out = T.RandomHorizontalFlip(0.5)(x).numpy()
    flipped = [np.array_equal(out[n], x[n, ..., ::-1]) for n in range(32)]
    kept = [np.array_equal(out[n], x[n]) for n in range(32)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert any(flipped) and any(kept)


def test_sample_and_batch_agree_for_deterministic_pipelines():
    images = RNG.integers(0, 256, (6, 8, 8), dtype=np.uint8)
    pipeline = T.Compose([T.ToTensor(), T.Normalize((0.4,), (0.2,)),
                          T.RandomHorizontalFlip(1.0), T.RandomCrop(8)])
    batch = pipeline.apply_batch(images).numpy()
    for n in range(6):
        np.testing.assert_allclose(batch[n], pipeline(images[n]).numpy(), rtol=1e-6)


def test_compose_is_batchable_only_without_lambda():
    assert T.Compose([T.ToTensor(), T.RandomHorizontalFlip()]).batchable
    assert not T.Compose([T.ToTensor(), T.Lambda(lambda x: x)]).batchable
    assert T.Lambda(lambda x: x * 2)(3) == 6
    with pytest.raises(TypeError, match="should be callable"):
        T.Lambda(3)


def test_random_transforms_follow_the_global_seed():
    x = RNG.random((16, 3, 6, 6), dtype=np.float32)
    aug = T.Compose([T.RandomCrop(6, padding=2), T.RandomHorizontalFlip()])
    tinytorch.manual_seed(11)
    first = aug(x).numpy()
    tinytorch.manual_seed(11)
    np.testing.assert_array_equal(aug(x).numpy(), first)
