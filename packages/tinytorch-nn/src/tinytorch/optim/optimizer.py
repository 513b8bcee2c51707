"""``Optimizer``: the base every optimizer builds on — parameter groups, per-parameter state,
state dicts, ``zero_grad`` and ``step``.

Systems view: an optimizer holds, for each parameter, a few state buffers the size of the
parameter (SGD with momentum: 1, Adam: 2, AMSGrad: 3), allocated once on the first step and
updated in place afterwards. Temporaries come from a small scratch pool shared by all
parameters of a dtype (``_scratch``): its size is that of the *largest* parameter, not the sum,
so an Adam step on P parameters needs 2·P state floats plus at most 2·max(numel) scratch, and
allocates no parameter-sized array after the first step. A step is a short chain of numpy
ufuncs with ``out=``, one pass over memory each; its cost is memory bandwidth, about
(passes × 4 bytes × numel) for float32.

``state_dict()`` has PyTorch's layout: ``{"state": {index: {...}}, "param_groups": [{...,
"params": [index, ...]}]}``, with parameters numbered in the order they appear in the groups,
so a state dict moves between processes and between optimizers built on equal models.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

import numpy as np

from tinytorch.core.grad_mode import enable_grad
from tinytorch.core.tensor import Tensor

ParamsT: TypeAlias = Iterable[Tensor] | Iterable[tuple[str, Tensor]] | Iterable[dict[str, Any]]
"""What an optimizer takes: Tensors, ``(name, Tensor)`` pairs, or parameter-group dicts."""


class _RequiredParameter:
    """Marks a hyper-parameter that every parameter group must set (PyTorch's ``required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    """Base class of optimizers. Subclasses implement ``_update_group(group)``.

    Args:
        params: an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts that define
            parameter groups (each with a ``"params"`` entry and any per-group options).
        defaults: the options a group gets when it does not set them.
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got a Tensor of shape {tuple(params.shape)}"
            )
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._scratch_pool: dict[tuple[np.dtype, int], np.ndarray] = {}
        self._opt_called = False  # set by step(); schedulers check it to catch a wrong order
        groups: list[Any] = list(params)  # Tensors, pairs or dicts: told apart just below
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (e.g. a lower lr for a backbone)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        tensors, names = [], []
        for p in params:
            if isinstance(p, tuple):
                names.append(p[0])
                p = p[1]
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__name__}"
                )
            if p.grad_fn is not None:
                raise ValueError("can't optimize a non-leaf Tensor")
            tensors.append(p)
        if names and len(names) != len(tensors):
            raise ValueError(
                "all optimizer params should be with/without names. Some param names are missing"
            )
        group = dict(param_group, params=tensors)
        if names:
            group["param_names"] = names
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        if len({id(p) for p in tensors}) != len(tensors):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        self.param_groups.append(group)

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``set_to_none``) or fill it with zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.grad_fn = None
                    p.grad.requires_grad = False
                    p.grad.array[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, in place.

        ``closure`` re-evaluates the model and returns the loss (for optimizers that need it);
        it runs with gradient recording on, and its loss is returned.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._update_group(group)
        self._opt_called = True
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _update_group(group)")

    def _scratch(self, like: np.ndarray, slot: int) -> np.ndarray:
        """A reusable temporary shaped like ``like`` (never saved; contents are garbage).

        One buffer per (dtype, slot) holds the largest parameter seen; smaller parameters get a
        view of its front, so steady-state steps allocate nothing.
        """
        key = (like.dtype, slot)
        buf = self._scratch_pool.get(key)
        if buf is None or buf.size < like.size:
            buf = np.empty(like.size, like.dtype)
            self._scratch_pool[key] = buf
        return buf[: like.size].reshape(like.shape)

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {i: {...}}, "param_groups": [{..., "params": [i, ...]}]}`` (PyTorch's).

        Parameters are numbered in group order; state values are the live buffers, not copies.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            state[index[id(p)] if isinstance(p, Tensor) else p] = s
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore options and state from ``state_dict``; buffers are copied into fresh arrays
        of each parameter's dtype, so the source dict is never updated by later steps."""
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has a different number of parameter groups "
                f"({len(saved_groups)}) than the optimizer ({len(self.param_groups)})"
            )
        for i, (ours, theirs) in enumerate(zip(self.param_groups, saved_groups)):
            if len(ours["params"]) != len(theirs["params"]):
                raise ValueError(
                    f"loaded state dict contains a parameter group that doesn't match the size "
                    f"of optimizer's group: group {i} has {len(theirs['params'])} parameters in "
                    f"the state dict and {len(ours['params'])} in the optimizer"
                )
        id_map = {
            saved: p
            for ours, theirs in zip(self.param_groups, saved_groups)
            for saved, p in zip(theirs["params"], ours["params"])
        }
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for key, values in state_dict["state"].items():
            p = id_map.get(key)
            if p is None:
                state[key] = values
                continue
            state[p] = {name: _cast_state(p, key, name, v) for name, v in values.items()}
        for ours, theirs in zip(self.param_groups, saved_groups):
            theirs["params"] = ours["params"]
            if "param_names" in ours and "param_names" not in theirs:
                theirs["param_names"] = ours["param_names"]
        self.param_groups = saved_groups
        self.state = state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"


def _cast_state(p: Tensor, index: int, name: str, value: Any) -> Any:
    """A private copy of one saved state entry, in the parameter's dtype (``step`` kept as is)."""
    if isinstance(value, np.ndarray):
        value = Tensor._wrap(value)
    if not isinstance(value, Tensor):
        return copy.deepcopy(value)
    if name == "step" or value.ndim == 0:
        return Tensor._wrap(np.array(value.array, copy=True))
    if value.shape != p.shape:
        raise ValueError(
            f"loaded optimizer state '{name}' of parameter {index} has shape "
            f"{tuple(value.shape)}, but the parameter has shape {tuple(p.shape)}"
        )
    dtype = p.dtype if p.is_floating_point() else value.dtype
    return Tensor._wrap(np.array(value.array, dtype=dtype, copy=True, order="C"))


def grad_for_update(
    param: np.ndarray, grad: np.ndarray, weight_decay: float, maximize: bool, out: np.ndarray
) -> np.ndarray:
    """The gradient an update uses: ``±grad + weight_decay·param`` (L2 penalty).

    Returns ``grad`` itself when there is nothing to add (no copy), else ``out`` holding the
    result. Cost: 0, 1 or 2 passes over the parameter.
    """
    if weight_decay:
        np.multiply(param, weight_decay, out=out)
        (np.subtract if maximize else np.add)(out, grad, out=out)
        return out
    if maximize:
        return np.negative(grad, out=out)
    return grad


def new_step_counter() -> Tensor:
    """The per-parameter ``step`` entry: a float32 scalar tensor, as in PyTorch's state."""
    return Tensor._wrap(np.zeros((), np.float32))


def increment(step: Tensor) -> float:
    """Add one to a step counter in place and return its new value."""
    arr = step.array
    arr += 1
    return float(arr)


def check_non_negative(**values: float) -> None:
    """Raise PyTorch's ``ValueError`` for a negative hyper-parameter (``lr``, ``eps``, ...)."""
    names = {"lr": "learning rate", "eps": "epsilon value"}
    for name, v in values.items():
        if not 0.0 <= v:
            raise ValueError(f"Invalid {names.get(name, name + ' value')}: {v}")
