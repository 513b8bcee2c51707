"""Per-sample normalization: ``GroupNorm``, ``InstanceNorm2d`` and their functional forms.

Batch norm averages over the batch, so its statistics change with the batch size and a batch
of one has none. Group norm takes them per *sample*: the C channels are cut into G groups and
each sample's group is normalized over its ``C/G`` channels and all spatial positions, then a
per-channel affine ``weight``, ``bias`` is applied. Instance norm is the case ``G = C`` (each
channel of each image on its own, the usual choice for style transfer), optionally with
running statistics as batch norm keeps them.

Systems view, for x (N, C, *) with ``L`` positions, viewed as (N, G, M) with ``M = (C/G)·L``:

- forward: mean and biased variance per (sample, group) (``einsum`` contractions that write
  no temporary), then ``x̂ = (x - mean)/σ`` and ``y = x̂·weight + bias``: about 5 passes over x,
  ``≈ 8·N·C·L`` FLOPs. Saved for backward: ``x̂`` (one x-sized array) and ``1/σ`` (N·G).
- backward, by hand because the statistics depend on every element of the group:
  ``dx = (1/σ)·(dx̂ - mean(dx̂) - x̂·mean(dx̂·x̂))`` per group with ``dx̂ = dy·weight``, and
  ``dweight = Σ dy·x̂``, ``dbias = Σ dy`` over samples and positions: about 5 passes.

The trade-off: statistics that do not depend on the batch cost nothing extra at inference
(no running buffers to keep) but are noisier per sample than batch statistics. Parameters and
buffers use PyTorch's names, so state dicts carry over.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.arch.batchnorm import _NormBase, batch_norm, register_affine
from tinytorch.core import dtypes
from tinytorch.core.function import Function
from tinytorch.core.grad_mode import no_grad
from tinytorch.core.tensor import Tensor
from tinytorch.nn.module import Module


class GroupNormFunction(Function):
    """Normalize each (sample, group) over its channels and positions; per-channel affine."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, weight: np.ndarray | None,
                bias: np.ndarray | None, *, groups: int, eps: float) -> np.ndarray:
        # x: (N, C, *) -> (N, C, *); weight, bias: (C,)
        n, c = x.shape[:2]
        xg = x.reshape(n, groups, -1)                                     # (N, G, M)
        m = xg.shape[2]
        mean = np.einsum("ngm->ng", xg) / m                               # (N, G)
        xhat = xg - mean[:, :, None]
        var = np.einsum("ngm,ngm->ng", xhat, xhat) / m                    # biased
        rstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype)                 # (N, G)
        xhat *= rstd[:, :, None]
        xhat = xhat.reshape(n, c, -1)                                     # (N, C, L)
        out = xhat if weight is None else xhat * weight[:, None]
        if bias is not None:
            out = out + bias[:, None]
        ctx.save_for_backward(xhat, rstd, weight)
        ctx.groups = groups
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any, Any]:
        # grad: (N, C, *) -> dx (N, C, *), dweight (C,), dbias (C,)
        xhat, rstd, weight = ctx.saved_tensors
        n, c, _ = xhat.shape
        g3 = grad.reshape(n, c, -1)                                       # (N, C, L)
        need_x, need_w, need_b = ctx.needs_input_grad
        gw = np.einsum("ncl,ncl->c", g3, xhat) if need_w else None
        gb = np.einsum("ncl->c", g3) if need_b else None
        gx = None
        if need_x:
            dxhat = (g3 if weight is None else g3 * weight[:, None]).reshape(n, ctx.groups, -1)
            xg = xhat.reshape(dxhat.shape)                                # (N, G, M)
            m = xg.shape[2]
            mean_d = np.einsum("ngm->ng", dxhat) / m
            mean_dx = np.einsum("ngm,ngm->ng", dxhat, xg) / m
            gx = dxhat - mean_d[:, :, None]
            gx -= xg * mean_dx[:, :, None]
            gx *= rstd[:, :, None]
            gx = gx.reshape(grad.shape)
        return gx, gw, gb


