"""Losses and adaptive pooling with uneven windows, exported and run in onnxruntime.

Each case is exported at opsets 17, 18 and 21, passes ``onnx.checker`` with ``full_check=True``
and must give TinyTorch's output in onnxruntime within ``verify``'s float32 tolerances. Loss
targets are model inputs, so a second target checks that the file reads it rather than a
constant frozen at export.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs onnx: pip install tinytorch-optim[onnxruntime]")
pytest.importorskip("onnxruntime",
                    reason="needs onnxruntime: pip install tinytorch-optim[onnxruntime]")

import tinytorch  # noqa: E402
import tinytorch.nn as nn  # noqa: E402
import tinytorch.nn.functional as F  # noqa: E402
from tinytorch.onnx import export, verify  # noqa: E402

OPSETS = (17, 18, 21)
REDUCTIONS = ("none", "mean", "sum")
Inputs = Callable[[np.random.Generator], tuple[tinytorch.Tensor, ...]]


class LossOf(nn.Module):
    """``fn(input, target)`` as a model: the target is a second graph input."""

    def __init__(self, fn: Callable[..., tinytorch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: tinytorch.Tensor, y: tinytorch.Tensor) -> tinytorch.Tensor:
        return self.fn(x, y)


def _t(a: np.ndarray) -> tinytorch.Tensor:
    return tinytorch.tensor(a)


def pair(*shape: int) -> Inputs:
    return lambda r: (_t(r.standard_normal(shape, dtype=np.float32)),
                      _t(r.standard_normal(shape, dtype=np.float32)))


def probabilities(*shape: int) -> Inputs:
    """Probabilities in (0, 1) and targets in [0, 1] with some exact 0s and 1s."""
    def make(r: np.random.Generator) -> tuple[tinytorch.Tensor, ...]:
        y = r.uniform(size=shape).astype(np.float32)
        y.flat[:2] = (0.0, 1.0)
        return _t(r.uniform(0.02, 0.98, size=shape).astype(np.float32)), _t(y)
    return make


def distributions(*shape: int) -> Inputs:
    """Log-probabilities and a target distribution with a zero entry (0·log 0 = 0)."""
    def make(r: np.random.Generator) -> tuple[tinytorch.Tensor, ...]:
        logits = r.standard_normal(shape).astype(np.float32)
        logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        p = r.uniform(size=shape).astype(np.float32)
        p.flat[0] = 0.0
        return _t(logp.astype(np.float32)), _t((p / p.sum(-1, keepdims=True)).astype(np.float32))
    return make


def classes(*shape: int, n_cls: int = 5, ignore: int | None = None) -> Inputs:
    """Logits (N, C, d...) or (C,) and int64 class indices (N, d...) or ()."""
    def make(r: np.random.Generator) -> tuple[tinytorch.Tensor, ...]:
        x = r.standard_normal(shape, dtype=np.float32)
        rows = shape[:1] + shape[2:] if len(shape) > 1 else ()
        t = r.integers(0, n_cls, size=rows).astype(np.int64)
        if ignore is not None:
            t.flat[0] = ignore
        return _t(x), _t(np.asarray(t))
    return make


def soft_classes(*shape: int) -> Inputs:
    def make(r: np.random.Generator) -> tuple[tinytorch.Tensor, ...]:
        p = r.uniform(size=shape).astype(np.float32)
        return (_t(r.standard_normal(shape, dtype=np.float32)),
                _t(p / p.sum(1, keepdims=True)))
    return make


def log_softmax_of(make: Inputs) -> Inputs:
    def wrapped(r: np.random.Generator) -> tuple[tinytorch.Tensor, ...]:
        x, t = make(r)
        return F.log_softmax(x, dim=1 if x.ndim > 1 else 0).detach(), t
    return wrapped


WEIGHT = tinytorch.tensor(np.array([0.5, 1.0, 2.0, 0.25, 1.5], dtype=np.float32))

LOSSES: dict[str, tuple[Callable[[], Callable[..., tinytorch.Tensor]], Inputs]] = {
    **{f"mse-{r}": (lambda r=r: nn.MSELoss(reduction=r), pair(3, 4)) for r in REDUCTIONS},
    "mse-functional": (lambda: F.mse_loss, pair(2, 3, 4)),
    **{f"l1-{r}": (lambda r=r: nn.L1Loss(reduction=r), pair(3, 4)) for r in REDUCTIONS},
    "huber": (lambda: nn.HuberLoss(delta=0.5), pair(4, 5)),
    "huber-none": (lambda: nn.HuberLoss(reduction="none", delta=1.5), pair(4, 5)),
    "smooth-l1": (lambda: nn.SmoothL1Loss(beta=0.5), pair(4, 5)),
    "smooth-l1-beta-0": (lambda: nn.SmoothL1Loss(reduction="sum", beta=0.0), pair(4, 5)),
    **{f"bce-{r}": (lambda r=r: nn.BCELoss(reduction=r), probabilities(3, 4))
       for r in REDUCTIONS},
    "bce-weight": (lambda: nn.BCELoss(weight=tinytorch.rand(4)), probabilities(3, 4)),
    **{f"bce-logits-{r}": (lambda r=r: nn.BCEWithLogitsLoss(reduction=r), pair(3, 4))
       for r in REDUCTIONS},
    "bce-logits-weights": (lambda: nn.BCEWithLogitsLoss(
        weight=tinytorch.rand(4), pos_weight=tinytorch.rand(4) * 3), pair(3, 4)),
    "kl-batchmean": (lambda: nn.KLDivLoss(reduction="batchmean"), distributions(3, 5)),
    "kl-mean": (lambda: nn.KLDivLoss(reduction="mean"), distributions(3, 5)),
    "kl-none": (lambda: nn.KLDivLoss(reduction="none"), distributions(3, 5)),
    "kl-log-target": (lambda: (lambda x, y: F.kl_div(x, y.log(), reduction="sum",
                                                     log_target=True)),
                      distributions(3, 5)),
    **{f"nll-{r}": (lambda r=r: nn.NLLLoss(reduction=r), log_softmax_of(classes(4, 5)))
       for r in REDUCTIONS},
    "nll-weight-ignore": (lambda: nn.NLLLoss(weight=WEIGHT, ignore_index=2),
                          log_softmax_of(classes(6, 5, ignore=2))),
    "nll-spatial": (lambda: nn.NLLLoss(), log_softmax_of(classes(2, 5, 3))),
    "nll-unbatched": (lambda: nn.NLLLoss(reduction="none"), log_softmax_of(classes(5))),
    **{f"ce-{r}": (lambda r=r: nn.CrossEntropyLoss(reduction=r), classes(4, 5))
       for r in REDUCTIONS},
    "ce-functional-spatial": (lambda: F.cross_entropy, classes(2, 5, 3, 2)),
    "ce-unbatched": (lambda: nn.CrossEntropyLoss(reduction="none"), classes(5)),
    "ce-weight-ignore": (lambda: nn.CrossEntropyLoss(weight=WEIGHT, ignore_index=1),
                         classes(6, 5, ignore=1)),
    **{f"ce-smoothing-{r}": (lambda r=r: nn.CrossEntropyLoss(reduction=r, label_smoothing=0.1),
                             classes(4, 5)) for r in REDUCTIONS},
    "ce-smoothing-weight-ignore": (lambda: nn.CrossEntropyLoss(
        weight=WEIGHT, ignore_index=-1, label_smoothing=0.2), classes(6, 5, 2, ignore=-1)),
    "ce-smoothing-unbatched": (lambda: nn.CrossEntropyLoss(label_smoothing=0.3), classes(5)),
    "ce-soft-targets": (lambda: nn.CrossEntropyLoss(label_smoothing=0.1, weight=WEIGHT),
                        soft_classes(4, 5)),
}


def _export_and_verify(model: nn.Module, inputs: tuple[tinytorch.Tensor, ...], opset: int,
                       path) -> None:
    export(model, inputs, path, opset_version=opset)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    verify(model, inputs, path)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_exports_and_matches_in_onnxruntime(name: str, opset: int, tmp_path) -> None:
    build, make = LOSSES[name]
    tinytorch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = LossOf(build())
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                  # kl_div's 'mean' warns, as in PyTorch
        _export_and_verify(model, make(rng), opset, path)
        verify(model, make(rng), path)                   # new input and target: not frozen


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_reference_cross_entropy_exports_too(smoothing: float, opset: int) -> None:
    model = LossOf(nn.CrossEntropyLoss(weight=WEIGHT, label_smoothing=smoothing))
    inputs, f = classes(6, 5)(np.random.default_rng(1)), io.BytesIO()
    with tinytorch.use_reference_kernels(True):
        export(model, inputs, f, opset_version=opset)
        verify(model, inputs, f)


def test_a_classifier_trained_loss_exports_with_its_head(tmp_path) -> None:
    class Scored(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(8, 5)
            self.loss = nn.CrossEntropyLoss(label_smoothing=0.05)

        def forward(self, x: tinytorch.Tensor, y: tinytorch.Tensor) -> tinytorch.Tensor:
            return self.loss(self.head(x), y)

    tinytorch.manual_seed(0)
    model, rng = Scored(), np.random.default_rng(2)
    x = _t(rng.standard_normal((7, 8), dtype=np.float32))
    y = _t(rng.integers(0, 5, size=7).astype(np.int64))
    _export_and_verify(model, (x, y), 18, tmp_path / "scored.onnx")


# ------------------------------------------------------------------ adaptive pooling
POOLS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "avg-5x5-to-3x3": (lambda: nn.AdaptiveAvgPool2d(3), (2, 3, 5, 5)),
    "avg-7x9-to-3x4": (lambda: nn.AdaptiveAvgPool2d((3, 4)), (2, 2, 7, 9)),
    "avg-unbatched": (lambda: nn.AdaptiveAvgPool2d((4, 2)), (3, 6, 5)),
    "avg-upsampling": (lambda: nn.AdaptiveAvgPool2d(5), (1, 2, 3, 4)),
    "max-5x5-to-3x3": (lambda: nn.AdaptiveMaxPool2d(3), (2, 3, 5, 5)),
    "max-7x9-to-3x4": (lambda: nn.AdaptiveMaxPool2d((3, 4)), (2, 2, 7, 9)),
    "max-unbatched": (lambda: nn.AdaptiveMaxPool2d((4, 2)), (3, 6, 5)),
    "after-conv": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(4)),
                   (1, 1, 8, 8)),
}


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", sorted(POOLS))
def test_adaptive_pooling_with_uneven_windows_matches(name: str, opset: int, tmp_path) -> None:
    build, shape = POOLS[name]
    tinytorch.manual_seed(0)
    model, x = build(), tinytorch.randn(*shape)
    path = tmp_path / f"{name}.onnx"
    _export_and_verify(model, (x,), opset, path)
    assert verify(model, (x,), path).outputs[0].shape == tuple(model(x).shape)
