"""Shared fixtures: no test touches the network or the user's cache; tiny datasets on disk."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tinytorch.data import download
from tinytorch.data.download import Resource


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test runs with an empty private data root and a network that fails the test."""

    def no_network(url: str, timeout: float) -> None:
        raise AssertionError(f"a test tried to open {url}")

    monkeypatch.setattr(download, "_open_url", no_network)
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path_factory.mktemp("data-root")))
    monkeypatch.setenv("TINYTORCH_PROGRESS", "0")


def resource_for(path: Path, dataset: str, urls: tuple[str, ...] = ("https://example.invalid/f",),
                 system_dirs: tuple[str, ...] = ()) -> Resource:
    """A Resource whose checksum and size are those of the file at ``path``."""
    data = path.read_bytes()
    return Resource(dataset, path.name, urls, hashlib.sha256(data).hexdigest(), len(data),
                    system_dirs)


@pytest.fixture
def pin_resources(monkeypatch: pytest.MonkeyPatch) -> Callable[[type, Path], None]:
    """Point a dataset class's resources at the files in a folder (their real checksums)."""

    def pin(cls: type, folder: Path) -> None:
        pinned = {name: resource_for(folder / name, cls.folder) for name in cls.resources}
        monkeypatch.setattr(cls, "resources", pinned)

    return pin
