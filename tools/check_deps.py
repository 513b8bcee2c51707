"""Check that every tier declares what it imports, and that tier version ranges agree.

    python tools/check_deps.py

1. For each tier, each requirement on a lower tier (``tinytorch-core>=0.1.0,<0.2``) must
   include that tier's version in the tree, so a release of the whole tree installs together,
   and the tiers it requires must be exactly the ``requires`` of its row in the tier table
   (``tinytorch/core/tiers.py``).
2. Each tier's source may import only the standard library, its own modules, and the
   distributions it declares (found by parsing every ``import`` statement with ``ast``).
   Lazy lookups by string (``importlib.import_module("tinytorch.arch")``) are how a lower tier
   reaches a higher one at run time, and are not imports.
Exit status 1 lists every problem found.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from tiers import TABLE, load_tiers

# Third-party modules whose distribution has another name than the module.
DISTRIBUTIONS = {"yaml": "pyyaml", "PIL": "pillow", "sklearn": "scikit-learn", "google": "protobuf"}


def provider(module: str) -> str | None:
    """The distribution that provides ``module``; None for the standard library."""
    top = module.split(".")[0]
    if top == "tinytorch":
        return TABLE.provider(module)
    if top in sys.stdlib_module_names or top == "__future__":
        return None
    return DISTRIBUTIONS.get(top, top).lower().replace("_", "-")


def imports_of(path: Path) -> set[str]:
    """Absolute modules imported at any level of a file (optional imports in try included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def optional_imports(path: Path) -> set[str]:
    """Imports guarded by ``try: ... except ImportError`` (optional dependencies) or by
    ``if TYPE_CHECKING:`` (read by the type checker only, never at run time)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        type_checking = isinstance(node, ast.If) and (
            (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
            or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING"))
        optional = isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
            for h in node.handlers
        )
        if type_checking or optional:
            for sub in node.body:
                for inner in ast.walk(sub):
                    if isinstance(inner, ast.Import):
                        found.update(a.name for a in inner.names)
                    elif isinstance(inner, ast.ImportFrom) and inner.module:
                        found.add(inner.module)
    return found


def main() -> int:
    tiers = load_tiers()
    problems = []
    table = {t.distribution: t for t in TABLE.TIERS}
    for name in sorted(set(tiers) - set(table)):   # the table may name tiers still planned
        problems.append(f"{name}: missing from the tier table (tinytorch/core/tiers.py)")
    for tier in tiers.values():
        declared = {Requirement(r).name.lower() for r in tier.requirements}
        if tier.name in table and set(tier.tier_requirements()) != set(table[tier.name].requires):
            problems.append(f"{tier.name}: its pyproject requires "
                            f"{sorted(tier.tier_requirements())}, the tier table says "
                            f"{sorted(table[tier.name].requires)}")
        for dep, spec in tier.tier_requirements().items():
            if dep not in tiers:
                problems.append(f"{tier.name}: requires unknown tier {dep}")
            elif tiers[dep].version not in SpecifierSet(spec):
                problems.append(f"{tier.name}: requires {dep}{spec}, but the tree has "
                                f"{dep} {tiers[dep].version}")
        for path in sorted((tier.path / "src").rglob("*.py")):
            optional = optional_imports(path)
            for module in sorted(imports_of(path) - optional):
                dist = provider(module)
                if dist is None or dist == tier.name or dist in declared:
                    continue
                problems.append(f"{path.relative_to(tier.path.parent.parent)}: imports "
                                f"{module!r} from {dist}, which {tier.name} does not declare")
    for p in problems:
        print(p)
    print(f"checked {len(tiers)} tiers: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
