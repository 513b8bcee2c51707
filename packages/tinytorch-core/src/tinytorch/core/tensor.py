"""``Tensor``: an n-dimensional array that can record the operations applied to it.

Systems view: a Tensor wraps exactly one ``numpy.ndarray`` (``tensor.array``) plus four slots
of autograd bookkeeping (``requires_grad``, ``grad``, ``grad_fn``, a weak-reference slot). Its
memory is ``numel * itemsize`` bytes; views (``reshape``, ``transpose``, basic slicing) share
that memory. This file holds the data structure: construction, metadata, conversion, the
autograd entry points (``requires_grad_``, ``backward``), in-place updates and printing. The
operators and op methods (``+``, ``exp``, ``sum``, ``view``, ``[]``, ...) are inherited from
``TensorMethods`` (``tensor_methods.py``), where each is one call into an op module
(``ops/``) whose ``Function`` has its forward and backward side by side.

In-place updates write into the array when no graph is recorded. When one is, they run the
out-of-place op and rebind the tensor to its result, so earlier consumers of the old values
still get correct gradients; a leaf that requires grad refuses them, as in PyTorch.

A TinyTorch extension to PyTorch's API: ``tensor.array`` is the wrapped ndarray itself, for
code in this framework's tiers that works on raw arrays (optimizers, kernels).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from tinytorch.core import dtypes, ops, random
from tinytorch.core.grad_mode import _GradState
from tinytorch.core.tensor_methods import TensorMethods

_LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert Python data, arrays or Tensors to an ndarray with PyTorch's dtype inference."""
    if isinstance(data, Tensor):
        data = data.array
    if dtype is not None:
        d = dtypes.as_dtype(dtype)
        return np.array(data, dtype=d)
    if isinstance(data, np.ndarray):
        arr = np.array(data)
    else:
        arr = np.array(data)
        if arr.dtype.kind == "f" and arr.dtype != dtypes.get_default_dtype():
            arr = arr.astype(dtypes.get_default_dtype())
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
    if arr.dtype.kind == "O" or arr.dtype.kind in "USV":
        raise TypeError(f"can't convert {type(data).__name__} of dtype {arr.dtype} to a tensor")
    if arr.dtype not in dtypes._SUPPORTED:
        if arr.dtype.kind == "f":
            arr = arr.astype(dtypes.get_default_dtype())
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"unsupported numpy dtype {arr.dtype}")
    return arr


def _check_inplace(t: Tensor) -> None:
    if t.requires_grad and t.grad_fn is None and _GradState.enabled:
        raise RuntimeError(_LEAF_INPLACE)


