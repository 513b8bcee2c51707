"""The tier table: one declaration from which the lazy lookups and the lint checks derive."""

from __future__ import annotations

import pytest

import tinytorch
from tinytorch.core import tiers


@pytest.mark.parametrize("module, distribution", [
    ("tinytorch", "tinytorch-core"),
    ("tinytorch.core.tensor", "tinytorch-core"),
    ("tinytorch.utils", "tinytorch-core"),
    ("tinytorch.utils.data", "tinytorch-data"),
    ("tinytorch.nn.functional.activation", "tinytorch-nn"),
    ("tinytorch.optim.adam", "tinytorch-nn"),
    ("tinytorch.arch.conv", "tinytorch-arch"),
    ("tinytorch.perf", "tinytorch-optim"),
    ("tinytorch.onnx.export", "tinytorch-optim"),
    ("numpy", None),
])
def test_provider_finds_the_distribution_of_a_module(module: str, distribution: str) -> None:
    assert tiers.provider(module) == distribution


def test_every_tier_requires_only_tiers_listed_before_it() -> None:
    seen: set[str] = set()
    for tier in tiers.TIERS:
        assert set(tier.requires) <= seen, tier.distribution
        seen.add(tier.distribution)


def test_a_lazy_name_is_exported_by_exactly_one_tier_per_namespace() -> None:
    for namespace in ("tinytorch", "tinytorch.nn", "tinytorch.nn.functional"):
        names = [n for t in tiers.TIERS for _, ns in t.exports.get(namespace, ()) for n in ns]
        assert len(names) == len(set(names)), namespace


def test_the_namespace_builds_its_lazy_lookups_from_the_table() -> None:
    assert tinytorch._LAZY_MODULES["perf"] == ("tinytorch.perf", "tinytorch-optim")
    assert tinytorch._LAZY_NAMES["Linear"] == ("tinytorch.nn", "tinytorch-nn")
    assert "core" not in tinytorch._LAZY_MODULES


def test_an_unknown_distribution_is_named_in_the_error() -> None:
    with pytest.raises(KeyError, match="tinytorch-gpu"):
        tiers.tier_of("tinytorch-gpu")
