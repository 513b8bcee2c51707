"""The ``tito`` command: help, system info, and the milestone runner's exit statuses."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

import tinytorch
from tinytorch.cli import main, milestone


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


def _checkout(folder: Path, project: str = "tinytorch-workspace") -> Path:
    """A minimal TinyTorch checkout: the root pyproject.toml and milestones/common.py."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(
        f'[tool.other]\nname = "not-this"\n\n[project]\nname = "{project}"  # workspace\n')
    _milestones(folder, {"01_ok_1900": "print('ran', __file__)\n"})
    return folder


def test_missing_milestones_folder_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(milestone, "installed_checkout", lambda: None)
    monkeypatch.chdir(tmp_path)
    assert main(["milestone", "list"]) == 2
    err = capsys.readouterr().err
    assert "cannot find the milestones folder" in err and "--dir" in err
    assert str(tmp_path) in err


def test_the_current_folder_counts_only_when_it_is_a_checkout_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(milestone, "installed_checkout", lambda: None)
    root = _checkout(tmp_path / "clone")
    monkeypatch.chdir(root)
    assert main(["milestone", "list"]) == 0
    assert "01  Title of 01_ok_1900" in capsys.readouterr().out
    (root / "sub").mkdir()
    monkeypatch.chdir(root / "sub")  # parents are never searched
    assert main(["milestone", "list"]) == 2
    assert "cannot find the milestones folder" in capsys.readouterr().err


def test_a_planted_milestones_folder_above_the_cwd_runs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(milestone, "installed_checkout", lambda: None)
    marker = tmp_path / "ran"
    _milestones(tmp_path, {"01_evil_1900": f"open({str(marker)!r}, 'w').close()\n"})
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert main(["milestone", "run", "01"]) == 2
    assert not marker.exists()


def test_a_folder_with_milestones_but_another_project_is_not_a_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(milestone, "installed_checkout", lambda: None)
    monkeypatch.chdir(_checkout(tmp_path / "other", project="someone-else"))
    assert main(["milestone", "list"]) == 2
    assert milestone.checkout_root(tmp_path / "other") is None


def test_the_installed_checkout_wins_over_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    installed = _checkout(tmp_path / "installed")
    monkeypatch.setattr(milestone, "installed_checkout", lambda: installed)
    monkeypatch.chdir(_checkout(tmp_path / "elsewhere"))
    assert main(["milestone", "run", "01"]) == 0
    assert str(installed / "milestones" / "01_ok_1900") in capfd.readouterr().out


def test_dir_must_name_a_milestones_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["milestone", "run", "--dir", str(tmp_path), "01"]) == 2
    assert f"--dir {tmp_path}: not a milestones folder" in capsys.readouterr().err


@pytest.mark.parametrize("direct_url, expected", [
    ('{"url": "file:///src/tt/packages/tinytorch-core", "dir_info": {"editable": true}}',
     "/src/tt/packages/tinytorch-core"),
    ('{"url": "file:///src/my%20tt/packages/tinytorch-core", "dir_info": {}}',
     "/src/my tt/packages/tinytorch-core"),
    ('{"url": "file:///wheels/tinytorch_core-0.3.0-py3-none-any.whl", "archive_info": {}}',
     None),
    ('{"url": "https://example.org/tt.git", "vcs_info": {"vcs": "git"}}', None),
    ('{"url": "https://example.org/src", "dir_info": {}}', None),
    ("not json", None),
    ("[1, 2]", None),
])
def test_source_folder_reads_only_local_source_trees(direct_url: str, expected: str | None) -> None:
    folder = milestone.source_folder(direct_url)
    assert (None if folder is None else folder.as_posix()) == expected


def test_the_repository_these_tests_live_in_is_recognised_as_a_checkout() -> None:
    repo = Path(__file__).resolve().parents[3]
    assert milestone.checkout_root(repo) == repo
    assert milestone.checkout_root(repo / "milestones") is None


def test_this_installation_resolves_to_a_checkout_or_nothing() -> None:
    root = milestone.installed_checkout()
    assert root is None or (root / "milestones" / "common.py").is_file()


def test_module_entry_point_matches_script() -> None:
    import subprocess

    out = subprocess.run([sys.executable, "-m", "tinytorch.cli", "--version"],
                         capture_output=True, text=True, check=True)
    assert "tinytorch-core" in out.stdout
