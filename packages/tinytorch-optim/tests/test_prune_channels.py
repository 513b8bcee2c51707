"""Structured pruning: whole channels go, the next layers shrink, the model really gets smaller."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch as tt
from tinytorch import nn
from tinytorch.arch import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, MaxPool2d
from tinytorch.arch.models import MLP, CifarCNN, LeNet5
from tinytorch.nn import functional as F
from tinytorch.perf import compare_cost, model_cost, prune_channels, prune_magnitude, sparsity


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_mlp_shrinks_to_the_parameters_and_flops_worked_out_by_hand():
    tt.manual_seed(0)
    model = MLP(784, (256, 128), 10)
    pruned = prune_channels(model, 0.5)
    # hidden widths 256 -> 128 and 128 -> 64; the output layer keeps its 10 classes
    params = (784 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10)
    flops_per_sample = 2 * (784 * 128 + 128 * 64 + 64 * 10)
    cost = model_cost(pruned, tt.randn(4, 1, 28, 28), repeats=2, warmup=0)
    assert cost.parameters == n_params(pruned) == params == 109_386
    assert cost.flops == 4 * flops_per_sample
    assert cost.latency_ms > 0
    assert pruned(tt.randn(3, 1, 28, 28)).shape == (3, 10)


def test_milestone_04_cnn_shrinks_through_batchnorm_and_flatten():
    tt.manual_seed(0)
    model = LeNet5(channels=(16, 32), batch_norm=True)
    pruned = prune_channels(model, 0.5)
    conv1, bn1, _, _, conv2, bn2 = list(pruned.features)[:6]
    fc1 = pruned.classifier[1]
    assert (conv1.out_channels, bn1.num_features, conv2.in_channels) == (8, 8, 8)
    assert (conv2.out_channels, bn2.num_features, bn2.running_mean.shape) == (16, 16, (16,))
    assert (fc1.in_features, fc1.weight.shape) == (16 * 5 * 5, (60, 400))
    params = (8 * 25 + 16) + (16 * 8 * 25 + 32) + (400 * 60 + 60) + (60 * 42 + 42) + (42 * 10 + 10)
    flops_per_sample = (2 * 8 * 25 * 28 * 28 + 2 * 16 * 8 * 25 * 10 * 10
                        + 2 * (400 * 60 + 60 * 42 + 42 * 10))
    report = compare_cost(model, pruned, tt.randn(2, 1, 28, 28), repeats=2, warmup=0)
    assert report.before.parameters == 120_430 and report.after.parameters == params
    assert report.before.flops == 2 * 3_401_040 and report.after.flops == 2 * flops_per_sample
    assert report.parameter_ratio == pytest.approx(params / 120_430)
    assert "parameters" in str(report) and "latency" in str(report)


def test_cifar_cnn_runs_after_pruning():
    tt.manual_seed(0)
    pruned = prune_channels(CifarCNN(), 0.25)
    assert pruned.classifier[2].in_features == 96 * 4 * 4
    assert pruned(tt.randn(2, 3, 32, 32)).shape == (2, 10)


def test_removing_dead_channels_leaves_the_output_unchanged():
    """Channels whose weights, bias and BatchNorm shift are zero contribute nothing, so they
    are the ones removed, and the output stays the same: this checks that the right rows,
    BatchNorm entries and flattened columns go together."""
    tt.manual_seed(0)
    model = nn.Sequential(Conv2d(2, 6, 3, padding=1), BatchNorm2d(6), nn.ReLU(), MaxPool2d(2),
                          nn.Flatten(), nn.Linear(6 * 3 * 3, 5), nn.ReLU(), nn.Linear(5, 2))
    model.eval()
    dead = [1, 4, 5]
    with tt.no_grad():
        model[0].weight[dead] = 0.0
        model[0].bias[dead] = 0.0
        model[1].bias[dead] = 0.0
        model[1].running_mean.array[dead] = 0.0
        model[1].running_var.array[:] = np.array([1, 2, 3, 4, 5, 6], np.float32)
        model[5].weight[[1, 3]] = 0.0
        model[5].bias[[1, 3]] = 0.0
    x = tt.randn(4, 2, 6, 6)
    pruned = prune_channels(model, 0.5)
    assert pruned[0].out_channels == 3 and pruned[5].out_features == 3
    np.testing.assert_array_equal(pruned[1].running_var.array, [1, 3, 4])
    np.testing.assert_allclose(pruned(x).array, model(x).array, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("norm, dropped", [("l1", 1), ("l2", 0)])
def test_channels_are_ranked_by_the_chosen_norm(norm, dropped):
    model = nn.Sequential(nn.Linear(4, 2, bias=False), nn.Linear(2, 1))
    with tt.no_grad():
        model[0].weight.copy_(tt.tensor([[1.0, 1.0, 1.0, 1.0],     # L1 4, L2 2
                                         [2.5, 0.0, 0.0, 0.0]]))   # L1 2.5, L2 2.5
    pruned = prune_channels(model, 0.5, norm=norm)
    kept = 1 - dropped
    np.testing.assert_array_equal(pruned[0].weight.array, model[0].weight.array[[kept]])
    np.testing.assert_array_equal(pruned[1].weight.array, model[1].weight.array[:, [kept]])


@settings(max_examples=25, deadline=None)
@given(amount=st.floats(0.0, 0.99), widths=st.lists(st.integers(1, 9), min_size=1,
                                                   max_size=3))
def test_each_hidden_layer_loses_floor_amount_of_its_channels(amount, widths):
    model = MLP(6, widths, 3)
    pruned = prune_channels(model, amount)
    linears = [m for m in pruned.modules() if isinstance(m, nn.Linear)]
    expected = [max(w - int(amount * w), 1) for w in widths] + [3]
    assert [m.out_features for m in linears] == expected
    assert [m.in_features for m in linears] == [6] + expected[:-1]
    assert pruned(tt.randn(2, 6)).shape == (2, 3)


def test_the_original_model_is_untouched():
    tt.manual_seed(0)
    model = LeNet5(batch_norm=True)
    state = copy.deepcopy(model.state_dict())
    text = repr(model)
    prune_channels(model, 0.5)
    assert repr(model) == text
    assert all(np.array_equal(state[k].array, v.array) for k, v in model.state_dict().items())


def test_the_pruned_model_trains_and_keeps_magnitude_masks():
    tt.manual_seed(0)
    model = MLP(8, (16,), 3)
    prune_magnitude(model, 0.5)
    pruned = prune_channels(model, 0.5)
    assert pruned.layers[1].weight_mask.shape == (8, 8)
    assert pruned.layers[3].weight_mask.shape == (3, 8)
    optimizer = tt.optim.Adam(pruned.parameters(), lr=0.05)
    x, y = tt.randn(16, 8), tt.randint(0, 3, (16,))
    before = sparsity(pruned).overall
    for _ in range(5):
        optimizer.zero_grad()
        F.cross_entropy(pruned(x), y).backward()
        optimizer.step()
    assert sparsity(pruned).overall == before > 0.3


def test_a_layer_shared_by_two_parents_is_refused_naming_both_paths():
    shared = nn.Linear(8, 8)
    model = nn.Sequential(nn.Sequential(shared, nn.ReLU()),
                          nn.Sequential(shared, nn.ReLU(), nn.Linear(8, 2)))
    state = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match=r"'0\.0'.*'1\.0'.*shared by two parents"):
        prune_channels(model, 0.5)
    assert shared.out_features == 8
    assert all(np.array_equal(state[k].array, v.array) for k, v in model.state_dict().items())


def test_a_model_without_prunable_channels_is_refused():
    with pytest.raises(ValueError, match="no prunable layer"):
        prune_channels(nn.Sequential(nn.ReLU()), 0.5)
    with pytest.raises(ValueError, match="no layer whose channels can be removed"):
        prune_channels(nn.Sequential(nn.Linear(4, 2), nn.ReLU()), 0.5)


@pytest.mark.parametrize("amount", [-0.5, 1.0, 2])
def test_an_amount_outside_zero_to_one_is_refused(amount):
    with pytest.raises(ValueError, match=r"amount must be in \[0, 1\)"):
        prune_channels(MLP(4, (4,), 2), amount)


def test_layers_that_do_not_run_in_registration_order_are_reported():
    model = nn.Sequential(nn.Linear(4, 6), nn.Linear(5, 2))
    with pytest.raises(ValueError, match=r"'1' \(Linear\) takes 5 input features, but '0' "
                                         r"gives 6 channels"):
        prune_channels(model, 0.5)


def test_an_unknown_module_ends_the_chain_and_leaves_the_layer_before_it_whole():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 6), nn.LayerNorm(6),
                          nn.Linear(6, 2))
    pruned = prune_channels(model, 0.5)
    assert [m.weight.shape for m in pruned if isinstance(m, nn.Linear)] == [
        (4, 4), (6, 4), (2, 6)]
    assert pruned(tt.randn(3, 4)).shape == (3, 2)


def test_a_grouped_convolution_is_neither_pruned_nor_shrunk():
    model = nn.Sequential(Conv2d(2, 4, 3), nn.ReLU(), Conv2d(4, 4, 3, groups=4), nn.ReLU(),
                          Conv2d(4, 6, 1), nn.ReLU(), Conv2d(6, 2, 1))
    pruned = prune_channels(model, 0.5)
    assert [m.weight.shape for m in pruned if isinstance(m, Conv2d)] == [
        (4, 2, 3, 3), (4, 1, 3, 3), (3, 4, 1, 1), (2, 3, 1, 1)]
    assert pruned(tt.randn(1, 2, 7, 7)).shape == (1, 2, 3, 3)


def test_global_average_pooling_before_flatten_maps_one_feature_per_channel():
    tt.manual_seed(0)
    model = nn.Sequential(Conv2d(3, 8, 3), nn.ReLU(), AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 4))
    pruned = prune_channels(model, 0.25)
    assert pruned[4].weight.shape == (4, 6)
    assert pruned(tt.randn(2, 3, 9, 9)).shape == (2, 4)


class _ScaledBlock(nn.Module):
    """A module with a weight of its own around a child: its forward is not a chain."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(tt.ones(6))
        self.inner = nn.Linear(6, 6)

    def forward(self, x: tt.Tensor) -> tt.Tensor:
        return self.inner(x * self.scale)


