"""The ``tito`` command: help, system info, and the milestone runner's exit statuses."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

import tinytorch
from tinytorch.cli import main


def _milestones(tmp_path: Path, scripts: dict[str, str]) -> Path:
    root = tmp_path / "milestones"
    root.mkdir()
    (root / "common.py").write_text("VALUE = 7\n")
    for name, body in scripts.items():
        folder = root / name
        folder.mkdir()
        (folder / "README.md").write_text(f"# Title of {name}\n")
        if body:
            (folder / "milestone.py").write_text(body)
    return root


def test_help_lists_commands_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "system" in out and "milestone" in out


def test_no_command_prints_help_and_exits_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: tito" in capsys.readouterr().err


def test_group_without_subcommand_exits_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["milestone"]) == 2
    assert "run" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_system_info_reports_versions_and_data_dir(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path / "cache"))
    assert main(["system", "info"]) == 0
    out = capsys.readouterr().out
    installed = importlib.metadata.version("tinytorch-core")
    assert f"tinytorch-core       {installed}" in out
    assert tinytorch.__version__ == installed  # the module and its distribution agree
    assert "numpy" in out and "blas threads" in out
    assert str(tmp_path / "cache") in out


def test_milestone_list_shows_ready_and_planned(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = _milestones(tmp_path, {"01_first_1900": "print('hi')\n", "02_second_1901": ""})
    assert main(["milestone", "list", "--dir", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("01  Title of 01_first_1900") and lines[0].endswith("ready")
    assert lines[1].startswith("02  Title of 02_second_1901") and lines[1].endswith("planned")


def test_milestone_run_passes_exit_status_and_arguments(tmp_path: Path) -> None:
    script = (
        "import sys, common\n"
        "assert common.VALUE == 7  # the milestones folder is importable\n"
        "sys.exit(0 if sys.argv[1:] == ['--seed', '3', '--quick', '--extra'] else 1)\n"
    )
    root = _milestones(tmp_path, {"01_ok_1900": script, "02_miss_1901": "raise SystemExit(1)\n"})
    args = ["milestone", "run", "--dir", str(root), "--seed", "3", "--quick"]
    assert main([*args, "1", "--", "--extra"]) == 0
    assert main([*args, "02"]) == 1
    assert main([*args, "all", "--", "--extra"]) == 1


def test_milestone_run_unknown_or_planned_is_a_usage_error(tmp_path: Path) -> None:
    root = _milestones(tmp_path, {"01_ok_1900": "pass\n", "02_planned_1901": ""})
    assert main(["milestone", "run", "--dir", str(root), "09"]) == 2
    assert main(["milestone", "run", "--dir", str(root), "02"]) == 2
    assert main(["milestone", "run", "--dir", str(root), "all"]) == 0


def test_missing_milestones_folder_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TINYTORCH_MILESTONES", raising=False)
    assert main(["milestone", "list"]) == 2
    assert "cannot find the milestones folder" in capsys.readouterr().err


def test_module_entry_point_matches_script() -> None:
    import subprocess

    out = subprocess.run([sys.executable, "-m", "tinytorch.cli", "--version"],
                         capture_output=True, text=True, check=True)
    assert "tinytorch-core" in out.stdout
