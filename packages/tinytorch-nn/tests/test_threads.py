"""Ops that split their rows among intra-op threads give the same results on one thread."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
import tinytorch.nn.functional as F


@pytest.fixture(autouse=True)
def _restore_threads():
    before = tinytorch.get_num_threads()
    yield
    tinytorch.set_num_threads(before)


def _cross_entropy_and_grad(threads: int, logits: np.ndarray, target: np.ndarray):
    tinytorch.set_num_threads(threads)
    x = tinytorch.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, tinytorch.tensor(target), label_smoothing=0.1)
    loss.backward()
    return loss.item(), x.grad.numpy()


def test_cross_entropy_is_the_same_on_one_and_two_threads() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(40000, 10)).astype(np.float32)  # enough rows to split
    target = rng.integers(0, 10, size=40000)
    loss1, grad1 = _cross_entropy_and_grad(1, logits, target)
    loss2, grad2 = _cross_entropy_and_grad(2, logits, target)
    assert loss1 == pytest.approx(loss2, rel=1e-6)
    np.testing.assert_array_equal(grad1, grad2)
