"""``tinytorch.<name>`` for names from higher tiers: looked up lazily, clear error when missing.

These tests do not depend on which tiers are installed: a missing tier is simulated with a
``None`` entry in ``sys.modules`` (which makes importing it fail exactly like an absent
package), and a present one with a stand-in module.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

import tinytorch


def _forget(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Drop ``tinytorch.<name>`` if an earlier import bound it, so the lazy lookup runs."""
    monkeypatch.delitem(vars(tinytorch), name, raising=False)


def _pretend_missing(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    _forget(monkeypatch, module.split(".")[1])


@pytest.mark.parametrize("name, module, distribution", [
    ("nn", "tinytorch.nn", "tinytorch-nn"),
    ("optim", "tinytorch.optim", "tinytorch-nn"),
    ("data", "tinytorch.data", "tinytorch-data"),
    ("arch", "tinytorch.arch", "tinytorch-arch"),
    ("perf", "tinytorch.perf", "tinytorch-optim"),
    ("onnx", "tinytorch.onnx", "tinytorch-optim"),
    ("olympics", "tinytorch.olympics", "tinytorch-olympics"),
])
def test_missing_tier_module_names_the_distribution(monkeypatch: pytest.MonkeyPatch, name: str,
                                                    module: str, distribution: str) -> None:
    _pretend_missing(monkeypatch, module)
    with pytest.raises(ImportError, match=f"pip install {distribution}"):
        getattr(tinytorch, name)


@pytest.mark.parametrize("name, module, distribution", [
    ("Linear", "tinytorch.nn", "tinytorch-nn"),
    ("AdamW", "tinytorch.optim", "tinytorch-nn"),
    ("DataLoader", "tinytorch.data", "tinytorch-data"),
    ("Conv2d", "tinytorch.arch", "tinytorch-arch"),
    ("GPT", "tinytorch.arch", "tinytorch-arch"),
])
def test_missing_tier_class_names_the_distribution(monkeypatch: pytest.MonkeyPatch, name: str,
                                                   module: str, distribution: str) -> None:
    _pretend_missing(monkeypatch, module)
    with pytest.raises(ImportError, match=distribution):
        getattr(tinytorch, name)


def test_from_import_of_a_missing_tier_raises_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _pretend_missing(monkeypatch, "tinytorch.nn")
    with pytest.raises(ImportError, match="tinytorch-nn"):
        exec("from tinytorch import Linear", {})


def test_installed_tier_is_imported_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("tinytorch.data")
    fake.DataLoader = type("DataLoader", (), {})
    monkeypatch.setitem(sys.modules, "tinytorch.data", fake)
    _forget(monkeypatch, "data")
    assert tinytorch.data is fake
    assert tinytorch.DataLoader is fake.DataLoader


def test_an_import_error_inside_an_installed_tier_is_not_disguised(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str, package: str | None = None) -> types.ModuleType:
        raise ModuleNotFoundError("No module named 'some_dependency'", name="some_dependency")

    _forget(monkeypatch, "arch")
    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError) as info:
        tinytorch.arch
    assert info.value.name == "some_dependency"
    assert "pip install" not in str(info.value)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        tinytorch.no_such_thing


def test_dir_lists_core_and_lazy_names() -> None:
    names = dir(tinytorch)
    for name in ("Tensor", "tensor", "no_grad", "nn", "optim", "Linear", "Conv2d"):
        assert name in names


def test_importing_tinytorch_imports_no_higher_tier() -> None:
    code = ("import sys, tinytorch; "
            "print(sorted(m for m in sys.modules if m.split('.')[:2] in "
            "[['tinytorch', t] for t in ('nn', 'optim', 'train', 'data', 'arch', 'perf', "
            "'onnx', 'olympics')]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
