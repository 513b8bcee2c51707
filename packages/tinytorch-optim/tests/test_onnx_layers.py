"""Every layer and tensor op the exporter covers, exported and run in onnxruntime.

Each case is exported at opsets 17, 18 and 21, must pass ``onnx.checker`` with
``full_check=True`` (export runs it) and must give TinyTorch's output in onnxruntime within
``verify``'s float32 tolerances.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

pytest.importorskip("onnx", reason="needs onnx: pip install tinytorch-optim[onnxruntime]")
pytest.importorskip("onnxruntime",
                    reason="needs onnxruntime: pip install tinytorch-optim[onnxruntime]")

import tinytorch
import tinytorch.nn as nn
import tinytorch.nn.functional as F
from tinytorch.onnx import export, verify

OPSETS = (17, 18, 21)


class Fn(nn.Module):
    """A module around a function of its inputs, to export single tensor ops."""

    def __init__(self, fn: Callable[..., tinytorch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: tinytorch.Tensor) -> tinytorch.Tensor:
        return self.fn(*xs)


def randn(*shape: int) -> Callable[[], tinytorch.Tensor]:
    return lambda: tinytorch.randn(*shape)


def images(c: int = 3, side: int = 8, n: int = 2) -> Callable[[], tinytorch.Tensor]:
    return randn(n, c, side, side)


def _bn(cls: type, c: int) -> nn.Module:
    bn = cls(c)
    bn.running_mean.array[:] = np.linspace(-0.5, 0.5, c, dtype=np.float32)
    bn.running_var.array[:] = np.linspace(0.5, 2.0, c, dtype=np.float32)
    bn.weight.array[:] = np.linspace(0.8, 1.2, c, dtype=np.float32)
    bn.bias.array[:] = np.linspace(-0.1, 0.1, c, dtype=np.float32)
    return bn


LAYERS: dict[str, tuple[Callable[[], nn.Module], Callable[[], tinytorch.Tensor]]] = {
    "linear": (lambda: nn.Linear(6, 4), randn(3, 6)),
    "linear-3d-input": (lambda: nn.Linear(6, 4), randn(2, 3, 6)),
    "linear-no-bias": (lambda: nn.Linear(6, 4, bias=False), randn(2, 3, 6)),
    "flatten": (lambda: nn.Flatten(), images()),
    "unflatten": (lambda: nn.Unflatten(1, (2, 3)), randn(4, 6)),
    "dropout": (lambda: nn.Dropout(0.5), randn(3, 5)),
    "identity": (lambda: nn.Sequential(nn.Identity(), nn.ReLU()), randn(3, 5)),
    "relu": (lambda: nn.ReLU(), randn(3, 5)),
    "gelu": (lambda: nn.GELU(), randn(3, 5)),
    "gelu-tanh": (lambda: nn.GELU(approximate="tanh"), randn(3, 5)),
    "silu": (lambda: nn.SiLU(), randn(3, 5)),
    "sigmoid": (lambda: nn.Sigmoid(), randn(3, 5)),
    "tanh": (lambda: nn.Tanh(), randn(3, 5)),
    "leaky-relu": (lambda: nn.LeakyReLU(0.2), randn(3, 5)),
    "softmax": (lambda: nn.Softmax(dim=1), randn(3, 5)),
    "log-softmax": (lambda: nn.LogSoftmax(dim=-1), randn(3, 5)),
    "elu": (lambda: nn.ELU(0.7), randn(3, 5)),
    "softplus": (lambda: nn.Softplus(beta=2.0, threshold=1.0), randn(3, 5)),
    "hardtanh": (lambda: nn.Hardtanh(-0.5, 0.5), randn(3, 5)),
    "mish": (lambda: nn.Mish(), randn(3, 5)),
    "prelu": (lambda: nn.PReLU(3), images()),
    "prelu-shared": (lambda: nn.PReLU(), randn(3, 5)),
    "layer-norm": (lambda: nn.LayerNorm(5), randn(2, 3, 5)),
    "layer-norm-2d-shape": (lambda: nn.LayerNorm((3, 5)), randn(2, 3, 5)),
    "rms-norm": (lambda: nn.RMSNorm(5), randn(2, 3, 5)),
    "batch-norm-1d": (lambda: _bn(nn.BatchNorm1d, 5), randn(4, 5)),
    "batch-norm-2d": (lambda: _bn(nn.BatchNorm2d, 3), images()),
    "conv": (lambda: nn.Conv2d(3, 4, 3), images()),
    "conv-stride-pad": (lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), images()),
    "conv-dilation": (lambda: nn.Conv2d(3, 4, 3, dilation=2, padding=2), images()),
    "conv-groups": (lambda: nn.Conv2d(4, 6, 3, groups=2, bias=False), images(4)),
    "conv-depthwise": (lambda: nn.Conv2d(3, 3, 3, groups=3, padding=1), images()),
    "conv-same": (lambda: nn.Conv2d(3, 4, 4, padding="same"), images()),
    "conv-valid": (lambda: nn.Conv2d(3, 4, 3, padding="valid"), images()),
    "conv-reflect": (lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), images()),
    "conv-replicate": (lambda: nn.Conv2d(3, 4, 3, padding=2, padding_mode="replicate"),
                       images()),
    "conv-circular": (lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="circular"),
                      images()),
    "conv-unbatched": (lambda: nn.Conv2d(3, 4, 3, padding=1), randn(3, 8, 8)),
    "max-pool": (lambda: nn.MaxPool2d(2), images()),
    "max-pool-pad-stride": (lambda: nn.MaxPool2d(3, stride=2, padding=1), images(side=9)),
    "max-pool-ceil": (lambda: nn.MaxPool2d(3, stride=2, ceil_mode=True), images(side=8)),
    "max-pool-dilation": (lambda: nn.MaxPool2d(2, dilation=2), images()),
    "avg-pool": (lambda: nn.AvgPool2d(2), images()),
    "avg-pool-pad": (lambda: nn.AvgPool2d(3, stride=2, padding=1), images(side=9)),
    "avg-pool-exclude-pad": (lambda: nn.AvgPool2d(3, stride=2, padding=1,
                                                  count_include_pad=False), images(side=9)),
    "avg-pool-ceil": (lambda: nn.AvgPool2d(3, stride=2, ceil_mode=True), images(side=8)),
    "adaptive-avg-pool-1x1": (lambda: nn.AdaptiveAvgPool2d(1), images()),
    "adaptive-avg-pool-divisible": (lambda: nn.AdaptiveAvgPool2d((2, 4)), images()),
    "adaptive-max-pool-1x1": (lambda: nn.AdaptiveMaxPool2d(1), images()),
    "adaptive-max-pool-divisible": (lambda: nn.AdaptiveMaxPool2d(4), images()),
    "embedding": (lambda: nn.Embedding(10, 4), lambda: tinytorch.randint(0, 10, (2, 5))),
    "conv-transpose": (lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1,
                                                  output_padding=1), images(side=5)),
    "conv-transpose-groups": (lambda: nn.ConvTranspose2d(4, 4, 2, stride=2, groups=2),
                              images(4, side=5)),
    "upsample-nearest": (lambda: nn.Upsample(scale_factor=2), images(side=4)),
    "upsample-bilinear": (lambda: nn.Upsample(size=(7, 5), mode="bilinear",
                                              align_corners=False), images(side=4)),
    "pixel-shuffle": (lambda: nn.PixelShuffle(2), images(8, side=3)),
    "group-norm": (lambda: nn.GroupNorm(2, 4), images(4)),
    "instance-norm": (lambda: nn.InstanceNorm2d(3, affine=True), images()),
    "dropout2d": (lambda: nn.Dropout2d(0.3), images()),
    "unfold": (lambda: nn.Unfold(3, padding=1, stride=2), images(side=7)),
    "unfold-dilation": (lambda: nn.Unfold((2, 3), dilation=2), images(2, side=9)),
    "fold": (lambda: nn.Fold((7, 7), 3, padding=1, stride=2), randn(2, 27, 16)),
    "fold-uncovered-edge": (lambda: nn.Fold((8, 8), 3, stride=2), randn(1, 9, 9)),
}

OPS: dict[str, tuple[Callable[..., tinytorch.Tensor], list[Callable[[], tinytorch.Tensor]]]] = {
    "add-sub-mul-div": (lambda x, y: (x + y) * (x - y) / (y.abs() + 1.0), [randn(3, 4)] * 2),
    "broadcasting": (lambda x, y: x * y + 2, [randn(2, 3, 4), randn(4)]),
    "pow-neg": (lambda x: -(x ** 2) + x.abs() ** 1.5, [randn(3, 4)]),
    "matmul": (lambda x, y: x @ y, [randn(3, 4), randn(4, 5)]),
    "batched-matmul": (lambda x, y: x @ y, [randn(2, 3, 4), randn(2, 4, 5)]),
    "broadcast-matmul": (lambda x, y: x @ y, [randn(2, 3, 4), randn(4, 5)]),
    "reshape-view": (lambda x: x.reshape(2, -1).view(4, 6), [randn(2, 3, 4)]),
    "flatten-unflatten": (lambda x: x.flatten(1).view(2, 4, 3), [randn(2, 3, 4)]),
    "transpose-permute": (lambda x: x.transpose(0, 1).permute(2, 0, 1), [randn(2, 3, 4)]),
    "squeeze-unsqueeze": (lambda x: x.unsqueeze(1).squeeze(2), [randn(3, 1, 4)]),
    "cat-stack": (lambda x, y: tinytorch.stack([tinytorch.cat([x, y], dim=1), x.repeat(1, 2)]),
                  [randn(2, 3)] * 2),
    "split-chunk": (lambda x: x.split(2, dim=1)[1] + x.chunk(3, dim=1)[2], [randn(2, 6)]),
    "slicing": (lambda x: x[:, 1:3, ::2] + x[-1, None, :2, 1::2], [randn(2, 4, 6)]),
    "int-index": (lambda x: x[:, -1] * x[0, 1], [randn(3, 4, 5)]),
    "gather-index": (lambda x: x[:, tinytorch.tensor([2, 0, 2])], [randn(3, 4)]),
    "sum-mean": (lambda x: x.sum(1) + x.mean(dim=(0, 2), keepdim=True).sum(), [randn(2, 3, 4)]),
    "max-min": (lambda x: x.max(1).values - x.min(dim=0, keepdim=True).values.sum() + x.max(),
                [randn(3, 4)]),
    "var-std": (lambda x: x.var(1) + x.std(dim=1, unbiased=False), [randn(3, 5)]),
    "where": (lambda x, y: tinytorch.where(tinytorch.tensor([True, False, True, False]), x, y),
              [randn(3, 4)] * 2),
    "masked-fill": (lambda x: x.masked_fill(tinytorch.tensor([[True], [False]]), -1.0),
                    [randn(2, 4)]),
    "softmax-log-softmax": (lambda x: F.softmax(x, dim=0) + F.log_softmax(x, dim=1),
                            [randn(3, 4)]),
    "exp-log-sqrt": (lambda x: x.exp().log() + (x * x + 1).sqrt(), [randn(3, 4)]),
    "tanh-sigmoid-relu": (lambda x: x.tanh() + x.sigmoid() + x.relu(), [randn(3, 4)]),
    "clamp": (lambda x: x.clamp(-0.5, 0.5) + x.clamp(min=0.1), [randn(3, 4)]),
    "cast": (lambda x: (x * 10).to(tinytorch.int64).to(tinytorch.float32), [randn(3, 4)]),
    "pad": (lambda x: F.pad(x, (1, 2, 0, 1)) [..., :4, :5] + F.pad(x, (1, 1, 1, 1),
            mode="reflect")[..., :4, :5], [images(2, side=3)]),
    "tril": (lambda x: tinytorch.tril(x) + tinytorch.triu(x, 1), [randn(4, 4)]),
    "expand": (lambda x: x.expand(3, 4) * 2, [randn(1, 4)]),
    "torch-gather": (lambda x: tinytorch.gather(x, 1, tinytorch.tensor([[2, 0], [1, 1], [0, 3]])),
                     [randn(3, 4)]),
    "nan-to-num": (lambda x: tinytorch.stack([tinytorch.nan_to_num(x, nan=0.5),
                                              tinytorch.nan_to_num(x, posinf=7.0)]),
                   [lambda: tinytorch.tensor([[float("nan"), float("inf"), -float("inf"), 1.5]])]),
    "roll": (lambda x: tinytorch.roll(x, 1, 1) + tinytorch.roll(x, (2, -1), (0, 1)),
             [randn(3, 4)]),
}


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_exports_and_matches_in_onnxruntime(name: str, opset: int, tmp_path) -> None:
    build, make_input = LAYERS[name]
    tinytorch.manual_seed(0)
    model, x = build(), make_input()
    path = tmp_path / f"{name}.onnx"
    export(model, x, path, opset_version=opset)
    report = verify(model, x, path)
    assert report.outputs[0].shape == tuple(model(x).shape)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", sorted(OPS))
def test_tensor_op_exports_and_matches_in_onnxruntime(name: str, opset: int, tmp_path) -> None:
    fn, makers = OPS[name]
    tinytorch.manual_seed(0)
    model, xs = Fn(fn), tuple(m() for m in makers)
    path = tmp_path / f"{name}.onnx"
    export(model, xs, path, opset_version=opset)
    verify(model, xs, path)
