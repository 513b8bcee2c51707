"""Bundles: read untrusted directories and zips with hard caps; write them atomically."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
import time
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinytorch.olympics.bundle import (
    ALLOWED_FILES,
    Bundle,
    BundleError,
    BundleLimits,
    read_bundle,
    write_bundle,
)

MODEL = b"\x08\x09fake onnx bytes: the bundle reader never parses them"
ZEROS_100MB = 100 * 2**20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def submission(model: bytes = MODEL, **changes: Any) -> dict[str, Any]:
    sub: dict[str, Any] = {
        "schema_version": 1, "entrant": "ada", "event": "latency-sprint",
        "division": "closed", "model_sha256": sha(model),
        "claims": {"accuracy": 0.89, "latency_ms": 0.021, "speedup": 1.42,
                   "model_bytes": len(model)},
        "techniques": ["int8 static quantization"], "description": "free text"}
    sub.update(changes)
    return sub


def submission_bytes(model: bytes = MODEL) -> bytes:
    return json.dumps(submission(model)).encode()


def raw_zip(path: Path, entries: list[tuple[str, bytes]],
            compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A zip written entry by entry, as an entrant's own tool might, without any checks."""
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", compression) as archive:
        warnings.simplefilter("ignore")          # zipfile warns about duplicate names
        for name, data in entries:
            archive.writestr(name, data)
    return path


def raw_dir(path: Path, files: dict[str, bytes]) -> Path:
    path.mkdir()
    for name, data in files.items():
        (path / name).write_bytes(data)
    return path


def good_files(model: bytes = MODEL) -> dict[str, bytes]:
    return {"model.onnx": model, "submission.json": submission_bytes(model)}


def rejected(path: Path, *, limits: BundleLimits | None = None) -> str:
    with pytest.raises(BundleError) as info:
        read_bundle(path, limits or BundleLimits())
    return str(info.value)


def zeros_bomb(path: Path, size: int) -> Path:
    """model.onnx of ``size`` zero bytes, deflated (about 1000:1), plus a valid submission."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("model.onnx", "w") as stream:
            chunk = bytes(2**20)
            for _ in range(size // len(chunk)):
                stream.write(chunk)
        archive.writestr("submission.json", submission_bytes())
    return path


@pytest.fixture(scope="module")
def bomb_100mb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zeros_bomb(tmp_path_factory.mktemp("bomb") / "bomb.zip", ZEROS_100MB)


def patch_sizes(data: bytes, name: str, *, file_size: int, crc: int | None = None) -> bytes:
    """Rewrite the uncompressed size (and optionally the CRC) ``name``'s headers declare."""
    out = bytearray(data)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    local = info.header_offset
    struct.pack_into("<I", out, local + 22, file_size)
    for match in re.finditer(b"PK\x01\x02", data):
        start = match.start()
        name_len = struct.unpack_from("<H", data, start + 28)[0]
        if data[start + 46:start + 46 + name_len] == name.encode():
            struct.pack_into("<I", out, start + 24, file_size)
            if crc is not None:
                struct.pack_into("<I", out, start + 16, crc)
                struct.pack_into("<I", out, local + 14, crc)
    return bytes(out)


