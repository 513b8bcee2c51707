"""``atomic_write``: replace a file so that readers see the old bytes or the new, never half.

``open(path, "wb")`` truncates the old file before the first byte of the new one is written,
so a crash, a full disk or Ctrl-C in the middle loses both versions of a checkpoint. Here the
bytes go to a temporary file in the target's own folder, are flushed to the disk
(``fsync``), and the temporary file is renamed over the target. ``os.replace`` is atomic within
one file system, so the target's name always holds a complete file.

In everything else it behaves like ``open(path, "wb")``, which is what a caller expects:

- a symlink is followed: the temporary file goes beside the link's resolved target and the
  rename replaces that target; the link itself stays a link;
- what ``open`` refuses, it refuses with the same exception type: a read-only file or folder
  (``PermissionError``), a missing folder (``FileNotFoundError``), a directory
  (``IsADirectoryError``);
- a FIFO, a device or anything else that is not a regular file is opened and written directly
  (renaming over ``/dev/null`` would replace the device with a regular file);
- a new file gets mode ``0o666`` minus the umask, as ``open`` creates it; a replaced file keeps
  its permission bits;
- every error from opening, flushing or renaming names ``path``, never the temporary file
  (errors raised inside the ``with`` block pass through unchanged).

Cost: the data is written once, plus one ``fsync`` that waits until the disk holds it, and the
folder needs room for a second copy until the rename. For checkpoints, tokenizer
files and downloads, written rarely, an intact file is worth that. A file with several hard
links is replaced under the one name only, as with every rename-based write.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any

_OPEN_FLAGS = os.O_WRONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _naming(error: OSError, path: str, strerror: str | None = None) -> OSError:
    """The same kind of error (``OSError`` picks the subclass from errno), naming ``path``."""
    return OSError(error.errno, strerror or error.strerror, path)


def _probe_writable(target: str, path: str) -> None:
    """Raise what ``open(path, "wb")`` raises for an existing file it may not write.

    Opening for writing without ``O_TRUNC`` changes nothing in a regular file, and the kernel
    applies every rule ``open`` meets: permission bits, ACLs, read-only mounts, the caller's
    privileges.
    """
    try:
        os.close(os.open(target, _OPEN_FLAGS))
    except OSError as e:
        raise _naming(e, path) from None


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb", *,
                 encoding: str | None = None) -> Iterator[IO[Any]]:
    """``with atomic_write(path) as f: f.write(...)``: the file appears complete or not at all.

    ``mode`` is ``"wb"`` or ``"w"`` (text, with ``encoding``). When the block raises, the
    temporary file is deleted and the target is left as it was.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', got {mode!r}")
    name = os.fspath(path)
    target = os.path.realpath(name)
    try:
        old = os.stat(target)
    except FileNotFoundError:
        old = None
    except OSError as e:
        raise _naming(e, name) from None
    if old is not None and not stat.S_ISREG(old.st_mode):
        with open(name, mode, encoding=encoding) as stream:
            yield stream
        return
    if old is not None:
        _probe_writable(target, name)
    folder, base = os.path.split(target)
    tmp = os.path.join(folder, f".{base}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, _OPEN_FLAGS | os.O_CREAT | os.O_EXCL, 0o666)   # the umask applies
    except OSError as e:
        why = None
        if old is not None:  # open() could write the file in place; the rename cannot
            why = f"{e.strerror} (creating a temporary file in {folder} for an atomic write)"
        raise _naming(e, name, why) from None
    done = False
    try:
        stream = os.fdopen(fd, mode, encoding=encoding)
        with stream:
            yield stream
            try:
                stream.flush()
                os.fsync(stream.fileno())
            except OSError as e:
                raise _naming(e, name) from None
        try:
            if old is not None:
                os.chmod(tmp, stat.S_IMODE(old.st_mode))
            os.replace(tmp, target)
        except OSError as e:
            raise _naming(e, name) from None
        done = True
    finally:
        if not done:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
