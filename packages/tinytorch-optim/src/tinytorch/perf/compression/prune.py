"""Unstructured magnitude pruning: zero the smallest weights and keep them zero while training.

What it computes: for every ``Linear`` and ``Conv2d`` weight, a boolean mask that keeps the
weights of largest ``|w|`` and drops the fraction ``amount`` with the smallest. ``scope="global"``
ranks all prunable weights of the model together (layers that matter less lose more);
``scope="layer"`` prunes each weight tensor by the same fraction. Biases are never pruned: they
are a tiny share of the parameters and removing them shifts every activation.

How the zeros stay zero through further training, without touching ``Tensor`` or the
optimizers:

- the mask is a buffer of the layer, ``weight_mask`` (True = kept, as in PyTorch), non-persistent
  so that ``state_dict`` keeps the keys of the dense model;
- a gradient hook on the weight sets the gradient of every pruned entry to zero, so an
  optimizer whose state starts after pruning never moves them: SGD's momentum buffer and Adam's
  two moments stay exactly 0 there, and ``0 - lr·0/(√0 + eps)`` is 0;
- a forward pre-hook checks before every forward that the pruned entries are still +0.0 (one
  read of the weight) and writes the zeros again if not, which covers everything else:
  ``load_state_dict``, a direct write, a copy of the model. It writes only then, because a
  write bumps the weight's version counter, and a graph that an earlier forward saved (two
  forwards, one backward) would then refuse to run backward;
- an optimizer that already holds state for the weight (momentum gathered before pruning)
  would move pruned entries once more, so ``prune_magnitude(..., optimizer=opt)`` clears those
  entries of its per-element state too.

Cost: ranking is one sort of the ``P`` prunable weights, ``O(P log P)``; the mask costs one byte
per weight; training adds one masked read of each weight per forward and one masked write of
its gradient per backward. The zeros save no arithmetic here (dense kernels multiply them
anyway): the saving is storage, which ``save_sparse`` (sparse.py) realises on disk;
structured pruning (``prune_channels``) is the one that shrinks the arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinytorch.arch.conv import Conv2d
from tinytorch.core.grad_mode import no_grad
from tinytorch.core.tensor import Tensor
from tinytorch.nn import Linear, Module
from tinytorch.optim.optimizer import Optimizer

PRUNABLE = (Linear, Conv2d)
MASK = "weight_mask"


def check_amount(amount: Any) -> float:
    """``amount`` as a float, or the error for a fraction outside [0, 1)."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float, np.floating)):
        raise TypeError(f"amount must be a float in [0, 1), got {type(amount).__name__}")
    if not 0.0 <= float(amount) < 1.0:
        raise ValueError(f"amount must be in [0, 1) (the fraction removed), got {amount}")
    return float(amount)


def prunable_layers(model: Module) -> list[tuple[str, Module]]:
    """``(name, layer)`` for every ``Linear`` and ``Conv2d`` of ``model``, each object once."""
    if not isinstance(model, Module):
        raise TypeError(f"expected a tinytorch.nn.Module, got {type(model).__name__}")
    layers: list[tuple[str, Module]] = [(name, m) for name, m in model.named_modules()
                                        if isinstance(m, PRUNABLE)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no prunable layer (Linear or Conv2d)")
    return layers


# ---------------------------------------------------------------------------- the hooks
class _ZeroPrunedGradient:
    """Tensor hook: the weight's gradient with the pruned entries set to 0."""

    def __init__(self, mask: Tensor) -> None:
        self.mask = mask

    def __call__(self, grad: Tensor) -> Tensor:
        return grad.masked_fill(~self.mask, 0.0)


class _ReapplyMask:
    """Forward pre-hook: zero the pruned weights, and keep the gradient hook on the weight.

    The gradient hook is (re)attached whenever the layer's ``weight`` is a Parameter it has not
    seen, which happens after ``copy.deepcopy`` (a copied Parameter carries no hooks) or when
    a new Parameter is assigned; a frozen weight (``requires_grad=False``) needs none. Like
    PyTorch's pruning, the hook is found again by its type among the module's forward
    pre-hooks.
    """

    def __init__(self) -> None:
        self._hooked: Tensor | None = None
        self._grad_handle: Any = None

    def __call__(self, module: Module, args: tuple[Any, ...]) -> None:
        self.attach(module)
        pruned = ~module.weight_mask
        weight = module.weight.array
        if np.any(weight.view(np.dtype(f"u{weight.itemsize}"))[pruned.array]):
            with no_grad():
                module.weight.masked_fill_(pruned, 0.0)

    def attach(self, module: Module) -> None:
        if self._hooked is module.weight or not module.weight.requires_grad:
            return
        self._grad_handle = module.weight.register_hook(_ZeroPrunedGradient(module.weight_mask))
        self._hooked = module.weight

    def detach(self) -> None:
        if self._grad_handle is not None:
            self._grad_handle.remove()

    def __deepcopy__(self, memo: dict[int, Any]) -> _ReapplyMask:
        return memo.setdefault(id(self), _ReapplyMask())


def _hook_of(module: Module) -> _ReapplyMask | None:
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, _ReapplyMask):
            return hook
    return None


def is_pruned(module: Module) -> bool:
    """True when ``module`` carries a pruning mask from ``prune_magnitude``."""
    return _hook_of(module) is not None


