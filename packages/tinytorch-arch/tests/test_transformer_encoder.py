"""nn.TransformerEncoderLayer / nn.TransformerEncoder: PyTorch's parameter names, a hand-worked
case, gradcheck, and PyTorch state dicts giving PyTorch's outputs."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch.arch.transformer_encoder import TransformerEncoder, TransformerEncoderLayer
from tinytorch.nn import LayerNorm

NAMES = ["linear1.bias", "linear1.weight", "linear2.bias", "linear2.weight", "norm1.bias",
         "norm1.weight", "norm2.bias", "norm2.weight", "self_attn.in_proj_bias",
         "self_attn.in_proj_weight", "self_attn.out_proj.bias", "self_attn.out_proj.weight"]


def t64(a, grad=False):
    return tinytorch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def test_layer_has_pytorch_parameter_names_and_shapes():
    layer = TransformerEncoderLayer(8, 2, dim_feedforward=16)
    state = layer.state_dict()
    assert sorted(state) == NAMES
    assert tuple(state["self_attn.in_proj_weight"].shape) == (24, 8)
    assert tuple(state["linear1.weight"].shape) == (16, 8)
    assert TransformerEncoderLayer(8, 2).linear1.out_features == 2048


def test_with_zero_weights_post_norm_layer_is_two_layer_norms_of_the_input():
    layer = TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0, layer_norm_eps=0.0,
                                    dtype=tinytorch.float64)
    for name, p in layer.named_parameters():
        if not name.startswith("norm"):
            p.array[...] = 0.0
    x = t64([[[1.0, 2.0, 3.0, 4.0]]])
    # attention and feed-forward both output 0, so out = LN(LN(x)) = LN(x)
    expected = (np.array([1, 2, 3, 4]) - 2.5) / np.sqrt(1.25)
    np.testing.assert_allclose(layer(x).detach().numpy().ravel(), expected, atol=1e-12)


def test_encoder_stacks_independent_copies_named_layers_i():
    layer = TransformerEncoderLayer(8, 2, dim_feedforward=16)
    encoder = TransformerEncoder(layer, 3, norm=LayerNorm(8))
    names = encoder.state_dict()
    assert "layers.2.self_attn.out_proj.weight" in names and "norm.weight" in names
    assert encoder.layers[0].linear1.weight is not encoder.layers[1].linear1.weight
    assert len(names) == 3 * len(NAMES) + 2


@pytest.mark.parametrize("norm_first", [False, True])
def test_layer_passes_gradcheck_with_masks(norm_first):
    tinytorch.manual_seed(0)
    layer = TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0, activation="gelu",
                                    batch_first=True, norm_first=norm_first,
                                    dtype=tinytorch.float64)
    x = t64(np.random.default_rng(0).standard_normal((2, 3, 4)), True)
    kpm = tinytorch.tensor([[False, False, True], [False, False, False]])
    assert tinytorch.gradcheck(
        lambda a: layer(a, src_key_padding_mask=kpm, is_causal=True), (x,))


def test_activation_may_be_a_callable_and_a_bad_name_raises():
    layer = TransformerEncoderLayer(4, 1, 8, activation=lambda t: t * 0.0, dropout=0.0)
    x = tinytorch.randn(3, 2, 4)
    assert tuple(layer(x).shape) == (3, 2, 4)
    with pytest.raises(RuntimeError, match="relu/gelu"):
        TransformerEncoderLayer(4, 1, activation="tanh")


def _copy_state(theirs, ours):
    ours.load_state_dict({k: t64(v.detach().numpy()) for k, v in theirs.state_dict().items()})


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_layer_loads_a_pytorch_state_dict_and_gives_its_outputs(batch_first, norm_first,
                                                                activation):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.TransformerEncoderLayer(8, 2, 16, activation=activation,
                                              batch_first=batch_first, norm_first=norm_first,
                                              dtype=torch.float64).eval()
    ours = TransformerEncoderLayer(8, 2, 16, activation=activation, batch_first=batch_first,
                                   norm_first=norm_first, dtype=tinytorch.float64).eval()
    _copy_state(theirs, ours)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 8) if batch_first else (5, 3, 8))   # N=3, S=5
    mask = np.triu(np.ones((5, 5), bool), 1)
    kpm = np.zeros((3, 5), bool)
    kpm[0, -2:] = True
    for kwargs in ({}, {"src_mask": mask}, {"src_key_padding_mask": kpm},
                   {"src_mask": mask, "src_key_padding_mask": kpm}):
        y = ours(t64(x), **{k: tinytorch.tensor(v) for k, v in kwargs.items()})
        ty = theirs(torch.tensor(x), **{k: torch.tensor(v) for k, v in kwargs.items()})
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), atol=1e-10)


def test_encoder_loads_a_pytorch_state_dict_and_gives_its_outputs():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, dtype=torch.float64)
    theirs = torch.nn.TransformerEncoder(layer, 3, norm=torch.nn.LayerNorm(8, dtype=torch.float64),
                                         enable_nested_tensor=False).eval()
    ours = TransformerEncoder(TransformerEncoderLayer(8, 2, 16, batch_first=True,
                                                      dtype=tinytorch.float64), 3,
                              norm=LayerNorm(8, dtype=tinytorch.float64)).eval()
    _copy_state(theirs, ours)
    x = np.random.default_rng(2).standard_normal((2, 5, 8))
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    y = ours(t64(x), mask=t64(mask.numpy()), is_causal=True)
    ty = theirs(torch.tensor(x), mask=mask, is_causal=True)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), atol=1e-10)
