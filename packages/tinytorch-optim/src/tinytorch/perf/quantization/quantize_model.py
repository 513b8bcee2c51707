"""``quantize_dynamic`` and ``quantize_static``: a float model in, a new int8 model out.

Both deep-copy the model and change only the copy, so the original is never touched, and an
error at any step (no supported layer, empty or malformed calibration data, a non-finite
activation) discards the copy: nothing is left half-changed. The result is in eval mode.

- **Dynamic** (``quantize_dynamic``): every ``Linear`` becomes a ``DynamicQuantizedLinear``,
  int8 weights and activations quantized per batch at run time. No data needed; the
  conversion costs one pass over the weights.
- **Static** (``quantize_static``): ``Conv2d -> BatchNorm2d -> ReLU`` and ``Linear -> ReLU``
  runs in a ``Sequential`` are fused (``fusion.py``); the calibration batches run through the
  float copy once (min/max) or twice (percentile histogram) with an observer on the input and
  on the output of every chain; then every chain becomes a ``QuantizedLinear`` or
  ``QuantizedConv2d`` holding those ranges. Cost: one or two float forward passes over the
  calibration data, plus one pass over the weights. A few hundred representative training
  samples are usually enough; calibrating on the test set would leak it into the model.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, cast

import numpy as np

from tinytorch.arch.conv import Conv2d
from tinytorch.core.grad_mode import no_grad
from tinytorch.core.tensor import Tensor
from tinytorch.nn import Identity, Linear
from tinytorch.nn.hooks import RemovableHandle
from tinytorch.nn.module import Module
from tinytorch.perf.quantization.dynamic_linear import DynamicQuantizedLinear
from tinytorch.perf.quantization.fusion import Chain, find_chains, swap
from tinytorch.perf.quantization.observers import MinMaxObserver, PercentileObserver
from tinytorch.perf.quantization.quantized_conv import QuantizedConv2d
from tinytorch.perf.quantization.quantized_linear import QuantizedLinear

OBSERVERS = ("minmax", "percentile")


def _copy_with_layers(model: Module, kinds: tuple[type, ...], fuse: bool,
                      caller: str) -> tuple[Module, list[Chain]]:
    """A deep copy of ``model`` in eval mode and its chains; raises if there are none."""
    if not isinstance(model, Module):
        raise TypeError(f"{caller}: expected a tinytorch.nn.Module, got {type(model).__name__}")
    q = copy.deepcopy(model).eval()
    chains = find_chains(q, kinds, fuse)
    if not chains:
        found = sorted({type(m).__name__ for m in model.modules()})
        supported = ", ".join(k.__name__ for k in kinds)
        raise ValueError(f"{caller}: {type(model).__name__} has no layer that can be "
                         f"quantized; supported layers: {supported}; the model holds: "
                         f"{', '.join(found)}")
    return q, chains


def quantize_dynamic(model: Module) -> Module:
    """A new model with every ``Linear`` replaced by a ``DynamicQuantizedLinear``.

    Weights: int8, symmetric, one scale per output channel. Activations: uint8, asymmetric,
    quantized per batch from that batch's range at run time. uint8 activations with int8
    weights is the combination onnxruntime's CPU provider runs as integer kernels
    (``DynamicQuantizeLinear`` produces only uint8; ``MatMulInteger`` runs uint8 × int8).
    Biases stay float32. The original model is not modified; the new one is in eval mode.
    Raises ValueError when the model has no ``Linear``.
    """
    q, chains = _copy_with_layers(model, (Linear,), False, "quantize_dynamic")
    replacements = {id(c.layer): DynamicQuantizedLinear.from_float(cast(Linear, c.layer))
                    for c in chains}
    return swap(q, replacements)


def _input_of(item: Any, index: int) -> Tensor:
    """A calibration item -> the model input: a Tensor, an array, or (input, target, ...)."""
    if isinstance(item, (tuple, list)) and item:
        item = item[0]
    if isinstance(item, Tensor):
        return item
    if isinstance(item, np.ndarray):
        return Tensor._wrap(item)
    raise TypeError(f"quantize_static: calibration item {index} is a {type(item).__name__}; "
                    "expected an input Tensor (or ndarray), or a sequence whose first item "
                    "is the input, such as the (input, target) pairs a DataLoader yields")


def _calibrate(model: Module, chains: list[Chain], observers: list[tuple[Any, Any]],
               calibration_data: Iterable[Any]) -> None:
    """Run the calibration batches through ``model`` with every observer watching."""
    try:
        one_shot = iter(calibration_data) is calibration_data
    except TypeError:
        raise TypeError(f"quantize_static: calibration_data must be an iterable of input "
                        f"tensors or (input, target) pairs, got "
                        f"{type(calibration_data).__name__}") from None
    passes = observers[0][0].passes
    data = list(calibration_data) if one_shot and passes > 1 else calibration_data
    handles: list[RemovableHandle] = []
    try:
        for chain, (watch_in, watch_out) in zip(chains, observers):
            handles.append(chain.layer.register_forward_pre_hook(
                lambda m, args, o=watch_in: o.observe(args[0].array)))
            handles.append(chain.last.register_forward_hook(
                lambda m, args, out, o=watch_out: o.observe(out.array)))
        with no_grad():
            for p in range(passes):
                for pair in observers:
                    for o in pair:
                        o.begin_pass(p)
                count = 0
                for item in data:
                    model(_input_of(item, count))
                    count += 1
                if count == 0:
                    raise ValueError("quantize_static: calibration_data yielded no batches; "
                                     "pass an iterable of input tensors, or a DataLoader "
                                     "over a few hundred representative samples")
    finally:
        for h in handles:
            h.remove()


def quantize_static(model: Module, calibration_data: Iterable[Any], *,
                    observer: str = "minmax", percentile: float = 99.99) -> Module:
    """A new model whose ``Linear`` and ``Conv2d`` layers run in int8 with calibrated ranges.

    ``calibration_data`` is any iterable of input batches: Tensors (or arrays), or sequences
    whose first item is the input, such as the ``(input, target)`` pairs of a DataLoader.
    It is iterated once for ``observer="minmax"`` and twice for ``"percentile"`` (a one-shot
    iterator is kept in memory for the second pass). ``percentile`` sets that observer's cut.

    Weights: int8 symmetric per output channel; activations: uint8 asymmetric, one range per
    tensor from calibration; bias: int32 with scale ``s_in·s_w``; requantization rounds half
    to even and saturates, as onnxruntime's QLinearMatMul / QLinearConv. ``Conv2d ->
    BatchNorm2d -> ReLU`` and ``Linear -> ReLU`` in a ``Sequential`` are fused. The original
    model is not modified; the new one is in eval mode. Raises ValueError when the model has
    no Linear or Conv2d, or when the calibration data yields no batch.
    """
    if observer not in OBSERVERS:
        raise ValueError(f"quantize_static: observer must be one of {OBSERVERS}, got "
                         f"{observer!r}")
    q, chains = _copy_with_layers(model, (Linear, Conv2d), True, "quantize_static")

    def watcher(where: str) -> MinMaxObserver:
        if observer == "percentile":
            return PercentileObserver(where, percentile)
        return MinMaxObserver(where)

    observers = [(watcher(f"the input of {c.name}"), watcher(f"the output of {c.name}"))
                 for c in chains]
    _calibrate(q, chains, observers, calibration_data)
    replacements: dict[int, Module] = {}
    for chain, (watch_in, watch_out) in zip(chains, observers):
        ranges = (watch_in.qparams(), watch_out.qparams())
        if isinstance(chain.layer, Conv2d):
            weight, bias = chain.folded_weights()
            replacements[id(chain.layer)] = QuantizedConv2d.from_float(
                chain.layer, *ranges, relu=chain.relu is not None, weight=weight, bias=bias)
        else:
            replacements[id(chain.layer)] = QuantizedLinear.from_float(
                cast(Linear, chain.layer), *ranges, relu=chain.relu is not None)
        for absorbed in chain.absorbed:
            replacements[id(absorbed)] = Identity()
    return swap(q, replacements)
