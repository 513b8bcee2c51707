"""Dataset files on disk: where they live, how they are checked, and how they are fetched.

Every file a dataset needs is a ``Resource``: its folder and published file name, the URLs it
is published at (a mirror first where the original host is unreliable), its SHA-256 and its
size. ``fetch`` turns a resource into a verified local path, in this order:

1. ``$TINYTORCH_DATA/<dataset>/<file>`` (default root ``~/.cache/tinytorch``), if its checksum
   matches;
2. a known system location (Debian's ``dataset-fashion-mnist`` installs under
   ``/usr/share/datasets/fashion-mnist``), if its checksum matches;

   in both places a gzip file may also be present in its decompressed form (``unpacked``:
   ``train-images-idx3-ubyte`` beside or instead of ``train-images-idx3-ubyte.gz``, as other
   tools leave MNIST after extracting it), checked against the SHA-256 of the decompressed
   bytes;
3. with ``download=True`` only: the URLs in order, a bounded number of attempts, each with a
   socket timeout. Bytes stream into a temporary file *in the target folder* while being
   hashed; only a file whose size and SHA-256 match is renamed into place
   (``tinytorch.core.atomic.atomic_write``, which also follows a symlinked cache file to its
   target), so the cache never holds a half-written file.

Otherwise the ``RuntimeError`` names the missing file, its URLs, where to put it and its
checksum, so it can be fetched by hand on another machine.

Cost: one SHA-256 pass over each file per process (about 0.5 GB/s; 26 MB of Fashion-MNIST
images take some 60 ms); results are remembered per (path, size, mtime).
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from tinytorch.core.atomic import atomic_write
from tinytorch.core.progress import progress

ENV_VAR = "TINYTORCH_DATA"
CHUNK = 1 << 20
ATTEMPTS = 3  # passes over the URL list before giving up
TIMEOUT = 30.0  # seconds a socket may stay silent
USER_AGENT = "tinytorch-data/0.1.1"


@dataclass(frozen=True)
class Resource:
    """One published file: ``<dataset>/<filename>`` under the data root."""

    dataset: str
    filename: str
    urls: tuple[str, ...]
    sha256: str
    size: int
    system_dirs: tuple[str, ...] = field(default=())
    unpacked: tuple[str, str, int] | None = None  # (name, SHA-256, size) once gunzipped

    def cache_path(self, root: str | os.PathLike[str] | None = None) -> Path:
        return data_root(root) / self.dataset / self.filename

    def system_paths(self) -> list[Path]:
        return [Path(d) / self.filename for d in self.system_dirs]

    def candidates(self, root: str | os.PathLike[str] | None = None) -> list[tuple[Path, str]]:
        """Every place a local copy may be, in the order tried: ``(path, "cache"|"system")``."""
        names = [self.filename] + ([self.unpacked[0]] if self.unpacked else [])
        folders = [(data_root(root) / self.dataset, "cache")]
        folders += [(Path(d), "system") for d in self.system_dirs]
        return [(folder / name, origin) for folder, origin in folders for name in names]

    def expected(self, path: Path) -> tuple[str, int]:
        """The SHA-256 and size a copy at ``path`` must have (by its name: packed or not)."""
        if self.unpacked is not None and path.name == self.unpacked[0]:
            return self.unpacked[1], self.unpacked[2]
        return self.sha256, self.size


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: ``root`` if given, else ``$TINYTORCH_DATA``, else ``~/.cache/tinytorch``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "tinytorch"


_verified: dict[tuple[str, int, int], str] = {}


def sha256sum(path: str | os.PathLike[str]) -> str:
    """The hex SHA-256 of a file, read in 1 MiB chunks (remembered per path, size and mtime)."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _verified:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                h.update(chunk)
        _verified[key] = h.hexdigest()
    return _verified[key]


def check(resource: Resource, path: Path) -> str | None:
    """None if ``path`` holds ``resource`` byte for byte, else what is wrong with it."""
    sha, expected_size = resource.expected(path)
    size = path.stat().st_size
    if size != expected_size:
        return f"{path} has {size:,} bytes, expected {expected_size:,}"
    digest = sha256sum(path)
    if digest != sha:
        return f"{path} has SHA-256 {digest}, expected {sha}"
    return None


