"""ParameterList and ParameterDict: registration under PyTorch's names, state dicts, the
list/dict protocols and their errors; and nn.init.orthogonal_."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch
import tinytorch.nn as nn
from tinytorch import optim


class Scales(nn.Module):
    def __init__(self):
        super().__init__()
        self.scales = nn.ParameterList([tinytorch.ones(2), nn.Parameter(tinytorch.zeros(3))])
        self.gains = nn.ParameterDict({"b": tinytorch.ones(1), "a": tinytorch.ones(4)})


def test_parameter_list_registers_entries_under_their_positions():
    m = Scales()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scales.0", "scales.1", "gains.a", "gains.b"]
    assert list(m.state_dict()) == names
    assert all(isinstance(p, nn.Parameter) for p in m.scales)
    assert sum(p.numel() for p in m.parameters()) == 10


def test_a_plain_tensor_becomes_a_parameter_sharing_its_memory():
    t = tinytorch.zeros(3)
    plist = nn.ParameterList([t])
    assert isinstance(plist[0], nn.Parameter) and plist[0].requires_grad
    plist[0].data.add_(1.0)
    np.testing.assert_array_equal(t.numpy(), [1, 1, 1])


def test_parameter_list_indexing_append_extend_slice_and_setitem():
    plist = nn.ParameterList()
    plist.append(tinytorch.ones(1))
    plist.extend([tinytorch.ones(2), tinytorch.ones(3)])
    plist += [tinytorch.ones(4)]
    assert len(plist) == 4 and [p.numel() for p in plist] == [1, 2, 3, 4]
    assert plist[-1] is plist[3]
    head = plist[1:3]
    assert isinstance(head, nn.ParameterList) and head[0] is plist[1] and len(head) == 2
    replacement = nn.Parameter(tinytorch.zeros(5))
    plist[-2] = replacement
    assert plist[2] is replacement
    assert dict(plist.named_parameters())["2"] is replacement


def test_parameter_list_errors_match_pytorch():
    plist = nn.ParameterList([tinytorch.ones(1)])
    with pytest.raises(IndexError, match="out of range"):
        plist[3]
    with pytest.raises(TypeError, match="should be called with an iterable, but got Tensor"):
        plist.extend(tinytorch.ones(2))
    with pytest.raises(RuntimeError, match="ParameterList should not be called"):
        plist(1)


def test_parameter_dict_protocol():
    pd = nn.ParameterDict()
    pd["w"] = tinytorch.ones(2)
    pd.update([("z", tinytorch.ones(1)), ("c", tinytorch.ones(1))])   # pairs keep their order
    assert list(pd) == ["w", "z", "c"] and len(pd) == 3 and "z" in pd
    assert [k for k, _ in pd.items()] == list(pd.keys())
    assert pd.get("missing", 7) == 7
    default = pd.setdefault("d", tinytorch.zeros(1))
    assert pd["d"] is default and isinstance(default, nn.Parameter)
    copy = pd.copy()
    assert copy["w"] is pd["w"]
    popped = pd.pop("w")
    assert "w" not in pd and all(p is not popped for p in pd.parameters())
    del pd["z"]
    assert [n for n, _ in pd.named_parameters()] == ["c", "d"]
    assert pd.popitem()[0] == "d"
    pd.clear()
    assert len(pd) == 0 and list(pd.parameters()) == []


def test_parameter_dict_orders_a_plain_dict_by_key_and_an_ordered_dict_as_given():
    assert list(nn.ParameterDict({"b": tinytorch.ones(1), "a": tinytorch.ones(1)})) == ["a", "b"]
    ordered = OrderedDict([("b", tinytorch.ones(1)), ("a", tinytorch.ones(1))])
    assert list(nn.ParameterDict(ordered)) == ["b", "a"]


def test_parameter_dict_errors_match_pytorch():
    pd = nn.ParameterDict()
    with pytest.raises(TypeError, match="not a string"):
        pd[1] = tinytorch.ones(1)
    assert len(pd) == 0
    with pytest.raises(TypeError, match="iterable of key/value pairs, but got int"):
        pd.update(5)
    with pytest.raises(ValueError, match="element #0 has length 1; 2 is required"):
        pd.update([("a",)])
    with pytest.raises(KeyError, match="attribute 'update' already exists"):
        pd["update"] = tinytorch.ones(1)
    with pytest.raises(RuntimeError, match="ParameterDict should not be called"):
        pd()


def test_state_dict_round_trip_and_optimizer_updates_container_parameters():
    src, dst = Scales(), Scales()
    for p in src.parameters():
        p.data.fill_(3.0)
    dst.load_state_dict(src.state_dict())
    assert all(np.all(p.detach().numpy() == 3.0) for p in dst.parameters())
    opt = optim.SGD(dst.parameters(), lr=0.5)
    loss = sum((p * p).sum() for p in dst.parameters())
    loss.backward()
    opt.step()
    for p in dst.parameters():
        np.testing.assert_allclose(p.detach().numpy(), 3.0 - 0.5 * 6.0)


def test_repr_lists_entries():
    text = repr(Scales())
    assert "(scales): ParameterList(" in text
    assert "(0): Parameter containing: [tinytorch.float32 of size 2]" in text
    assert "(a): Parameter containing: [tinytorch.float32 of size 4]" in text


def test_state_dict_keys_match_pytorch():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Module()
    theirs.scales = torch.nn.ParameterList([torch.ones(2), torch.zeros(3)])
    theirs.gains = torch.nn.ParameterDict({"b": torch.ones(1), "a": torch.ones(4)})
    assert list(theirs.state_dict()) == list(Scales().state_dict())


# ---------------------------------------------------------------------------- orthogonal_

@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(1, 6), gain=st.floats(0.5, 3.0))
def test_orthogonal_rows_or_columns_are_orthonormal_times_gain(rows, cols, gain):
    w = nn.init.orthogonal_(tinytorch.empty(rows, cols, dtype=tinytorch.float64), gain=gain)
    a = w.numpy()
    gram = a @ a.T if rows <= cols else a.T @ a
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-12)


def test_orthogonal_flattens_trailing_dimensions():
    w = nn.init.orthogonal_(tinytorch.empty(4, 2, 3, 3, dtype=tinytorch.float64))
    flat = w.numpy().reshape(4, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(4), atol=1e-12)


def test_orthogonal_is_q_of_the_drawn_matrix_with_positive_r_diagonal():
    tinytorch.manual_seed(7)
    w = nn.init.orthogonal_(tinytorch.empty(5, 3, dtype=tinytorch.float64)).numpy()
    tinytorch.manual_seed(7)
    a = tinytorch.core.random.generator().normal(0.0, 1.0, (5, 3))
    r = w.T @ a                                 # a = w r with r upper triangular, diag > 0
    np.testing.assert_allclose(np.tril(r, -1), 0, atol=1e-12)
    assert np.all(np.diag(r) > 0)


def test_orthogonal_is_reproducible_and_rejects_vectors():
    tinytorch.manual_seed(0)
    first = nn.init.orthogonal_(tinytorch.empty(3, 3)).numpy().copy()
    tinytorch.manual_seed(0)
    np.testing.assert_array_equal(nn.init.orthogonal_(tinytorch.empty(3, 3)).numpy(), first)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        nn.init.orthogonal_(tinytorch.empty(3))
    assert nn.init.orthogonal_(tinytorch.empty(0, 3)).shape == (0, 3)
