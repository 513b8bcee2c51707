"""Verified, atomic, bounded downloads and the offline errors, with the network replaced."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import urllib.error
from pathlib import Path

import pytest

from tinytorch.data import download
from tinytorch.data.download import Resource, data_root, fetch, locate, sha256sum

PAYLOAD = bytes(range(256)) * 4000  # about 1 MB: several read chunks


def _resource(system_dirs: tuple[str, ...] = ()) -> Resource:
    return Resource("toy", "toy.bin", ("https://a.invalid/toy.bin", "https://b.invalid/toy.bin"),
                    hashlib.sha256(PAYLOAD).hexdigest(), len(PAYLOAD), system_dirs)


class FakeNet:
    """Stands in for ``_open_url``: answers each URL from a table, records the calls."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, float]] = []

    def __call__(self, url: str, timeout: float) -> io.BytesIO:
        self.calls.append((url, timeout))
        answer = self.answers[url]
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer()
        return io.BytesIO(answer)  # type: ignore[arg-type]


class BreaksAfter(io.BytesIO):
    """A response that delivers some bytes, then raises ``error``."""

    def __init__(self, data: bytes, error: BaseException) -> None:
        super().__init__(data)
        self.error = error
        self.reads = 0

    def read(self, n: int = -1) -> bytes:
        self.reads += 1
        if self.reads > 1:
            raise self.error
        return super().read(n)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_writes_the_verified_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    net = FakeNet({"https://a.invalid/toy.bin": PAYLOAD})
    monkeypatch.setattr(download, "_open_url", net)
    path = fetch(_resource(), tmp_path, download=True)
    assert path == tmp_path / "toy" / "toy.bin"
    assert path.read_bytes() == PAYLOAD
    assert _leftovers(tmp_path / "toy") == ["toy.bin"]
    assert net.calls == [("https://a.invalid/toy.bin", download.TIMEOUT)]


def test_download_falls_back_to_the_next_url(tmp_path, monkeypatch):
    net = FakeNet({"https://a.invalid/toy.bin": urllib.error.URLError("host is down"),
                   "https://b.invalid/toy.bin": PAYLOAD})
    monkeypatch.setattr(download, "_open_url", net)
    assert fetch(_resource(), tmp_path, download=True).read_bytes() == PAYLOAD
    assert [u for u, _ in net.calls] == ["https://a.invalid/toy.bin", "https://b.invalid/toy.bin"]


def test_checksum_mismatch_fails_after_a_bounded_number_of_attempts(tmp_path, monkeypatch):
    bad = PAYLOAD[:-1] + b"\x00"
    net = FakeNet({"https://a.invalid/toy.bin": bad, "https://b.invalid/toy.bin": bad})
    monkeypatch.setattr(download, "_open_url", net)
    with pytest.raises(RuntimeError) as err:
        fetch(_resource(), tmp_path, download=True)
    message = str(err.value)
    assert hashlib.sha256(bad).hexdigest() in message and _resource().sha256 in message
    assert "https://b.invalid/toy.bin" in message
    assert len(net.calls) == download.ATTEMPTS * 2
    assert _leftovers(tmp_path / "toy") == []


def test_a_connection_dropped_mid_file_leaves_nothing_in_the_cache(tmp_path, monkeypatch):
    drop = OSError("connection reset")
    net = FakeNet({u: (lambda: BreaksAfter(PAYLOAD, drop)) for u in _resource().urls})
    monkeypatch.setattr(download, "_open_url", net)
    with pytest.raises(RuntimeError, match="connection reset"):
        fetch(_resource(), tmp_path, download=True)
    assert _leftovers(tmp_path / "toy") == []


def test_ctrl_c_during_a_download_removes_the_partial_file(tmp_path, monkeypatch):
    net = FakeNet({u: (lambda: BreaksAfter(PAYLOAD, KeyboardInterrupt())) for u in
                   _resource().urls})
    monkeypatch.setattr(download, "_open_url", net)
    with pytest.raises(KeyboardInterrupt):
        fetch(_resource(), tmp_path, download=True)
    assert _leftovers(tmp_path / "toy") == []
    assert len(net.calls) == 1


def test_offline_error_names_file_urls_destination_and_checksum(tmp_path):
    r = _resource()
    with pytest.raises(RuntimeError) as err:  # the autouse fixture fails any network use
        fetch(r, tmp_path, download=False)
    message = str(err.value)
    for expected in ("toy/toy.bin", str(tmp_path / "toy" / "toy.bin"), r.sha256, *r.urls,
                     "download=True", "tito data download toy"):
        assert expected in message


def test_failed_download_error_also_names_where_to_put_the_file(tmp_path, monkeypatch):
    net = FakeNet({u: urllib.error.URLError("no route to host") for u in _resource().urls})
    monkeypatch.setattr(download, "_open_url", net)
    with pytest.raises(RuntimeError) as err:
        fetch(_resource(), tmp_path, download=True)
    message = str(err.value)
    assert "no route to host" in message and _resource().sha256 in message
    assert str(tmp_path / "toy" / "toy.bin") in message


