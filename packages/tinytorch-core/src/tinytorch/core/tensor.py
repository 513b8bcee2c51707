"""``Tensor``: an n-dimensional array that can record the operations applied to it.

Systems view: a Tensor wraps exactly one ``numpy.ndarray`` (``tensor.array``) plus a few slots
of autograd bookkeeping: ``requires_grad``, ``grad``, ``grad_fn``, a version counter, and, for a
view, how it was made from its base. Its memory is ``numel * itemsize`` bytes; views
(``reshape``, ``transpose``, basic slicing, ``detach``) share that memory with their base, as in
PyTorch. This file holds the data structure: construction, metadata, conversion, the autograd
entry points (``requires_grad_``, ``backward``, ``register_hook``) and in-place updates. The
operators and op methods (``+``, ``exp``, ``sum``, ``view``, ``[]``, ...) are inherited from
``TensorMethods`` (``tensor_methods.py``), where each is one call into an op module (``ops/``).

In-place updates always write into the tensor's memory, so every view sees them, and bump the
*version counter* that the tensor shares with its views. A backward that saved the old values
checks the counter and raises instead of using the new ones. When a graph is recorded, the
update is computed out of place by its op, written back into the memory, and the tensor takes
the op's node as its ``grad_fn``. An in-place update of a view also rewrites its base's
history (``CopySlices``); a view whose base was changed refreshes its own history when it is
next used. A leaf that requires grad refuses in-place updates, as in PyTorch.

A TinyTorch extension to PyTorch's API: ``tensor.array`` is the wrapped ndarray itself, for
code in this framework's tiers that works on raw arrays (optimizers, kernels).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from tinytorch.core import dtypes, engine, ops, random, tracing
from tinytorch.core.function import Function, RemovableHandle
from tinytorch.core.grad_mode import _GradState
from tinytorch.core.inplace import check_inplace, write_inplace
from tinytorch.core.printing import format_tensor
from tinytorch.core.tensor_methods import TensorMethods
from tinytorch.core.views import ViewInfo

if TYPE_CHECKING:
    from tinytorch.core.types import DTypeLike, Number, TensorLike

_INT64_MAX = np.iinfo(np.int64).max


def _as_array(data: Any, dtype: DTypeLike = None) -> np.ndarray:
    """Convert Python data, arrays or Tensors to an ndarray with PyTorch's dtype inference."""
    if isinstance(data, Tensor):
        data = data.array
    if dtype is not None:
        d = dtypes.as_dtype(dtype)
        if d.kind in "iu" and not isinstance(data, np.ndarray):
            _check_int_range(np.array(data), d)
        return np.array(data, dtype=d)
    if isinstance(data, np.ndarray):
        arr = np.array(data)
    else:
        arr = np.array(data)
        if arr.dtype.kind in "fu" and arr.size and builtins.float(np.abs(arr).max()) >= 2.0**63:
            _check_int_range(np.array(data, dtype=object), dtypes.int64)  # ints NumPy made float
        if arr.dtype.kind == "f" and arr.dtype != dtypes.get_default_dtype():
            arr = arr.astype(dtypes.get_default_dtype())
        elif arr.dtype.kind in "iu" or arr.dtype.kind == "O":
            _check_int_range(arr, dtypes.int64)
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


def _check_int_range(arr: np.ndarray, dtype: np.dtype) -> None:
    """Python integers that do not fit ``dtype`` raise, as in PyTorch, instead of wrapping."""
    if arr.dtype.kind == "O":
        values = [builtins.int(v) for v in arr.flat
                  if isinstance(v, builtins.int) and not isinstance(v, builtins.bool)]
    elif arr.dtype.kind in "iu" and arr.size:
        values = [builtins.int(arr.max()), builtins.int(arr.min())]
    else:
        return
    info = np.iinfo(dtype)
    if any(v > info.max or v < info.min for v in values):
        raise RuntimeError(f"Overflow when unpacking long: a value does not fit in "
                           f"{dtypes.dtype_name(dtype)} (range {info.min} to {info.max})")


