"""``tito milestone list|run``: re-enact ML history with TinyTorch.

Milestones live in the repository's ``milestones/`` folder, one folder each, named
``NN_subject_year`` with a ``milestone.py`` script and a README. ``run`` starts the script in a
fresh Python process with that folder on ``PYTHONPATH`` (so scripts share ``common.py``) and
passes its exit status through: 0 when the target was met, 1 when it was missed.

``run`` executes Python files, so where they come from is decided by a strict rule, never by
searching: the folder ``--dir`` names; else the checkout tinytorch-core was installed from
(pip and uv record a local source folder, editable or not, in ``direct_url.json``); else the
current folder, if it is the root of a TinyTorch checkout. A checkout root is recognised by
its ``pyproject.toml`` naming the ``tinytorch-workspace`` project next to
``milestones/common.py``. Parent folders are never searched: a ``milestones/`` folder planted
above the current one runs nothing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from tinytorch.cli import CommandError

WORKSPACE = "tinytorch-workspace"  # the [project] name in the checkout's root pyproject.toml
DIR_HELP = ("the milestones folder (default: that of the checkout tinytorch-core was installed "
            "from, else that of the current folder if it is a TinyTorch checkout root)")


def _project_name(pyproject: Path) -> str | None:
    """The ``[project]`` table's ``name`` in a pyproject.toml, read line by line (Python 3.10,
    which TinyTorch supports, has no ``tomllib``)."""
    table = None
    for line in pyproject.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("["):
            table = line
        elif table == "[project]" and line.partition("=")[0].strip() == "name":
            return line.partition("=")[2].partition("#")[0].strip().strip("\"'")
    return None


def checkout_root(folder: Path) -> Path | None:
    """``folder`` if it is the root of a TinyTorch checkout, else None."""
    pyproject = folder / "pyproject.toml"
    if not (pyproject.is_file() and (folder / "milestones" / "common.py").is_file()):
        return None
    try:
        name = _project_name(pyproject)
    except (OSError, UnicodeDecodeError):
        return None
    return folder if name == WORKSPACE else None


def source_folder(direct_url: str) -> Path | None:
    """The local folder a distribution was installed from, given its ``direct_url.json``
    (PEP 610): only a ``file:`` URL with ``dir_info``, i.e. a source tree, not a wheel."""
    try:
        info = json.loads(direct_url)
    except ValueError:
        return None
    if not isinstance(info, dict) or "dir_info" not in info:
        return None
    url = info.get("url")
    if not isinstance(url, str) or not url.startswith("file:"):
        return None
    return Path(url2pathname(urlparse(url).path))


def installed_checkout() -> Path | None:
    """The checkout tinytorch-core was installed from (``packages/tinytorch-core`` in it)."""
    try:
        direct_url = importlib.metadata.distribution("tinytorch-core").read_text(
            "direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return None
    source = source_folder(direct_url) if direct_url else None
    return checkout_root(source.parent.parent) if source is not None else None


def find_milestones(explicit: str | None = None) -> Path:
    """The milestones folder: ``--dir``, the installed checkout's, or the current folder's when
    it is a checkout root (see the module docstring)."""
    if explicit:
        folder = Path(explicit)
        if not (folder / "common.py").is_file():
            raise CommandError(f"--dir {folder}: not a milestones folder (expected common.py "
                               "and NN_name folders in it)")
        return folder
    root = installed_checkout() or checkout_root(Path.cwd())
    if root is not None:
        return root / "milestones"
    raise CommandError(
        f"cannot find the milestones folder: tinytorch-core was not installed from a TinyTorch "
        f"checkout, and the current folder {Path.cwd()} is not the root of one (a "
        f"pyproject.toml for '{WORKSPACE}' beside milestones/common.py). Run tito from the "
        "root of your TinyTorch clone, or pass --dir PATH/TO/milestones"
    )


def discover(root: Path) -> dict[str, Path]:
    """Milestone number ('01') -> its folder, for every ``NN_*`` folder under ``root``, then
    example name ('autoencoder') -> its folder, for every other folder with a milestone.py
    (examples that are no historical milestone, run by name)."""
    found = {}
    for p in sorted(root.iterdir()):           # digits sort first: milestones, then examples
        if p.is_dir() and p.name[:2].isdigit() and p.name[2:3] == "_":
            found[p.name[:2]] = p
        elif p.is_dir() and (p / "milestone.py").is_file():
            found[p.name] = p
    return found


def _title(folder: Path) -> str:
    readme = folder / "README.md"
    if readme.is_file():
        for line in readme.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return folder.name


def list_milestones(args: argparse.Namespace) -> int:
    root = find_milestones(args.dir)
    for number, folder in discover(root).items():
        state = "ready" if (folder / "milestone.py").is_file() else "planned"
        print(f"{number}  {_title(folder):<60} {state}")
    return 0


def run_milestones(args: argparse.Namespace) -> int:
    root = find_milestones(args.dir)
    known = discover(root)
    wanted = list(known) if args.numbers == ["all"] else [n.zfill(2) for n in args.numbers]
    for n in wanted:
        if n not in known:
            print(f"tito: no milestone {n}; known: {', '.join(known)}", file=sys.stderr)
            return 2
        if not (known[n] / "milestone.py").is_file():
            if args.numbers == ["all"]:
                continue
            print(f"tito: milestone {n} is planned but not written yet", file=sys.stderr)
            return 2
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    extra = list(args.extra or [])
    if args.quick:
        extra.insert(0, "--quick")
    if args.seed is not None:
        extra[:0] = ["--seed", str(args.seed)]
    failed = []
    summary = []
    for n in wanted:
        script = known[n] / "milestone.py"
        if not script.is_file():
            continue
        print(f"\n### milestone {n}: {_title(known[n])}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *extra], env=env)
        seconds = time.perf_counter() - start
        summary.append((n, code, seconds))
        if code != 0:
            failed.append(n)
    if len(summary) > 1:
        print("\nmilestone  status   time")
        for n, code, seconds in summary:
            print(f"{n:<10} {'passed' if code == 0 else 'FAILED':<8} {seconds:.1f} s")
    return 1 if failed else 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "milestone", help="list and run the historical milestones",
        description="List and run the milestones: ML history re-enacted on real data.")
    parser.set_defaults(help_parser=parser)
    sub = parser.add_subparsers(dest="milestone_command", metavar="SUBCOMMAND")

    p = sub.add_parser("list", help="list the milestones and whether each is ready",
                       description="List the milestones and whether each is ready to run.")
    p.add_argument("--dir", help=DIR_HELP)
    p.set_defaults(func=list_milestones)

    p = sub.add_parser(
        "run", help="run one or more milestones",
        description="Run milestones by number ('tito milestone run 01 02', or 'all'). "
                    "Options after '--' go to the milestone script itself, e.g. "
                    "'tito milestone run 03 -- --dataset mnist'. Exit status 0 when every "
                    "target was met, 1 when one was missed.")
    p.add_argument("numbers", nargs="+", metavar="N", help="milestone numbers or example names "
                   "('autoencoder'), or 'all'")
    p.add_argument("--quick", action="store_true", help="the short CI version of each run")
    p.add_argument("--seed", type=int, help="random seed passed to the script")
    p.add_argument("--dir", help=DIR_HELP)
    p.set_defaults(func=run_milestones, extra=[])
