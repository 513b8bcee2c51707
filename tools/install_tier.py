"""Install one tier into an environment the way a user would get it: as wheels.

    python tools/install_tier.py tinytorch-nn [tinytorch-data ...] --python PATH

Builds fresh wheels of the named tiers and of every in-tree tier they declare (nothing else)
into a wheelhouse, then installs the named tiers from it with ``uv``. Lower tiers resolve from
the wheelhouse, third-party packages from the package index. A tier that imports something it
does not declare therefore fails its tests here, not on a user's machine. Each tox env calls
this before its tests, so the installed code always matches the tree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tiers import ROOT, closure, load_tiers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tiers", nargs="+", help="distribution names, e.g. tinytorch-nn")
    parser.add_argument("--python", default=sys.executable, help="the target interpreter")
    parser.add_argument("--wheelhouse", default=str(ROOT / ".tox" / "wheelhouse"),
                        help="where wheels are built (default: .tox/wheelhouse)")
    args = parser.parse_args()

    tiers = load_tiers()
    needed: list[str] = []
    for name in args.tiers:
        for dep in closure(tiers, name):
            if dep not in needed:
                needed.append(dep)
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    house = Path(args.wheelhouse) / f"{os.getpid()}"
    house.mkdir(parents=True, exist_ok=True)
    try:
        for name in needed:
            subprocess.run([uv, "build", "--wheel", "--quiet", "--out-dir", str(house),
                            str(tiers[name].path)], check=True)
        cmd = [uv, "pip", "install", "--quiet", "--python", args.python,
               "--find-links", str(house)]
        for name in needed:
            cmd += ["--reinstall-package", name]
        subprocess.run(cmd + list(args.tiers), check=True)
    finally:
        shutil.rmtree(house, ignore_errors=True)
    print(f"installed {', '.join(args.tiers)} (with {', '.join(needed)}) from fresh wheels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
