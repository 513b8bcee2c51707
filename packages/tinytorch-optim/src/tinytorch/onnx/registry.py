"""The handler registry: which ONNX nodes stand for which TinyTorch op or module.

The exporter sees a forward pass two ways. Every ``Function.apply`` reaches it through
``tinytorch.core.tracing`` (an *op*), and every ``Module.__call__`` through forward hooks (a
*module*). A handler turns one of them into ONNX nodes:

- ``@register_op(FunctionClass, ...)`` -> ``handler(g, args, kwargs, result) -> str``: ``args``
  and ``kwargs`` exactly as ``Function.apply`` got them (Tensors, arrays, Python values),
  ``result`` the Tensor it returned; the handler returns the ONNX name of the result.
- ``@register_module(ModuleClass, ...)`` -> ``handler(g, module, args, kwargs, output) ->
  str | tuple[str, ...]``: one whole module call. The ops run inside it are not traced, and its
  output tensor(s) are bound to the returned name(s), in order.

A module handler wins over op tracing. Lookup is by class along the MRO, so a subclass uses its
parent's handler unless it has its own. Reference and kernel versions of one op (``Conv2dReference``
and ``Conv2dKernel``) register the same handler.

Cost: one dictionary lookup per class in the MRO, per op or module call traced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from tinytorch.onnx.graph import GraphBuilder

OpHandler = Callable[["GraphBuilder", tuple[Any, ...], dict[str, Any], Any], str]
ModuleHandler = Callable[["GraphBuilder", Any, tuple[Any, ...], dict[str, Any], Any],
                         "str | tuple[str, ...]"]
H = TypeVar("H", bound=Callable[..., Any])

_OPS: dict[type, OpHandler] = {}
_MODULES: dict[type, ModuleHandler] = {}


class UnsupportedOperatorError(RuntimeError):
    """An op or module the exporter has no ONNX translation for (names it and where it ran)."""


def register_op(*fn_classes: type) -> Callable[[H], H]:
    """Decorator: ``handler`` translates calls of every ``Function`` class given."""
    def decorate(handler: H) -> H:
        for cls in fn_classes:
            _OPS[cls] = handler
        return handler
    return decorate


def register_module(*module_classes: type) -> Callable[[H], H]:
    """Decorator: ``handler`` translates whole calls of every ``Module`` class given."""
    def decorate(handler: H) -> H:
        for cls in module_classes:
            _MODULES[cls] = handler
        return handler
    return decorate


def _lookup(table: dict[type, Any], cls: type) -> Any:
    for klass in cls.__mro__:
        handler = table.get(klass)
        if handler is not None:
            return handler
    return None


def op_handler(fn_class: type) -> OpHandler | None:
    """The handler for a ``Function`` class (or the nearest registered base), else ``None``."""
    return _lookup(_OPS, fn_class)


def module_handler(module_class: type) -> ModuleHandler | None:
    """The handler for a ``Module`` class (or the nearest registered base), else ``None``."""
    return _lookup(_MODULES, module_class)
