"""Bundles: the directory or ``.zip`` an entrant submits, read as untrusted input.

A bundle holds ``model.onnx`` and ``submission.json`` and, optionally, ``state.tt`` (TinyTorch
weights the verifier never loads). Nothing else: no sub-folders, no links, no other files.

Reading is defensive because the bytes come from strangers:

- nothing is extracted to disk; each allowed file is read into memory with a hard cap
  (``read(limit + 1)``, refused past ``limit``), so neither a zip header that lies about a size
  nor a file that grows while it is read can make the reader take more;
- a zip's central directory is checked before any entry is opened: entry count, names
  (absolute, ``..``, backslashes, folders, duplicates, unknown), declared sizes against the
  per-file and total limits, and the compression ratio of every entry (a zip bomb declares
  100 MB of zeros in 100 kB); only stored and deflated entries are read, the two methods whose
  decompression Python bounds by the requested length;
- in a directory, every entry is ``lstat``-ed and opened with ``O_NOFOLLOW``: links, FIFOs,
  devices and folders are refused before a byte is read.

Cost: memory up to ``max_total_bytes`` (80 MiB) plus the zip file itself, and one SHA-256
pass over each. The zip is read once into memory and hashed and parsed from that
one copy, so the hash names exactly the bytes that were checked.

Identity: ``Bundle.sha256`` hashes the zip file's bytes, or for a directory its manifest, the
sorted lines ``"<name> <sha256 of the file>\\n"``; ``model_sha256`` hashes ``model.onnx`` alone,
so the same model gives the same ``model_sha256`` as a directory and as a zip.

``write_bundle`` writes a bundle that ``read_bundle`` accepts: into a temporary name beside
the target, renamed into place when complete. Zip entries carry fixed times and attributes, so
the same content gives the same bytes and the same hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinytorch.core.atomic import atomic_write
from tinytorch.olympics.schema import BundleError, show, validate_submission

__all__ = ["ALLOWED_FILES", "Bundle", "BundleError", "BundleLimits", "read_bundle",
           "write_bundle"]

MODEL = "model.onnx"
SUBMISSION = "submission.json"
STATE = "state.tt"
ALLOWED_FILES = (MODEL, SUBMISSION, STATE)

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")   # a local file header; an empty archive
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)          # the earliest time a zip entry can hold
_ZIP_ENTRY_OVERHEAD = 64 * 2**10           # headers, names and deflate's worst-case growth


@dataclass(frozen=True)
class BundleLimits:
    """Upper bounds on what a bundle may hold; each one is checked before bytes are read."""

    max_model_bytes: int = 64 * 2**20
    max_total_bytes: int = 80 * 2**20     # sum of uncompressed entries
    max_json_bytes: int = 64 * 2**10
    max_entries: int = 8
    max_compression_ratio: float = 200.0  # per zip entry, uncompressed / compressed

    def file_limit(self, name: str) -> int:
        """The largest size ``name`` may have, in bytes."""
        if name == MODEL:
            return self.max_model_bytes
        if name == SUBMISSION:
            return self.max_json_bytes
        return self.max_total_bytes


@dataclass(frozen=True)
class Bundle:
    """A bundle that passed every check; ``submission`` is the validated submission.json."""

    source: str
    model_bytes: bytes
    submission: dict[str, Any]
    sha256: str
    model_sha256: str
    files: dict[str, int]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest(contents: dict[str, bytes]) -> bytes:
    """The text a directory bundle's sha256 is taken over: sorted ``name sha256`` lines."""
    return "".join(f"{name} {_sha256(data)}\n" for name, data in sorted(contents.items())
                   ).encode("ascii")


def _too_big(source: str, name: str, size: int, limit: int) -> BundleError:
    return BundleError(f"{source}: {name} is too large: {size} bytes, the limit is {limit}")


def _reject_name(source: str, name: str) -> BundleError:
    """Why an entry called ``name`` may not be in a bundle."""
    if name.endswith(ALLOWED_FILES) and ("/" in name or "\\" in name):
        return BundleError(f"{source}: entry {show(name)} is in a sub-folder; {MODEL} and "
                           f"{SUBMISSION} must sit at the top level of the bundle")
    return BundleError(f"{source}: unknown entry {show(name)}; a bundle holds only "
                       f"{', '.join(ALLOWED_FILES)}")


