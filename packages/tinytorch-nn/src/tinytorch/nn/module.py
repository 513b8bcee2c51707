"""``Module``: the base class of every layer and model, with PyTorch's registration rules.

Systems view: a Module is a tree. Each node keeps three ordered dicts — its own parameters,
its buffers (state that is not learned: running statistics, masks) and its child modules — and
``__setattr__`` files every assignment into the right one. Everything else walks that tree:
``parameters()`` (shared parameters yielded once), ``state_dict()`` (a flat name -> tensor map
that shares memory with the model, so saving costs no copy until serialization) and
``load_state_dict`` (copies in place, so optimizers holding the Parameters stay valid).
A model's memory is the sum over ``parameters()`` and ``buffers()`` of ``numel * itemsize``;
``num_parameters()`` reports the element count. Calling a module costs one Python call plus
its ``forward``; hooks add nothing unless registered.

Hooks, as in PyTorch: forward pre-hooks may replace the arguments, forward hooks the output,
full backward pre-hooks ``grad_output`` and full backward hooks ``grad_input`` (the
gradient graph machinery is in ``hooks.py``). Each ``register_*`` returns a
``RemovableHandle``.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.grad_mode import is_grad_enabled
from tinytorch.core.tensor import Tensor
from tinytorch.core.types import DTypeLike
from tinytorch.nn.hooks import BackwardHook, RemovableHandle
from tinytorch.nn.parameter import Parameter


class _IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` found missing from, or unexpected in, a state dict."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _check_name(kind: str, name: object) -> None:
    """PyTorch's checks on a name given to ``register_parameter``/``register_buffer``."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain "."')
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')


def _add_indent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    return "\n".join([lines[0]] + [" " * spaces + line for line in lines[1:]])