class CountingReads:
    """Wraps ``ZipFile.open`` so a test can see how many bytes each entry gave."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bytes = 0
        real_open = zipfile.ZipFile.open
        counter = self

        def counted_open(archive: zipfile.ZipFile, *args: Any, **kwargs: Any) -> Any:
            stream = real_open(archive, *args, **kwargs)
            real_read = stream.read

            def read(n: int = -1) -> bytes:
                data = real_read(n)
                counter.bytes += len(data)
                return data

            stream.read = read  # type: ignore[method-assign]
            return stream

        monkeypatch.setattr(zipfile.ZipFile, "open", counted_open)


# --- round trips and identity ------------------------------------------------------------

@pytest.mark.parametrize("name", ["bundle", "bundle.zip"])
def test_a_written_bundle_reads_back_unchanged(tmp_path: Path, name: str) -> None:
    path = write_bundle(tmp_path / name, MODEL, submission(), state_bytes=b"weights")
    bundle = read_bundle(path)
    assert isinstance(bundle, Bundle)
    assert bundle.model_bytes == MODEL
    assert bundle.submission == submission()
    assert bundle.model_sha256 == sha(MODEL)
    assert bundle.source == str(path)
    text = json.dumps(submission(), indent=2, sort_keys=True) + "\n"
    assert bundle.files == {"model.onnx": len(MODEL), "state.tt": 7,
                            "submission.json": len(text.encode())}


def test_the_same_content_as_directory_and_zip_gives_the_same_model_sha256(
        tmp_path: Path) -> None:
    folder = read_bundle(write_bundle(tmp_path / "b", MODEL, submission()))
    archive = read_bundle(write_bundle(tmp_path / "b.zip", MODEL, submission()))
    assert folder.model_sha256 == archive.model_sha256 == sha(MODEL)
    assert folder.files == archive.files


def test_a_zip_bundle_sha256_is_the_sha256_of_the_zip_bytes(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b.zip", MODEL, submission())
    assert read_bundle(path).sha256 == sha(path.read_bytes())


def test_a_directory_bundle_sha256_is_over_its_sorted_manifest(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b", MODEL, submission(), state_bytes=b"w")
    manifest = "".join(f"{name} {sha((path / name).read_bytes())}\n"
                       for name in sorted(os.listdir(path)))
    assert read_bundle(path).sha256 == sha(manifest.encode())


def test_writing_the_same_zip_at_another_time_gives_identical_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = write_bundle(tmp_path / "a.zip", MODEL, submission(), state_bytes=b"w")
    later = time.localtime(time.time() + 86_400 * 365)
    monkeypatch.setattr(time, "localtime", lambda *_: later)
    second = write_bundle(tmp_path / "b.zip", MODEL, submission(), state_bytes=b"w")
    assert first.read_bytes() == second.read_bytes()
    infos = zipfile.ZipFile(first).infolist()
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in infos)


submissions = st.fixed_dictionaries({
    "entrant": st.text(min_size=1, max_size=80).filter(lambda s: s.isprintable() and s.strip()),
    "event": st.from_regex(r"[a-z0-9-]{1,64}", fullmatch=True),
    "division": st.sampled_from(["closed", "open"]),
    "techniques": st.lists(st.text(min_size=1, max_size=200), max_size=20),
    "description": st.text(max_size=400),
    "claims": st.fixed_dictionaries({
        "accuracy": st.floats(0, 1), "latency_ms": st.floats(1e-9, 1e9),
        "speedup": st.floats(1e-9, 1e9), "model_bytes": st.integers(1, 2**50)}),
})


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=st.binary(min_size=1, max_size=4096), fields=submissions,
       state=st.none() | st.binary(max_size=512), as_zip=st.booleans())
def test_any_valid_submission_round_trips_through_write_and_read(
        tmp_path: Path, model: bytes, fields: dict[str, Any], state: bytes | None,
        as_zip: bool) -> None:
    sub = submission(model, **fields)
    out = tmp_path / f"case-{len(os.listdir(tmp_path))}{'.zip' if as_zip else ''}"
    bundle = read_bundle(write_bundle(out, model, sub, state_bytes=state))
    assert bundle.model_bytes == model
    assert bundle.submission == sub
    assert ("state.tt" in bundle.files) == (state is not None)


# --- writing ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["b", "b.zip"])
def test_write_refuses_to_overwrite_an_existing_target_naming_it(tmp_path: Path,
                                                                 name: str) -> None:
    target = tmp_path / name
    target.mkdir() if name == "b" else target.write_bytes(b"old")
    with pytest.raises(FileExistsError, match=re.escape(str(target))):
        write_bundle(target, MODEL, submission())
    assert sorted(os.listdir(tmp_path)) == [name]


@pytest.mark.parametrize("name", ["b", "b.zip"])
def test_write_leaves_no_temporary_files_behind(tmp_path: Path, name: str) -> None:
    write_bundle(tmp_path / name, MODEL, submission())
    assert os.listdir(tmp_path) == [name]


def test_write_refuses_a_submission_whose_hash_is_not_the_model(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="model_sha256"):
        write_bundle(tmp_path / "b.zip", MODEL, submission(b"other model"))
    assert os.listdir(tmp_path) == []


def test_write_refuses_an_invalid_submission_before_creating_anything(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="division"):
        write_bundle(tmp_path / "b", MODEL, submission(division="mixed"))
    assert os.listdir(tmp_path) == []


def test_a_directory_write_that_fails_midway_removes_its_temporary_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_rename(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError, match="No space left"):
        write_bundle(tmp_path / "b", MODEL, submission())
    assert os.listdir(tmp_path) == []


def test_write_names_a_missing_parent_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing"):
        write_bundle(tmp_path / "missing" / "b.zip", MODEL, submission())


# --- what a bundle must be ----------------------------------------------------------------

def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    assert "no bundle there" in rejected(tmp_path / "nothing.zip")


def test_a_file_that_is_not_a_zip_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(MODEL)
    assert "not a directory or a zip file" in rejected(path)


def test_a_fifo_given_as_the_bundle_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    assert "not a directory or a zip file" in rejected(tmp_path / "pipe")


@pytest.mark.parametrize("missing", ["model.onnx", "submission.json"])
def test_a_bundle_without_a_required_file_is_refused_naming_it(tmp_path: Path,
                                                               missing: str) -> None:
    files = good_files()
    del files[missing]
    assert f"{missing} is missing" in rejected(raw_dir(tmp_path / "b", files))
    assert f"{missing} is missing" in rejected(raw_zip(tmp_path / "b.zip", list(files.items())))


def test_an_unknown_file_is_refused_in_a_directory_and_in_a_zip(tmp_path: Path) -> None:
    files = good_files() | {"train.py": b"import os"}
    assert "unknown entry 'train.py'" in rejected(raw_dir(tmp_path / "b", files))
    assert "unknown entry 'train.py'" in rejected(raw_zip(tmp_path / "b.zip",
                                                          list(files.items())))


def test_a_model_changed_after_submission_is_refused_with_both_hashes(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b", MODEL, submission())
    (path / "model.onnx").write_bytes(MODEL + b"!")
    message = rejected(path)
    assert (f"model.onnx changed after submission: sha256 {sha(MODEL + b'!')}, "
            f"the submission says {sha(MODEL)}") in message


@pytest.mark.parametrize(("text", "reason"), [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"entrant": "a", "entrant": "b"}', "duplicate keys 'entrant'"),
    (b'{"claims": {"accuracy": NaN}}', "NaN is not a number JSON allows"),
    (b"[" * 30_000 + b"]" * 30_000, "not valid JSON"),
], ids=["syntax", "encoding", "duplicate-key", "nan", "deep-nesting"])
def test_malformed_submission_json_is_refused(tmp_path: Path, text: bytes, reason: str) -> None:
    path = raw_dir(tmp_path / "b", {"model.onnx": MODEL, "submission.json": text})
    assert reason in rejected(path)


def test_schema_errors_are_reported_with_the_bundle_path(tmp_path: Path) -> None:
    sub = submission(division="mixed", entrant="")
    path = raw_dir(tmp_path / "b", {"model.onnx": MODEL,
                                    "submission.json": json.dumps(sub).encode()})
    with pytest.raises(BundleError) as info:
        read_bundle(path)
    assert str(info.value).startswith(f"{path}: submission.json has 2 problems")
    assert len(info.value.problems) == 2


# --- directories ----------------------------------------------------------------------------

def test_a_symlink_named_model_onnx_is_refused(tmp_path: Path) -> None:
    path = raw_dir(tmp_path / "b", {"submission.json": submission_bytes()})
    (path / "model.onnx").symlink_to("/etc/passwd")
    assert "'model.onnx' is a symbolic link" in rejected(path)


def test_a_symlink_pointing_outside_the_bundle_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(MODEL)
    path = raw_dir(tmp_path / "b", {"submission.json": submission_bytes()})
    (path / "model.onnx").symlink_to(tmp_path / "secret")
    assert "symbolic link" in rejected(path)


def test_a_sub_folder_is_refused(tmp_path: Path) -> None:
    path = raw_dir(tmp_path / "b", good_files())
    (path / "extra").mkdir()
    assert "'extra' is a folder" in rejected(path)


def test_a_fifo_inside_a_directory_is_refused_without_blocking(tmp_path: Path) -> None:
    path = raw_dir(tmp_path / "b", {"submission.json": submission_bytes()})
    os.mkfifo(path / "model.onnx")
    assert "'model.onnx' is not a regular file" in rejected(path)


def test_a_directory_file_over_its_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = raw_dir(tmp_path / "b", good_files(bytes(2000)))
    limits = BundleLimits(max_model_bytes=1000)
    assert "model.onnx is too large: 2000 bytes, the limit is 1000" in rejected(
        path, limits=limits)


def test_a_directory_over_the_total_limit_is_refused(tmp_path: Path) -> None:
    path = raw_dir(tmp_path / "b", good_files(bytes(900)) | {"state.tt": bytes(900)})
    limits = BundleLimits(max_total_bytes=1500, max_model_bytes=1000)
    assert "the folder's files add up to" in rejected(path, limits=limits)


def test_a_directory_with_too_many_entries_is_refused(tmp_path: Path) -> None:
    path = raw_dir(tmp_path / "b", good_files() | {"state.tt": b""})
    assert "more than 2 entries" in rejected(path, limits=BundleLimits(max_entries=2))


# --- zip entries ------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "reason"), [
    ("/model.onnx", "absolute path"),
    ("C:/model.onnx", "absolute path"),
    ("../model.onnx", "'..' or a backslash"),
    ("sub\\model.onnx", "'..' or a backslash"),
    ("docs/", "is a folder"),
    ("bundle/model.onnx", "in a sub-folder"),
])
def test_zip_entries_with_unsafe_or_nested_names_are_refused(tmp_path: Path, name: str,
                                                             reason: str) -> None:
    entries = [*good_files().items(), (name, b"x")]
    assert reason in rejected(raw_zip(tmp_path / "b.zip", entries))


def test_a_duplicate_zip_entry_is_refused(tmp_path: Path) -> None:
    entries = [*good_files().items(), ("model.onnx", b"a different model")]
    assert "'model.onnx' appears twice" in rejected(raw_zip(tmp_path / "b.zip", entries))


def test_a_zip_with_too_many_entries_is_refused_before_reading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [(f"f{i}", b"") for i in range(20)]
    path = raw_zip(tmp_path / "b.zip", entries)
    counter = CountingReads(monkeypatch)
    assert "20 entries, the limit is 8" in rejected(path)
    assert counter.bytes == 0


def test_a_zip_entry_compressed_with_another_method_is_refused(tmp_path: Path) -> None:
    path = raw_zip(tmp_path / "b.zip", list(good_files().items()), zipfile.ZIP_LZMA)
    assert "compression method 14" in rejected(path)


def test_a_stored_zip_is_read(tmp_path: Path) -> None:
    path = raw_zip(tmp_path / "b.zip", list(good_files().items()), zipfile.ZIP_STORED)
    assert read_bundle(path).model_bytes == MODEL


def test_a_zip_bomb_declaring_100mb_is_refused_quickly_without_reading_it(
        bomb_100mb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = CountingReads(monkeypatch)
    start = time.perf_counter()
    message = rejected(bomb_100mb)
    assert time.perf_counter() - start < 1.0
    assert f"model.onnx is too large: {ZEROS_100MB} bytes" in message
    assert counter.bytes == 0


def test_a_zip_bomb_within_the_size_limit_is_refused_by_its_compression_ratio(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = zeros_bomb(tmp_path / "bomb.zip", 8 * 2**20)
    counter = CountingReads(monkeypatch)
    message = rejected(path)
    assert "model.onnx expands" in message and "zip bomb" in message
    assert counter.bytes == 0


def test_a_zip_whose_entries_add_up_past_the_total_limit_is_refused(tmp_path: Path) -> None:
    entries = [("model.onnx", os.urandom(600)), ("submission.json", submission_bytes()),
               ("state.tt", os.urandom(600))]
    limits = BundleLimits(max_total_bytes=1000)
    assert "entries add up to" in rejected(raw_zip(tmp_path / "b.zip", entries),
                                           limits=limits)


def test_a_zip_file_larger_than_any_bundle_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = raw_zip(tmp_path / "b.zip", list(good_files(os.urandom(600_000)).items()),
                   zipfile.ZIP_STORED)
    limits = BundleLimits(max_total_bytes=1000)
    assert "the zip file is too large" in rejected(path, limits=limits)


def test_a_header_that_lies_about_its_size_cannot_make_the_reader_read_more(
        bomb_100mb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lying = tmp_path / "lying.zip"
    lying.write_bytes(patch_sizes(bomb_100mb.read_bytes(), "model.onnx", file_size=1000))
    info = zipfile.ZipFile(lying).getinfo("model.onnx")
    assert info.file_size == 1000 and info.compress_size > 100_000   # ratio passes
    counter = CountingReads(monkeypatch)
    start = time.perf_counter()
    message = rejected(lying)
    assert time.perf_counter() - start < 1.0
    assert "not a valid zip file" in message and "CRC" in message
    assert counter.bytes <= 1001


def test_a_lying_header_with_a_matching_crc_yields_only_the_declared_bytes(
        bomb_100mb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = patch_sizes(bomb_100mb.read_bytes(), "model.onnx", file_size=1000,
                       crc=zlib.crc32(bytes(1000)))
    lying = tmp_path / "lying.zip"
    lying.write_bytes(data)
    counter = CountingReads(monkeypatch)
    message = rejected(lying)
    assert f"sha256 {sha(bytes(1000))}" in message      # it read 1000 zeros, not 100 MB
    assert counter.bytes == 1000 + len(submission_bytes())


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                      max_size=6),
       cut=st.none() | st.integers(0, 10**6))
def test_a_corrupted_zip_raises_nothing_but_bundle_error(tmp_path: Path,
                                                         flips: list[tuple[int, int]],
                                                         cut: int | None) -> None:
    good = tmp_path / "good.zip"
    if not good.exists():
        write_bundle(good, MODEL, submission(), state_bytes=b"state")
    data = bytearray(good.read_bytes())
    for position, value in flips:
        data[position % len(data)] = value
    if cut is not None:
        data = data[:cut % (len(data) + 1)]
    path = tmp_path / "fuzzed.zip"
    path.write_bytes(bytes(data))
    try:
        bundle = read_bundle(path)
    except BundleError:
        return
    assert set(bundle.files) <= set(ALLOWED_FILES)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tail=st.binary(max_size=300))
def test_random_bytes_after_a_zip_signature_raise_only_bundle_error(tmp_path: Path,
                                                                    tail: bytes) -> None:
    path = tmp_path / "random.zip"
    path.write_bytes(b"PK\x03\x04" + tail)
    with pytest.raises(BundleError):
        read_bundle(path)

