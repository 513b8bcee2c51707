"""state_dict / load_state_dict: round trips, strictness, shape errors, memory sharing."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
import tinytorch.nn as nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.LayerNorm(8))
        self.head = nn.Linear(8, 3)
        self.register_buffer("calls", tinytorch.zeros(1))
        self.register_buffer("cache", tinytorch.zeros(3), persistent=False)

    def forward(self, x):
        return self.head(self.body(x))


def test_keys_follow_registration_order_and_skip_non_persistent_buffers():
    assert list(Net().state_dict()) == [
        "calls", "body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias",
        "head.weight", "head.bias",
    ]


def test_round_trip_into_a_fresh_model_reproduces_outputs():
    tinytorch.manual_seed(0)
    a = Net()
    a.calls.array[...] = 7
    tinytorch.manual_seed(1)
    b = Net()
    x = tinytorch.randn(5, 4)
    assert not np.allclose(a(x).detach().numpy(), b(x).detach().numpy())
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    assert b.calls.item() == 7


def test_round_trip_through_save_and_load(tmp_path):
    a, b = Net(), Net()
    path = tmp_path / "net.tt"
    tinytorch.save(a.state_dict(), path)
    b.load_state_dict(tinytorch.load(path))
    x = tinytorch.randn(2, 4)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())


def test_state_dict_shares_memory_and_is_detached():
    m = nn.Linear(2, 2)
    sd = m.state_dict()
    assert not sd["weight"].requires_grad
    sd["weight"].array[0, 0] = 42.0
    assert m.weight.array[0, 0] == 42.0
    assert m.state_dict(keep_vars=True)["weight"] is m.weight


def test_loading_copies_in_place_keeping_parameter_objects():
    m = nn.Linear(2, 2)
    w = m.weight
    new = {"weight": tinytorch.ones(2, 2), "bias": tinytorch.zeros(2)}
    m.load_state_dict(new)
    assert m.weight is w and np.all(w.array == 1)
    new["weight"].array[...] = 5                    # no aliasing with the source
    assert np.all(w.array == 1)


def test_loading_casts_to_the_parameter_dtype():
    m = nn.Linear(2, 2)
    m.load_state_dict({"weight": tinytorch.ones(2, 2, dtype=tinytorch.float64),
                       "bias": tinytorch.zeros(2, dtype=tinytorch.float64)})
    assert m.weight.dtype == np.float32


def test_strict_loading_reports_missing_and_unexpected_keys():
    m = nn.Linear(2, 3)
    with pytest.raises(RuntimeError) as err:
        m.load_state_dict({"weight": tinytorch.zeros(3, 2), "extra": tinytorch.zeros(1)})
    msg = str(err.value)
    assert msg.startswith("Error(s) in loading state_dict for Linear:")
    assert 'Missing key(s) in state_dict: "bias"' in msg
    assert 'Unexpected key(s) in state_dict: "extra"' in msg


def test_non_strict_loading_returns_the_keys_as_a_named_tuple():
    m = nn.Linear(2, 3)
    result = m.load_state_dict({"weight": tinytorch.zeros(3, 2), "extra": tinytorch.ones(1)},
                               strict=False)
    assert result.missing_keys == ["bias"]
    assert result.unexpected_keys == ["extra"]
    missing, unexpected = result
    assert (missing, unexpected) == (["bias"], ["extra"])
    assert not m.weight.array.any()


def test_shape_mismatch_raises_even_when_not_strict():
    m = nn.Linear(2, 3)
    before = m.weight.array.copy()
    for strict in (True, False):
        with pytest.raises(RuntimeError, match=r"size mismatch for weight: copying a param with "
                                               r"shape \(2, 2\) from checkpoint, the shape in "
                                               r"current model is \(3, 2\)"):
            m.load_state_dict({"weight": tinytorch.zeros(2, 2), "bias": tinytorch.zeros(3)},
                              strict=strict)
    np.testing.assert_array_equal(m.weight.array, before)


def test_non_tensor_values_and_non_mappings_are_rejected():
    m = nn.Linear(1, 1)
    with pytest.raises(RuntimeError, match='parameter named "weight"'):
        m.load_state_dict({"weight": [[1.0]], "bias": tinytorch.zeros(1)})
    with pytest.raises(TypeError, match="dict-like"):
        m.load_state_dict([("weight", tinytorch.zeros(1, 1))])


def test_numpy_arrays_are_accepted_as_values():
    m = nn.Linear(1, 1)
    m.load_state_dict({"weight": np.full((1, 1), 3.0), "bias": np.zeros(1)})
    assert m.weight.item() == 3.0


def test_assign_takes_the_checkpoint_arrays():
    m = nn.Linear(1, 2)
    w = tinytorch.ones(2, 1)
    m.load_state_dict({"weight": w, "bias": tinytorch.zeros(2)}, assign=True)
    assert m.weight.array is w.array and isinstance(m.weight, nn.Parameter)


def test_shared_modules_appear_under_every_name_and_load():
    shared = nn.Linear(2, 2)
    m = nn.Sequential(shared, shared)
    sd = m.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    m.load_state_dict({k: tinytorch.ones(*v.shape) for k, v in sd.items()})
    assert np.all(shared.weight.array == 1)


def test_none_parameters_and_buffers_are_skipped():
    m = nn.Linear(2, 2, bias=False)
    assert list(m.state_dict()) == ["weight"]
    m.load_state_dict({"weight": tinytorch.zeros(2, 2)})


def test_loss_weights_are_buffers_in_the_state_dict():
    loss = nn.CrossEntropyLoss(weight=tinytorch.tensor([1.0, 2.0]))
    assert list(loss.state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert list(nn.BCEWithLogitsLoss(pos_weight=tinytorch.ones(3)).state_dict()) == ["pos_weight"]


def test_matches_pytorch_keys_and_loads_pytorch_weights():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.LayerNorm(8),
                                 torch.nn.Linear(8, 3))
    ours = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 3))
    sd = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert list(sd) == list(ours.state_dict())
    ours.load_state_dict(sd)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(ours(tinytorch.tensor(x)).detach().numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
