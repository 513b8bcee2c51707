"""Finding what to quantize, and fusing ``Conv2d -> BatchNorm2d -> ReLU`` into one layer.

A *chain* is one Linear or Conv2d plus the modules that follow it directly in a
``Sequential`` and that the quantized layer absorbs:

- ``BatchNorm2d`` after ``Conv2d`` (in eval mode, with running statistics) is folded into the
  convolution: with ``k = γ / sqrt(var + eps)``, ``W' = W·k`` per output channel and
  ``b' = (b - mean)·k + β``. It is exact in real arithmetic and costs nothing at inference;
  without it the normalized output would need its own quantize/dequantize step.
- ``ReLU`` becomes the lower saturation bound of the requantized output (the zero point, the
  integer that stands for 0.0), so it costs no extra pass.

Absorbed modules are replaced by ``Identity``, as PyTorch's ``fuse_modules`` does, so the
``Sequential`` keeps its indices and the other layers their ``state_dict`` keys. Fusion needs
to know the order of the calls, which only a ``Sequential`` states; a layer called from a
custom ``forward`` is quantized alone. A module reached from two places in the model (a
shared layer or a reused ``ReLU`` instance) is never fused, since replacing it would change
the other use too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from tinytorch.arch.batchnorm import BatchNorm2d
from tinytorch.arch.conv import Conv2d
from tinytorch.nn import ReLU, Sequential
from tinytorch.nn.module import Module


@dataclass
class Chain:
    """A layer to quantize and the modules it absorbs: ``layer [-> batchnorm] [-> relu]``."""

    name: str                             # the layer's qualified name, as in named_modules
    layer: Module                         # a Linear or a Conv2d
    batchnorm: BatchNorm2d | None = None
    relu: ReLU | None = None
    absorbed: list[Module] = field(default_factory=list)

    @property
    def last(self) -> Module:
        """The module whose output is the chain's output."""
        return self.absorbed[-1] if self.absorbed else self.layer

    def folded_weights(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The layer's (weight, bias), with the BatchNorm folded in when there is one."""
        w = self.layer.weight.array
        b = None if self.layer.bias is None else self.layer.bias.array
        bn = self.batchnorm
        if bn is None:
            return w, b
        mean = bn.running_mean.array.astype(np.float64)
        k = 1.0 / np.sqrt(bn.running_var.array.astype(np.float64) + bn.eps)   # (C_out,)
        shift = np.zeros_like(mean)
        if bn.affine:
            k = k * bn.weight.array
            shift = bn.bias.array.astype(np.float64)
        bias = (np.zeros_like(mean) if b is None else b.astype(np.float64)) - mean
        w_folded = w.astype(np.float64) * k[:, None, None, None]
        return w_folded.astype(np.float32), (bias * k + shift).astype(np.float32)


def _references(model: Module) -> Counter[int]:
    """How many parent slots hold each module (2 or more: shared)."""
    counts: Counter[int] = Counter()
    for m in model.modules():
        for child in m._modules.values():
            if child is not None:
                counts[id(child)] += 1
    return counts


def _foldable(conv: Module, bn: Module) -> bool:
    return (isinstance(conv, Conv2d) and isinstance(bn, BatchNorm2d)
            and bn.running_mean is not None and bn.num_features == conv.out_channels)


def find_chains(model: Module, kinds: tuple[type, ...], fuse: bool) -> list[Chain]:
    """Every module of a type in ``kinds`` (once each), with what it absorbs when ``fuse``."""
    chains: dict[int, Chain] = {}
    for name, module in model.named_modules():
        if isinstance(module, kinds):
            chains[id(module)] = Chain(name or type(module).__name__, module)
    if not fuse:
        return list(chains.values())
    refs = _references(model)
    for seq in model.modules():
        if not isinstance(seq, Sequential):
            continue
        children = list(seq._modules.values())
        for i, child in enumerate(children):
            chain = chains.get(id(child))
            if chain is None or refs[id(child)] != 1:
                continue
            j = i + 1
            if j < len(children) and refs[id(children[j])] == 1 \
                    and _foldable(child, children[j]):
                chain.batchnorm = children[j]
                chain.absorbed.append(children[j])
                j += 1
            if j < len(children) and refs[id(children[j])] == 1 \
                    and isinstance(children[j], ReLU):
                chain.relu = children[j]
                chain.absorbed.append(children[j])
    return list(chains.values())


def swap(model: Module, replacements: Mapping[int, Module]) -> Module:
    """Put ``replacements[id(old)]`` wherever ``old`` sits in ``model`` (in place).

    Returns the model, or the replacement of the model itself when the root is replaced.
    """
    for m in list(model.modules()):
        for key, child in list(m._modules.items()):
            if child is not None and id(child) in replacements:
                setattr(m, key, replacements[id(child)])
    return replacements.get(id(model), model)
