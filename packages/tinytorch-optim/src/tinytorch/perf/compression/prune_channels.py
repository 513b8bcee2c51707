"""Structured pruning: remove whole output channels, so the layers themselves get smaller.

What it computes: for a ``Conv2d`` or ``Linear`` layer whose output feeds another such layer,
the channels (rows of the weight) with the smallest L1 or L2 norm are removed; the layer's
bias, a ``BatchNorm1d``/``BatchNorm2d`` in between, and the matching input columns of the
following layer go with them. After a ``Flatten``, each channel of a convolution is ``S =
H·W`` consecutive input features of the next ``Linear`` (``Flatten`` keeps channels outermost),
so a removed channel removes ``S`` columns there. The layer that produces the model's output
is never pruned: its channels are the answer.

Cost of the result: removing a fraction ``a`` of the channels of every layer cuts a
convolution's or a Linear's weights and FLOPs, which scale with ``C_in·C_out``, by about
``1 - (1 - a)²`` (both ends shrink), the first layer by ``a`` and the last by ``a``. Unlike
magnitude pruning, the saving is real for dense kernels: smaller matrices, fewer FLOPs, less
activation memory. The price is accuracy: a whole channel carries more than its smallest
weights, so a pruned model usually needs some fine-tuning.

How the data flow is found: the leaf modules are taken in registration order
(``named_modules``), each feeding the next. That is how ``nn.Sequential`` runs them, and how
models built from Sequentials called one after another run them (the zoo's ``MLP``,
``LeNet5`` and ``CifarCNN``). Between a layer and the next prunable one, activations, dropout,
pooling, BatchNorm and one ``Flatten`` are understood. Any other module ends the chain there,
and the layer before it is left whole; so do a grouped convolution (its channels are tied to
its input's) and a module with children and weights of its own (attention, whose input
projection runs in its own forward). A following layer whose input width does not match is
an error, since then the registration order cannot be the data flow.

The original model is never changed: the function works on a deep copy, and every check runs
before the copy is touched.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from tinytorch.arch.adaptive_pooling import AdaptiveMaxPool2d
from tinytorch.arch.batchnorm import BatchNorm1d, BatchNorm2d
from tinytorch.arch.conv import Conv2d
from tinytorch.arch.dropout2d import Dropout2d
from tinytorch.arch.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from tinytorch.core.tensor import Tensor
from tinytorch.nn import (
    ELU,
    GELU,
    Dropout,
    Flatten,
    Hardtanh,
    Identity,
    LeakyReLU,
    Linear,
    Mish,
    Module,
    Parameter,
    ReLU,
    Sigmoid,
    SiLU,
    Softplus,
    Tanh,
)
from tinytorch.perf.compression.prune import MASK, check_amount, prunable_layers

PASS_THROUGH = (ReLU, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, ELU, Softplus, Hardtanh, Mish,
                Identity, Dropout, Dropout2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d,
                AdaptiveMaxPool2d)
NORMS = (BatchNorm1d, BatchNorm2d)


@dataclass
class _Link:
    """A prunable layer, the layer that consumes its channels, and the norms in between."""

    producer: str
    consumer: str
    norms: list[str] = field(default_factory=list)
    spatial: int = 1  # input features of the consumer per producer channel (H·W after Flatten)


def _channels(layer: Module) -> int:
    return layer.out_features if isinstance(layer, Linear) else layer.out_channels


def _is_plain(layer: Module) -> bool:
    """A Linear, or a Conv2d without groups (whose channels can be removed independently)."""
    return isinstance(layer, Linear) or (isinstance(layer, Conv2d) and layer.groups == 1)


def _spatial(link: _Link, producer: Module, consumer: Module, flattened: bool) -> int:
    """Input features of ``consumer`` per channel of ``producer``; raises on a width mismatch."""
    channels = _channels(producer)
    width = consumer.in_features if isinstance(consumer, Linear) else consumer.in_channels
    if flattened and isinstance(consumer, Linear) and width % channels == 0:
        return width // channels
    if not flattened and width == channels:
        return 1
    raise ValueError(
        f"prune_channels: '{link.consumer}' ({type(consumer).__name__}) takes {width} input "
        f"features, but '{link.producer}' gives {channels} channels"
        f"{' flattened' if flattened else ''}: channel pruning follows the layers in "
        "registration order, and this model does not run them in that order")


def _links(model: Module) -> list[_Link]:
    """Walk the leaf modules in registration order and pair each prunable layer with the
    layer that consumes its channels."""
    links: list[_Link] = []
    producer: tuple[str, Module] | None = None
    norms: list[str] = []
    flattened = False
    for name, layer in model.named_modules(remove_duplicate=False):
        if next(layer.children(), None) is not None:
            if next(layer.parameters(recurse=False), None) is not None:
                producer = None  # its own weights are used in a forward we cannot see
            continue
        if isinstance(layer, (Linear, Conv2d)):
            if producer is not None and _is_plain(layer):
                link = _Link(producer[0], name, norms)
                link.spatial = _spatial(link, producer[1], layer, flattened)
                links.append(link)
            producer = (name, layer) if _is_plain(layer) else None
            norms, flattened = [], False
        elif producer is None or isinstance(layer, PASS_THROUGH):
            continue
        elif isinstance(layer, NORMS) and not flattened:
            if layer.num_features != _channels(producer[1]):
                raise ValueError(f"prune_channels: '{name}' normalizes {layer.num_features} "
                                 f"channels, but '{producer[0]}' gives "
                                 f"{_channels(producer[1])}")
            norms.append(name)
        elif isinstance(layer, Flatten) and (layer.start_dim, layer.end_dim) == (1, -1):
            flattened = flattened or isinstance(producer[1], Conv2d)
        else:
            producer = None
    return links


def _refuse_shared(model: Module, links: list[_Link]) -> None:
    """A layer registered under two parents (or a parameter in two layers) cannot shrink for
    one of them alone: name both places."""
    paths: defaultdict[int, list[str]] = defaultdict(list)
    for name, m in model.named_modules(remove_duplicate=False):
        paths[id(m)].append(name)
    owners: defaultdict[int, list[str]] = defaultdict(list)
    for name, p in model.named_parameters(remove_duplicate=False):
        owners[id(p)].append(name)
    changed = {n for link in links for n in (link.producer, link.consumer, *link.norms)}
    for name in changed:
        layer = model.get_submodule(name)
        where = paths[id(layer)]
        if len(where) > 1:
            raise ValueError(f"prune_channels: the {type(layer).__name__} at '{where[0]}' is "
                             f"also registered at '{where[1]}' (one layer shared by two "
                             "parents); pruning it for one would break the other")
        for _, p in layer.named_parameters(recurse=False):
            if len(owners[id(p)]) > 1:
                raise ValueError(f"prune_channels: parameter '{owners[id(p)][0]}' is shared "
                                 f"with '{owners[id(p)][1]}'; pruning one would break the "
                                 "other")


def _keep(layer: Module, amount: float, norm: str) -> np.ndarray:
    """Indices of the channels to keep, in their original order: all but the
    ``floor(amount·C)`` of smallest norm (at least one channel stays)."""
    rows = np.abs(layer.weight.array.reshape(_channels(layer), -1).astype(np.float64))
    norms = rows.sum(axis=1) if norm == "l1" else np.sqrt((rows * rows).sum(axis=1))
    drop = min(int(amount * norms.size), norms.size - 1)
    return np.sort(np.argsort(norms, kind="stable")[drop:])


def _take(module: Module, name: str, index: np.ndarray, axis: int) -> None:
    """Replace parameter or buffer ``name`` of ``module`` by its entries ``index`` on ``axis``."""
    value = getattr(module, name, None)
    if value is None:
        return
    array = np.ascontiguousarray(np.take(value.array, index, axis=axis))
    if isinstance(value, Parameter):
        setattr(module, name, Parameter(Tensor._wrap(array), value.requires_grad))
    else:
        setattr(module, name, Tensor._wrap(array))


def prune_channels(model: Module, amount: float, *, norm: str = "l1") -> Module:
    """A copy of ``model`` with ``floor(amount·C)`` output channels removed from every Conv2d
    and Linear that feeds another one, and the following layers shrunk to match.

    Args:
        model: left unchanged.
        amount: fraction in [0, 1) of each layer's output channels to remove (at least one
            channel stays).
        norm: ``"l1"`` or ``"l2"``, the norm of a channel's weights that ranks it.

    Returns:
        The smaller model: ``Linear.out_features``/``in_features``, ``Conv2d.out_channels``/
        ``in_channels`` and ``BatchNorm.num_features`` describe the new shapes.
    """
    amount = check_amount(amount)
    if norm not in ("l1", "l2"):
        raise ValueError(f"norm must be 'l1' or 'l2', got {norm!r}")
    prunable_layers(model)
    links = _links(model)
    if not links:
        raise ValueError(f"prune_channels: {type(model).__name__} has no layer whose channels "
                         "can be removed (a Linear or Conv2d followed by another)")
    _refuse_shared(model, links)
    keeps = [_keep(model.get_submodule(link.producer), amount, norm) for link in links]

    pruned = copy.deepcopy(model)
    for link, keep in zip(links, keeps):
        producer = pruned.get_submodule(link.producer)
        for name in ("weight", "bias", MASK):
            _take(producer, name, keep, axis=0)
        if isinstance(producer, Linear):
            producer.out_features = keep.size
        else:
            producer.out_channels = keep.size
        for norm_name in link.norms:
            layer = pruned.get_submodule(norm_name)
            for name in ("weight", "bias", "running_mean", "running_var"):
                _take(layer, name, keep, axis=0)
            layer.num_features = keep.size
        columns = (keep[:, None] * link.spatial + np.arange(link.spatial)).ravel()
        consumer = pruned.get_submodule(link.consumer)
        for name in ("weight", MASK):
            _take(consumer, name, columns, axis=1)
        if isinstance(consumer, Linear):
            consumer.in_features = columns.size
        else:
            consumer.in_channels = columns.size
    return pruned
