"""Unstructured magnitude pruning: which weights go, and that they stay zero while training."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch as tt
from tinytorch import nn
from tinytorch.arch import Conv2d
from tinytorch.nn import functional as F
from tinytorch.perf import is_pruned, prune_magnitude, remove_pruning, sparsity


def small_cnn() -> nn.Module:
    return nn.Sequential(Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 8),
                         nn.ReLU(), nn.Linear(8, 3))


def weights(model: nn.Module) -> list[np.ndarray]:
    return [m.weight.array for m in model.modules() if isinstance(m, (nn.Linear, Conv2d))]


def train_steps(model: nn.Module, optimizer: tt.optim.Optimizer, masks: list[np.ndarray],
                steps: int) -> None:
    """Train, checking right after every ``step()`` (before any forward) that pruned weights
    are exactly +0.0."""
    x, y = tt.randn(16, 1, 6, 6), tt.randint(0, 3, (16,))
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        for w, keep in zip(weights(model), masks):
            assert np.all(w[~keep] == 0) and not np.any(np.signbit(w[~keep]))


@settings(max_examples=30, deadline=None)
@given(amount=st.floats(0.0, 0.99), sizes=st.lists(st.integers(1, 12), min_size=2, max_size=4),
       seed=st.integers(0, 2**16))
def test_global_pruning_removes_the_smallest_weights_across_layers(amount, sizes, seed):
    tt.manual_seed(seed)
    model = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])
    before = np.concatenate([np.abs(w).ravel() for w in weights(model)])
    prune_magnitude(model, amount)
    after = np.concatenate([w.ravel() for w in weights(model)])
    pruned = after == 0
    assert pruned.sum() == round(amount * before.size)
    if pruned.any() and not pruned.all():
        assert before[pruned].max() <= before[~pruned].min()


def test_layer_scope_prunes_each_layer_by_the_same_fraction():
    tt.manual_seed(0)
    model = small_cnn()
    prune_magnitude(model, 0.5, scope="layer")
    report = sparsity(model)
    assert [report[name] for name in report] == [0.5, 0.5, 0.5]


def test_global_scope_ranks_layers_together():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    with tt.no_grad():
        model[0].weight.fill_(0.01)
        model[1].weight.fill_(1.0)
    prune_magnitude(model, 0.5)
    assert sparsity(model)["0"] == 1.0 and sparsity(model)["1"] == 0.0


def test_biases_are_never_pruned():
    tt.manual_seed(0)
    model = small_cnn()
    biases = [m.bias.array.copy() for m in model.modules() if isinstance(m, (nn.Linear, Conv2d))]
    prune_magnitude(model, 0.9)
    now = [m.bias.array for m in model.modules() if isinstance(m, (nn.Linear, Conv2d))]
    assert all(np.array_equal(a, b) for a, b in zip(biases, now))


@pytest.mark.parametrize("make_optimizer", [
    lambda p: tt.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
    lambda p: tt.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda p: tt.optim.Adam(p, lr=0.05),
    lambda p: tt.optim.AdamW(p, lr=0.05, weight_decay=0.1),
], ids=["sgd-momentum", "sgd-nesterov", "adam", "adamw"])
def test_pruned_weights_stay_zero_after_every_optimizer_step(make_optimizer):
    tt.manual_seed(0)
    model = small_cnn()
    prune_magnitude(model, 0.7)
    masks = [w != 0 for w in weights(model)]
    train_steps(model, make_optimizer(model.parameters()), masks, steps=15)
    assert sparsity(model).overall == pytest.approx(0.7, abs=0.01)


@pytest.mark.parametrize("make_optimizer", [
    lambda p: tt.optim.SGD(p, lr=0.1, momentum=0.9),
    lambda p: tt.optim.Adam(p, lr=0.05),
], ids=["sgd-momentum", "adam"])
def test_momentum_gathered_before_pruning_is_cleared_when_the_optimizer_is_given(
        make_optimizer):
    tt.manual_seed(0)
    model = small_cnn()
    optimizer = make_optimizer(model.parameters())
    train_steps(model, optimizer, [np.ones_like(w, dtype=bool) for w in weights(model)], 5)
    prune_magnitude(model, 0.6, optimizer=optimizer)
    masks = [w != 0 for w in weights(model)]
    train_steps(model, optimizer, masks, steps=10)


def test_the_forward_reapplies_the_mask_after_a_direct_write():
    tt.manual_seed(0)
    model = small_cnn()
    dense = copy.deepcopy(model.state_dict())
    prune_magnitude(model, 0.5)
    pruned_out = model(tt.randn(2, 1, 6, 6))
    model.load_state_dict(dense)
    model(tt.randn(2, 1, 6, 6))
    assert sparsity(model).overall == pytest.approx(0.5, abs=0.01)
    assert pruned_out.shape == (2, 3)


def test_a_copy_of_a_pruned_model_keeps_its_zeros_through_training():
    tt.manual_seed(0)
    model = small_cnn()
    prune_magnitude(model, 0.5)
    clone = copy.deepcopy(model)
    masks = [w != 0 for w in weights(clone)]
    train_steps(clone, tt.optim.Adam(clone.parameters(), lr=0.05), masks, steps=5)
    assert all(is_pruned(m) for m in clone.modules() if isinstance(m, (nn.Linear, Conv2d)))


def test_pruning_again_keeps_the_earlier_zeros():
    tt.manual_seed(0)
    model = small_cnn()
    prune_magnitude(model, 0.5)
    first = [w == 0 for w in weights(model)]
    train_steps(model, tt.optim.SGD(model.parameters(), lr=0.1), [~z for z in first], steps=3)
    prune_magnitude(model, 0.8)
    assert sparsity(model).overall == pytest.approx(0.8, abs=0.01)
    assert all(np.all(w[z] == 0) for w, z in zip(weights(model), first))
    prune_magnitude(model, 0.3)
    assert sparsity(model).overall == pytest.approx(0.8, abs=0.01)


def test_state_dict_keys_are_those_of_the_dense_model():
    model = small_cnn()
    keys = list(model.state_dict())
    prune_magnitude(model, 0.5)
    assert list(model.state_dict()) == keys


def test_remove_pruning_keeps_the_zeros_and_drops_masks_and_hooks():
    tt.manual_seed(0)
    model = small_cnn()
    prune_magnitude(model, 0.5)
    remove_pruning(model)
    assert not any(is_pruned(m) for m in model.modules())
    assert not any(hasattr(m, "weight_mask") for m in model.modules())
    assert sparsity(model).overall == pytest.approx(0.5, abs=0.01)
    optimizer = tt.optim.SGD(model.parameters(), lr=0.1)
    x, y = tt.randn(8, 1, 6, 6), tt.randint(0, 3, (8,))
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    assert sparsity(model).overall < 0.4


def test_sparsity_reports_each_layer_and_the_total():
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    with tt.no_grad():
        model[0].weight[:2] = 0.0
    report = sparsity(model)
    assert report.layers["0"].zeros == 8 and report.layers["0"].numel == 20
    assert report["2"] == 0.0
    assert report.overall == pytest.approx(8 / 30)
    text = str(report)
    assert "overall" in text and "40.0%" in text and "26.7%" in text


@pytest.mark.parametrize("amount", [-0.1, 1.0, 1.5, float("nan")])
def test_an_amount_outside_zero_to_one_is_refused_and_the_model_kept(amount):
    model = small_cnn()
    state = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match=r"amount must be in \[0, 1\)"):
        prune_magnitude(model, amount)
    assert not any(is_pruned(m) for m in model.modules())
    assert all(np.array_equal(state[k].array, v.array) for k, v in model.state_dict().items())


def test_amount_and_scope_of_the_wrong_kind_are_refused():
    with pytest.raises(TypeError, match="amount must be a float"):
        prune_magnitude(small_cnn(), "half")
    with pytest.raises(ValueError, match="scope must be 'global' or 'layer'"):
        prune_magnitude(small_cnn(), 0.5, scope="model")


def test_a_model_without_linear_or_conv_is_refused():
    with pytest.raises(ValueError, match="no prunable layer"):
        prune_magnitude(nn.Sequential(nn.ReLU(), nn.LayerNorm(3)), 0.5)
    with pytest.raises(ValueError, match="no prunable layer"):
        sparsity(nn.Sequential(nn.ReLU()))


def test_frozen_weights_are_pruned_without_a_gradient_hook():
    tt.manual_seed(0)
    model = small_cnn()
    model[0].requires_grad_(False)
    prune_magnitude(model, 0.5)
    masks = [w != 0 for w in weights(model)]
    trainable = [p for p in model.parameters() if p.requires_grad]
    train_steps(model, tt.optim.Adam(trainable, lr=0.05), masks, steps=3)


def test_two_forwards_then_one_backward_still_work_on_a_pruned_model():
    tt.manual_seed(0)
    model = small_cnn()
    prune_magnitude(model, 0.5)
    first, second = model(tt.randn(2, 1, 6, 6)), model(tt.randn(2, 1, 6, 6))
    (first.sum() + second.sum()).backward()
    assert all(np.all(m.weight.grad.array[~m.weight_mask.array] == 0)
               for m in model.modules() if isinstance(m, (nn.Linear, Conv2d)))


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_the_masks_match_pytorchs_l1_unstructured_pruning(scope):
    torch = pytest.importorskip("torch")
    from torch.nn.utils import prune as torch_prune

    tt.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 9), nn.ReLU(), nn.Linear(9, 5))
    reference = torch.nn.Sequential(torch.nn.Linear(12, 9), torch.nn.ReLU(),
                                    torch.nn.Linear(9, 5))
    with torch.no_grad():
        for ours, theirs in zip(weights(model), (reference[0].weight, reference[2].weight)):
            theirs.copy_(torch.from_numpy(ours))
    prune_magnitude(model, 0.37, scope=scope)
    if scope == "global":
        torch_prune.global_unstructured([(reference[0], "weight"), (reference[2], "weight")],
                                        pruning_method=torch_prune.L1Unstructured, amount=0.37)
    else:
        for layer in (reference[0], reference[2]):
            torch_prune.l1_unstructured(layer, "weight", amount=0.37)
    for ours, theirs in zip((model[0], model[2]), (reference[0], reference[2])):
        np.testing.assert_array_equal(ours.weight_mask.array, theirs.weight_mask.numpy() == 1)


def test_a_layer_shared_by_two_parents_is_one_set_of_weights_pruned_once():
    shared = nn.Linear(10, 10)
    model = nn.Sequential(nn.Sequential(shared, nn.ReLU()), nn.Sequential(shared, nn.ReLU()))
    prune_magnitude(model, 0.5)
    report = sparsity(model)
    assert list(report) == ["0.0"] and report.overall == 0.5
    assert len(shared._forward_pre_hooks) == 1