def test_a_present_file_is_used_after_its_checksum_matches(tmp_path):
    target = tmp_path / "toy" / "toy.bin"
    target.parent.mkdir()
    target.write_bytes(PAYLOAD)
    assert fetch(_resource(), tmp_path) == target


def test_a_corrupt_cached_file_is_an_error_without_download(tmp_path):
    target = tmp_path / "toy" / "toy.bin"
    target.parent.mkdir()
    target.write_bytes(PAYLOAD[:-1] + b"\x01")
    with pytest.raises(RuntimeError, match="corrupt dataset file.*expected " + _resource().sha256):
        fetch(_resource(), tmp_path)


def test_a_corrupt_cached_file_is_replaced_with_download(tmp_path, monkeypatch):
    target = tmp_path / "toy" / "toy.bin"
    target.parent.mkdir()
    target.write_bytes(b"truncated")
    monkeypatch.setattr(download, "_open_url", FakeNet({"https://a.invalid/toy.bin": PAYLOAD}))
    assert fetch(_resource(), tmp_path, download=True).read_bytes() == PAYLOAD


def test_a_download_into_a_symlinked_cache_file_writes_the_link_target(tmp_path, monkeypatch):
    storage = tmp_path / "big-disk" / "toy.bin"   # the link points where the data should live
    storage.parent.mkdir()
    link = tmp_path / "toy" / "toy.bin"
    link.parent.mkdir()
    link.symlink_to(storage)
    monkeypatch.setattr(download, "_open_url", FakeNet({"https://a.invalid/toy.bin": PAYLOAD}))
    assert fetch(_resource(), tmp_path, download=True).read_bytes() == PAYLOAD
    assert link.is_symlink() and storage.read_bytes() == PAYLOAD
    assert _leftovers(storage.parent) == ["toy.bin"]


def test_a_new_download_gets_0666_minus_the_umask(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "_open_url", FakeNet({"https://a.invalid/toy.bin": PAYLOAD}))
    old = os.umask(0o027)
    try:
        path = fetch(_resource(), tmp_path, download=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_verified_system_copy_is_used_and_a_corrupt_one_skipped(tmp_path):
    system = tmp_path / "usr-share"
    system.mkdir()
    (system / "toy.bin").write_bytes(PAYLOAD)
    r = _resource(system_dirs=(str(system),))
    assert locate(r, tmp_path / "cache") == system / "toy.bin"
    (system / "toy.bin").write_bytes(PAYLOAD[::-1])
    assert locate(r, tmp_path / "cache") is None
    with pytest.raises(RuntimeError, match="also looked"):
        fetch(r, tmp_path / "cache")


RAW = PAYLOAD[::-1] * 2  # stands in for the decompressed form of toy.bin


def _packed_resource() -> Resource:
    return Resource("toy", "toy.bin", ("https://a.invalid/toy.bin",),
                    hashlib.sha256(PAYLOAD).hexdigest(), len(PAYLOAD),
                    unpacked=("toy", hashlib.sha256(RAW).hexdigest(), len(RAW)))


def test_an_unpacked_copy_is_used_after_its_own_checksum_matches(tmp_path):
    raw = tmp_path / "toy" / "toy"
    raw.parent.mkdir()
    raw.write_bytes(RAW)
    assert fetch(_packed_resource(), tmp_path) == raw
    (tmp_path / "toy" / "toy.bin").write_bytes(PAYLOAD)  # the published file comes first
    assert fetch(_packed_resource(), tmp_path) == tmp_path / "toy" / "toy.bin"


def test_a_corrupt_unpacked_copy_is_an_error_and_replaced_with_download(tmp_path, monkeypatch):
    raw = tmp_path / "toy" / "toy"
    raw.parent.mkdir()
    raw.write_bytes(RAW[:-1])
    with pytest.raises(RuntimeError, match=f"corrupt dataset file.*expected {len(RAW):,}"):
        fetch(_packed_resource(), tmp_path)
    monkeypatch.setattr(download, "_open_url", FakeNet({"https://a.invalid/toy.bin": PAYLOAD}))
    got = fetch(_packed_resource(), tmp_path, download=True)
    assert got.name == "toy.bin" and got.read_bytes() == PAYLOAD and not raw.exists()


def test_offline_error_also_names_the_unpacked_form(tmp_path):
    with pytest.raises(RuntimeError, match="or unpacked: toy, sha256 " + _packed_resource(
            ).unpacked[1]):
        fetch(_packed_resource(), tmp_path)


def test_data_root_prefers_argument_then_environment_then_home(tmp_path, monkeypatch):
    assert data_root(tmp_path) == tmp_path
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("TINYTORCH_DATA")
    assert data_root() == Path.home() / ".cache" / "tinytorch"


def test_sha256sum_matches_hashlib_and_sees_changes(tmp_path):
    f = tmp_path / "x"
    f.write_bytes(PAYLOAD)
    assert sha256sum(f) == hashlib.sha256(PAYLOAD).hexdigest()
    f.write_bytes(b"other contents")
    assert sha256sum(f) == hashlib.sha256(b"other contents").hexdigest()
