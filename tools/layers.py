"""Write the import-linter contracts that enforce the tier table, then run them.

    python tools/layers.py            # write .tox/importlinter.toml and run lint-imports on it
    python tools/layers.py --print    # only print the contracts

The table (``tinytorch/core/tiers.py``) says which packages each distribution ships and which
tiers it may import. Every tier gets one "forbidden" contract: its packages may not import the
packages of any tier outside what it requires (directly or through a lower tier). A lower
tier therefore never imports a higher one, and data never imports nn. Only packages that exist
in the tree are named, so a planned tier costs nothing until it lands.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from tiers import PACKAGES, ROOT, TABLE


def _exists(package: str) -> bool:
    """True when some distribution in the tree ships ``package`` (a folder or a module)."""
    rel = Path(*package.split("."))
    for src in PACKAGES.glob("*/src"):
        if (src / rel).is_dir() or (src / rel).with_suffix(".py").is_file():
            return True
    return False


def allowed(distribution: str) -> set[str]:
    """``distribution`` and every tier it may import, directly or through another tier."""
    seen: set[str] = set()
    todo = [distribution]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(TABLE.tier_of(name).requires)
    return seen


def contracts() -> str:
    """The import-linter configuration, as TOML."""
    lines = ['[tool.importlinter]', 'root_packages = ["tinytorch"]',
             "include_external_packages = false", ""]
    for tier in TABLE.TIERS:
        sources = [p for p in tier.packages if _exists(p)]
        ok = allowed(tier.distribution)
        forbidden = [p for other in TABLE.TIERS if other.distribution not in ok
                     for p in other.packages if _exists(p)]
        if not sources or not forbidden:
            continue
        lines += ["[[tool.importlinter.contracts]]",
                  f"name = {json.dumps(tier.distribution + ' imports only the tiers it requires')}",
                  'type = "forbidden"',
                  f"source_modules = {json.dumps(sources)}",
                  f"forbidden_modules = {json.dumps(forbidden)}", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[2].strip())
    parser.add_argument("--print", action="store_true", help="print the contracts and stop")
    parser.add_argument("--config", default=str(ROOT / ".tox" / "importlinter.toml"),
                        help="where to write them (default: .tox/importlinter.toml)")
    args = parser.parse_args()
    text = contracts()
    if args.print:
        print(text)
        return 0
    path = Path(args.config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    lint = shutil.which("lint-imports")
    if lint is None:
        print("layers: lint-imports not found; pip install import-linter", file=sys.stderr)
        return 2
    return subprocess.call([lint, "--config", str(path)])


if __name__ == "__main__":
    sys.exit(main())
