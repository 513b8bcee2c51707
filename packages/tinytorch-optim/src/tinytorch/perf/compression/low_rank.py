"""Low-rank factorization: a Linear replaced by two thinner ones from its truncated SVD.

What it computes: ``W = U·diag(s)·Vᵀ`` (``W`` is ``(out, in)``), keeps the ``r`` largest
singular values and splits them evenly between the two factors:

    first  = Linear(in, r, bias=False),  weight = diag(√s_r)·V_rᵀ       (r, in)
    second = Linear(r, out),             weight = U_r·diag(√s_r)        (out, r), the old bias

so ``second(first(x)) = x·(U_r diag(s_r) V_rᵀ)ᵀ + b``, the best rank-``r`` approximation of
``W`` in the Frobenius norm (Eckart–Young). Its relative error is
``‖W - W_r‖_F / ‖W‖_F = √(Σ_{i>r} s_i²) / √(Σ s_i²)``. With ``rank=None`` the rank is the
smallest that keeps the fraction ``energy`` of ``Σ s_i²``. The even split keeps both factors on
the same scale, which later training and quantization prefer.

Cost: parameters and FLOPs go from ``in·out`` to ``r·(in + out)`` (plus the bias), a saving
only while ``r < in·out / (in + out)``; the factorization itself is one SVD,
``O(in·out·min(in, out))``, done once in float64. The price is the approximation error,
which the result reports; a short fine-tuning usually recovers most of the accuracy.
"""

from __future__ import annotations

import copy

import numpy as np

from tinytorch.core.grad_mode import no_grad
from tinytorch.core.tensor import Tensor
from tinytorch.nn import Linear, Module, Sequential


class LowRankLinear(Sequential):
    """``Sequential(Linear(in, r, bias=False), Linear(r, out))`` made by ``low_rank``, with
    what the factorization cost and saved.

    Attributes:
        rank: ``r``.
        relative_error: ``‖W - W_r‖_F / ‖W‖_F`` of the product of the two weights.
        energy: fraction of ``Σ s_i²`` kept.
        params_before, params_after: parameter counts of the Linear and of this module.
    """

    def __init__(self, first: Linear, second: Linear, *, relative_error: float,
                 energy: float, params_before: int) -> None:
        super().__init__(first, second)
        self.rank = first.out_features
        self.relative_error = relative_error
        self.energy = energy
        self.params_before = params_before
        self.params_after = sum(p.numel() for p in self.parameters())

    @property
    def parameter_savings(self) -> int:
        """Parameters saved (negative when the factorization is larger than the Linear)."""
        return self.params_before - self.params_after

    def extra_repr(self) -> str:
        return (f"rank={self.rank}, relative_error={self.relative_error:.4f}, "
                f"params {self.params_before:,} -> {self.params_after:,}")


def _rank_for(energy_per_rank: np.ndarray, energy: float) -> int:
    """The smallest rank whose cumulative share of ``Σ s²`` reaches ``energy``."""
    return int(np.searchsorted(energy_per_rank, energy - 1e-12) + 1)


def low_rank(linear: Linear, rank: int | None = None, energy: float = 0.9) -> LowRankLinear:
    """Replace ``linear`` by two smaller Linears from its truncated SVD (``linear`` unchanged).

    Args:
        linear: the layer to factorize; ``weight`` (out, in).
        rank: the rank ``r`` to keep, ``1 <= r <= min(in, out)``; None chooses it from
            ``energy``.
        energy: with ``rank=None``, the fraction in (0, 1] of ``Σ s_i²`` to keep.

    Returns:
        A ``LowRankLinear``: (*, in) -> (*, r) -> (*, out), in ``linear``'s dtype, reporting
        ``rank``, ``relative_error`` and ``parameter_savings``.
    """
    if not isinstance(linear, Linear):
        raise TypeError(f"low_rank: expected a tinytorch.nn.Linear, got "
                        f"{type(linear).__name__}")
    weight = linear.weight.array
    out_features, in_features = weight.shape
    full = min(out_features, in_features)
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int)
                             or not 1 <= rank <= full):
        raise ValueError(f"low_rank: rank must be an int in [1, {full}] for a weight of shape "
                         f"{tuple(weight.shape)}, got {rank!r}")
    if rank is None and not 0.0 < energy <= 1.0:
        raise ValueError(f"low_rank: energy must be in (0, 1], got {energy}")
    u, s, vt = np.linalg.svd(weight.astype(np.float64), full_matrices=False)
    total = float(np.sum(s * s))
    cumulative = np.cumsum(s * s) / total if total > 0 else np.ones_like(s)
    r = rank if rank is not None else _rank_for(cumulative, energy)

    dtype = weight.dtype
    root = np.sqrt(s[:r])
    a = (root[:, None] * vt[:r]).astype(dtype)      # (r, in)
    b = (u[:, :r] * root[None, :]).astype(dtype)    # (out, r)
    w64 = weight.astype(np.float64)
    error = (np.linalg.norm(w64 - b.astype(np.float64) @ a)
             / max(np.linalg.norm(w64), np.finfo(float).tiny))

    first = Linear(in_features, r, bias=False, dtype=dtype)
    second = Linear(r, out_features, bias=linear.bias is not None, dtype=dtype)
    with no_grad():
        first.weight.copy_(Tensor._wrap(a))
        second.weight.copy_(Tensor._wrap(b))
        if linear.bias is not None:
            second.bias.copy_(linear.bias.detach())
    return LowRankLinear(first, second, relative_error=float(error),
                         energy=float(cumulative[r - 1]),
                         params_before=sum(p.numel() for p in linear.parameters()))


def low_rank_model(model: Module, rank: int | None = None, energy: float = 0.9) -> Module:
    """A copy of ``model`` with every Linear whose factorization saves parameters replaced by
    ``low_rank(linear, rank, energy)`` (a Linear registered in two places is replaced in
    both by one module); the other layers, and ``model`` itself, stay as they were."""
    if isinstance(model, Linear):
        single = low_rank(model, rank, energy)
        return single if single.parameter_savings > 0 else copy.deepcopy(model)
    new = copy.deepcopy(model)
    places = [(name, layer) for name, layer in new.named_modules(remove_duplicate=False)
              if isinstance(layer, Linear)]
    if not places:
        raise ValueError(f"low_rank_model: {type(model).__name__} has no Linear layer")
    factored: dict[int, LowRankLinear] = {}
    for _, layer in places:
        if id(layer) not in factored:
            full = min(layer.in_features, layer.out_features)
            factored[id(layer)] = low_rank(layer, None if rank is None else min(rank, full),
                                           energy)
    for name, layer in places:
        if factored[id(layer)].parameter_savings > 0:
            parent_name, _, child = name.rpartition(".")
            setattr(new.get_submodule(parent_name), child, factored[id(layer)])
    return new
