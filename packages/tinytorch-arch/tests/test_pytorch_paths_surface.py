"""The layers and functions added for the next PyTorch surface resolve at PyTorch's paths."""

from __future__ import annotations

import pytest

import tinytorch
import tinytorch.arch
import tinytorch.arch.functional as AF
import tinytorch.nn as nn
import tinytorch.nn.functional as F

LAYERS = ["ConvTranspose2d", "AdaptiveMaxPool2d", "GroupNorm", "InstanceNorm2d", "Upsample",
          "UpsamplingNearest2d", "UpsamplingBilinear2d", "Unfold", "Fold", "PixelShuffle",
          "PixelUnshuffle", "TransformerEncoderLayer", "TransformerEncoder"]
FUNCTIONS = ["conv_transpose2d", "adaptive_max_pool2d", "group_norm", "instance_norm",
             "interpolate", "unfold", "fold", "pixel_shuffle", "pixel_unshuffle"]


@pytest.mark.parametrize("name", LAYERS)
def test_layer_is_reachable_as_tinytorch_nn_name(name):
    assert getattr(nn, name) is getattr(tinytorch.arch, name)
    assert name in dir(nn) and name in tinytorch.arch.__all__


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_is_reachable_as_tinytorch_nn_functional_name(name):
    assert getattr(F, name) is getattr(AF, name)
    assert name in dir(F) and name in AF.__all__


def test_pytorch_style_decoder_builds_from_the_nn_paths():
    decoder = nn.Sequential(nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1),
                            nn.GroupNorm(1, 2), nn.Upsample(scale_factor=2, mode="bilinear"),
                            nn.PixelUnshuffle(2))
    assert tuple(decoder(tinytorch.randn(1, 4, 3, 3)).shape) == (1, 8, 6, 6)
