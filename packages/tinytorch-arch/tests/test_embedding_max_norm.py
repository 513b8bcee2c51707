"""Embedding(max_norm=..., norm_type=...) and scale_grad_by_freq: rows renormalised in place
as PyTorch does, gradients, and PyTorch cross-checks."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.embedding import Embedding, embedding


def t64(a, grad=False):
    return tinytorch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def test_looked_up_rows_above_max_norm_are_rescaled_in_place():
    weight = t64([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]], True)
    out = embedding(tinytorch.tensor([0, 1, 0]), weight, max_norm=1.0)
    scale = 1.0 / (5.0 + 1e-7)
    np.testing.assert_allclose(out.detach().numpy(), [[3 * scale, 4 * scale], [0.3, 0.4],
                                                      [3 * scale, 4 * scale]])
    # row 0 was renormalised in the table itself; row 1 was small enough, row 2 not looked up
    np.testing.assert_allclose(weight.detach().numpy(), [[3 * scale, 4 * scale], [0.3, 0.4],
                                                         [6.0, 8.0]])
    assert weight.grad_fn is None and weight.requires_grad


def test_norm_type_selects_the_norm():
    weight = t64([[3.0, 4.0]])
    embedding(tinytorch.tensor([0]), weight, max_norm=1.0, norm_type=1.0)
    np.testing.assert_allclose(weight.numpy(), [[3 / (7 + 1e-7), 4 / (7 + 1e-7)]])


def test_scale_grad_by_freq_divides_each_row_gradient_by_its_count():
    weight = t64(np.ones((3, 2)), True)
    embedding(tinytorch.tensor([2, 2, 0, 2]), weight, scale_grad_by_freq=True).sum().backward()
    np.testing.assert_allclose(weight.grad.numpy(), [[1, 1], [0, 0], [1, 1]])


def test_embedding_with_max_norm_passes_gradcheck():
    # rows already within max_norm: the renorm leaves them alone and the lookup is linear
    # (scale_grad_by_freq is a deliberate rescaling, not the gradient, so it is not checked here)
    rng = np.random.default_rng(0)
    weight = t64(rng.standard_normal((5, 3)) * 0.1, True)
    ids = tinytorch.tensor([[0, 4], [4, 2]])
    assert tinytorch.gradcheck(lambda w: embedding(ids, w, max_norm=10.0), (weight,))


def test_module_keeps_the_options_and_from_pretrained_passes_them():
    emb = Embedding.from_pretrained(t64([[3.0, 4.0], [1.0, 0.0]]), max_norm=2.0)
    assert not emb.weight.requires_grad and emb.max_norm == 2.0
    emb(tinytorch.tensor([0]))
    np.testing.assert_allclose(np.linalg.norm(emb.weight.numpy()[0]), 2.0, rtol=1e-6)
    assert "max_norm=2.0" in repr(emb)
    with pytest.raises(NotImplementedError, match="sparse"):
        Embedding(3, 2, sparse=True)


@pytest.mark.parametrize("kwargs", [dict(max_norm=1.0), dict(max_norm=2.0, norm_type=1.0),
                                    dict(scale_grad_by_freq=True),
                                    dict(max_norm=1.5, padding_idx=1, scale_grad_by_freq=True)])
def test_matches_pytorch(kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, 4)) * 2
    ids = np.array([[0, 2, 2], [5, 1, 2]])
    ours, theirs = t64(w, True), torch.tensor(w, requires_grad=True)
    y = embedding(tinytorch.tensor(ids), ours, **kwargs)
    ty = torch.nn.functional.embedding(torch.tensor(ids), theirs, **kwargs)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), atol=1e-12)
    g = rng.standard_normal(tuple(ty.shape))
    y.backward(t64(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-12)
