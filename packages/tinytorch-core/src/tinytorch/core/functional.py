"""The ``torch.*`` function namespace: ``tinytorch.exp``, ``tinytorch.cat``, ``tinytorch.where``...

Nothing is computed here: every name is the op from ``tinytorch.core.ops`` itself, gathered into
one ``__all__`` that ``tinytorch/__init__.py`` re-exports. Names such as ``sum``, ``max``, ``abs``
and ``all`` shadow Python's builtins only for code that imports them from here on purpose, as
``torch.sum`` does. ``pad`` and ``one_hot`` belong to ``tinytorch.nn.functional``, not here.
"""

from __future__ import annotations

from typing import Any

from tinytorch.core.ops.arithmetic import add, bmm, div, matmul, mm, mul, neg, pow, sub
from tinytorch.core.ops.compare import (
    allclose,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    eq,
    equal,
    ge,
    gt,
    isclose,
    le,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    ne,
)
from tinytorch.core.ops.elementwise import (
    abs,
    clamp,
    clip,
    cos,
    exp,
    log,
    masked_fill,
    maximum,
    minimum,
    relu,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    tanh,
    where,
)
from tinytorch.core.ops.reduce import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    std,
    sum,
    var,
)
from tinytorch.core.ops.shape import (
    cat,
    chunk,
    concat,
    concatenate,
    flatten,
    gather,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    t,
    transpose,
    tril,
    triu,
    unbind,
    unsqueeze,
)
from tinytorch.core.ops.softmax import log_softmax, softmax
from tinytorch.core.tensor import Tensor


def is_tensor(obj: Any) -> bool:
    """True when ``obj`` is a TinyTorch Tensor."""
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:
    """The number of elements of ``input``."""
    return input.numel()


__all__ = [
    # arithmetic
    "add", "sub", "mul", "div", "pow", "neg", "matmul", "mm", "bmm",
    # elementwise
    "abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "relu", "sign",
    "clamp", "clip", "maximum", "minimum", "where", "masked_fill",
    # reductions
    "sum", "mean", "var", "std", "max", "min", "amax", "amin", "logsumexp", "softmax",
    "log_softmax", "norm", "argmax", "argmin", "all", "any", "prod",
    # shape
    "reshape", "flatten", "squeeze", "unsqueeze", "transpose", "t", "permute", "cat", "concat",
    "concatenate", "stack", "split", "chunk", "unbind", "tril", "triu", "gather",
    # comparison and logic
    "eq", "ne", "lt", "le", "gt", "ge", "isclose", "allclose", "equal", "logical_not",
    "logical_and", "logical_or", "logical_xor", "bitwise_not", "bitwise_and", "bitwise_or",
    "bitwise_xor",
    # introspection
    "is_tensor", "numel",
]
