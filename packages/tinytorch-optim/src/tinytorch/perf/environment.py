"""The environment fingerprint stored with every measurement: what ran, on what, how loaded.

A timing means little without the machine it came from. Two figures can be compared only
when their fingerprints agree on what matters: the package versions, NumPy's BLAS and how
many threads it and TinyTorch use, the CPU, and how busy the machine was. The load average
is taken at the start and at the end of a measurement: a figure taken while the load rose
from 0.1 to 3 was measured on a different machine than the one it started on.

Sources, all read without side effects:

- versions: ``importlib.metadata`` for the TinyTorch distributions, ``numpy.__version__``,
  ``platform`` for Python and the OS;
- BLAS: NumPy's build configuration (``numpy.show_config(mode="dicts")``) for its name and
  version, and ``tinytorch.core.parallel`` (the one module that sets threads) for the thread
  counts it uses now;
- CPU: the model name from ``/proc/cpuinfo`` and the cache sizes from
  ``/sys/devices/system/cpu/cpu0/cache`` (Linux; ``None`` elsewhere), the core count from
  ``os.cpu_count`` and the cores this process may use from its affinity mask;
- load: ``os.getloadavg()`` (1, 5 and 15 minute averages; ``None`` where it does not exist).

Cost: a few small file reads, well under a millisecond; it is taken once per measurement,
never inside the timed loop.
"""

from __future__ import annotations

import datetime
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from tinytorch.core import parallel
from tinytorch.core.reference import reference_kernels_enabled

DISTRIBUTIONS = ("tinytorch-core", "tinytorch-nn", "tinytorch-data", "tinytorch-arch",
                 "tinytorch-optim", "tinytorch-olympics")


def package_versions() -> dict[str, str]:
    """Versions of the installed TinyTorch distributions and of NumPy."""
    found = {}
    for dist in DISTRIBUTIONS:
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            continue
    found["numpy"] = np.__version__
    return found


def blas_info() -> dict[str, Any]:
    """NumPy's BLAS (name and version from its build configuration) and its threads now."""
    try:
        config: Any = np.show_config(mode="dicts")
    except TypeError:  # NumPy before 1.26 only prints its configuration
        config = {}
    blas = config.get("Build Dependencies", {}).get("blas", {}) if isinstance(config, dict) else {}
    return {
        "name": blas.get("name", "unknown"),
        "version": blas.get("version", "unknown"),
        "controlled_by_tinytorch": parallel.blas_controllable(),
        "threads_now": parallel.get_blas_threads(),
    }


def cpu_model(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _size_bytes(text: str) -> int:
    """A sysfs cache size ("32K", "1024K", "8M") in bytes."""
    text = text.strip()
    scale = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(text[-1:].upper(), 1)
    return int(text.rstrip("KMGkmg")) * scale


def cache_sizes(root: str | os.PathLike[str] = "/sys/devices/system/cpu/cpu0/cache"
                ) -> dict[str, int]:
    """The first core's caches in bytes, keyed "L1d", "L1i", "L2", "L3" (empty where sysfs
    does not describe them)."""
    sizes = {}
    for index in sorted(Path(root).glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = _size_bytes((index / "size").read_text())
        except (OSError, ValueError):
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        sizes[f"L{level}{suffix}"] = size
    return sizes


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where the system has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def fingerprint(load_start: list[float] | None = None,
                load_end: list[float] | None = None) -> dict[str, Any]:
    """Everything a timing depends on besides the code, as a JSON-ready dict.

    ``load_start`` and ``load_end`` are the load averages a measurement took before and after
    its timed runs (``load_average()``); without them, the load now is recorded as both.
    """
    now = load_average()
    return {
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "blas": blas_info(),
        "threads": {
            "tinytorch": parallel.get_num_threads(),
            "usable_now": parallel.usable_threads(),
            "TINYTORCH_NUM_THREADS": os.environ.get("TINYTORCH_NUM_THREADS"),
        },
        "reference_kernels": reference_kernels_enabled(),
        "cpu": {
            "model": cpu_model(),
            "cores": os.cpu_count(),
            "usable_cores": usable_cores(),
            "caches": cache_sizes(),
        },
        "load_average": {
            "start": load_start if load_start is not None else now,
            "end": load_end if load_end is not None else now,
        },
    }


def describe_load(fp: dict[str, Any]) -> str:
    """The load averages of a fingerprint, at the start and the end, as one line."""
    load = fp["load_average"]
    return f"load avg  start {load['start']}, end {load['end']} (1, 5, 15 min)"


def describe(fp: dict[str, Any], load: bool = True) -> list[str]:
    """A fingerprint as a few lines for the head of a table (``load``: with the load
    averages, which a table printed before its measurements leaves for its end)."""
    packages = ", ".join(f"{k} {v}" for k, v in fp["packages"].items())
    blas = fp["blas"]
    caches = ", ".join(f"{k} {v // 1024} KiB" for k, v in fp["cpu"]["caches"].items())
    lines = [
        f"packages  {packages}; python {fp['python']}",
        f"blas      {blas['name']} {blas['version']}, {blas['threads_now']} thread(s) now "
        f"({'set by tinytorch.core.parallel' if blas['controlled_by_tinytorch'] else 'its own'})"
        f"; tinytorch threads {fp['threads']['tinytorch']} "
        f"({fp['threads']['usable_now']} usable now)",
        f"cpu       {fp['cpu']['model']}, {fp['cpu']['usable_cores']} of {fp['cpu']['cores']} "
        f"cores usable" + (f"; {caches}" if caches else ""),
    ]
    if fp["reference_kernels"]:
        lines.append("kernels   REFERENCE implementations everywhere (use_reference_kernels)")
    return (lines + [describe_load(fp)]) if load else lines
