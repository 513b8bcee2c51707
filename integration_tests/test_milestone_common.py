"""The helpers every milestone script shares (``milestones/common.py``): argument checking and
test accuracy, on a model small enough to check by hand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

import tinytorch as tt
from tinytorch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "milestones"))
import common


@pytest.mark.parametrize("text", ["0", "-3", "two", "1.5"])
def test_positive_int_rejects_what_is_not_a_count(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="positive integer"):
        common.positive_int(text)


def test_parser_takes_data_dir_only_when_asked() -> None:
    assert common.parser("m", data_dir=True).parse_args(["--data-dir", "d"]).data_dir == "d"
    with pytest.raises(SystemExit):
        common.parser("m").parse_args(["--data-dir", "d"])


def test_accuracy_counts_arg_max_hits_in_chunks_and_restores_training_mode() -> None:
    model = nn.Linear(2, 2, bias=False)
    with tt.no_grad():
        model.weight.copy_(tt.tensor([[1.0, 0.0], [0.0, 1.0]]))   # predicts the larger input
    x = tt.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 4.0], [1.0, 0.0], [0.0, 1.0]])
    y = tt.tensor([0, 1, 1, 0, 0])                                 # rows 2 and 4 are misses
    assert common.accuracy(model, x, y, chunk=2) == pytest.approx(60.0)
    assert model.training
