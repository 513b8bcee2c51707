"""Layers: Linear, Identity, Flatten, Unflatten, Dropout, LayerNorm, RMSNorm."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
import tinytorch.nn as nn


def _f64(*shape, seed=0, requires_grad=True):
    a = np.random.default_rng(seed).standard_normal(shape)
    return tinytorch.tensor(a, dtype=tinytorch.float64, requires_grad=requires_grad)


# ---------------------------------------------------------------------------- Linear
def _hand_linear():
    m = nn.Linear(2, 3)
    m.load_state_dict({"weight": tinytorch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
                       "bias": tinytorch.tensor([0.5, -1.0, 0.0])})
    return m


def test_linear_forward_matches_hand_computation():
    y = _hand_linear()(tinytorch.tensor([[1.0, -1.0], [2.0, 0.5]]))
    np.testing.assert_allclose(y.detach().numpy(), [[-0.5, -2.0, -1.0], [3.5, 7.0, 13.0]])


def test_linear_backward_matches_hand_computation():
    m = _hand_linear()
    x = tinytorch.tensor([[1.0, -1.0], [2.0, 0.5]], requires_grad=True)
    m(x).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), [[3.0, -0.5]] * 3)
    np.testing.assert_allclose(m.bias.grad.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), [[9.0, 12.0], [9.0, 12.0]])


def test_linear_weight_layout_and_default_init_bounds():
    tinytorch.manual_seed(0)
    m = nn.Linear(100, 50)
    assert m.weight.shape == (50, 100) and m.bias.shape == (50,)
    assert m.weight.dtype == np.float32
    w, b = m.weight.array, m.bias.array
    assert np.abs(w).max() <= 0.1 and np.abs(b).max() <= 0.1
    assert abs(w.std() - 0.1 / np.sqrt(3)) < 0.003          # U(-1/√in, 1/√in)
    assert abs(w.mean()) < 0.003


def test_linear_default_init_is_reproducible_with_manual_seed():
    tinytorch.manual_seed(3)
    a = nn.Linear(4, 4)
    tinytorch.manual_seed(3)
    b = nn.Linear(4, 4)
    np.testing.assert_array_equal(a.weight.array, b.weight.array)


def test_linear_on_batched_sequences_and_vectors():
    m = nn.Linear(4, 3)
    assert m(tinytorch.randn(2, 5, 4)).shape == (2, 5, 3)
    assert m(tinytorch.randn(4)).shape == (3,)
    assert nn.Linear(4, 3, bias=False)(tinytorch.randn(6, 4)).shape == (6, 3)


def test_linear_gradcheck_with_leading_dims():
    m = nn.Linear(3, 2).double()
    x = _f64(2, 2, 3)
    assert tinytorch.gradcheck(lambda x, w, b: nn.functional.linear(x, w, b),
                               (x, m.weight, m.bias))


def test_linear_shape_and_dtype_errors_name_the_shapes():
    m = nn.Linear(4, 3)
    with pytest.raises(RuntimeError, match=r"\(2x3 and 4x3\)"):
        m(tinytorch.randn(2, 3))
    with pytest.raises(RuntimeError, match="same dtype"):
        m(tinytorch.randn(2, 4, dtype=tinytorch.float64))


def test_linear_repr_and_device_argument():
    assert repr(nn.Linear(3, 2, bias=False)) == "Linear(in_features=3, out_features=2, bias=False)"
    assert nn.Linear(2, 2, device="cpu", dtype=tinytorch.float64).weight.dtype == np.float64
    with pytest.raises(RuntimeError, match="CPU only"):
        nn.Linear(2, 2, device="cuda")


def test_identity_passes_input_through_and_ignores_arguments():
    x = tinytorch.randn(3)
    assert nn.Identity(54, unused="x")(x) is x


# ---------------------------------------------------------------------------- Flatten
def test_flatten_default_keeps_batch_dimension_and_backprops():
    x = tinytorch.randn(2, 3, 4, 5, requires_grad=True)
    y = nn.Flatten()(x)
    assert y.shape == (2, 60)
    y.sum().backward()
    assert x.grad.shape == (2, 3, 4, 5)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Flatten(start_dim=2)(x).shape == (2, 3, 20)


def test_unflatten_splits_a_dimension_and_infers_minus_one():
    x = tinytorch.arange(20).reshape(2, 10)
    y = nn.Unflatten(1, (2, 5))(x)
    assert y.shape == (2, 2, 5)
    np.testing.assert_array_equal(y.numpy()[1, 1], [15, 16, 17, 18, 19])
    assert nn.Unflatten(-1, (5, -1))(x).shape == (2, 5, 2)
    with pytest.raises(RuntimeError, match="don't multiply up"):
        nn.Unflatten(1, (3, 3))(x)
    with pytest.raises(TypeError, match="tuple of ints"):
        nn.Unflatten(1, 5)
    assert repr(nn.Unflatten(1, (2, 5))) == "Unflatten(dim=1, unflattened_size=(2, 5))"


# ---------------------------------------------------------------------------- Dropout
def test_dropout_zeroes_about_p_and_scales_survivors():
    tinytorch.manual_seed(0)
    x = tinytorch.ones(200, 500)
    y = nn.Dropout(0.3)(x).numpy()
    assert abs((y == 0).mean() - 0.3) < 0.01
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7], rtol=1e-6)
    assert y.dtype == np.float32


def test_dropout_gradient_is_the_same_scaled_mask():
    x = tinytorch.randn(50, 40, requires_grad=True)
    y = nn.Dropout(0.5)(x)
    y.sum().backward()
    mask = y.detach().numpy() / x.detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), mask, rtol=1e-5)


def test_dropout_is_identity_in_eval_and_for_p_zero():
    x = tinytorch.randn(4, 4)
    assert nn.Dropout(0.5).eval()(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert not nn.Dropout(1.0)(x).numpy().any()


def test_dropout_mask_is_reproducible_with_manual_seed():
    x = tinytorch.ones(10, 10)
    tinytorch.manual_seed(5)
    a = nn.Dropout()(x).numpy()
    tinytorch.manual_seed(5)
    np.testing.assert_array_equal(a, nn.Dropout()(x).numpy())


def test_dropout_rejects_bad_probability_and_works_in_place():
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    x = tinytorch.ones(100)
    out = nn.Dropout(0.5, inplace=True)(x)
    assert out is x and (x.numpy() == 0).any()


# ---------------------------------------------------------------------------- LayerNorm
def test_layer_norm_matches_hand_computation():
    ln = nn.LayerNorm(4)
    ln.load_state_dict({"weight": tinytorch.tensor([1.0, 2.0, 1.0, 1.0]),
                        "bias": tinytorch.tensor([0.0, 0.0, 1.0, 0.0])})
    y = ln(tinytorch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    z = np.array([-3, -1, 1, 3]) / 2 / np.sqrt(1.25 + 1e-5)   # (x - 2.5) / sqrt(var + eps)
    np.testing.assert_allclose(y.detach().numpy()[0], z * [1, 2, 1, 1] + [0, 0, 1, 0],
                               rtol=1e-6)


def test_layer_norm_output_has_zero_mean_unit_variance_per_row():
    y = nn.LayerNorm(64)(tinytorch.randn(8, 64) * 5 + 3).detach().numpy()
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=1), 1, atol=1e-3)


def test_layer_norm_gradcheck_with_affine_over_two_dims():
    x, w, b = _f64(3, 2, 4), _f64(2, 4, seed=1), _f64(2, 4, seed=2)
    assert tinytorch.gradcheck(lambda x, w, b: nn.functional.layer_norm(x, (2, 4), w, b),
                               (x, w, b))
    assert tinytorch.gradcheck(lambda x: nn.functional.layer_norm(x, 4), (_f64(3, 4),))


def test_layer_norm_options_and_errors():
    ln = nn.LayerNorm([2, 3], elementwise_affine=False)
    assert ln.weight is None and ln.bias is None and ln.num_parameters() == 0
    assert nn.LayerNorm(5, bias=False).num_parameters() == 5
    with pytest.raises(RuntimeError, match=r"expected input with shape \[\*, 4\], but got "
                                           r"input of size\[2, 3\]"):
        nn.LayerNorm(4)(tinytorch.randn(2, 3))


def test_layer_norm_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    theirs = torch.nn.LayerNorm(6)
    ours = nn.LayerNorm(6)
    np.testing.assert_allclose(ours(tinytorch.tensor(x)).detach().numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), atol=1e-6)


# ---------------------------------------------------------------------------- RMSNorm
def test_rms_norm_matches_hand_computation():
    y = nn.RMSNorm(2)(tinytorch.tensor([[3.0, 4.0]]))
    eps = np.finfo(np.float32).eps
    np.testing.assert_allclose(y.detach().numpy(), [[3, 4] / np.sqrt(12.5 + eps)], rtol=1e-6)
    y = nn.RMSNorm(2, eps=0.5, elementwise_affine=False)(tinytorch.tensor([[3.0, 4.0]]))
    np.testing.assert_allclose(y.numpy(), [[3, 4] / np.sqrt(13.0)], rtol=1e-6)


def test_rms_norm_gradcheck():
    x, w = _f64(3, 5), _f64(5, seed=4)
    assert tinytorch.gradcheck(lambda x, w: nn.functional.rms_norm(x, 5, w, eps=1e-6), (x, w))
    assert tinytorch.gradcheck(lambda x: nn.functional.rms_norm(x, (5,)), (x,))


def test_norm_reprs_match_pytorch():
    assert repr(nn.RMSNorm(4)) == "RMSNorm((4,), eps=None, elementwise_affine=True)"
    assert repr(nn.LayerNorm((2, 3), eps=1e-6)) == (
        "LayerNorm((2, 3), eps=1e-06, elementwise_affine=True, bias=True)")
