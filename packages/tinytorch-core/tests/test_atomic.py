"""Atomic writes (``tinytorch.save`` to a path): they behave like ``open(path, "wb")`` for
symlinks, read-only files, FIFOs, the umask and missing folders, and name the target in errors."""

from __future__ import annotations

import io
import os
import shutil
import stat
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

import tinytorch
from tinytorch.core.atomic import atomic_write

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file semantics")


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _as_unprivileged(check: Callable[[Path], None]) -> None:
    """Run ``check(folder)`` as a user without root's power to write read-only files.

    Root may write any file, so ``open`` refuses nothing; as root the check runs in a forked
    child that drops to ``nobody``, in a folder everyone may enter and write.
    """
    folder = Path(tempfile.mkdtemp(prefix="tinytorch-atomic-"))
    folder.chmod(0o777)
    try:
        if os.geteuid() != 0:
            check(folder)
            return
        if not hasattr(os, "fork"):
            pytest.skip("running as root without os.fork")
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never return into pytest
            status = 0
            try:
                os.setgid(65534)
                os.setuid(65534)
                check(folder)
            except BaseException:
                os.write(write, traceback.format_exc().encode())
                status = 1
            os._exit(status)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            report = pipe.read().decode()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, report
    finally:
        shutil.rmtree(folder)


def test_a_new_file_is_written_and_no_temporary_file_is_left(tmp_path):
    path = tmp_path / "c.tt"
    tinytorch.save(tinytorch.ones(2), path)
    tinytorch.save(tinytorch.zeros(3), path)
    assert _files(tmp_path) == ["c.tt"]
    assert tinytorch.load(path).shape == (3,)


@posix_only
def test_saving_through_a_symlink_updates_its_target_and_keeps_the_link(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.tt"
    tinytorch.save(tinytorch.ones(2), target)
    link = tmp_path / "latest.tt"
    link.symlink_to(target)
    tinytorch.save(tinytorch.zeros(5), link)
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert tinytorch.load(target).shape == (5,)
    assert _files(tmp_path / "real") == ["model.tt"]
    assert _files(tmp_path) == ["latest.tt", "real"]


@posix_only
def test_saving_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.tt"
    link.symlink_to(tmp_path / "new.tt")
    tinytorch.save(tinytorch.ones(1), link)
    assert link.is_symlink() and tinytorch.load(tmp_path / "new.tt").shape == (1,)


@posix_only
def test_a_read_only_file_is_refused_like_open_and_left_unchanged():
    def check(folder: Path) -> None:
        path = folder / "frozen.tt"
        path.write_bytes(b"old bytes")
        path.chmod(0o444)
        with pytest.raises(PermissionError) as opened:
            open(path, "wb")
        with pytest.raises(PermissionError) as saved:
            tinytorch.save(tinytorch.ones(1), path)
        assert saved.value.filename == opened.value.filename == str(path)
        assert path.read_bytes() == b"old bytes"
        assert _files(folder) == ["frozen.tt"]

    _as_unprivileged(check)


@posix_only
def test_a_read_only_folder_names_the_target_and_why():
    def check(folder: Path) -> None:
        own = folder / "own"
        own.mkdir()
        path = own / "c.tt"
        path.write_bytes(b"old bytes")
        own.chmod(0o555)
        try:
            with pytest.raises(PermissionError, match="temporary file") as saved:
                tinytorch.save(tinytorch.ones(1), path)
            assert saved.value.filename == str(path)
            assert path.read_bytes() == b"old bytes"
            with pytest.raises(PermissionError) as created:
                tinytorch.save(tinytorch.ones(1), own / "new.tt")
            assert created.value.filename == str(own / "new.tt")
        finally:
            own.chmod(0o755)

    _as_unprivileged(check)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_a_fifo_is_written_directly_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    try:
        tinytorch.save({"w": tinytorch.arange(4)}, fifo)
    finally:
        if reader.is_alive() and not received:  # release a reader still waiting for a writer
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=10)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert tinytorch.load(io.BytesIO(received[0]))["w"].tolist() == [0, 1, 2, 3]
    assert _files(tmp_path) == ["pipe"]


@posix_only
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_a_new_file_gets_0666_minus_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        tinytorch.save(tinytorch.ones(1), tmp_path / "c.tt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "c.tt").st_mode) == 0o666 & ~mask


@posix_only
def test_a_replaced_file_keeps_its_permission_bits(tmp_path):
    path = tmp_path / "c.tt"
    tinytorch.save(tinytorch.ones(1), path)
    path.chmod(0o640)
    tinytorch.save(tinytorch.ones(2), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_a_missing_folder_raises_file_not_found_naming_the_target(tmp_path):
    path = tmp_path / "no" / "such" / "c.tt"
    with pytest.raises(FileNotFoundError) as saved:
        tinytorch.save(tinytorch.ones(1), path)
    assert saved.value.filename == str(path)
    assert str(path) in str(saved.value) and ".tmp" not in str(saved.value)


@posix_only
def test_a_directory_as_target_is_refused_like_open(tmp_path):
    with pytest.raises(IsADirectoryError) as saved:
        tinytorch.save(tinytorch.ones(1), tmp_path)
    assert saved.value.filename == str(tmp_path)


def test_a_failure_inside_the_block_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError, match="midway"):
        with atomic_write(path, "w", encoding="utf-8") as f:
            f.write("half of the new")
            raise RuntimeError("midway")
    assert path.read_text(encoding="utf-8") == "old"
    assert _files(tmp_path) == ["notes.txt"]


def test_text_mode_writes_the_text(tmp_path):
    with atomic_write(tmp_path / "a.json", "w", encoding="utf-8") as f:
        f.write('{"é": 1}')
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == '{"é": 1}'


def test_only_write_modes_are_accepted(tmp_path):
    with pytest.raises(ValueError, match="'ab'"):
        with atomic_write(tmp_path / "x", "ab"):
            pass
