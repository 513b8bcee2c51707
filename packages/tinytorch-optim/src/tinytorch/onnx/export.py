"""``export``: trace one forward pass of a model and write it as an ONNX file.

The classic ``torch.onnx.export(model, args, f, ...)`` signature and behaviour: the model runs
once in eval mode on ``args`` while two things watch it:

- ``tinytorch.core.tracing.trace`` hands over every ``Function`` the forward runs (op, its
  arguments, its result). A registered op handler turns each into ONNX nodes;
- forward pre/post hooks on every submodule keep the dotted path of the module running (for
  error messages) and let a registered *module* handler translate a whole module call at once
  (the ops inside it are then ignored).

The forward runs with autograd on, as a training step would: an in-place update (``x += y``,
``ReLU(inplace=True)``) is then recorded as an op plus a write, and the exporter follows the
written tensor to that op. What was computed from Python values alone is frozen into the file:
shapes, loop counts and branches taken on this input, as in every tracing exporter (a tensor
read into Python during the trace raises a ``TracerWarning``). A tensor never produced by a
traced op becomes an initializer (parameters and buffers under their ``state_dict`` names).

The file is checked with ``onnx.checker.check_model(full_check=True)`` before a byte is written,
and written atomically: an error at any step leaves no file. Models whose initializers pass
``EXTERNAL_DATA_THRESHOLD`` bytes (protobuf cannot serialize 2 GB) keep their tensors in a
``<file>.data`` beside the ``.onnx``.

Cost: one forward pass plus a Python call per op; the proto holds a second copy of the weights.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import IO, Any

import numpy as np

from tinytorch.core.atomic import atomic_write
from tinytorch.core.function import is_tensor
from tinytorch.core.tracing import trace
from tinytorch.onnx.graph import GraphBuilder, require_onnx
from tinytorch.onnx.registry import UnsupportedOperatorError, module_handler, op_handler

EXTERNAL_DATA_THRESHOLD = 2**31 - 2**26   # initializer bytes; 64 MB of room for the graph
MIN_OPSET = 17                            # LayerNormalization and the handlers' op forms

OPTIONS = frozenset({"fold_batchnorm"})   # keyword options handlers read from ``g.options``

DynamicAxes = Mapping[str, Mapping[int, str] | Sequence[int]]


def export(model: Any, args: Any, f: str | os.PathLike[str] | IO[bytes], *,
           input_names: Sequence[str] | None = None,
           output_names: Sequence[str] | None = None,
           opset_version: int = 18,
           dynamic_axes: DynamicAxes | None = None,
           **options: Any) -> None:
    """Write ``model``'s forward on ``args`` to ``f`` (a path or a binary file) as ONNX.

    ``args``: a Tensor or a tuple of them (non-tensor entries are passed to ``forward`` and
    frozen into the graph). ``dynamic_axes``: ``{name: {axis: "label"}}`` or
    ``{name: [axes]}`` for the inputs and outputs whose sizes may change. ``options``:
    ``fold_batchnorm=True`` folds eval-mode BatchNorm into the preceding convolution.
    """
    require_onnx()
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset_version <= newest:
        raise ValueError(f"opset_version must be between {MIN_OPSET} and {newest} (the onnx "
                         f"package's newest), got {opset_version}")
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise TypeError(f"export() got unexpected keyword argument(s) {unknown}; options are "
                        f"{sorted(OPTIONS)}")
    args = _as_args(args)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        proto = _build(model, args, input_names, output_names, opset_version,
                       _axes(dynamic_axes), options)
    finally:
        for m, training in modes:
            m.training = training
    save(proto, f)


# --------------------------------------------------------------------------- tracing
def _as_args(args: Any) -> tuple[Any, ...]:
    args = args if isinstance(args, tuple) else (args,)
    for i, a in enumerate(args):
        if not (is_tensor(a) or a is None or isinstance(a, (bool, int, float, str))):
            raise TypeError(f"export: args[{i}] is a {type(a).__name__}; pass Tensors (inputs "
                            "of the graph) or Python scalars/None/str (frozen as constants)")
    return args


def _axes(dynamic_axes: DynamicAxes | None) -> dict[str, dict[int, str]]:
    out: dict[str, dict[int, str]] = {}
    for name, axes in (dynamic_axes or {}).items():
        if isinstance(axes, Mapping):
            out[name] = {int(a): str(label) for a, label in axes.items()}
        else:
            out[name] = {int(a): f"{name}_dynamic_axes_{int(a) + 1}" for a in axes}
    return out


class TracerWarning(UserWarning):
    """A traced forward read a tensor's value in Python: the file holds this input's answer."""


class _Tracer:
    """Hooks and the op recorder of one export: keeps module paths and dispatches handlers."""

    def __init__(self, g: GraphBuilder, model: Any) -> None:
        self.g = g
        self.paths = {id(m): name for name, m in model.named_modules()}
        self.stack: list[str] = []
        self.owner: tuple[Any, int, tuple[Any, ...], dict[str, Any]] | None = None

    def pre_hook(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.stack.append(self.paths.get(id(module), type(module).__name__))
        if self.owner is None and module_handler(type(module)) is not None:
            self.owner = (module, len(self.stack), args, kwargs)

    def post_hook(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                  output: Any) -> None:
        owner = self.owner
        if owner is not None and owner[0] is module and owner[1] == len(self.stack):
            self.owner = None
            self.g.module_path = self.stack[-1]
            names = module_handler(type(module))(self.g, module, owner[2], owner[3], output)
            _bind_outputs(self.g, output, names, self.stack[-1])
        self.stack.pop()

    def on_host_read(self, t: Any, how: str) -> None:
        if self.owner is not None or self.g.is_state(t):
            return
        path = self.stack[-1] if self.stack else ""
        warnings.warn(
            f"ONNX export: a tensor was converted to a Python value ({how}) in module "
            f"'{path or '<root>'}'. The value is frozen into the graph as traced, so control "
            "flow that depends on it will not follow other inputs.", TracerWarning, stacklevel=3)

    def on_op(self, fn: type, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> None:
        if self.owner is not None:
            return
        path = self.stack[-1] if self.stack else ""
        handler = op_handler(fn)
        if handler is None:
            raise UnsupportedOperatorError(
                f"ONNX export: no translation for op {fn.__module__}.{fn.__qualname__}, "
                f"called in module '{path or '<root>'}'")
        self.g.module_path = path
        self.g.bind(result, handler(self.g, args, kwargs, result))


def _outputs(output: Any) -> list[Any]:
    """The tensors of a forward's output: a Tensor or a tuple/list of them (None dropped)."""
    if is_tensor(output):
        return [output]
    if isinstance(output, (tuple, list)):
        return [o for o in output if o is not None]
    raise TypeError(f"export: forward returned a {type(output).__name__}; expected a Tensor "
                    "or a tuple of Tensors")


