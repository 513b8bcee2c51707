"""``tito milestone list|run``: re-enact ML history with TinyTorch.

Milestones live in the repository's ``milestones/`` folder, one folder each, named
``NN_subject_year`` with a ``milestone.py`` script and a README. ``run`` starts the script in a
fresh Python process with that folder on ``PYTHONPATH`` (so scripts share ``common.py``) and
passes its exit status through: 0 when the target was met, 1 when it was missed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tinytorch.cli import CommandError


def find_milestones(explicit: str | None = None) -> Path:
    """The milestones folder: ``--dir``, ``$TINYTORCH_MILESTONES``, or found above the cwd."""
    candidates = []
    if explicit:
        candidates.append(Path(explicit))
    elif os.environ.get("TINYTORCH_MILESTONES"):
        candidates.append(Path(os.environ["TINYTORCH_MILESTONES"]))
    else:
        here = Path.cwd().resolve()
        candidates += [p / "milestones" for p in (here, *here.parents)]
    for c in candidates:
        if (c / "common.py").is_file():
            return c
    raise CommandError(
        "cannot find the milestones folder (a 'milestones' directory with common.py); run "
        "tito from a TinyTorch checkout, or pass --dir / set TINYTORCH_MILESTONES"
    )


def discover(root: Path) -> dict[str, Path]:
    """Milestone number ('01') -> its folder, for every ``NN_*`` folder under ``root``."""
    found = {}
    for p in sorted(root.iterdir()):
        if p.is_dir() and p.name[:2].isdigit() and p.name[2:3] == "_":
            found[p.name[:2]] = p
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
    p.add_argument("--dir", help="the milestones folder (default: found above the cwd)")
    p.set_defaults(func=list_milestones)

    p = sub.add_parser(
        "run", help="run one or more milestones",
        description="Run milestones by number ('tito milestone run 01 02', or 'all'). "
                    "Options after '--' go to the milestone script itself, e.g. "
                    "'tito milestone run 03 -- --dataset mnist'. Exit status 0 when every "
                    "target was met, 1 when one was missed.")
    p.add_argument("numbers", nargs="+", metavar="N", help="milestone numbers, or 'all'")
    p.add_argument("--quick", action="store_true", help="the short CI version of each run")
    p.add_argument("--seed", type=int, help="random seed passed to the script")
    p.add_argument("--dir", help="the milestones folder (default: found above the cwd)")
    p.set_defaults(func=run_milestones, extra=[])