class Module:
    """Base class for all neural-network modules; subclasses define ``forward``."""

    training: bool

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_hooks_with_kwargs"] = {}
        d["_forward_hooks_always_called"] = {}
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_pre_hooks_with_kwargs"] = {}
        d["_backward_hooks"] = OrderedDict()
        d["_backward_pre_hooks"] = OrderedDict()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        d = self.__dict__
        if not (d["_forward_pre_hooks"] or d["_forward_hooks"] or d["_backward_hooks"]
                or d["_backward_pre_hooks"]):
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        for hook_id, hook in list(self._forward_pre_hooks.items()):
            if hook_id in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of "
                                           f"(new_args, new_kwargs), but got {result}.")
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        backward_hook = None
        if (self._backward_hooks or self._backward_pre_hooks) and is_grad_enabled():
            backward_hook = BackwardHook(self, list(self._backward_hooks.values()),
                                         list(self._backward_pre_hooks.values()))
            args = backward_hook.setup_input(args)
        out = None
        called: set[int] = set()
        try:
            out = self.forward(*args, **kwargs)
            for hook_id, hook in list(self._forward_hooks.items()):
                called.add(hook_id)
                new_out = self._run_forward_hook(hook_id, hook, args, kwargs, out)
                if new_out is not None:
                    out = new_out
        except Exception:
            for hook_id, hook in list(self._forward_hooks.items()):
                if hook_id in self._forward_hooks_always_called and hook_id not in called:
                    try:
                        self._run_forward_hook(hook_id, hook, args, kwargs, out)
                    except Exception as e:
                        warnings.warn("forward hook with ``always_call=True`` raised an "
                                      "exception that was silenced as another error was "
                                      f"raised in forward: {e}", stacklevel=2)
            raise
        if backward_hook is not None:
            out = backward_hook.setup_output(out)
        return out

    def _run_forward_hook(self, hook_id: int, hook: Callable[..., Any], args: tuple[Any, ...],
                          kwargs: dict[str, Any], out: Any) -> Any:
        if hook_id in self._forward_hooks_with_kwargs:
            return hook(self, args, kwargs, out)
        return hook(self, args, out)

    @staticmethod
    def _register(registry: OrderedDict[int, Any], hook: Callable[..., Any], prepend: bool,
                  flags: list[dict[int, Any]]) -> RemovableHandle:
        """File ``hook`` under a new id (first if ``prepend``), and in each flag dict."""
        handle = RemovableHandle(registry, extra_dict=flags)
        registry[handle.id] = hook
        if prepend:
            registry.move_to_end(handle.id, last=False)
        for flag in flags:
            flag[handle.id] = True
        return handle

    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args) -> None | new_args`` runs before every ``forward``; with
        ``with_kwargs``, ``hook(module, args, kwargs) -> None | (new_args, new_kwargs)``."""
        flags = [self._forward_pre_hooks_with_kwargs] if with_kwargs else []
        return self._register(self._forward_pre_hooks, hook, prepend, flags)

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                              with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """``hook(module, args, output) -> None | new_output`` runs after every ``forward``
        (``hook(module, args, kwargs, output)`` with ``with_kwargs``). ``always_call`` runs it
        even when ``forward`` raised (with ``output=None``)."""
        flags = ([self._forward_hooks_with_kwargs] if with_kwargs else []) + (
            [self._forward_hooks_always_called] if always_call else [])
        return self._register(self._forward_hooks, hook, prepend, flags)

    def register_full_backward_pre_hook(self, hook: Callable[..., Any],
                                        prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_output) -> None | new_grad_output`` runs when the gradients
        with respect to the module's outputs are known, before they flow into the module."""
        return self._register(self._backward_pre_hooks, hook, prepend, [])

    def register_full_backward_hook(self, hook: Callable[..., Any],
                                    prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_input, grad_output) -> None | new_grad_input`` runs when the
        gradients with respect to the module's inputs are computed.

        ``grad_input`` has one entry per positional argument, ``grad_output`` one per output
        (``None`` where there is no Tensor or no gradient). A returned ``grad_input`` replaces
        the gradients sent on to the inputs. When no input requires grad the hook runs with
        ``grad_input`` all None as soon as ``grad_output`` is known, as in PyTorch.
        """
        return self._register(self._backward_hooks, hook, prepend, [])

    # ------------------------------------------------------------------ registration
    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add ``param`` (or None, a declared-but-absent parameter) under ``name``."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name("parameter", name)
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(tinytorch.nn.Parameter or None required)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add non-learned state; ``persistent=False`` keeps it out of ``state_dict``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name("buffer", name)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name`` (``register_module`` is the same)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        _check_name("module", name)
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, keep="_parameters")
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(tinytorch.nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            if "_modules" not in d:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, keep="_modules")
            d["_modules"][name] = value
        elif "_modules" in d and name in d["_modules"]:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' "
                    "(tinytorch.nn.Module or None expected)"
                )
            d["_modules"][name] = None
        elif "_buffers" in d and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                    "(Tensor or None expected)"
                )
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str) -> None:
        """Drop ``name`` from the instance dict and every registry except ``keep`` (where it
        is about to be stored, keeping its position)."""
        d = self.__dict__
        d.pop(name, None)
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry != keep:
                d[registry].pop(name, None)
        d["_non_persistent_buffers_set"].discard(name)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if name in d.get(registry, ()):
                del d[registry][name]
                d["_non_persistent_buffers_set"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for this module and every descendant, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            sub = f"{prefix}.{name}" if prefix else name
            yield from child.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Any]]:
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        seen: set[int] = set()
        for mod_prefix, module in modules:
            for name, value in module.__dict__[registry].items():
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs; a parameter shared by two layers appears once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The module at dotted path ``target`` (``""`` is this module)."""
        if target == "":
            return self
        mod: Module = self
        for item in target.split("."):
            if item not in mod._modules or mod._modules[item] is None:
                raise AttributeError(f"{type(mod).__name__} has no attribute `{item}`")
            mod = mod._modules[item]
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target`` (``"0.weight"``)."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if name not in mod._parameters or mod._parameters[name] is None:
            raise AttributeError(f"{type(mod).__name__} has no parameter `{name}`")
        return mod._parameters[name]

    def num_parameters(self, only_trainable: bool = False) -> int:
        """Number of parameter elements (shared ones counted once). A TinyTorch extension."""
        return sum(p.array.size for p in self.parameters()
                   if p.requires_grad or not only_trainable)

    # ------------------------------------------------------------------ modes and grads
    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first) and then on this module."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad``: to None (default) or to zeros in place."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.array[...] = 0

    # ------------------------------------------------------------------ dtype / device
    def _apply_dtype(self, dtype: np.dtype) -> Module:
        """Cast floating-point parameters (in place, keeping their identity) and buffers."""
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and p.array.dtype.kind == "f" and p.array.dtype != dtype:
                    p.array = p.array.astype(dtype)
                    if p.grad is not None:
                        p.grad.array = p.grad.array.astype(dtype)
            for name, b in m._buffers.items():
                if b is not None and b.array.dtype.kind == "f" and b.array.dtype != dtype:
                    m._buffers[name] = Tensor._wrap(b.array.astype(dtype))
        return self

    def to(self, *args: Tensor | DTypeLike, **kwargs: Any) -> Module:
        """``to(dtype)``, ``to('cpu')`` or ``to(tensor)``: floating state takes the dtype."""
        dtype = kwargs.get("dtype")
        for a in list(args) + [kwargs.get("device")]:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif a is None:
                continue
            elif isinstance(a, str):
                if not a.startswith("cpu"):
                    raise RuntimeError(f"TinyTorch runs on the CPU only; got device {a!r}")
            else:
                dtype = a
        if dtype is None:
            return self
        d = dtypes.as_dtype(dtype)
        if d.kind != "f":
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got {d}")
        return self._apply_dtype(d)

    def cpu(self) -> Module:
        return self

    def float(self) -> Module:
        return self._apply_dtype(dtypes.float32)

    def double(self) -> Module:
        return self._apply_dtype(dtypes.float64)

    def half(self) -> Module:
        return self._apply_dtype(dtypes.float16)

    # ------------------------------------------------------------------ state dict
    def state_dict(self, *, destination: OrderedDict[str, Tensor] | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by dotted name, sharing memory with the model."""
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else Tensor._wrap(p.array)
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else Tensor._wrap(b.array)
        for name, child in self._modules.items():
            if child is not None:
                child.state_dict(destination=destination, prefix=f"{prefix}{name}.",
                                 keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict: Mapping[str, Any], prefix: str, assign: bool,
                              missing: list[str], errors: list[str]) -> None:
        """Copy this module's own entries (not its children's) out of ``state_dict``."""
        local = [(n, p) for n, p in self._parameters.items() if p is not None]
        local += [(n, b) for n, b in self._buffers.items()
                  if b is not None and n not in self._non_persistent_buffers_set]
        for name, current in local:
            key = prefix + name
            if key not in state_dict:
                missing.append(key)
                continue
            value = state_dict[key]
            if isinstance(value, Tensor):
                array = value.array
            elif isinstance(value, np.ndarray):
                array = value
            else:
                errors.append(
                    f'While copying the parameter named "{key}", expected Tensor or ndarray '
                    f"from checkpoint but received {type(value)}"
                )
                continue
            if array.shape != current.array.shape:
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {tuple(array.shape)} "
                    f"from checkpoint, the shape in current model is "
                    f"{tuple(current.array.shape)}."
                )
                continue
            if assign:
                current.array = array.astype(current.array.dtype, copy=False)
            else:
                np.copyto(current.array, array, casting="unsafe")

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> _IncompatibleKeys:
        """Copy ``state_dict`` into this model in place; returns (missing, unexpected) keys.

        A shape mismatch always raises ``RuntimeError``; missing or unexpected keys raise only
        when ``strict``. With ``assign=True`` the parameters take the checkpoint's arrays
        instead of copying them.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing: list[str] = []
        errors: list[str] = []
        for prefix, module in self.named_modules(remove_duplicate=False):
            module._load_from_state_dict(state_dict, f"{prefix}." if prefix else "", assign,
                                         missing, errors)
        expected = self.state_dict(keep_vars=True)
        unexpected = [k for k in state_dict if k not in expected]
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The text between the parentheses of this module's repr (its configuration)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _add_indent(text, 2)
                       for name, text in self._child_repr_items()]
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"

    def _child_repr_items(self) -> list[tuple[str, str]]:
        """``(name, repr)`` of each child; runs of identical numbered children collapse."""
        items = [(name, repr(child)) for name, child in self._modules.items()]
        out: list[tuple[str, str]] = []
        i = 0
        while i < len(items):
            j = i
            while (j + 1 < len(items) and items[j + 1][1] == items[i][1]
                   and items[j][0].isdigit() and items[j + 1][0].isdigit()
                   and int(items[j + 1][0]) == int(items[j][0]) + 1):
                j += 1
            if j > i:
                out.append((f"{items[i][0]}-{items[j][0]}", f"{j - i + 1} x {items[i][1]}"))
            else:
                out.append(items[i])
            i = j + 1
        return out