def _check_affine(name: str, input: Tensor, weight: Tensor | None, bias: Tensor | None) -> None:
    c = input.shape[1]
    for what, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"{name}: expected {what} of shape ({c},) for input of shape "
                               f"{tuple(input.shape)}, got {tuple(t.shape)}")
        if t is not None and t.dtype != input.dtype:
            raise RuntimeError(f"{name}: expected {what} of dtype {input.dtype} like the input, "
                               f"got {t.dtype}")
    if input.dtype.kind != "f":
        raise RuntimeError(f"{name}: expected a floating-point input, got {input.dtype}")


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """PyTorch's ``F.group_norm``: (N, C, *) normalized per sample over groups of C/G channels."""
    if input.ndim < 2:
        raise RuntimeError(f"group_norm: expected an input of shape (N, C, *), got shape "
                           f"{tuple(input.shape)}")
    if num_groups <= 0 or input.shape[1] % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {list(input.shape)} and "
                           f"num_groups={num_groups}")
    _check_affine("group_norm", input, weight, bias)
    return GroupNormFunction.apply(input, weight, bias, groups=num_groups, eps=eps)


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """PyTorch's ``F.instance_norm``: (N, C, *) normalized per sample and channel.

    With ``use_input_stats`` each (sample, channel) uses its own statistics, and given running
    buffers are updated in place with the batch average of them (the variance unbiased, as
    PyTorch does); otherwise the running statistics normalize, as batch norm in eval mode.
    """
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected an input of shape (N, C, *) with at least "
                         f"one spatial dimension, got shape {tuple(input.shape)}")
    _check_affine("instance_norm", input, weight, bias)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("Expected running_mean and running_var to be defined when "
                             "use_input_stats is false")
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    if running_mean is not None or running_var is not None:
        x = input.array.reshape(*input.shape[:2], -1)                     # (N, C, L)
        with no_grad():
            if running_mean is not None:
                running_mean.mul_(1 - momentum).add_(
                    Tensor._wrap(momentum * x.mean(axis=(0, 2)).astype(x.dtype)))
            if running_var is not None:
                unbiased = x.var(axis=2, ddof=1 if x.shape[2] > 1 else 0).mean(axis=0)
                running_var.mul_(1 - momentum).add_(
                    Tensor._wrap((momentum * unbiased).astype(x.dtype)))
    return GroupNormFunction.apply(input, weight, bias, groups=input.shape[1], eps=eps)


class GroupNorm(Module):
    """Group normalization, PyTorch's ``nn.GroupNorm``: (N, C, *) -> (N, C, *).

    Parameters ``weight`` (C, ones) and ``bias`` (C, zeros) when ``affine``; no buffers.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        d = dtypes.as_dtype(dtype)
        register_affine(self, num_channels, affine, d)

    def reset_parameters(self) -> None:
        if self.affine:
            self.weight.array[...] = 1
            self.bias.array[...] = 0

    def forward(self, input: Tensor) -> Tensor:
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class InstanceNorm2d(_NormBase):
    """Instance normalization, PyTorch's ``nn.InstanceNorm2d``: (N, C, H, W) or (C, H, W).

    PyTorch's defaults: no affine parameters and no running statistics. With ``affine``,
    ``weight`` and ``bias`` (C); with ``track_running_stats``, buffers ``running_mean``,
    ``running_var`` and ``num_batches_tracked``, used in eval mode.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4):
            raise ValueError(f"expected 3D or 4D input (got {input.ndim}D input)")
        if input.shape[-3] != self.num_features and (self.affine or self.track_running_stats):
            raise ValueError(f"expected input's size at dim={input.ndim - 3} to match "
                             f"num_features ({self.num_features}), but got: "
                             f"{input.shape[-3]}.")
        x = input.unsqueeze(0) if input.ndim == 3 else input
        out = instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats,
                            0.0 if self.momentum is None else self.momentum, self.eps)
        return out.squeeze(0) if input.ndim == 3 else out