def test_a_module_with_weights_of_its_own_ends_the_chain():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), _ScaledBlock(), nn.ReLU(), nn.Linear(6, 2))
    pruned = prune_channels(model, 0.5)
    assert pruned[0].out_features == 6 and pruned[2].scale.shape == (6,)
    assert pruned[2].inner.out_features == 3 and pruned[4].in_features == 3
    assert pruned(tt.randn(2, 4)).shape == (2, 2)


def test_the_feed_forward_blocks_of_a_gpt_shrink_and_it_still_runs():
    from tinytorch.arch import GPT, gpt_nano

    tt.manual_seed(0)
    model = GPT(gpt_nano())
    pruned = prune_channels(model, 0.5)
    assert all(block.mlp.fc.out_features == model.blocks[0].mlp.fc.out_features // 2
               for block in pruned.blocks)
    assert pruned.blocks[0].attn.out_proj.out_features == model.config.n_embd
    idx = tt.randint(0, model.config.vocab_size, (2, 8))
    out = pruned(idx)
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.shape == (2, 8, model.config.vocab_size)


def test_a_batchnorm1d_after_a_linear_shrinks_with_it():
    from tinytorch.arch import BatchNorm1d

    tt.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    model(tt.randn(16, 4))
    pruned = prune_channels(model, 0.5)
    keep = np.sort(np.argsort(np.abs(model[0].weight.array).sum(1), kind="stable")[4:])
    np.testing.assert_array_equal(pruned[1].running_mean.array, model[1].running_mean.array[keep])
    np.testing.assert_array_equal(pruned[1].weight.array, model[1].weight.array[keep])
    assert pruned[1].num_features == 4 and pruned[3].in_features == 4
    assert pruned(tt.randn(5, 4)).shape == (5, 2)
