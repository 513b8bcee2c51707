"""Embedding and F.embedding: gather forward, scatter-add backward, padding_idx, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch
from tinytorch.arch.embedding import Embedding, embedding


def reference_weight_grad(ids, grad, num_embeddings, padding_idx=None):
    """Loop over every looked-up id and add its gradient row to that id's row."""
    out = np.zeros((num_embeddings, grad.shape[-1]))
    for i, row in zip(ids.reshape(-1), grad.reshape(-1, grad.shape[-1])):
        if i != padding_idx:
            out[i] += row
    return out


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(0, 5), min_size=1, max_size=3), vocab=st.integers(1, 9),
       dim=st.integers(1, 4))
def test_forward_gathers_rows_and_backward_scatter_adds(shape, vocab, dim):
    rng = np.random.default_rng(0)
    weight = tinytorch.tensor(rng.standard_normal((vocab, dim)), requires_grad=True)
    ids = rng.integers(0, vocab, shape)
    out = embedding(tinytorch.tensor(ids), weight)
    assert out.shape == (*shape, dim)
    np.testing.assert_array_equal(out.array, weight.array[ids])
    grad = rng.standard_normal(out.shape)
    out.backward(tinytorch.tensor(grad))
    np.testing.assert_allclose(weight.grad.array, reference_weight_grad(ids, grad, vocab),
                               atol=1e-12)


def test_repeated_ids_accumulate():
    weight = tinytorch.zeros(4, 2, requires_grad=True)
    out = embedding(tinytorch.tensor([[1, 1, 3], [1, 0, 3]]), weight)
    out.sum().backward()
    np.testing.assert_array_equal(weight.grad.array, [[1, 1], [3, 3], [0, 0], [2, 2]])


def test_padding_idx_row_starts_at_zero_and_gets_no_gradient():
    tinytorch.manual_seed(0)
    emb = Embedding(6, 3, padding_idx=2)
    assert np.all(emb.weight.array[2] == 0)
    assert not np.all(emb.weight.array[1] == 0)
    out = emb(tinytorch.tensor([[2, 1, 2, 5]]))
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.array[2], 0)
    np.testing.assert_array_equal(emb.weight.grad.array[1], 1)


def test_negative_padding_idx_counts_from_the_end():
    assert Embedding(6, 3, padding_idx=-1).padding_idx == 5


def test_gradcheck():
    rng = np.random.default_rng(1)
    weight = tinytorch.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    ids = tinytorch.tensor([[0, 4, 4], [2, 0, 1]])
    assert tinytorch.gradcheck(lambda w: embedding(ids, w), (weight,))


def test_module_matches_functional_and_keeps_float32():
    tinytorch.manual_seed(0)
    emb = Embedding(10, 4)
    assert emb.weight.dtype == np.float32 and emb.weight.requires_grad
    ids = tinytorch.tensor([3, 7, 3])
    np.testing.assert_array_equal(emb(ids).array, embedding(ids, emb.weight).array)
    assert emb(ids).dtype == np.float32


def test_initialisation_is_standard_normal():
    tinytorch.manual_seed(0)
    w = Embedding(1000, 50).weight.array
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1.0) < 0.02


def test_from_pretrained_copies_and_freezes():
    table = tinytorch.tensor(np.arange(6.0, dtype=np.float32).reshape(3, 2))
    emb = Embedding.from_pretrained(table)
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(tinytorch.tensor([2, 0])).array, [[4, 5], [0, 1]])
    assert Embedding.from_pretrained(table, freeze=False).weight.requires_grad


def test_errors_name_ids_and_table():
    emb = Embedding(5, 2)
    with pytest.raises(IndexError, match="id 5 .* 5 rows"):
        emb(tinytorch.tensor([0, 5]))
    with pytest.raises(IndexError, match="id -1"):
        emb(tinytorch.tensor([-1]))
    with pytest.raises(RuntimeError, match="Long, Int"):
        emb(tinytorch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="padding_idx"):
        Embedding(5, 2, padding_idx=5)
    with pytest.raises(ValueError, match="2-D weight"):
        embedding(tinytorch.tensor([0]), tinytorch.zeros(3))


def test_state_dict_matches_torch_and_loads_from_it():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Embedding(7, 3, padding_idx=0)
    ours = Embedding(7, 3, padding_idx=0)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    ours.load_state_dict({"weight": tinytorch.tensor(theirs.weight.detach().numpy())})
    ids = np.array([[0, 3, 6], [3, 3, 1]])
    np.testing.assert_array_equal(ours(tinytorch.tensor(ids)).array,
                                  theirs(torch.tensor(ids)).detach().numpy())
    ours(tinytorch.tensor(ids)).sum().backward()
    theirs(torch.tensor(ids)).sum().backward()
    np.testing.assert_array_equal(ours.weight.grad.array, theirs.weight.grad.numpy())
