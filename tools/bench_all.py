"""Run every benchmark in tools/ one after another and print their tables.

    python tools/bench_all.py [--only core,nn] [--repeats N]

Each ``bench_*.py`` runs in its own process, so one benchmark's memory or thread settings
never leak into the next. Needs the tiers installed; PyTorch is optional (no ratios without
it). Nothing is asserted: the figures are for the README and for spotting regressions.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description="Run every tools/bench_*.py in turn.")
    parser.add_argument("--only", help="comma-separated names, e.g. 'core,nn' for "
                                       "bench_core.py and bench_nn.py")
    parser.add_argument("--repeats", type=int, help="passed to each benchmark")
    args = parser.parse_args()
    scripts = sorted(p for p in HERE.glob("bench_*.py") if p.name != "bench_all.py")
    if args.only:
        wanted = {f"bench_{n.strip()}.py" for n in args.only.split(",")}
        unknown = wanted - {p.name for p in scripts}
        if unknown:
            parser.error(f"no such benchmark(s): {', '.join(sorted(unknown))}; have "
                         f"{', '.join(p.stem[6:] for p in scripts)}")
        scripts = [p for p in scripts if p.name in wanted]
    status = 0
    for script in scripts:
        cmd = [sys.executable, str(script)]
        if args.repeats:
            cmd += ["--repeats", str(args.repeats)]
        print(f"\n$ python tools/{script.name}" + (f" --repeats {args.repeats}"
                                                  if args.repeats else ""), flush=True)
        status |= subprocess.call(cmd)
    return 1 if status else 0


if __name__ == "__main__":
    sys.exit(main())