def _check_zip_entry(source: str, info: zipfile.ZipInfo, seen: set[str],
                     limits: BundleLimits) -> None:
    """Refuse an entry on its central-directory record alone, before opening it."""
    name = info.filename
    parts = name.split("/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise BundleError(f"{source}: zip entry {show(name)} has an absolute path")
    if ".." in parts or "\\" in name:
        raise BundleError(f"{source}: zip entry {show(name)} has '..' or a backslash in its "
                          f"path; entries must be plain file names")
    if info.is_dir():
        raise BundleError(f"{source}: zip entry {show(name)} is a folder; a bundle holds "
                          f"only {', '.join(ALLOWED_FILES)} at its top level")
    if name in seen:
        raise BundleError(f"{source}: zip entry {show(name)} appears twice")
    seen.add(name)
    if name not in ALLOWED_FILES:
        raise _reject_name(source, name)
    if info.flag_bits & 0x1:
        raise BundleError(f"{source}: zip entry {name} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise BundleError(f"{source}: zip entry {name} uses compression method "
                          f"{info.compress_type}; only stored (0) and deflated (8) are read")
    if info.file_size > limits.file_limit(name):
        raise _too_big(source, name, info.file_size, limits.file_limit(name))
    ratio = info.file_size / max(info.compress_size, 1)
    if ratio > limits.max_compression_ratio:
        raise BundleError(f"{source}: zip entry {name} expands {ratio:.0f} times "
                          f"({info.compress_size} bytes to {info.file_size}); the limit is "
                          f"{limits.max_compression_ratio:g} (a zip bomb?)")


def _read_zip_entries(source: str, data: bytes, limits: BundleLimits) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise BundleError(f"{source}: the zip has {len(infos)} entries, the limit is "
                              f"{limits.max_entries}")
        seen: set[str] = set()
        for info in infos:
            _check_zip_entry(source, info, seen, limits)
        total = sum(info.file_size for info in infos)
        if total > limits.max_total_bytes:
            raise BundleError(f"{source}: the zip's entries add up to {total} bytes, the limit "
                              f"is {limits.max_total_bytes}")
        contents: dict[str, bytes] = {}
        for info in infos:
            with archive.open(info) as stream:
                body = stream.read(info.file_size + 1)
            if len(body) != info.file_size:
                raise BundleError(f"{source}: zip entry {info.filename} gave {len(body)} "
                                  f"bytes, its header says {info.file_size}")
            contents[info.filename] = body
    return contents


def _read_capped(source: str, path: Path, label: str, limit: int, *,
                 follow: bool = False) -> bytes:
    """The bytes of ``path``, refused unless it is a regular file of at most ``limit`` bytes.

    ``O_NONBLOCK`` keeps a FIFO swapped in after the ``lstat`` from blocking the open, and
    ``O_NOFOLLOW`` (unless ``follow``) refuses a link swapped in the same way.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise BundleError(f"{source}: cannot open {label}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise BundleError(f"{source}: {label} is not a regular file")
        if info.st_size > limit:
            raise _too_big(source, label, info.st_size, limit)
        body = f.read(limit + 1)
    if len(body) > limit:
        raise _too_big(source, label, len(body), limit)
    return body


def _read_zip(source: str, path: Path, limits: BundleLimits) -> tuple[dict[str, bytes], str]:
    """The entries of the zip at ``path`` and the sha256 of its bytes."""
    cap = limits.max_total_bytes + limits.max_entries * _ZIP_ENTRY_OVERHEAD
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise BundleError(f"{source}: cannot read the file: {e.strerror}") from None
    if head not in _ZIP_MAGIC:
        raise BundleError(f"{source}: not a directory or a zip file (a zip starts with "
                          f"'PK\\x03\\x04', this file starts with {show(head)})")
    data = _read_capped(source, path, "the zip file", cap, follow=True)
    try:
        contents = _read_zip_entries(source, data, limits)
    except BundleError:
        raise
    except (zipfile.BadZipFile, zlib.error, struct.error, EOFError, OSError, ValueError,
            NotImplementedError, RuntimeError, UnicodeDecodeError) as e:
        raise BundleError(f"{source}: not a valid zip file: {e}") from None
    return contents, _sha256(data)


def _list_dir(source: str, folder: Path, limits: BundleLimits) -> list[str]:
    """The names in ``folder``, refused unless each is an allowed regular file within limits."""
    names: list[str] = []
    declared = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if len(names) == limits.max_entries:
                raise BundleError(f"{source}: the folder has more than {limits.max_entries} "
                                  f"entries")
            info = entry.stat(follow_symlinks=False)
            kind = ("a symbolic link" if stat.S_ISLNK(info.st_mode) else
                    "a folder" if stat.S_ISDIR(info.st_mode) else
                    None if stat.S_ISREG(info.st_mode) else "not a regular file")
            if kind:
                raise BundleError(f"{source}: {show(entry.name)} is {kind}; a bundle holds "
                                  f"regular files only")
            if entry.name not in ALLOWED_FILES:
                raise _reject_name(source, entry.name)
            if info.st_size > limits.file_limit(entry.name):
                raise _too_big(source, entry.name, info.st_size,
                               limits.file_limit(entry.name))
            declared += info.st_size
            names.append(entry.name)
    if declared > limits.max_total_bytes:
        raise BundleError(f"{source}: the folder's files add up to {declared} bytes, the limit "
                          f"is {limits.max_total_bytes}")
    return names


def _read_dir(source: str, folder: Path, limits: BundleLimits) -> tuple[dict[str, bytes], str]:
    """The files of the bundle directory ``folder`` and the sha256 of its manifest."""
    try:
        names = _list_dir(source, folder, limits)
    except OSError as e:
        raise BundleError(f"{source}: cannot list the folder: {e}") from None
    total = 0
    contents: dict[str, bytes] = {}
    for name in sorted(names):
        limit = min(limits.file_limit(name), limits.max_total_bytes - total)
        contents[name] = _read_capped(source, folder / name, name, limit)
        total += len(contents[name])
    return contents, _sha256(_manifest(contents))


def _strict_json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate keys {', '.join(map(repr, duplicates))}")
    return dict(pairs)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _parse_submission(source: str, body: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(body.decode("utf-8"), object_pairs_hook=_strict_json_object,
                         parse_constant=_reject_constant)
    except UnicodeDecodeError as e:
        raise BundleError(f"{source}: {SUBMISSION} is not UTF-8 text: {e}") from None
    except (ValueError, RecursionError) as e:
        raise BundleError(f"{source}: {SUBMISSION} is not valid JSON: {e}") from None
    try:
        return validate_submission(obj)
    except BundleError as e:
        raise BundleError(f"{source}: {e}", e.problems) from None


def read_bundle(path: str | os.PathLike[str], limits: BundleLimits = BundleLimits()) -> Bundle:
    """Read and check the bundle at ``path`` (a directory or a zip file).

    Raises ``BundleError`` naming the file or field at fault when anything is missing, unknown,
    too large, malformed or inconsistent; see the module docstring for the checks.
    """
    source = os.fspath(path)
    target = Path(source)
    try:
        mode = target.stat().st_mode
    except OSError as e:
        raise BundleError(f"{source}: no bundle there ({e.strerror})") from None
    if stat.S_ISDIR(mode):
        contents, digest = _read_dir(source, target, limits)
    elif not stat.S_ISREG(mode):
        raise BundleError(f"{source}: not a directory or a zip file")
    else:
        contents, digest = _read_zip(source, target, limits)
    for required in (MODEL, SUBMISSION):
        if required not in contents:
            raise BundleError(f"{source}: {required} is missing; a bundle holds {MODEL} and "
                              f"{SUBMISSION} (and optionally {STATE})")
    submission = _parse_submission(source, contents[SUBMISSION])
    model_sha256 = _sha256(contents[MODEL])
    if submission["model_sha256"] != model_sha256:
        raise BundleError(f"{source}: {MODEL} changed after submission: sha256 {model_sha256}, "
                          f"the submission says {submission['model_sha256']}")
    return Bundle(source=source, model_bytes=contents[MODEL], submission=submission,
                  sha256=digest, model_sha256=model_sha256,
                  files={name: len(data) for name, data in sorted(contents.items())})


def _bundle_contents(model_bytes: bytes, submission: dict[str, Any],
                     state_bytes: bytes | None) -> dict[str, bytes]:
    clean = validate_submission(submission)
    if clean["model_sha256"] != _sha256(model_bytes):
        raise BundleError(f"submission model_sha256 {clean['model_sha256']} is not the sha256 "
                          f"of the model bytes ({_sha256(model_bytes)})")
    text = json.dumps(clean, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    contents = {MODEL: model_bytes, SUBMISSION: (text + "\n").encode("utf-8")}
    if state_bytes is not None:
        contents[STATE] = state_bytes
    return contents


def _zip_bytes(contents: dict[str, bytes]) -> bytes:
    """A deflated zip of ``contents`` whose bytes depend on the contents only."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in sorted(contents.items()):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3                      # Unix, whichever system writes it
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, data, compresslevel=9)
    return buffer.getvalue()


def _write_dir(target: Path, contents: dict[str, bytes]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        for name, data in contents.items():
            with open(tmp / name, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o755)
        if os.path.lexists(target):
            raise FileExistsError(f"{target} already exists; a bundle is never overwritten")
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bundle(out: str | os.PathLike[str], model_bytes: bytes, submission: dict[str, Any],
                 *, state_bytes: bytes | None = None) -> Path:
    """Write a bundle: a deflated zip when ``out`` ends in ``.zip``, else a directory.

    ``submission`` is validated and its ``model_sha256`` must match ``model_bytes``
    (``BundleError`` otherwise). The bundle appears complete or not at all. Raises
    ``FileExistsError`` when ``out`` exists (file, folder or link, empty or not).
    """
    target = Path(out)
    contents = _bundle_contents(model_bytes, submission, state_bytes)
    if os.path.lexists(target):
        raise FileExistsError(f"{target} already exists; a bundle is never overwritten")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"{target.parent} is not a folder; cannot write {target}")
    if target.name.endswith(".zip"):
        with atomic_write(target, "wb") as f:
            f.write(_zip_bytes(contents))
    else:
        _write_dir(target, contents)
    return target
