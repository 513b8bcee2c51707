"""The tiers of the monorepo, for the tools: each package's pyproject.toml, and the tier table.

The tier table (which distribution ships which packages, and may import which tiers) is
declared once, in tinytorch-core's ``tinytorch/core/tiers.py``. ``TABLE`` loads that file
straight from the tree, so the tools need no installed tier.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
TABLE_FILE = PACKAGES / "tinytorch-core" / "src" / "tinytorch" / "core" / "tiers.py"


def _load_table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tinytorch_tier_table", TABLE_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


TABLE = _load_table()


@dataclass
class Tier:
    """One distribution of the monorepo."""

    name: str                      # distribution name, e.g. "tinytorch-nn"
    path: Path                     # its folder
    version: str                   # the static version in its pyproject
    requirements: list[str]        # its runtime dependencies, as written

    def tier_requirements(self) -> dict[str, str]:
        """``{"tinytorch-core": ">=0.1.0,<0.2"}`` for the in-tree tiers this one requires."""
        found = {}
        for req in self.requirements:
            m = re.match(r"\s*(tinytorch-[a-z]+)\s*(.*)", req)
            if m:
                found[m.group(1)] = m.group(2).strip()
        return found


def load_tiers() -> dict[str, Tier]:
    tiers = {}
    for pyproject in sorted(PACKAGES.glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        tiers[project["name"]] = Tier(project["name"], pyproject.parent, project["version"],
                                      list(project.get("dependencies", [])))
    return tiers


def closure(tiers: dict[str, Tier], name: str) -> list[str]:
    """``name`` and every in-tree tier it requires, lowest tier first."""
    order: list[str] = []

    def visit(n: str) -> None:
        if n in order:
            return
        if n not in tiers:
            raise SystemExit(f"unknown tier {n!r}; known: {', '.join(tiers)}")
        for dep in tiers[n].tier_requirements():
            visit(dep)
        order.append(n)

    visit(name)
    return order
