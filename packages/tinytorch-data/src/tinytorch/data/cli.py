"""``tito data list|download|verify``: the dataset cache from the command line.

``list`` shows each dataset's files and whether they are present (a size check, instant);
``verify`` checks SHA-256 sums (about 0.5 s per 250 MB); ``download`` fetches what is missing.
Exit status: 0 success, 1 a missing or corrupt file or a failed download, 2 a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tinytorch.data.datasets import CATALOG
from tinytorch.data.download import Resource, check, data_root, fetch

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _resources(name: str) -> list[Resource]:
    return list(CATALOG[name].resources.values())


def _where(resource: Resource, root: str | None) -> tuple[Path | None, str]:
    """The local copy that would be used (by size) and its state, without hashing."""
    for path, origin in resource.candidates(root):
        if path.is_file():
            if path.stat().st_size == resource.expected(path)[1]:
                return path, f"present ({origin})"
            return path, f"wrong size ({origin}: {path.stat().st_size:,} bytes)"
    return None, "missing"


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _names(args: argparse.Namespace) -> list[str] | None:
    """The datasets named on the command line (all with --all), or None after an error."""
    names = list(CATALOG) if getattr(args, "all", False) else list(args.datasets)
    unknown = [n for n in names if n not in CATALOG]
    if unknown:
        print(f"tito data: unknown dataset(s) {', '.join(unknown)}; known: "
              f"{', '.join(CATALOG)}", file=sys.stderr)
        return None
    return names


def list_datasets(args: argparse.Namespace) -> int:
    print(f"data root: {data_root(args.data_dir)}")
    for name, cls in CATALOG.items():
        print(f"\n{name}: {cls.title}")
        for r in _resources(name):
            path, state = _where(r, args.data_dir)
            where = f"  {path}" if path is not None and "system" in state else ""
            print(f"  {r.filename:<28} {_size(r.size):>9}  {state}{where}")
    return EXIT_OK


def download(args: argparse.Namespace) -> int:
    names = _names(args)
    if names is None:
        return EXIT_USAGE
    if not names:
        print("tito data download: name at least one dataset, or pass --all; known: "
              f"{', '.join(CATALOG)}", file=sys.stderr)
        return EXIT_USAGE
    failed = 0
    for name in names:
        for r in _resources(name):
            try:
                path = fetch(r, args.data_dir, download=True)
            except RuntimeError as e:
                print(f"tito data: {e}", file=sys.stderr)
                failed += 1
                continue
            print(f"ok      {name}/{r.filename}  {path}")
    return EXIT_FAILED if failed else EXIT_OK


def verify(args: argparse.Namespace) -> int:
    names = _names(args)
    if names is None:
        return EXIT_USAGE
    if not names:  # every dataset with at least one local file
        names = [n for n in CATALOG
                 if any(_where(r, args.data_dir)[0] is not None for r in _resources(n))]
        if not names:
            print(f"tito data verify: no dataset files under {data_root(args.data_dir)} or the "
                  "known system locations; nothing to verify", file=sys.stderr)
            return EXIT_FAILED
    bad = 0
    for name in names:
        for r in _resources(name):
            path, _ = _where(r, args.data_dir)
            problem = "missing" if path is None else check(r, path)
            if problem is None:
                print(f"ok      {name}/{r.filename}  sha256 {r.expected(path)[0][:16]}...  {path}")
            else:
                bad += 1
                print(f"FAILED  {name}/{r.filename}  {problem}"
                      + (f"  (expected at {r.cache_path(args.data_dir)})" if path is None else ""))
    return EXIT_FAILED if bad else EXIT_OK


def register(subparsers: Any) -> None:
    """Add ``tito data`` and its sub-commands to ``tito``'s argument parser."""
    parser = subparsers.add_parser(
        "data", help="list, download and verify datasets",
        description="The dataset cache: $TINYTORCH_DATA/<dataset>/<file> (default "
                    "~/.cache/tinytorch). Datasets: " + ", ".join(CATALOG) + ".")
    parser.set_defaults(help_parser=parser)
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    def add(name: str, func: Any, help: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=description)
        p.add_argument("--data-dir", metavar="DIR", default=None,
                       help="the data root (default: $TINYTORCH_DATA or ~/.cache/tinytorch)")
        p.set_defaults(func=func)
        return p

    add("list", list_datasets, "the known datasets and whether their files are present",
        "List every known dataset with its files, sizes and local state (by size; "
        "use 'verify' for checksums).")
    p = add("download", download, "download datasets into the cache (verified, atomic)",
            "Download the named datasets' files unless a verified copy is already present.")
    p.add_argument("datasets", nargs="*", metavar="DATASET", help=", ".join(CATALOG))
    p.add_argument("--all", action="store_true", help="every known dataset")
    p = add("verify", verify, "check the SHA-256 of dataset files",
            "Check the SHA-256 of every file of the named datasets (default: every dataset "
            "with a file present). Exits 1 if a file is missing or corrupt.")
    p.add_argument("datasets", nargs="*", metavar="DATASET", help=", ".join(CATALOG))
