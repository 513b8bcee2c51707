"""Batch normalization: ``BatchNorm1d``, ``BatchNorm2d`` and ``batch_norm``, one fused op.

The algorithm (``BatchNormReference``), for x (N, C, *) with ``m = N·L`` values per channel
(L the product of the spatial sizes):

- training: per channel, the mean and the *biased* variance over the batch and spatial axes;
  ``x̂ = (x - mean) / sqrt(var + eps)``, then ``y = x̂·weight + bias``. The running statistics
  are updated in place with ``momentum`` (or a cumulative average when ``momentum=None``,
  which the module turns into a momentum); the running variance takes the *unbiased*
  estimate ``var·m/(m-1)``, as PyTorch does.
- evaluation: the same affine map with the running statistics.
- backward is written by hand, because the batch statistics depend on every input:
  ``dx = (1/σ)·(g - mean(g) - x̂·mean(g·x̂))`` with ``g = dy·weight``, and
  ``dweight = Σ dy·x̂``, ``dbias = Σ dy`` per channel.

Cost: about ``8·N·C·L`` FLOPs forward and backward each, a handful of passes over x; saved
for backward: one x-sized array and C values. By default the op runs a kernel of the same
formulas (``_kernels/batchnorm.py``: contractions without temporaries, in-place passes);
``tinytorch.use_reference_kernels(True)`` runs the reference.

Parameters ``weight`` (C) and ``bias`` (C) and buffers ``running_mean``, ``running_var`` and
``num_batches_tracked`` have PyTorch's names, so state dicts carry over.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.arch._kernels.batchnorm import BatchNormKernel
from tinytorch.core import dtypes
from tinytorch.core.function import Function
from tinytorch.core.reference import reference_kernels_enabled
from tinytorch.core.tensor import Tensor
from tinytorch.nn.module import Module
from tinytorch.nn.parameter import Parameter


class BatchNormReference(Function):
    """Batch norm as a textbook writes it: statistics, normalise, scale and shift."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, weight: np.ndarray | None,
                bias: np.ndarray | None, *, running_mean: np.ndarray | None,
                running_var: np.ndarray | None, training: bool, momentum: float,
                eps: float) -> np.ndarray:
        # x: (N, C, *) -> (N, C, *); weight, bias, running stats: (C,)
        axes = (0, *range(2, x.ndim))                        # every axis but the channels
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)        # a per-channel vector, broadcast
        if training:
            mean = x.mean(axis=axes)                                          # (C,)
            var = ((x - mean.reshape(shape)) ** 2).mean(axis=axes)            # biased
            if running_mean is not None:                     # the unbiased variance, m/(m-1)
                m = x.size // x.shape[1]
                running_mean[...] = (1 - momentum) * running_mean + momentum * mean
                running_var[...] = (1 - momentum) * running_var + momentum * var * m / (m - 1)
        else:
            mean, var = running_mean, running_var
        inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype)                 # (C,)
        x_hat = (x - mean.reshape(shape)) * inv_std.reshape(shape)           # (N, C, *)
        out = x_hat if weight is None else x_hat * weight.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        ctx.save_for_backward(x_hat, inv_std, weight)
        ctx.batch_stats = training
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any, Any]:
        # grad: (N, C, *) -> dx (N, C, *), dweight (C,), dbias (C,)
        x_hat, inv_std, weight = ctx.saved_tensors
        axes = (0, *range(2, grad.ndim))
        shape = (1, grad.shape[1]) + (1,) * (grad.ndim - 2)
        need_x, need_w, need_b = ctx.needs_input_grad
        gw = (grad * x_hat).sum(axis=axes) if need_w else None
        gb = grad.sum(axis=axes) if need_b else None
        gx = None
        if need_x:
            g_hat = grad if weight is None else grad * weight.reshape(shape)   # dL/dx̂
            if ctx.batch_stats:  # mean and variance depend on every x of the channel
                g_hat = (g_hat - g_hat.mean(axis=axes, keepdims=True)
                         - x_hat * (g_hat * x_hat).mean(axis=axes, keepdims=True))
            gx = g_hat * inv_std.reshape(shape)
        return gx, gw, gb


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """PyTorch's ``F.batch_norm``: normalize (N, C, *) per channel -> (N, C, *).

    ``training=True`` uses the batch statistics and, when given, updates ``running_mean`` and
    ``running_var`` in place; ``training=False`` uses the running statistics.
    """
    x = input.array
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, *), got shape "
                         f"{tuple(x.shape)}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"batch_norm: {name} should have {c} elements (the channels "
                               f"of input {tuple(x.shape)}), got shape {tuple(t.shape)}")
        if t is not None and t.array.dtype != x.dtype:
            raise RuntimeError(f"batch_norm: {name} has dtype {t.array.dtype} but input has "
                               f"dtype {x.dtype}")
    if training and x.size // max(c, 1) <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input "
                         f"size {list(x.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError("batch_norm: running_mean and running_var must be given when "
                           "training=False")
    op = BatchNormReference if reference_kernels_enabled() else BatchNormKernel
    return op.apply(
        input, weight, bias,
        running_mean=None if running_mean is None else running_mean.array,
        running_var=None if running_var is None else running_var.array,
        training=training, momentum=momentum, eps=eps)


def register_affine(module: Module, num_features: int, affine: bool, dtype: np.dtype) -> None:
    """Give a normalization layer ``weight`` (C, ones) and ``bias`` (C, zeros), or None."""
    if affine:
        module.weight = Parameter(Tensor._wrap(np.ones(num_features, dtype=dtype)))
        module.bias = Parameter(Tensor._wrap(np.zeros(num_features, dtype=dtype)))
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


class _NormBase(Module):
    """What BatchNorm1d/2d and InstanceNorm2d share: ``weight`` and ``bias`` (C) when
    ``affine``; buffers ``running_mean``, ``running_var`` (C) and ``num_batches_tracked`` when
    ``track_running_stats``; their resets and repr."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if device is not None and not str(device).startswith("cpu"):
            raise RuntimeError(f"TinyTorch runs on the CPU only; got device {device!r}")
        d = dtypes.as_dtype(dtype)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        register_affine(self, num_features, affine, d)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._wrap(np.zeros(num_features, dtype=d)))
            self.register_buffer("running_var", Tensor._wrap(np.ones(num_features, dtype=d)))
            self.register_buffer("num_batches_tracked",
                                 Tensor._wrap(np.zeros((), dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.array[...] = 0
            self.running_var.array[...] = 1
            self.num_batches_tracked.array[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            self.weight.array[...] = 1
            self.bias.array[...] = 0

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    """Shared body of BatchNorm1d/2d; subclasses only check the input's rank."""

    def _check_input_dim(self, input: Tensor) -> None:
        raise NotImplementedError

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise RuntimeError(f"{type(self).__name__}({self.num_features}): expected input "
                               f"with {self.num_features} channels, got input of shape "
                               f"{tuple(input.shape)}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.array += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.array)
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if track else None,
                          self.running_var if track else None, self.weight, self.bias,
                          use_batch, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs, PyTorch's ``nn.BatchNorm1d``.

    Parameters ``2·C``; buffers ``2·C + 1``. FLOPs about ``8·N·C·L`` per training forward.
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.ndim}D input)")


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs, per channel, PyTorch's ``nn.BatchNorm2d``.

    Parameters ``2·C``; buffers ``2·C + 1``. FLOPs about ``8·N·C·H·W`` per training forward.
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim != 4:
            raise ValueError(f"expected 4D input (got {input.ndim}D input)")
