"""The op modules: each holds a family of ``Function``s (forward and backward side by side) and
the functions that call them. ``Tensor``'s methods and ``tinytorch.*`` both reach them here."""

from tinytorch.core.ops import (
    arithmetic,
    compare,
    elementwise,
    indexing,
    linalg,
    nonfinite,
    reduce,
    reorder,
    rounding,
    scan,
    scatter,
    select,
    shape,
    softmax,
    sorting,
    transcendental,
)

__all__ = ["arithmetic", "compare", "elementwise", "indexing", "linalg", "nonfinite", "reduce",
           "reorder", "rounding", "scan", "scatter", "select", "shape", "softmax", "sorting",
           "transcendental"]
