"""`tito olympics`: the organiser's and the entrant's commands, end to end on the synthetic task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinytorch.cli import main as tito
from tinytorch.olympics.results import ResultStore


def test_events_lists_the_five_events_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert tito(["olympics", "events", "--json"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert sorted(events) == ["accuracy-contest", "all-around", "extreme-push",
                              "latency-sprint", "memory-challenge"]
    assert events["extreme-push"]["floor"] == 0.95


@pytest.mark.parametrize("command", ["events", "baseline", "submit", "verify", "leaderboard"])
def test_every_command_has_a_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        tito(["olympics", command, "--help"])
    assert exit_.value.code == 0
    assert "usage: tito olympics " + command in capsys.readouterr().out


def test_a_whole_competition_from_the_command_line(
        synthetic_rules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TINYTORCH_OLYMPICS", str(tmp_path / "home"))
    rules = ["--rules", str(synthetic_rules)]
    assert tito(["olympics", "baseline", "--quick", *rules]) == 0
    assert "synthetic-mlp: trained" in capsys.readouterr().out
    bundle = tmp_path / "grace.zip"
    assert tito(["olympics", "submit", "--event", "memory-challenge", "--example", "int8",
                 "--entrant", "grace", "--out", str(bundle), "--quick", *rules]) == 0
    assert "memory-challenge (closed)" in capsys.readouterr().out
    results = tmp_path / "results.jsonl"
    assert tito(["olympics", "verify", str(bundle), str(tmp_path / "missing"), "--quick",
                 "--jobs", "2", "--results", str(results), *rules]) == 1   # one rejected
    out = capsys.readouterr().out
    assert "grace.zip: verified  memory-challenge (closed)" in out
    assert "missing: REJECTED" in out and "1 of 2 verified" in out
    assert [r["status"] for r in ResultStore(results).records()] == ["verified", "rejected"]
    board = tmp_path / "board"
    assert tito(["olympics", "leaderboard", "--results", str(results), "--out", str(board),
                 *rules]) == 0
    doc = json.loads((board / "leaderboard.json").read_text())
    assert [e["entrant"] for e in doc["events"]["memory-challenge"]["entries"]] == ["grace"]
    assert doc["rejected"] == 1
    assert "grace" in (board / "LEADERBOARD.md").read_text()
    assert (board / "index.html").stat().st_size > 1000


def test_usage_errors_name_what_is_wrong(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert tito(["olympics", "submit", "--event", "marathon", "--example", "int8",
                 "--entrant", "a", "--out", str(tmp_path / "a")]) == 2
    assert "no event 'marathon'" in capsys.readouterr().err
    assert tito(["olympics", "leaderboard", "--results", str(tmp_path / "none.jsonl")]) == 1
    assert "holds no results" in capsys.readouterr().err
    assert tito(["olympics", "events", "--rules", str(tmp_path)]) == 2
    assert "no events/ folder" in capsys.readouterr().err
