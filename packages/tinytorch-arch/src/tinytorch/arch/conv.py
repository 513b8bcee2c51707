"""2-D convolution: ``Conv2d`` and ``conv2d``, as im2col over strided windows plus one GEMM.

The algorithm (``Conv2dReference``), for x (N, C, H, W), weight (O, C/G, kH, kW), G groups,
``K = (C/G)·kH·kW`` and ``P = H_out·W_out`` output positions:

1. pad x to (N, C, Hp, Wp) (zeros, or reflect/replicate/circular: ``core/padding.py``);
2. im2col: look at the padded input through a strided view of every kH×kW window (no copy),
   and copy it once into the column matrix ``cols`` (N, G, K, P) (``fold.im2col``);
3. one matrix product ``W (G, O/G, K) @ cols`` gives every output (N, G, O/G, P), plus bias;
4. backward: ``dW = Σ_n dY @ colsᵀ``, ``dcols = Wᵀ @ dY``, and col2im (``fold.col2im``)
   adds every column entry back at the pixel it was read from, summing where windows
   overlap, which gives ``dx`` after the padding is taken off again.

Cost: ``2·N·O·K·P`` FLOPs forward, twice that backward (the two products). Extra memory:
``cols``, ``N·C·kH·kW·P`` elements (kH·kW times the input at stride 1), kept for the weight
gradient: memory traded for one large product instead of kH·kW small ones.

By default the op runs a kernel of the same algorithm (``_kernels/conv.py``: per-sample
columns for small products, batch-inside-channel columns for larger ones, the bias carried by
the GEMM, a fused col2im, the batch cut into chunks across threads);
``tinytorch.use_reference_kernels(True)`` runs the reference above. The parameters use
PyTorch's names, layout and default initialisation, so state dicts carry over unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch.arch import _spatial as sp
from tinytorch.arch._kernels.conv import Conv2dKernel
from tinytorch.arch.fold import col2im, im2col
from tinytorch.core import dtypes, padding
from tinytorch.core.function import Function
from tinytorch.core.grad_mode import is_grad_enabled
from tinytorch.core.reference import reference_kernels_enabled
from tinytorch.core.tensor import Tensor
from tinytorch.nn import init
from tinytorch.nn.module import Module
from tinytorch.nn.parameter import Parameter

Padding = int | tuple[int, int] | str

NO_PADS = (0, 0, 0, 0)


class Conv2dReference(Function):
    """Convolution as a textbook writes it: pad, im2col, one GEMM; backward through col2im."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, *,
                stride: tuple[int, int], pads: sp.Pads, dilation: tuple[int, int],
                groups: int, padding_mode: str) -> np.ndarray:
        # x: (N, C, H, W) or (C, H, W); weight: (O, C/G, kH, kW) -> (N, O, H_out, W_out)
        ctx.unbatched = x.ndim == 3
        if ctx.unbatched:
            x = x[None]
        n, _, h, w = x.shape
        o, cg, kh, kw = weight.shape
        ctx.mode = "constant" if padding_mode == "zeros" else padding_mode
        ctx.widths = sp.widths(pads)
        xp = padding.pad(x, ctx.widths, ctx.mode)                        # (N, C, Hp, Wp)
        out_hw = (sp.out_size(h, kh, stride[0], pads[0] + pads[1], dilation[0]),
                  sp.out_size(w, kw, stride[1], pads[2] + pads[3], dilation[1]))
        cols = im2col(xp, (kh, kw), dilation, NO_PADS, stride, out_hw)    # (N, C·kH·kW, P)
        cols = cols.reshape(n, groups, cg * kh * kw, out_hw[0] * out_hw[1])  # (N, G, K, P)
        w3 = weight.reshape(groups, o // groups, -1)                      # (G, O/G, K)
        out = np.matmul(w3, cols).reshape(n, o, *out_hw)                  # the one GEMM
        if bias is not None:
            out += bias[:, None, None]
        ctx.save_for_backward(cols, weight)
        ctx.padded_hw, ctx.out_hw = xp.shape[2:], out_hw
        ctx.stride, ctx.dilation, ctx.groups = stride, dilation, groups
        return out[0] if ctx.unbatched else out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any, Any]:
        # grad: (N, O, Ho, Wo) -> dx (N, C, H, W), dweight (O, C/G, kH, kW), dbias (O,)
        cols, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        g = grad[None] if ctx.unbatched else grad
        n, o = g.shape[:2]
        p = ctx.out_hw[0] * ctx.out_hw[1]
        g4 = g.reshape(n, ctx.groups, o // ctx.groups, p)                 # (N, G, O/G, P)
        gb = g.sum(axis=(0, 2, 3)) if need_b else None
        gw = None
        if need_w:                                                        # Σ_n dY @ colsᵀ
            gw = np.matmul(g4, cols.swapaxes(-1, -2)).sum(axis=0).reshape(weight.shape)
        gx = None
        if need_x:
            w3 = weight.reshape(ctx.groups, o // ctx.groups, -1)          # (G, O/G, K)
            dcols = np.matmul(w3.swapaxes(-1, -2), g4)                    # (N, G, K, P)
            dxp = col2im(dcols.reshape(n, ctx.groups * dcols.shape[2], p), ctx.padded_hw,
                         weight.shape[2:], ctx.dilation, NO_PADS, ctx.stride, ctx.out_hw)
            gx = padding.pad_backward(dxp, ctx.widths, ctx.mode)          # (N, C, H, W)
            if ctx.unbatched:
                gx = gx[0]
        return gx, gw, gb


def _resolve_padding(padding: Padding, kernel: tuple[int, int], stride: tuple[int, int],
                     dilation: tuple[int, int], exc: type[Exception]) -> sp.Pads:
    """int / (pH, pW) / 'valid' / 'same' -> (top, bottom, left, right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise exc(f"Invalid padding string '{padding}', should be one of "
                      "{'valid', 'same'}")
        if stride != (1, 1):
            raise exc("padding='same' is not supported for strided convolutions")
        th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)  # the odd pixel goes last
    ph, pw = sp.pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise exc(f"negative padding is not supported, got padding={padding!r}")
    return (ph, ph, pw, pw)


def _positive(value: Any, name: str) -> tuple[int, int]:
    v = sp.pair(value, name)
    if v[0] <= 0 or v[1] <= 0:
        raise RuntimeError(f"non-positive {name} is not supported, got {name}={value!r}")
    return v


def _conv(input: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, int],
          pads: sp.Pads, dilation: tuple[int, int], groups: int, padding_mode: str) -> Tensor:
    """Check shapes and dtypes like PyTorch, then run the fused op."""
    x, wt = input.array, weight.array
    if x.ndim not in (3, 4):
        raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to conv2d, but got "
                           f"input of size: {list(x.shape)}")
    if wt.ndim != 4:
        raise RuntimeError(f"conv2d: expected a 4D weight (out_channels, in_channels/groups, "
                           f"kH, kW), got weight of size {list(wt.shape)}")
    if groups <= 0:
        raise RuntimeError(f"non-positive groups is not supported, got groups={groups}")
    if wt.shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by "
                           f"{groups} at dimension 0, but got weight of size "
                           f"{list(wt.shape)} instead")
    channels = x.shape[-3]
    if channels != wt.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(wt.shape)}, expected "
                           f"input{list(x.shape)} to have {wt.shape[1] * groups} channels, "
                           f"but got {channels} channels instead")
    if bias is not None and tuple(bias.shape) != (wt.shape[0],):
        raise RuntimeError(f"Given weight of size {list(wt.shape)}, expected bias to be 1D "
                           f"with {wt.shape[0]} elements, but got bias of size "
                           f"{list(bias.shape)} instead")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.array.dtype != x.dtype:
            raise RuntimeError(f"conv2d: input type ({x.dtype}) and {name} type "
                               f"({t.array.dtype}) should be the same")
    if x.dtype.kind != "f":
        raise RuntimeError(f"conv2d: expected a floating-point input, got {x.dtype}")
    kernel = (wt.shape[2], wt.shape[3])
    if (x.shape[-2] + pads[0] + pads[1] < dilation[0] * (kernel[0] - 1) + 1
            or x.shape[-1] + pads[2] + pads[3] < dilation[1] * (kernel[1] - 1) + 1):
        raise sp.too_small("conv2d", x.shape, pads, kernel, dilation)
    if padding_mode != "zeros":
        sp.check_pad_mode(x.shape, pads, padding_mode)
    if reference_kernels_enabled():
        return Conv2dReference.apply(input, weight, bias, stride=stride, pads=pads,
                                     dilation=dilation, groups=groups, padding_mode=padding_mode)
    # batch-last columns make col2im fast; without an input gradient there is no col2im,
    # and batch-major columns make the output transpose a cheap block copy instead
    batch_last = input.requires_grad and is_grad_enabled()
    return Conv2dKernel.apply(input, weight, bias, stride=stride, pads=pads, dilation=dilation,
                              groups=groups, padding_mode=padding_mode, batch_last=batch_last)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Padding = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, PyTorch's ``F.conv2d``.

    input (N, C, H, W) or (C, H, W); weight (O, C/groups, kH, kW); bias (O,) ->
    (N, O, H_out, W_out) with ``H_out = floor((H + 2·pH - dH·(kH-1) - 1) / sH) + 1``.
    ``padding`` is an int, a pair, ``'valid'`` (none) or ``'same'`` (output size = input size,
    stride 1 only; an odd total goes to the bottom/right). Zero padding.
    """
    stride_ = _positive(stride, "stride")
    dilation_ = _positive(dilation, "dilation")
    kernel = (weight.shape[-2], weight.shape[-1])
    pads = _resolve_padding(padding, kernel, stride_, dilation_, RuntimeError)
    return _conv(input, weight, bias, stride_, pads, dilation_, groups, "zeros")


def check_conv_arguments(in_channels: int, out_channels: int, groups: int, device: Any) -> None:
    """The checks every convolution layer makes before it allocates its weight."""
    if device is not None and not str(device).startswith("cpu"):
        raise RuntimeError(f"TinyTorch runs on the CPU only; got device {device!r}")
    if not isinstance(groups, int) or groups <= 0:
        raise ValueError("groups must be a positive integer")
    if in_channels % groups != 0:
        raise ValueError("in_channels must be divisible by groups")
    if out_channels % groups != 0:
        raise ValueError("out_channels must be divisible by groups")


def register_conv_parameters(module: Module, weight_shape: tuple[int, ...], out_channels: int,
                             bias: bool, dtype: np.dtype) -> None:
    """Give a convolution layer an uninitialised ``weight`` and ``bias`` (C_out) or None."""
    module.weight = Parameter(Tensor._wrap(np.empty(weight_shape, dtype=dtype)))
    if bias:
        module.bias = Parameter(Tensor._wrap(np.empty((out_channels,), dtype=dtype)))
    else:
        module.register_parameter("bias", None)


class Conv2d(Module):
    """2-D convolution layer, PyTorch's ``nn.Conv2d``: (N, C_in, H, W) -> (N, C_out, Ho, Wo).

    Parameters: ``weight`` (C_out, C_in/groups, kH, kW) and ``bias`` (C_out), initialised like
    PyTorch: ``kaiming_uniform_(weight, a=√5)``, i.e. U(-1/√fan_in, 1/√fan_in) with
    ``fan_in = C_in/groups·kH·kW``, and the bias from the same range. ``padding_mode`` is
    ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
    Cost per sample: ``2·C_out·(C_in/groups)·kH·kW·Ho·Wo`` FLOPs forward, twice that backward.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Padding = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        check_conv_arguments(in_channels, out_channels, groups, device)
        if padding_mode not in sp.PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {list(sp.PADDING_MODES)}, but got "
                             f"padding_mode='{padding_mode}'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = sp.pair(kernel_size, "kernel_size")
        self.stride = _positive(stride, "stride")
        self.dilation = _positive(dilation, "dilation")
        self.padding = padding if isinstance(padding, str) else sp.pair(padding, "padding")
        self.groups = groups
        self.padding_mode = padding_mode
        self._pads = _resolve_padding(padding, self.kernel_size, self.stride, self.dilation,
                                      ValueError)
        d = dtypes.as_dtype(dtype)
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        register_conv_parameters(self, shape, out_channels, bias, d)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.linear_like_(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return _conv(input, self.weight, self.bias, self.stride, self._pads, self.dilation,
                     self.groups, self.padding_mode)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) \
                else f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s