class Tensor(TensorMethods):
    """A multi-dimensional array with reverse-mode autograd, modelled on ``torch.Tensor``."""

    __slots__ = ("array", "_requires_grad", "_grad", "grad_fn", "_vc", "_view", "_hooks",
                 "__weakref__")
    __array_ufunc__ = None  # numpy defers to our reflected operators: np.float32(2) * t works
    array: np.ndarray
    _requires_grad: builtins.bool
    _grad: Tensor | None
    grad_fn: Function | None
    _vc: list[builtins.int] | None
    _view: ViewInfo | None
    _hooks: list[Callable[[Tensor], Tensor | None]] | None

    def __init__(self, data: Any = (), dtype: DTypeLike = None,
                 requires_grad: bool = False) -> None:
        self._setup(_as_array(data, dtype), requires_grad)

    def _setup(self, array: np.ndarray, requires_grad: builtins.bool = False) -> None:
        """Fill every slot (used by ``__init__`` and by subclasses such as ``Parameter``)."""
        self.array = array
        self._grad = None
        self.grad_fn = None
        self._vc = None       # [version], created on first need and shared with views
        self._view = None     # ViewInfo when this tensor is a view of another tensor
        self._hooks = None    # gradient hooks of a leaf
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array: np.ndarray, requires_grad: builtins.bool = False) -> Tensor:
        """Wrap an existing ndarray without copying or converting it (framework use)."""
        t = Tensor.__new__(Tensor)
        t.array = array
        t._requires_grad = requires_grad
        t._grad = None
        t.grad_fn = None
        t._vc = None
        t._view = None
        t._hooks = None
        return t

    # ------------------------------------------------------------------ autograd state
    @property
    def requires_grad(self) -> builtins.bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: builtins.bool) -> None:
        self.requires_grad_(value)

    @property
    def grad(self) -> Tensor | None:
        """The gradient accumulated by ``backward`` (None until the first backward)."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of "
                                f"type {type(value).__name__}")
            if value.array.shape != self.array.shape:
                raise RuntimeError(f"assigned grad has data of a different size: grad has shape "
                                   f"{tuple(value.array.shape)}, tensor has shape "
                                   f"{tuple(self.array.shape)}")
            if value.array.dtype != self.array.dtype:
                raise RuntimeError(f"assigned grad has data of a different type: grad is "
                                   f"{dtypes.dtype_name(value.array.dtype)}, tensor is "
                                   f"{dtypes.dtype_name(self.array.dtype)}")
        self._grad = value

    def _version_counter(self) -> list[int]:
        """The counter shared with this tensor's views, created on first need."""
        if self._vc is None:
            self._vc = [0]
        return self._vc

    def _increment_version(self) -> None:
        """Record an in-place write to the memory (optimizers call this after an update)."""
        if self._vc is None:
            self._vc = [1]
        else:
            self._vc[0] += 1

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
    def _version(self) -> int:
        """How many in-place writes this tensor's memory has had (PyTorch's ``_version``)."""
        return 0 if self._vc is None else self._vc[0]

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

    @overload
    def size(self, dim: None = None) -> tuple[builtins.int, ...]: ...

    @overload
    def size(self, dim: builtins.int) -> builtins.int: ...

    def size(self, dim: builtins.int | None = None) -> tuple[builtins.int, ...] | builtins.int:
        if dim is None:
            return self.array.shape
        return self.array.shape[dim]

    def dim(self) -> int:
        return self.array.ndim

    def numel(self) -> int:
        return self.array.size

    def element_size(self) -> int:
        return self.array.itemsize

    @overload
    def stride(self, dim: None = None) -> tuple[builtins.int, ...]: ...

    @overload
    def stride(self, dim: builtins.int) -> builtins.int: ...

    def stride(self, dim: builtins.int | None = None) -> tuple[builtins.int, ...] | builtins.int:
        s = tuple(st // self.array.itemsize for st in self.array.strides)
        return s if dim is None else s[dim]

    def is_contiguous(self) -> bool:
        return self.array.flags.c_contiguous

    # ------------------------------------------------------------------ conversion
    def item(self) -> Number:
        if self.array.size != 1:
            raise RuntimeError(
                f"a Tensor with {self.array.size} elements cannot be converted to Scalar"
            )
        tracing.host_read(self, "item()")
        return self.array.item()

    def numpy(self) -> np.ndarray:
        """The ndarray itself (shared memory), like PyTorch's ``Tensor.numpy()``."""
        if self.requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. "
                "Use tensor.detach().numpy() instead."
            )
        tracing.host_read(self, "numpy()")
        return self.array

    def tolist(self) -> Any:
        tracing.host_read(self, "tolist()")
        return self.array.tolist()

    def to(self, *args: Tensor | DTypeLike, **kwargs: Any) -> Tensor:
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

    def type(self, dtype: DTypeLike = None) -> str | Tensor:
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
        """The same memory outside the graph. It shares the version counter, as in PyTorch, so
        an in-place change through it is still caught by a backward that saved this tensor."""
        out = Tensor._wrap(self.array)
        out._vc = self._version_counter()
        return out

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._requires_grad = False
        self._view = None
        return self

    def contiguous(self) -> Tensor:
        if self.array.flags.c_contiguous:
            return self
        return ops.elementwise.clone(self)

    def __array__(self, dtype: DTypeLike = None, copy: builtins.bool | None = None) -> np.ndarray:
        return self.array if dtype is None else self.array.astype(dtype)

    # ------------------------------------------------------------------ Python protocols
    def __len__(self) -> builtins.int:
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
        tracing.host_read(self, "bool()")
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
    def requires_grad_(self, requires_grad: builtins.bool = True) -> Tensor:
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
        self._requires_grad = builtins.bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        engine.retain(self)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Call ``hook(grad)`` whenever a gradient for this tensor is computed.

        The hook may return a new gradient, which replaces the one that flows on (and, for a
        leaf, the one accumulated into ``.grad``). Returns a handle: ``handle.remove()``.
        """
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            return self.grad_fn.register_hook(hook)
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return RemovableHandle(self._hooks, hook)

    def backward(
        self, gradient: Tensor | None = None, retain_graph: builtins.bool | None = None,
        create_graph: builtins.bool = False
    ) -> None:
        engine.backward(self, gradient, builtins.bool(retain_graph), create_graph)

    # ------------------------------------------------------------------ in-place updates
    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value: TensorLike) -> Tensor:
        value = value.item() if isinstance(value, Tensor) and not value.requires_grad else value
        if isinstance(value, Tensor):
            return self.copy_(value.expand(self.array.shape))
        return self._overwrite(value)

    def copy_(self, src: Tensor) -> Tensor:
        """Copy ``src`` (broadcast, cast to this dtype) into this tensor's memory.

        Differentiable in ``src``, as in PyTorch: the gradient reaching this tensor flows to
        ``src`` (summed over broadcast dimensions), and none to the values overwritten.
        """
        check_inplace(self)
        src_rg = isinstance(src, Tensor) and src._requires_grad
        if _GradState.enabled and (self._requires_grad or src_rg):
            if not isinstance(src, Tensor):
                src = Tensor._wrap(np.asarray(src))
            return write_inplace(self, ops.elementwise.Copy.apply(
                self._alias(), src, shape=self.array.shape, dtype=self.array.dtype))
        np.copyto(self.array, src.array if isinstance(src, Tensor) else src, casting="unsafe")
        self._increment_version()
        return self

    def uniform_(self, a: builtins.float = 0.0, b: builtins.float = 1.0) -> Tensor:
        return self._overwrite(random.generator().uniform(a, b, self.array.shape))

    def normal_(self, mean: builtins.float = 0.0, std: builtins.float = 1.0) -> Tensor:
        return self._overwrite(random.generator().normal(mean, std, self.array.shape))

    def _overwrite(self, values: np.ndarray | Number) -> Tensor:
        """Write values that depend on nothing recorded (``fill_``, ``uniform_``, ...): with a
        graph, through a ``Copy`` node that sends no gradient to the old values; else in
        place."""
        check_inplace(self)
        if _GradState.enabled and self._requires_grad:
            fill = Tensor._wrap(np.asarray(values, dtype=self.array.dtype))
            return write_inplace(self, ops.elementwise.Copy.apply(
                self._alias(), fill, shape=self.array.shape, dtype=self.array.dtype))
        self.array[...] = values
        self._increment_version()
        return self

    def _inplace(self, op: Callable[[Tensor, TensorLike], Tensor], other: TensorLike,
                 ufunc: np.ufunc) -> Tensor:
        """In-place ``op``: a ufunc into the memory when no graph is recorded, else the op
        recorded out of place and written back (``write_inplace``)."""
        check_inplace(self)
        other_rg = isinstance(other, Tensor) and other._requires_grad
        if _GradState.enabled and (self._requires_grad or other_rg):
            return write_inplace(self, op(self._alias(), other))
        ufunc(self.array, other.array if isinstance(other, Tensor) else other,
              out=self.array, casting="unsafe")
        self._increment_version()
        return self

    def _alias(self) -> Tensor:
        """A new Tensor object for this one's current memory and history, the input of an
        in-place op recorded out of place (so the new node points at the old history)."""
        old = Tensor._wrap(self.array, self._requires_grad)
        old.grad_fn = self.grad_fn
        old._vc = self._version_counter()
        return old

    def add_(self, other: TensorLike, alpha: Number = 1) -> Tensor:
        if alpha != 1:
            other = other * alpha
        return self._inplace(Tensor.__add__, other, np.add)

    def sub_(self, other: TensorLike, alpha: Number = 1) -> Tensor:
        if alpha != 1:
            other = other * alpha
        return self._inplace(Tensor.__sub__, other, np.subtract)

    def mul_(self, other: TensorLike) -> Tensor:
        return self._inplace(Tensor.__mul__, other, np.multiply)

    def div_(self, other: TensorLike) -> Tensor:
        return self._inplace(Tensor.__truediv__, other, np.true_divide)

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_

    def clamp_(self, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:
        check_inplace(self)
        if _GradState.enabled and self._requires_grad:
            return write_inplace(self, ops.elementwise.clamp(self._alias(), min, max))
        np.clip(self.array, min, max, out=self.array)
        self._increment_version()
        return self

    def masked_fill_(self, mask: Tensor, value: TensorLike) -> Tensor:
        check_inplace(self)
        value_rg = isinstance(value, Tensor) and value._requires_grad
        if _GradState.enabled and (self._requires_grad or value_rg):
            return write_inplace(self, ops.elementwise.masked_fill(self._alias(), mask, value))
        m = mask.array if isinstance(mask, Tensor) else np.asarray(mask)
        fill = value.array if isinstance(value, Tensor) else value
        self.array[np.broadcast_to(m, self.array.shape)] = fill
        self._increment_version()
        return self

    def __setitem__(self, index: Any, value: TensorLike) -> None:
        check_inplace(self)
        value_rg = isinstance(value, Tensor) and value._requires_grad
        if _GradState.enabled and (self._requires_grad or value_rg):
            if isinstance(value, Tensor) and value.array.dtype != self.array.dtype:
                value = value.to(self.array.dtype)
            write_inplace(self, ops.indexing.index_put(self._alias(), index, value))
            return
        ops.indexing.setitem_array(self.array, index, value)
        self._increment_version()

    # ------------------------------------------------------------------ printing
    def __repr__(self) -> str:
        return format_tensor(self)

    def __format__(self, spec: str) -> str:
        if self.array.ndim == 0 and spec:
            return format(self.item(), spec)
        return repr(self)
