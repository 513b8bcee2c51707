"""``tito data`` through a small argparse harness (tito's own main is tinytorch-core's)."""

from __future__ import annotations

import argparse
import io
import urllib.error

import pytest

from tinytorch.data import FashionMNIST, TinyShakespeare, cli, download


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tito")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def shakespeare(tmp_path, pin_resources):
    folder = tmp_path / "tinyshakespeare"
    folder.mkdir()
    (folder / "input.txt").write_text("O Romeo, Romeo!\n" * 10, encoding="utf-8")
    pin_resources(TinyShakespeare, folder)
    return folder / "input.txt"


def test_list_shows_every_dataset_and_file_state(tmp_path, shakespeare, capsys):
    assert run(["data", "list", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("mnist", "fashion-mnist", "cifar-10", "tinyshakespeare"):
        assert f"\n{name}: " in out
    assert "input.txt" in out and "present (cache)" in out
    assert "cifar-10-python.tar.gz" in out and "missing" in out


def test_verify_passes_for_intact_files_and_fails_for_corrupt_ones(tmp_path, shakespeare,
                                                                   capsys):
    assert run(["data", "verify", "--data-dir", str(tmp_path)]) == 0
    assert "ok      tinyshakespeare/input.txt" in capsys.readouterr().out
    shakespeare.write_text("O Romeo, Romeo?\n" * 10, encoding="utf-8")  # same size, new bytes
    assert run(["data", "verify", "tinyshakespeare", "--data-dir", str(tmp_path)]) == 1
    assert "FAILED  tinyshakespeare/input.txt" in capsys.readouterr().out


def test_verify_fails_for_a_named_dataset_that_is_missing(tmp_path, capsys):
    assert run(["data", "verify", "fashion-mnist", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.count("FAILED") == len(FashionMNIST.resources) and "missing" in out


def test_verify_with_nothing_present_fails(tmp_path, capsys):
    assert run(["data", "verify", "--data-dir", str(tmp_path)]) == 1
    assert "nothing to verify" in capsys.readouterr().err


def test_download_fetches_through_the_network_function(tmp_path, shakespeare, monkeypatch,
                                                       capsys):
    payload = shakespeare.read_bytes()
    shakespeare.unlink()
    calls = []

    def fake_open(url: str, timeout: float) -> io.BytesIO:
        calls.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(download, "_open_url", fake_open)
    assert run(["data", "download", "tinyshakespeare", "--data-dir", str(tmp_path)]) == 0
    assert shakespeare.read_bytes() == payload and len(calls) == 1
    assert run(["data", "download", "tinyshakespeare", "--data-dir", str(tmp_path)]) == 0
    assert len(calls) == 1  # already present and verified: no second download
    assert "ok      tinyshakespeare/input.txt" in capsys.readouterr().out


def test_download_failure_exits_1_with_the_manual_instructions(tmp_path, shakespeare,
                                                               monkeypatch, capsys):
    shakespeare.unlink()

    def unreachable(url: str, timeout: float) -> io.BytesIO:
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(download, "_open_url", unreachable)
    assert run(["data", "download", "tinyshakespeare", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "network is unreachable" in err and str(shakespeare) in err
    assert TinyShakespeare.resources["input.txt"].sha256 in err
    assert not shakespeare.exists()


def test_unknown_dataset_or_no_name_is_a_usage_error(tmp_path, capsys):
    assert run(["data", "download", "imagenet", "--data-dir", str(tmp_path)]) == 2
    assert "unknown dataset(s) imagenet" in capsys.readouterr().err
    assert run(["data", "download", "--data-dir", str(tmp_path)]) == 2
