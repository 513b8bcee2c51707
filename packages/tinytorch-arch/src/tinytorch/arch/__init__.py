"""tinytorch.arch: the Architecture tier — convolutions, pooling, normalization, attention,
transformers and a small model zoo.

Every layer here is also reachable at PyTorch's path when this tier is installed:
``tinytorch.nn.Conv2d``, ``tinytorch.nn.functional.scaled_dot_product_attention``, ... (the nn
tier looks them up lazily, by name, so it never imports this tier).

| file | what it holds |
|---|---|
| conv.py | ``Conv2d`` / ``conv2d``: pad, im2col over strided views, one GEMM, col2im |
| conv_transpose.py | ``ConvTranspose2d`` / ``conv_transpose2d``: GEMM then col2im |
| fold.py | ``Unfold`` / ``Fold`` (``unfold`` / ``fold``): im2col and col2im as ops |
| upsample.py | ``Upsample`` / ``interpolate``: nearest and bilinear, separable matrices |
| pixel_shuffle.py | ``PixelShuffle`` / ``PixelUnshuffle``: channels traded for resolution |
| pooling.py | ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d`` over strided windows |
| adaptive_pooling.py | ``AdaptiveMaxPool2d``: gathered adaptive windows |
| batchnorm.py | ``BatchNorm1d``, ``BatchNorm2d`` with running statistics |
| groupnorm.py | ``GroupNorm``, ``InstanceNorm2d``: per-sample statistics |
| dropout2d.py | ``Dropout2d``: whole channels dropped |
| embedding.py | ``Embedding`` / ``embedding`` |
| positional.py | learned, sinusoidal and rotary position encodings |
| attention.py | ``scaled_dot_product_attention``: one fused op with its own backward |
| multihead_attention.py | ``MultiheadAttention`` with PyTorch's parameter names |
| transformer.py | ``TransformerBlock`` (pre-norm) |
| transformer_encoder.py | ``TransformerEncoderLayer``, ``TransformerEncoder``: PyTorch's encoder |
| gpt.py | ``GPT``, ``GPTConfig`` and ``generate`` |
| kv_cache.py | ``KVCache``: keys and values of earlier positions, kept for generation |
| models/ | the zoo: ``MLP``, ``LeNet5``, ``CifarCNN`` (GPT presets live in gpt.py) |
| _kernels/ | kernels behind conv, pooling, batchnorm, attention; the one-token decode step |
"""

from tinytorch.arch import functional
from tinytorch.arch.adaptive_pooling import AdaptiveMaxPool2d
from tinytorch.arch.attention import scaled_dot_product_attention
from tinytorch.arch.batchnorm import BatchNorm1d, BatchNorm2d
from tinytorch.arch.conv import Conv2d
from tinytorch.arch.conv_transpose import ConvTranspose2d
from tinytorch.arch.dropout2d import Dropout2d
from tinytorch.arch.embedding import Embedding
from tinytorch.arch.fold import Fold, Unfold
from tinytorch.arch.gpt import GPT, GPTConfig, gpt_char_medium, gpt_char_small, gpt_nano
from tinytorch.arch.groupnorm import GroupNorm, InstanceNorm2d
from tinytorch.arch.kv_cache import KVCache
from tinytorch.arch.models import MLP, CifarCNN, LeNet5
from tinytorch.arch.multihead_attention import MultiheadAttention
from tinytorch.arch.pixel_shuffle import PixelShuffle, PixelUnshuffle
from tinytorch.arch.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from tinytorch.arch.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
)
from tinytorch.arch.transformer import TransformerBlock
from tinytorch.arch.transformer_encoder import TransformerEncoder, TransformerEncoderLayer
from tinytorch.arch.upsample import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d

__version__ = "0.2.0"

__all__ = [
    "GPT", "MLP", "AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "CifarCNN",
    "Conv2d", "Dropout2d", "Embedding", "GPTConfig", "LeNet5", "LearnedPositionalEmbedding",
    "MaxPool2d", "MultiheadAttention", "RotaryEmbedding", "SinusoidalPositionalEncoding",
    "TransformerBlock", "functional", "gpt_char_medium", "gpt_char_small", "gpt_nano",
    "scaled_dot_product_attention",
    "AdaptiveMaxPool2d", "ConvTranspose2d", "Fold", "GroupNorm", "InstanceNorm2d",
    "PixelShuffle", "PixelUnshuffle", "TransformerEncoder", "TransformerEncoderLayer", "Unfold",
    "Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d", "KVCache",
]