def _bind_outputs(g: GraphBuilder, output: Any, names: str | Sequence[str], path: str) -> None:
    tensors = _outputs(output)
    names = [names] if isinstance(names, str) else list(names)
    if len(names) != len(tensors):
        raise RuntimeError(f"ONNX export: the handler of module '{path}' returned "
                           f"{len(names)} value(s) for {len(tensors)} output tensor(s)")
    for t, name in zip(tensors, names):
        g.bind(t, name)


def _state_names(model: Any) -> dict[int, str]:
    names: dict[int, str] = {}
    for n, t in [*model.named_parameters(), *model.named_buffers()]:
        names[id(t)] = n
        names.setdefault(id(t.array), n)
    return names


def _value_info(name: str, array: np.ndarray, dynamic: Mapping[int, str]) -> Any:
    from onnx import helper
    shape = [dynamic.get(i, d) for i, d in enumerate(array.shape)]
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(array.dtype),
                                         shape)


def _build(model: Any, args: tuple[Any, ...], input_names: Sequence[str] | None,
           output_names: Sequence[str] | None, opset: int,
           dynamic: dict[str, dict[int, str]], options: Mapping[str, Any]) -> Any:
    import onnx
    from onnx import helper

    g = GraphBuilder(opset, _state_names(model), options)
    g.dynamic = bool(dynamic)
    tensors = [a for a in args if is_tensor(a)]
    in_names = _names(input_names, len(tensors), "input")
    graph_inputs = []
    for t, name in zip(tensors, in_names):
        g.reserve(name)
        g.bind(t, name)
        g.bind(t.array, name)            # ops handed the raw array (loss targets) find the input
        graph_inputs.append(_value_info(name, t.array, dynamic.get(name, {})))

    for name in output_names or ():      # before tracing, so no node output takes the name
        g.reserve(name)
    tracer = _Tracer(g, model)
    with ExitStack() as stack:
        for _, m in model.named_modules():
            stack.callback(m.register_forward_pre_hook(tracer.pre_hook, with_kwargs=True).remove)
            stack.callback(m.register_forward_hook(tracer.post_hook, with_kwargs=True).remove)
        stack.enter_context(trace(tracer.on_op, tracer.on_host_read))
        output = model(*args)

    outs = _outputs(output)
    out_names = _names(output_names, len(outs), "output")
    graph_outputs = []
    for t, name in zip(outs, out_names):
        if name not in (output_names or ()):
            g.reserve(name)
        src = g.value(t)
        g.nodes.append(helper.make_node("Identity", [src], [name], name=g.fresh("output_node")))
        graph_outputs.append(_value_info(name, t.array, dynamic.get(name, {})))
    unknown = set(dynamic) - set(in_names) - set(out_names)
    if unknown:
        raise ValueError(f"dynamic_axes names {sorted(unknown)} are neither inputs "
                         f"{in_names} nor outputs {out_names}")

    nodes, initializers = _live(g.nodes, g.initializers, out_names)
    graph = helper.make_graph(nodes, type(model).__name__, graph_inputs, graph_outputs,
                              initializers)
    imports = [helper.make_opsetid("", opset)]
    imports += [helper.make_opsetid(d, 1) for d in sorted(g.domains)]
    proto = helper.make_model(graph, opset_imports=imports, producer_name="tinytorch",
                              ir_version=helper.find_min_ir_version_for(imports[:1]))
    if _initializer_bytes(proto) <= EXTERNAL_DATA_THRESHOLD:
        onnx.checker.check_model(proto, full_check=True)
    return proto


