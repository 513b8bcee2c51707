"""Run the worker in a child process that an entry's model cannot use against the verifier.

The child gets an empty environment (no credentials, no ``PYTHONPATH``; ``python -I`` also
ignores the user's site folder), the scratch folder as its working directory, no stdin and its
own session (so a timeout kills the whole process group). A few lines of launcher code set its
resource limits and then exec the worker (not ``preexec_fn``, which is unsafe in a parent with
threads, such as the local pool or a Dask worker): address space (``RLIMIT_AS``), CPU seconds
(``RLIMIT_CPU``: SIGXCPU at the soft limit, SIGKILL a few seconds later at the hard one), size
of any file it writes (``RLIMIT_FSIZE``) and no core dumps; the launcher also pins the child to
one core when asked. Its stderr goes to an unlinked temporary file, so a chatty child costs
disk up to the file limit, never the parent's memory; the last lines are kept for the reason.

Every way the child can end becomes a ``SandboxOutcome``: the result.json it wrote, or a reason
("timed out after 600 s", "crashed with signal SIGSEGV", "exited with status 1: <stderr tail>").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULT_FILE = "result.json"
MAX_RESULT_BYTES = 16 * 2**20
_TAIL_BYTES = 2000
_CPU_GRACE_S = 5


@dataclass(frozen=True)
class SandboxLimits:
    """Limits on one worker run: wall clock, CPU seconds, address space, written file size."""

    timeout_s: float = 600.0
    cpu_s: int = 600
    memory_bytes: int = 4 * 2**30
    file_bytes: int = 256 * 2**20


@dataclass
class SandboxOutcome:
    """``result`` is the child's result.json, or None with ``reason`` saying why."""

    result: dict[str, Any] | None
    reason: str | None
    returncode: int | None
    seconds: float


# Runs in the child as `python -I -c _LAUNCHER AS CPU CPU_HARD FSIZE CORE -- COMMAND...`: set the
# limits (and the core), then replace itself with COMMAND.
_LAUNCHER = """\
import os, resource, sys
memory, cpu, cpu_hard, fsize, core = (int(v) for v in sys.argv[1:6])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu_hard))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
if core >= 0:
    os.sched_setaffinity(0, {core})
os.execve(sys.argv[7], sys.argv[7:], {})
"""


def run_worker(scratch: Path, limits: SandboxLimits = SandboxLimits(), *,
               argv: Sequence[str] | None = None, cpu: int | None = None) -> SandboxOutcome:
    """Run ``argv`` (by default the worker on ``scratch``) under ``limits``, pinned to core
    ``cpu`` when given, and collect its result.json from ``scratch``."""
    scratch = Path(scratch)
    worker = list(argv) if argv is not None else [
        sys.executable, "-I", "-m", "tinytorch.olympics.worker", str(scratch)]
    command = [sys.executable, "-I", "-c", _LAUNCHER, str(limits.memory_bytes),
               str(limits.cpu_s), str(limits.cpu_s + _CPU_GRACE_S), str(limits.file_bytes),
               str(-1 if cpu is None else cpu), "--", *worker]
    result_path = scratch / RESULT_FILE
    result_path.unlink(missing_ok=True)
    start = time.monotonic()
    with tempfile.TemporaryFile() as stderr:
        child = subprocess.Popen(command, env={}, cwd=scratch, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=stderr, close_fds=True,
                                 start_new_session=True)
        try:
            returncode = child.wait(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(child.pid)
            child.wait()
            return SandboxOutcome(None, f"timed out after {limits.timeout_s:g} s", None,
                                  time.monotonic() - start)
        _kill_group(child.pid)
        seconds = time.monotonic() - start
        stderr.seek(max(0, stderr.seek(0, os.SEEK_END) - _TAIL_BYTES))
        tail = stderr.read().decode("utf-8", "replace").strip()
    if returncode < 0:
        return SandboxOutcome(None, _signal_reason(-returncode, limits, tail), returncode,
                              seconds)
    if returncode > 0:
        return SandboxOutcome(None, f"exited with status {returncode}: "
                                    f"{tail or '(no output on stderr)'}", returncode, seconds)
    result, reason = _read_result(result_path)
    return SandboxOutcome(result, reason, returncode, seconds)


def _kill_group(pid: int) -> None:
    """SIGKILL the child's process group (its own session), if anything is left in it."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_reason(number: int, limits: SandboxLimits, tail: str) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    if number == signal.SIGXCPU:
        return f"used more than the CPU limit of {limits.cpu_s} s (killed by {name})"
    if number == signal.SIGXFSZ:
        return f"wrote a file larger than the limit of {limits.file_bytes} bytes ({name})"
    reason = f"crashed with signal {name}"
    return f"{reason}: {tail}" if tail else reason


def _read_result(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    if not path.is_file():
        return None, f"exited with status 0 but wrote no {RESULT_FILE}"
    size = path.stat().st_size
    if size > MAX_RESULT_BYTES:
        return None, f"{RESULT_FILE} is {size} bytes; the limit is {MAX_RESULT_BYTES}"
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return None, f"{RESULT_FILE} is not valid JSON ({e})"
    if not isinstance(result, dict):
        return None, f"{RESULT_FILE} holds a {type(result).__name__}; expected an object"
    return result, None