def locate(resource: Resource, root: str | os.PathLike[str] | None = None) -> Path | None:
    """A verified local copy of ``resource`` (cache first, then system locations), or None.

    A cached copy that fails its check raises ``RuntimeError``: it is never used, and never
    silently replaced without ``download=True``. A system copy that fails is skipped.
    """
    for path, origin in resource.candidates(root):
        if not path.is_file():
            continue
        problem = check(resource, path)
        if problem is None:
            return path
        if origin == "cache":
            raise RuntimeError(
                f"corrupt dataset file: {problem}. Delete it and download it again "
                f"(download=True or `tito data download {resource.dataset}`)"
            )
    return None


def fetch(resource: Resource, root: str | os.PathLike[str] | None = None,
          download: bool = False) -> Path:
    """A verified local path for ``resource``; downloads it first when allowed and needed."""
    cached = resource.cache_path(root)
    try:
        found = locate(resource, root)
    except RuntimeError:
        if not download:
            raise
        for path, origin in resource.candidates(root):
            if origin == "cache" and path.is_file() and check(resource, path) is not None:
                path.unlink()
        found = None
    if found is not None:
        return found
    if not download:
        raise RuntimeError(missing_message(resource, root, tried_network=False))
    return download_file(resource, cached)


def missing_message(resource: Resource, root: str | os.PathLike[str] | None,
                    tried_network: bool, errors: list[str] | None = None) -> str:
    """The error text for a file that is not available: what, where to put it, from where."""
    lines = [f"dataset file {resource.dataset}/{resource.filename} is not available"
             + (" and could not be downloaded" if tried_network else " locally") + "."]
    lines.append(f"  put it at:   {resource.cache_path(root)}")
    if resource.system_dirs:
        lines.append(f"  also looked: {', '.join(str(p) for p in resource.system_paths())}")
    lines.append(f"  sha256:      {resource.sha256} ({resource.size:,} bytes)")
    if resource.unpacked is not None:
        name, sha, size = resource.unpacked
        lines.append(f"  or unpacked: {name}, sha256 {sha} ({size:,} bytes)")
    lines.append("  published at:")
    lines += [f"    {url}" for url in resource.urls]
    if errors:
        lines.append("  download attempts:")
        lines += [f"    {e}" for e in errors]
    if not tried_network:
        lines.append(f"Pass download=True, run `tito data download {resource.dataset}`, or "
                     f"copy the file there by hand (${ENV_VAR} sets the data root).")
    return "\n".join(lines)


def _open_url(url: str, timeout: float) -> Any:
    """Open ``url`` for reading (the one function that touches the network)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    return urllib.request.urlopen(request, timeout=timeout)


class _Mismatch(Exception):
    """Downloaded bytes that are not the published file (raised inside ``atomic_write`` so
    that the temporary file is discarded)."""


def _stream(response: BinaryIO, out: BinaryIO, resource: Resource) -> tuple[int, str]:
    """Copy ``response`` into ``out`` with a progress bar; returns the byte count and the
    SHA-256 of the bytes."""
    h = hashlib.sha256()
    size = 0
    with progress(total=resource.size, desc=resource.filename, unit="B",
                  unit_scale=True, leave=False) as bar:
        for chunk in iter(lambda: response.read(CHUNK), b""):
            out.write(chunk)
            h.update(chunk)
            size += len(chunk)
            bar.update(len(chunk))
    return size, h.hexdigest()


def download_file(resource: Resource, dest: Path, attempts: int = ATTEMPTS,
                  timeout: float = TIMEOUT) -> Path:
    """Download ``resource`` to ``dest`` atomically, trying each URL up to ``attempts`` times.

    The bytes go to a temporary file beside ``dest``; it is renamed over ``dest`` only once its
    size and SHA-256 match, and deleted on any failure (including Ctrl-C).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for attempt in range(1, attempts + 1):
        for url in resource.urls:
            try:
                with atomic_write(dest) as out, _open_url(url, timeout) as response:
                    size, digest = _stream(response, out, resource)
                    if size != resource.size or digest != resource.sha256:
                        raise _Mismatch(f"attempt {attempt}, {url}: got {size:,} bytes with "
                                        f"SHA-256 {digest}, expected {resource.size:,} bytes "
                                        f"with {resource.sha256}")
                return dest
            except _Mismatch as e:
                errors.append(str(e))
            except OSError as e:  # URLError, HTTPError, timeouts and disk errors are OSErrors
                errors.append(f"attempt {attempt}, {url}: {e}")
    raise RuntimeError(missing_message(resource, dest.parent.parent, True, errors))