def _live(nodes: list[Any], initializers: list[Any],
          outputs: Sequence[str]) -> tuple[list[Any], list[Any]]:
    """The nodes and initializers the outputs depend on (a folded conv leaves its original).

    Tracing records every op the forward ran, including results it then discarded (a value
    computed and never used); the file keeps only what reaches an output.
    """
    needed = set(outputs)
    live = []
    for node in reversed(nodes):
        if needed.intersection(node.output):
            live.append(node)
            needed.update(node.input)
    return live[::-1], [t for t in initializers if t.name in needed]


def _names(given: Sequence[str] | None, n: int, stem: str) -> list[str]:
    given = list(given or [])
    if len(given) > n:
        raise ValueError(f"{len(given)} {stem} names given for {n} {stem}s: {given}")
    default = [stem] if n == 1 else [f"{stem}_{i}" for i in range(n)]
    return given + default[len(given):]


# --------------------------------------------------------------------------- writing
def _initializer_bytes(proto: Any) -> int:
    return sum(len(t.raw_data) for t in proto.graph.initializer)


def save(proto: Any, f: str | os.PathLike[str] | IO[bytes]) -> None:
    """Write ``proto`` to ``f`` atomically (external data beside it when it is too large)."""
    if _initializer_bytes(proto) > EXTERNAL_DATA_THRESHOLD:
        if not isinstance(f, (str, os.PathLike)):
            raise ValueError("export: a model this large keeps its weights in a separate file; "
                             "pass a path, not a file object")
        _save_external(proto, os.fspath(f))
        return
    data = proto.SerializeToString()
    if isinstance(f, (str, os.PathLike)):
        with atomic_write(f) as stream:
            stream.write(data)
    else:
        f.write(data)


def _save_external(proto: Any, path: str) -> None:
    """The model in ``path``, its large tensors in ``path + '.data'``; both or neither appear.

    Both files are written and checked in a temporary folder beside ``path`` and then renamed
    into place (the data first, so the model never names a missing file).
    """
    import onnx
    from onnx.external_data_helper import convert_model_to_external_data

    folder, base = os.path.split(os.path.abspath(path))
    location = base + ".data"
    convert_model_to_external_data(proto, all_tensors_to_one_file=True, location=location,
                                   size_threshold=1024)
    tmp = tempfile.mkdtemp(prefix=f".{base}.", dir=folder)
    try:
        staged = os.path.join(tmp, base)
        onnx.save_model(proto, staged, save_as_external_data=True,
                        all_tensors_to_one_file=True, location=location)
        onnx.checker.check_model(staged, full_check=True)
        for name in (location, base):
            with open(os.path.join(tmp, name), "rb") as stream:
                os.fsync(stream.fileno())
        os.replace(os.path.join(tmp, location), os.path.join(folder, location))
        os.replace(staged, os.path.join(folder, base))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
