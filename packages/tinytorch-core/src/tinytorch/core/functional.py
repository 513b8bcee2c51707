"""The ``torch.*`` function namespace: ``tinytorch.exp``, ``tinytorch.cat``, ``tinytorch.where``...

Nothing is computed here: every name is the op from ``tinytorch.core.ops`` itself, gathered into
one ``__all__`` that ``tinytorch/__init__.py`` re-exports. Names such as ``sum``, ``max``, ``abs``
and ``all`` shadow Python's builtins only for code that imports them from here on purpose, as
``torch.sum`` does. ``pad`` and ``one_hot`` belong to ``tinytorch.nn.functional``, not here.
"""

from __future__ import annotations

from tinytorch.core.function import is_tensor
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
from tinytorch.core.ops.linalg import addmm, baddbmm, einsum
from tinytorch.core.ops.nonfinite import isfinite, isinf, isnan, nan_to_num
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
from tinytorch.core.ops.reorder import flip, roll
from tinytorch.core.ops.rounding import ceil, floor, round, trunc
from tinytorch.core.ops.scan import cumprod, cumsum
from tinytorch.core.ops.scatter import scatter, scatter_add
from tinytorch.core.ops.select import (
    index_select,
    masked_select,
    narrow,
    nonzero,
    repeat_interleave,
    take_along_dim,
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
from tinytorch.core.ops.sorting import argsort, sort, topk
from tinytorch.core.ops.transcendental import atan2, expm1, log1p
from tinytorch.core.tensor import Tensor


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
    # contractions, scans, ordering
    "einsum", "addmm", "baddbmm", "cumsum", "cumprod", "flip", "roll", "sort", "argsort", "topk",
    # selection and scatter
    "index_select", "masked_select", "take_along_dim", "repeat_interleave", "narrow", "nonzero",
    "scatter", "scatter_add",
    # rounding, accurate transcendentals, non-finite values
    "floor", "ceil", "round", "trunc", "log1p", "expm1", "atan2", "isnan", "isinf", "isfinite",
    "nan_to_num",
    # introspection
    "is_tensor", "numel",
]
