"""MNIST, Fashion-MNIST, CIFAR-10 and text datasets on tiny files written by the tests."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tinytorch.data import (
    CIFAR10,
    MNIST,
    DataLoader,
    FashionMNIST,
    TextFile,
    TinyShakespeare,
    default_collate,
)
from tinytorch.data import transforms as T
from tinytorch.data.datasets.cifar import FOLDER
from tinytorch.data.idx import write_idx
from tinytorch.data.tokenizers import BPETokenizer

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------- MNIST / Fashion-MNIST
def write_mnist(folder: Path, n_train: int = 12, n_test: int = 5,
                labels: np.ndarray | None = None) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": RNG.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (labels if labels is not None
                                       else RNG.integers(0, 10, n_train).astype(np.uint8)),
        "t10k-images-idx3-ubyte.gz": RNG.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": RNG.integers(0, 10, n_test).astype(np.uint8),
    }
    for name, a in arrays.items():
        write_idx(folder / name, a, compress=True)
    return arrays


@pytest.mark.parametrize("cls", [MNIST, FashionMNIST])
def test_mnist_style_dataset_loads_both_splits(tmp_path, pin_resources, cls):
    arrays = write_mnist(tmp_path / cls.folder)
    pin_resources(cls, tmp_path / cls.folder)
    train, test = cls(tmp_path), cls(tmp_path, train=False)
    assert len(train) == 12 and len(test) == 5
    np.testing.assert_array_equal(train.data.numpy(), arrays["train-images-idx3-ubyte.gz"])
    assert train.targets.dtype == np.int64
    np.testing.assert_array_equal(test.targets.numpy(), arrays["t10k-labels-idx1-ubyte.gz"])
    image, label = train[3]
    assert image.shape == (28, 28) and image.dtype == np.uint8  # raw, as torchvision
    assert label == int(arrays["train-labels-idx1-ubyte.gz"][3]) and isinstance(label, int)
    assert len(train.classes) == 10


def test_mnist_reads_files_another_tool_has_decompressed(tmp_path, monkeypatch):
    folder = tmp_path / "mnist"
    arrays = write_mnist(folder)
    pinned = {}
    for name, resource in MNIST.resources.items():
        raw = folder / resource.unpacked[0]
        write_idx(raw, arrays[name], compress=False)
        (folder / name).unlink()
        data = raw.read_bytes()
        pinned[name] = dataclasses.replace(
            resource, unpacked=(raw.name, hashlib.sha256(data).hexdigest(), len(data)))
    monkeypatch.setattr(MNIST, "resources", pinned)
    np.testing.assert_array_equal(MNIST(tmp_path).data.numpy(),
                                  arrays["train-images-idx3-ubyte.gz"])
    assert all(r.unpacked[0] + ".gz" == name for name, r in FashionMNIST.resources.items())


def test_mnist_reads_the_data_root_from_the_environment(tmp_path, pin_resources, monkeypatch):
    write_mnist(tmp_path / "mnist")
    pin_resources(MNIST, tmp_path / "mnist")
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path))
    assert len(MNIST()) == 12


def test_mnist_missing_offline_says_what_and_where(tmp_path):
    with pytest.raises(RuntimeError) as err:
        FashionMNIST(tmp_path)
    message = str(err.value)
    assert "fashion-mnist/train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "fashion-mnist" / "train-images-idx3-ubyte.gz") in message
    assert FashionMNIST.resources["train-images-idx3-ubyte.gz"].sha256 in message
    assert "/usr/share/datasets/fashion-mnist" in message


def test_mnist_transform_gives_float_chw_in_unit_range(tmp_path, pin_resources):
    arrays = write_mnist(tmp_path / "mnist")
    pin_resources(MNIST, tmp_path / "mnist")
    ds = MNIST(tmp_path, transform=T.ToTensor(), target_transform=T.Lambda(lambda y: y + 100))
    image, label = ds[0]
    assert image.shape == (1, 28, 28) and image.dtype == np.float32
    np.testing.assert_allclose(image.numpy()[0], arrays["train-images-idx3-ubyte.gz"][0] / 255,
                               rtol=1e-6)
    assert label == int(arrays["train-labels-idx1-ubyte.gz"][0]) + 100


def test_mnist_label_count_mismatch_is_an_error_naming_the_file(tmp_path, pin_resources):
    folder = tmp_path / "mnist"
    write_mnist(folder, labels=np.zeros(11, np.uint8))
    pin_resources(MNIST, folder)
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz: expected 12 uint8 labels"):
        MNIST(tmp_path)


def test_mnist_out_of_range_label_is_an_error(tmp_path, pin_resources):
    folder = tmp_path / "mnist"
    write_mnist(folder, labels=np.full(12, 10, np.uint8))
    pin_resources(MNIST, folder)
    with pytest.raises(ValueError, match="label 10 out of range"):
        MNIST(tmp_path)


def test_mnist_wrong_image_size_is_an_error(tmp_path, pin_resources):
    folder = tmp_path / "mnist"
    write_mnist(folder)
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((12, 32, 32), np.uint8), True)
    pin_resources(MNIST, folder)
    with pytest.raises(ValueError, match=r"expected uint8 images of shape \(N, 28, 28\)"):
        MNIST(tmp_path)


def test_vision_batch_fetch_equals_collating_items(tmp_path, pin_resources):
    write_mnist(tmp_path / "mnist")
    pin_resources(MNIST, tmp_path / "mnist")
    ds = MNIST(tmp_path, transform=T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.25,))]))
    assert ds.batchable
    idx = np.array([5, 0, 11, 5])
    fast = ds.get_batch(idx)
    slow = default_collate([ds[i] for i in idx])
    for a, b in zip(fast, slow):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_lambda_transform_turns_the_batch_fetch_off_with_the_same_batches(tmp_path, pin_resources):
    write_mnist(tmp_path / "mnist")
    pin_resources(MNIST, tmp_path / "mnist")
    plain = MNIST(tmp_path, transform=T.ToTensor())
    lam = MNIST(tmp_path, transform=T.Compose([T.ToTensor(), T.Lambda(lambda x: x)]))
    assert plain.batchable and not lam.batchable
    for (xa, ya), (xb, yb) in zip(DataLoader(plain, batch_size=5), DataLoader(lam, batch_size=5)):
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())


# ---------------------------------------------------------------- CIFAR-10
class Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes bytes as Python 2 ``str`` opcodes, as the published CIFAR-10 batches have them."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_pickle(obj: object) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    # the published files name NumPy 1's module for the array reconstructor
    return buf.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def cifar_batch(n: int) -> tuple[bytes, np.ndarray, list[int]]:
    planes = RNG.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = RNG.integers(0, 10, n).tolist()
    return py2_pickle({b"batch_label": b"batch", b"labels": labels, b"data": planes,
                       b"filenames": [b"x.png"] * n}), planes, labels


def write_cifar(folder: Path, members: dict[str, bytes] | None = None
                ) -> tuple[np.ndarray, list[int], np.ndarray, list[int]]:
    folder.mkdir(parents=True, exist_ok=True)
    files, train_x, train_y = {}, [], []
    for i in range(1, 6):
        files[f"data_batch_{i}"], x, y = cifar_batch(2)
        train_x.append(x)
        train_y += y
    files["test_batch"], test_x, test_y = cifar_batch(3)
    files["batches.meta"] = py2_pickle({b"label_names": [f"class{i}".encode() for i in
                                                          range(10)], b"num_vis": 3072})
    files.update(members or {})
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return np.concatenate(train_x), train_y, test_x, test_y


def test_cifar10_reads_python2_batches_into_hwc_images(tmp_path, pin_resources):
    train_x, train_y, test_x, test_y = write_cifar(tmp_path / "cifar-10")
    pin_resources(CIFAR10, tmp_path / "cifar-10")
    train, test = CIFAR10(tmp_path), CIFAR10(tmp_path, train=False)
    assert len(train) == 10 and len(test) == 3
    assert train.data.shape == (10, 32, 32, 3) and train.data.dtype == np.uint8
    # pixel (row r, col c, channel k) of image n is byte k*1024 + r*32 + c of its row
    n, r, c, k = 7, 4, 30, 2
    assert train.data.numpy()[n, r, c, k] == train_x[n, k * 1024 + r * 32 + c]
    assert train.targets.tolist() == train_y and test.targets.tolist() == test_y
    assert train.classes[3] == "class3"
    image, label = CIFAR10(tmp_path, transform=T.ToTensor())[0]
    assert image.shape == (3, 32, 32) and label == train_y[0]


def test_cifar10_refuses_a_pickle_that_would_run_code(tmp_path, pin_resources):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    write_cifar(tmp_path / "cifar-10", {"data_batch_3": pickle.dumps(Evil(), protocol=2)})
    pin_resources(CIFAR10, tmp_path / "cifar-10")
    with pytest.raises(ValueError, match=r"data_batch_3: not a readable CIFAR-10 batch.*"
                                         r"refusing to load global '(posix|os)\.system'"):
        CIFAR10(tmp_path)
    assert not marker.exists()


def test_cifar10_wrong_array_shape_is_an_error_naming_the_member(tmp_path, pin_resources):
    bad = py2_pickle({b"labels": [1], b"data": np.zeros((1, 100), np.uint8)})
    write_cifar(tmp_path / "cifar-10", {"test_batch": bad})
    pin_resources(CIFAR10, tmp_path / "cifar-10")
    with pytest.raises(ValueError, match=r"test_batch: 'data' should be a uint8 array of shape "
                                         r"\(N, 3072\), found uint8 array of shape \(1, 100\)"):
        CIFAR10(tmp_path, train=False)


def test_cifar10_missing_member_is_an_error(tmp_path, pin_resources):
    folder = tmp_path / "cifar-10"
    folder.mkdir()
    data, _, _ = cifar_batch(1)
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo(f"{FOLDER}/data_batch_1")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    pin_resources(CIFAR10, folder)
    with pytest.raises(ValueError, match="archive has no file cifar-10-batches-py/data_batch_2"):
        CIFAR10(tmp_path)


# ---------------------------------------------------------------- text
SAMPLE = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"


def test_textfile_samples_are_shifted_windows(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text(SAMPLE * 3, encoding="utf-8")
    ds = TextFile(f, block_size=8)
    tokens = ds.tokens.numpy()
    assert len(ds) == len(tokens) - 8
    x, y = ds[5]
    np.testing.assert_array_equal(x.numpy(), tokens[5:13])
    np.testing.assert_array_equal(y.numpy(), tokens[6:14])
    assert ds.tokenizer.decode(ds.tokens.tolist()) == (SAMPLE * 3)[:len(tokens)]


def test_textfile_splits_share_one_vocabulary_and_cover_the_text(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text(SAMPLE * 4, encoding="utf-8")
    train, val = TextFile(f, block_size=4), TextFile(f, block_size=4, train=False)
    assert train.vocab_size == val.vocab_size
    joined = train.tokenizer.decode(train.tokens.tolist()) + val.tokenizer.decode(
        val.tokens.tolist())
    assert joined == SAMPLE * 4
    assert len(train.tokens) == int(len(SAMPLE * 4) * 0.9)


def test_textfile_batch_fetch_equals_collating_items(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text(SAMPLE * 2, encoding="utf-8")
    ds = TextFile(f, block_size=6, tokenizer=BPETokenizer().train(SAMPLE, 280))
    idx = np.array([0, 17, 3])
    for a, b in zip(ds.get_batch(idx), default_collate([ds[i] for i in idx])):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_textfile_shorter_than_a_block_is_an_error(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("abc", encoding="utf-8")
    with pytest.raises(ValueError, match="fewer than block_size"):
        TextFile(f, block_size=8)


def test_tinyshakespeare_reads_its_pinned_file(tmp_path, pin_resources):
    folder = tmp_path / "tinyshakespeare"
    folder.mkdir()
    (folder / "input.txt").write_text(SAMPLE * 5, encoding="utf-8")
    pin_resources(TinyShakespeare, folder)
    ds = TinyShakespeare(tmp_path, block_size=16)
    assert ds.text == SAMPLE * 5 and len(ds) == int(len(SAMPLE * 5) * 0.9) - 16
