"""``GraphBuilder``: the nodes and initializers of one export, and the names that tie them.

An ONNX graph is a list of nodes that read and write *named* values. While a forward pass is
traced, every TinyTorch tensor the exporter meets needs such a name:

- a model input gets the name the caller chose (``input_names``);
- a tensor an op produced gets the name of the node output that stands for it (``bind``);
- any other tensor was made outside the trace (a parameter, a buffer, a tensor built by the
  model from plain numbers): it becomes an *initializer*, a constant stored in the file. A
  parameter or buffer keeps its ``state_dict`` name, so the file reads like the checkpoint.

Tensors are keyed by ``id``; the builder keeps a reference to each one it named, so an id
cannot be reused by a new tensor while the export runs. It also keeps each tensor's version:
a tensor written in place after it was named is followed to the traced op that computed its
new values (the autograd node it took over), or refused when no op did.

Cost: O(1) per value looked up; initializers copy their bytes once into the ModelProto, which
is why an export holds up to two copies of the weights in memory (the model's and the file's).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from tinytorch.core.function import is_tensor
from tinytorch.onnx.registry import UnsupportedOperatorError

try:
    from onnx import helper, numpy_helper
except ImportError:  # the [onnxruntime] extra is missing: the exporter says so when used
    helper = numpy_helper = None

ONNX_MISSING = ("tinytorch.onnx needs the 'onnx' package (and onnxruntime to verify): "
                "pip install tinytorch-optim[onnxruntime]")


def require_onnx() -> None:
    """Raise ``ImportError`` naming the extra to install when ``onnx`` is not importable."""
    if helper is None:
        raise ImportError(ONNX_MISSING)


class GraphBuilder:
    """Accumulates the nodes and initializers of one export at one opset.

    ``state_names`` maps ``id(parameter or buffer)`` (and ``id`` of its array, for ops that
    receive the array) to its ``state_dict`` name; ``options`` carries the exporter's keyword
    options (``fold_batchnorm``) to the handlers; ``dynamic`` says whether some input has
    dynamic axes (shape ops then avoid constants).
    """

    def __init__(self, opset: int, state_names: Mapping[int, str] | None = None,
                 options: Mapping[str, Any] | None = None) -> None:
        require_onnx()
        self.opset = opset
        self.module_path = ""
        self.options: dict[str, Any] = dict(options or {})
        self.dynamic = False
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.domains: set[str] = set()
        self._state_names = dict(state_names or {})
        self._values: dict[int, tuple[Any, str, int]] = {}
        self._by_node: dict[int, tuple[Any, str]] = {}
        self._taken: set[str] = set()

    # ------------------------------------------------------------------ names
    def fresh(self, hint: str) -> str:
        """A value name not used yet in this graph, built from ``hint``."""
        base = re.sub(r"[^0-9A-Za-z_.:/-]", "_", hint) or "v"
        name, n = base, 0
        while name in self._taken:
            n += 1
            name = f"{base}_{n}"
        self._taken.add(name)
        return name

    def reserve(self, name: str) -> None:
        """Claim ``name`` (a graph input or output chosen by the caller)."""
        if name in self._taken:
            raise ValueError(f"ONNX value name {name!r} is used twice")
        self._taken.add(name)

    def bind(self, t: Any, name: str) -> None:
        """This ONNX value now holds tensor ``t`` (at its current version)."""
        self._values[id(t)] = (t, name, getattr(t, "_version", 0))
        node = getattr(t, "grad_fn", None)
        if node is not None:
            self._by_node[id(node)] = (node, name)

    def _after_inplace(self, t: Any) -> str:
        """The value of a tensor written in place since it was bound.

        An in-place op recorded by autograd hands its node to the tensor it wrote, and that
        node is the one of the traced result holding the new values; anything else (a write
        with no graph) left no trace of where the values came from.
        """
        node = t.grad_fn
        hit = self._by_node.get(id(node)) if node is not None else None
        if hit is None or hit[0] is not node:
            raise UnsupportedOperatorError(
                f"ONNX export: a tensor of shape {tuple(t.shape)} was modified in place after "
                f"it was computed, by an update the tracer cannot see (in module "
                f"'{self.module_path or '<root>'}'); write it out of place (y = x + 1 rather "
                f"than x += 1)")
        self.bind(t, hit[1])
        return hit[1]

    def has(self, t: Any) -> bool:
        """Whether ``t`` already has an ONNX name (an input, a traced result, an initializer)."""
        return id(t) in self._values

    def is_state(self, t: Any) -> bool:
        """Whether ``t`` is one of the model's parameters or buffers."""
        return id(t) in self._state_names

    # ----------------------------------------------------------------- values
    def value(self, t: Any, dtype: Any = None) -> str:
        """The ONNX name of ``t`` (a Tensor, an ndarray or a Python scalar).

        A tensor no traced op produced becomes an initializer, named after its ``state_dict``
        entry when it is a parameter or buffer. Arrays and scalars become constants, scalars in
        ``dtype`` (default: float32 for floats, int64 for ints, bool for bools); a tensor of
        another dtype than ``dtype`` is cast by a ``Cast`` node.
        """
        known = self._values.get(id(t))
        if is_tensor(t):
            if known is not None and known[0] is t:
                name = known[1] if t._version == known[2] else self._after_inplace(t)
            else:
                state_name = self._state_names.get(id(t))
                name = self.constant(t.array, state_name or "const",
                                     exact=state_name is not None)
                self.bind(t, name)
            if dtype is not None and t.array.dtype != dtype:
                name = self.node("Cast", [name], to=helper.np_dtype_to_tensor_dtype(
                    np.dtype(dtype)))
            return name
        if known is not None and known[0] is t and dtype is None:
            return known[1]
        if isinstance(t, np.ndarray):
            state_name = self._state_names.get(id(t))      # a buffer handed over as an array
            if state_name is not None and dtype is None:
                name = self.constant(t, state_name, exact=True)
                self.bind(t, name)
                return name
            return self.constant(t if dtype is None else t.astype(dtype), "const")
        if isinstance(t, (bool, int, float, np.generic)):
            return self.constant(np.asarray(t, dtype=dtype or _scalar_dtype(t)), "scalar")
        raise TypeError(f"cannot export a value of type {type(t).__name__} to ONNX "
                        f"(in module {self.module_path or '<root>'})")

    def constant(self, array: np.ndarray, hint: str, *, exact: bool = False) -> str:
        """Add ``array`` as an initializer and return its name (``exact``: use ``hint`` as is)."""
        if exact:
            self.reserve(hint)
            name = hint
        else:
            name = self.fresh(hint)
        array = np.asarray(array, order="C")          # keeps 0-d scalars 0-d
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def ints(self, values: Any, hint: str = "ints") -> str:
        """A 1-D int64 constant (shapes, axes, pads, slice bounds)."""
        return self.constant(np.asarray(values, dtype=np.int64).reshape(-1), hint)

    # ------------------------------------------------------------------ nodes
    def node(self, op_type: str, inputs: list[str], *, outputs: int = 1,
             hint: str | None = None, domain: str = "", **attributes: Any) -> str | list[str]:
        """Add one node; returns its output name (or the list of them when ``outputs > 1``).

        Attributes whose value is ``None`` are left out, so handlers can pass optional ones
        unconditionally. An empty string in ``inputs`` is an omitted optional input.
        """
        base = hint or op_type.lower()
        names = [self.fresh(base) for _ in range(outputs)]
        attrs = {k: v for k, v in attributes.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), names,
                                           name=self.fresh(f"{op_type}_node"),
                                           domain=domain or None, **attrs))
        if domain:
            self.domains.add(domain)
        return names[0] if outputs == 1 else names

    def shape_of(self, name: str) -> str:
        """A ``Shape`` node: the int64 shape of value ``name``."""
        return self.node("Shape", [name], hint="shape")


def _scalar_dtype(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.dtype
    if isinstance(x, bool):
        return np.bool_
    return np.int64 if isinstance(x, int) else np.float32