class Tensor(TensorMethods):
    """A multi-dimensional array with reverse-mode autograd, modelled on ``torch.Tensor``."""

    __slots__ = ("array", "requires_grad", "grad", "grad_fn", "__weakref__")
    __array_ufunc__ = None  # numpy defers to our reflected operators: np.float32(2) * t works

    def __init__(self, data: Any = (), dtype: Any = None, requires_grad: bool = False) -> None:
        self.array = _as_array(data, dtype)
        self.grad = None
        self.grad_fn = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array: np.ndarray, requires_grad: bool = False) -> Tensor:
        """Wrap an existing ndarray without copying or converting it (framework use)."""
        t = Tensor.__new__(Tensor)
        t.array = array
        t.requires_grad = requires_grad
        t.grad = None
        t.grad_fn = None
        return t

    # ------------------------------------------------------------------ metadata
    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def nbytes(self) -> int:
        return self.array.nbytes

    @property
    def itemsize(self) -> int:
        return self.array.itemsize

    @property
    def data(self) -> Tensor:
        """A tensor sharing this one's memory, outside the graph (PyTorch's ``.data``)."""
        return Tensor._wrap(self.array)

    @data.setter
    def data(self, value: Tensor) -> None:
        self.array = value.array if isinstance(value, Tensor) else _as_array(value)

    def is_floating_point(self) -> bool:
        return self.array.dtype.kind == "f"

    def size(self, dim: int | None = None) -> Any:
        if dim is None:
            return self.array.shape
        return self.array.shape[dim]

    def dim(self) -> int:
        return self.array.ndim

    def numel(self) -> int:
        return self.array.size

    def element_size(self) -> int:
        return self.array.itemsize

    def stride(self, dim: int | None = None) -> Any:
        s = tuple(st // self.array.itemsize for st in self.array.strides)
        return s if dim is None else s[dim]

    def is_contiguous(self) -> bool:
        return self.array.flags.c_contiguous

    # ------------------------------------------------------------------ conversion
    def item(self) -> Any:
        if self.array.size != 1:
            raise RuntimeError(
                f"a Tensor with {self.array.size} elements cannot be converted to Scalar"
            )
        return self.array.item()

    def numpy(self) -> np.ndarray:
        """The ndarray itself (shared memory), like PyTorch's ``Tensor.numpy()``."""
        if self.requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. "
                "Use tensor.detach().numpy() instead."
            )
        return self.array

    def tolist(self) -> Any:
        return self.array.tolist()

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to('cpu')`` or ``to(other_tensor)``; differentiable for floats."""
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, str) or a is None:
                if a not in (None, "cpu") and not str(a).startswith("cpu"):
                    raise RuntimeError(f"TinyTorch runs on the CPU only; got device {a!r}")
            else:
                dtype = a
        device = kwargs.get("device")
        if device is not None and not str(device).startswith("cpu"):
            raise RuntimeError(f"TinyTorch runs on the CPU only; got device {device!r}")
        if dtype is None:
            return self
        d = dtypes.as_dtype(dtype)
        if d == self.array.dtype:
            return self
        return ops.elementwise.cast(self, d)

    def type(self, dtype: Any = None) -> Any:
        if dtype is None:
            return dtypes.dtype_name(self.dtype)
        return self.to(dtype)

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool)

    def cpu(self) -> Tensor:
        return self

    def clone(self) -> Tensor:
        return ops.elementwise.clone(self)

    def detach(self) -> Tensor:
        return Tensor._wrap(self.array)

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self.requires_grad = False
        return self

    def contiguous(self) -> Tensor:
        if self.array.flags.c_contiguous:
            return self
        return ops.elementwise.clone(self)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.array if dtype is None else self.array.astype(dtype)

    # ------------------------------------------------------------------ Python protocols
    def __len__(self) -> int:
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self.array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(ops.shape.unbind(self, 0))

    def __bool__(self) -> builtins.bool:
        if self.array.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with {self.array.size} values is ambiguous"
            )
        return builtins.bool(self.array)

    def __float__(self) -> builtins.float:
        return builtins.float(self.item())

    def __int__(self) -> builtins.int:
        return builtins.int(self.item())

    def __index__(self) -> builtins.int:
        if self.array.dtype.kind not in "iub" or self.array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(self.array.item())

    # ------------------------------------------------------------------ autograd
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.array.dtype.kind not in "fc":
            raise RuntimeError(
                "only Tensors of floating point dtype can require gradients, "
                f"got {dtypes.dtype_name(self.array.dtype)}"
            )
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use "
                "a computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        self.requires_grad = builtins.bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        engine.retain(self)

    def backward(
        self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        engine.backward(self, gradient, builtins.bool(retain_graph), create_graph)

    # ------------------------------------------------------------------ in-place updates
    def zero_(self) -> Tensor:
        _check_inplace(self)
        self.array[...] = 0
        return self

    def fill_(self, value: Any) -> Tensor:
        _check_inplace(self)
        self.array[...] = value.item() if isinstance(value, Tensor) else value
        return self

    def copy_(self, src: Any) -> Tensor:
        _check_inplace(self)
        np.copyto(self.array, src.array if isinstance(src, Tensor) else src, casting="unsafe")
        return self

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        _check_inplace(self)
        self.array[...] = random.generator().uniform(a, b, self.array.shape)
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        _check_inplace(self)
        self.array[...] = random.generator().normal(mean, std, self.array.shape)
        return self

    def _inplace(self, op: Any, other: Any, ufunc: Any) -> Tensor:
        """In-place ``op``: mutate the array when no graph is recorded, else rebind history."""
        _check_inplace(self)
        other_rg = isinstance(other, Tensor) and other.requires_grad
        if _GradState.enabled and (self.requires_grad or other_rg):
            return self._rebind(op(self._alias(), other))
        ufunc(self.array, other.array if isinstance(other, Tensor) else other,
              out=self.array, casting="unsafe")
        return self

    def _alias(self) -> Tensor:
        """A new Tensor object for this one's current array and history (used before an
        in-place op is recorded out of place, so the new node points at the old values)."""
        old = Tensor._wrap(self.array, self.requires_grad)
        old.grad_fn = self.grad_fn
        return old

    def _rebind(self, out: Tensor) -> Tensor:
        """Make ``self`` the result ``out`` of an op recorded in place of an in-place update."""
        self.array = out.array.astype(self.array.dtype, copy=False)
        self.grad_fn = out.grad_fn
        self.requires_grad = out.requires_grad
        return self

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        if alpha != 1:
            other = other * alpha
        return self._inplace(Tensor.__add__, other, np.add)

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        if alpha != 1:
            other = other * alpha
        return self._inplace(Tensor.__sub__, other, np.subtract)

    def mul_(self, other: Any) -> Tensor:
        return self._inplace(Tensor.__mul__, other, np.multiply)

    def div_(self, other: Any) -> Tensor:
        return self._inplace(Tensor.__truediv__, other, np.true_divide)

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        _check_inplace(self)
        if _GradState.enabled and self.requires_grad:
            return self._rebind(ops.elementwise.clamp(self._alias(), min, max))
        np.clip(self.array, min, max, out=self.array)
        return self

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        _check_inplace(self)
        value_rg = isinstance(value, Tensor) and value.requires_grad
        if _GradState.enabled and (self.requires_grad or value_rg):
            return self._rebind(ops.elementwise.masked_fill(self._alias(), mask, value))
        m = mask.array if isinstance(mask, Tensor) else np.asarray(mask)
        fill = value.array if isinstance(value, Tensor) else value
        self.array[np.broadcast_to(m, self.array.shape)] = fill
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        _check_inplace(self)
        ops.indexing.setitem(self, index, value)

    # ------------------------------------------------------------------ printing
    def __repr__(self) -> str:
        return _format(self)

    def __format__(self, spec: str) -> str:
        if self.array.ndim == 0 and spec:
            return format(self.item(), spec)
        return repr(self)


def _format(t: Tensor) -> str:
    """PyTorch-style ``tensor([...], dtype=..., requires_grad=True)``."""
    a = t.array
    prefix = "tensor("
    opts: dict[str, Any] = {"separator": ", ", "prefix": prefix, "threshold": 1000, "edgeitems": 3}
    if a.dtype.kind == "f" and a.size:
        finite = a[np.isfinite(a)]
        if finite.size and np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e8:
            opts["formatter"] = {"float_kind": lambda v: f"{v:.0f}." if np.isfinite(v) else str(v)}
        else:
            opts["precision"] = 4
            opts["floatmode"] = "fixed"
    body = np.array2string(a, **opts) if a.size else "[]"
    extras = []
    default_dtypes = (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool)
    if a.size == 0 and a.shape != (0,):
        extras.append(f"size={tuple(a.shape)}")
    if a.dtype not in default_dtypes or (a.size == 0 and a.dtype != default_dtypes[0]):
        extras.append(f"dtype={dtypes.dtype_name(a.dtype)}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn={t.grad_fn!r}")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + body + "".join(", " + e for e in extras) + ")"


def as_tensor_args(values: Sequence[Any]) -> list[Tensor]:
    """Tensors from a sequence of Tensors or array-likes (used by ``cat``/``stack``)."""
    return [v if isinstance(v, Tensor) else Tensor(v) for v in values]


# Import order without a cycle: the op modules and the engine import Tensor, so they are loaded
# here, once it exists (``tinytorch.core`` imports this file first). Loading an op module makes it
# an attribute of the ``ops`` package, which is how this file and ``TensorMethods`` reach it.
from tinytorch.core import engine  # noqa: E402
from tinytorch.core.ops import (  # noqa: E402, F401
    arithmetic,
    compare,
    elementwise,
    indexing,
    reduce,
    shape,
)
