"""``tito milestone`` finds the unnumbered examples (folders with a milestone.py) by name."""

from __future__ import annotations

from tinytorch.cli.milestone import discover


def test_discover_lists_numbered_milestones_then_examples_by_name(tmp_path):
    for folder in ("01_perceptron_1957", "06_mlperf_2018", "autoencoder", "notes",
                   "__pycache__"):
        (tmp_path / folder).mkdir()
    for folder in ("01_perceptron_1957", "autoencoder"):
        (tmp_path / folder / "milestone.py").write_text("")
    found = discover(tmp_path)
    assert list(found) == ["01", "06", "autoencoder"]       # a planned milestone stays listed
    assert found["autoencoder"] == tmp_path / "autoencoder"