# ---------------------------------------------------------------------------- pruning
def _smallest(magnitudes: np.ndarray, count: int) -> np.ndarray:
    """Boolean mask, True for the ``count`` smallest entries (ties broken by position)."""
    drop = np.zeros(magnitudes.size, dtype=bool)
    drop[np.argsort(magnitudes.ravel(), kind="stable")[:count]] = True
    return drop.reshape(magnitudes.shape)


def _new_masks(layers: list[tuple[str, Module]], amount: float, scope: str) -> list[np.ndarray]:
    """The kept-mask of each layer: the earlier mask (if any) and the new magnitude cut."""
    weights = [np.abs(m.weight.array) for _, m in layers]
    if scope == "global":
        flat = np.concatenate([w.ravel() for w in weights])
        drop = _smallest(flat, round(amount * flat.size))
        bounds = np.cumsum([w.size for w in weights])[:-1]
        drops = [d.reshape(w.shape) for d, w in zip(np.split(drop, bounds), weights)]
    else:
        drops = [_smallest(w, round(amount * w.size)) for w in weights]
    masks = []
    for (_, m), drop in zip(layers, drops):
        keep = ~drop
        if is_pruned(m):
            keep &= m.weight_mask.array
        masks.append(keep)
    return masks


def prune_magnitude(model: Module, amount: float, *, scope: str = "global",
                    optimizer: Optimizer | None = None) -> Module:
    """Zero the fraction ``amount`` of smallest-magnitude Linear/Conv2d weights, in place.

    Args:
        model: pruned in place and returned. Biases are untouched; a layer registered under
            two parents is one set of weights and is pruned once.
        amount: fraction in [0, 1) of the weights (of the model with ``scope="global"``, of
            each layer with ``scope="layer"``) to remove; weights pruned by an earlier call
            stay pruned, so calling again with a larger ``amount`` prunes iteratively.
        scope: ``"global"`` ranks all weights together, ``"layer"`` each tensor on its own.
        optimizer: an optimizer that already holds state for these weights; the pruned
            entries of its per-element state (momentum, Adam moments) are cleared.

    The masks stay applied through training (see the module docstring);
    ``remove_pruning`` makes the zeros permanent and drops the masks and hooks.
    """
    amount = check_amount(amount)
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    layers = prunable_layers(model)
    masks = _new_masks(layers, amount, scope)
    for (_, layer), keep in zip(layers, masks):
        hook = _hook_of(layer)
        if hook is None:
            layer.register_buffer(MASK, Tensor._wrap(keep), persistent=False)
            hook = _ReapplyMask()
            layer.register_forward_pre_hook(hook)
        else:
            with no_grad():
                layer.weight_mask.copy_(Tensor._wrap(keep))
        hook.attach(layer)
        pruned = Tensor._wrap(~keep)
        with no_grad():
            layer.weight.masked_fill_(pruned, 0.0)
            if optimizer is not None:
                for state in optimizer.state.get(layer.weight, {}).values():
                    if isinstance(state, Tensor) and state.shape == layer.weight.shape:
                        state.masked_fill_(pruned, 0.0)
    return model


def remove_pruning(model: Module) -> Module:
    """Make the zeros permanent: drop every mask buffer and hook that pruning added, in place.

    Afterwards the weights are plain Parameters that training may move again.
    """
    for _, layer in model.named_modules():
        hook = _hook_of(layer)
        if hook is None:
            continue
        with no_grad():
            layer.weight.masked_fill_(~layer.weight_mask, 0.0)
        hook.detach()
        for key, value in list(layer._forward_pre_hooks.items()):
            if value is hook:
                del layer._forward_pre_hooks[key]
        delattr(layer, MASK)
    return model


# ---------------------------------------------------------------------------- the report
@dataclass(frozen=True)
class LayerSparsity:
    """Zeros in one layer's weight."""

    zeros: int
    numel: int

    @property
    def fraction(self) -> float:
        return self.zeros / self.numel if self.numel else 0.0


@dataclass(frozen=True)
class Sparsity:
    """Fraction of zero weights per prunable layer (``layers[name]``) and over all of them."""

    layers: dict[str, LayerSparsity]

    @property
    def zeros(self) -> int:
        return sum(layer.zeros for layer in self.layers.values())

    @property
    def numel(self) -> int:
        return sum(layer.numel for layer in self.layers.values())

    @property
    def overall(self) -> float:
        return self.zeros / self.numel if self.numel else 0.0

    def __iter__(self) -> Iterator[str]:
        return iter(self.layers)

    def __getitem__(self, name: str) -> float:
        return self.layers[name].fraction

    def __str__(self) -> str:
        width = max(len("overall"), *(len(name) for name in self.layers))
        rows = [f"{'layer':<{width}}  {'zeros':>10}  {'weights':>10}  sparsity"]
        for name, layer in list(self.layers.items()) + [("overall", LayerSparsity(
                self.zeros, self.numel))]:
            rows.append(f"{name:<{width}}  {layer.zeros:>10,}  {layer.numel:>10,}  "
                        f"{layer.fraction:>8.1%}")
        return "\n".join(rows)


def sparsity(model: Module) -> Sparsity:
    """Zeros in the weight of every Linear and Conv2d of ``model``, per layer and overall."""
    return Sparsity({name: LayerSparsity(int(np.count_nonzero(m.weight.array == 0)),
                                         int(m.weight.array.size))
                     for name, m in prunable_layers(model)})
