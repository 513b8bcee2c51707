"""``tito system info``: what is installed and how NumPy will run on this machine."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, distributions, version
from typing import Any

TIERS = ("tinytorch-core", "tinytorch-nn", "tinytorch-data", "tinytorch-arch",
         "tinytorch-optim", "tinytorch-olympics")


def data_dir() -> str:
    """Where datasets are cached: ``$TINYTORCH_DATA`` or ``~/.cache/tinytorch``."""
    return os.environ.get("TINYTORCH_DATA") or os.path.join(
        os.path.expanduser("~"), ".cache", "tinytorch")


def _blas() -> tuple[str, str]:
    """The BLAS NumPy links against, and its threads under TinyTorch's policy
    (``tinytorch.core.parallel``)."""
    import numpy as np

    from tinytorch.core import parallel

    config: Any = np.show_config(mode="dicts") if hasattr(np, "show_config") else {}
    blas = config.get("Build Dependencies", {}).get("blas", {}) if isinstance(config, dict) else {}
    name = f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip()
    if parallel.blas_controllable():
        threads = (f"{parallel.get_blas_threads()} at rest, up to "
                   f"{parallel.get_num_threads()} for large products on free cores")
    else:
        threads = ("not set by TinyTorch: "
                   + (os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
                      or f"the BLAS default ({os.cpu_count()} cores)"))
    return name, threads


def info(args: argparse.Namespace) -> int:
    import numpy as np

    print("TinyTorch")
    for dist in TIERS:
        try:
            print(f"  {dist:<20} {version(dist)}")
        except PackageNotFoundError:
            print(f"  {dist:<20} not installed")
    blas, threads = _blas()
    print("Runtime")
    print(f"  {'python':<20} {platform.python_version()} ({sys.executable})")
    print(f"  {'numpy':<20} {np.__version__}")
    print(f"  {'blas':<20} {blas}")
    print(f"  {'blas threads':<20} {threads}")
    print(f"  {'cpu cores':<20} {os.cpu_count()}")
    print(f"  {'platform':<20} {platform.platform()}")
    extras = sorted({d.metadata["Name"].lower() for d in distributions()}
                    & {"torch", "onnx", "onnxruntime", "tqdm"})
    for name in extras:
        print(f"  {name:<20} {version(name)}")
    print("Data")
    print(f"  {'data dir':<20} {data_dir()}"
          + ("" if os.environ.get("TINYTORCH_DATA") else "  (set TINYTORCH_DATA to change)"))
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("system", help="facts about this installation",
                                   description="Facts about this TinyTorch installation.")
    sub = parser.add_subparsers(dest="system_command", metavar="SUBCOMMAND")
    parser.set_defaults(help_parser=parser)
    p = sub.add_parser("info", help="installed tiers, NumPy's BLAS and threads, the data dir",
                       description="Print the installed tiers' versions, NumPy's BLAS and "
                                   "thread count, and the dataset cache directory.")
    p.set_defaults(func=info)
