"""2-D convolution: ``Conv2d`` and ``conv2d``, as im2col over a strided view plus one GEMM.

Systems view, for x (N, C, H, W), weight (O, C/G, kH, kW), output (N, O, H_out, W_out),
``K = (C/G)·kH·kW`` and ``P = H_out·W_out``:

- forward: one transposing copy pads the input into a batch-last layout (C, Hp, Wp, N); a
  zero-copy window view of it (``_spatial.windows``) is copied *once* into the im2col matrix
  ``cols`` (G, K, P·N), and one matrix product ``W (G, O/G, K) @ cols`` (one BLAS call per
  group) gives (O, P·N), which a 2-D transposing copy turns into NCHW. FLOPs ``2·N·O·K·P``;
  extra memory: ``cols``, ``N·C·kH·kW·P`` elements (kH·kW times the input at stride 1), kept
  for the weight gradient — memory traded for a single large GEMM instead of kH·kW small ones.
  Why batch-last: a row of one channel, ``(W_out, N)``, is then one contiguous run (at stride
  1), so the im2col copy and the col2im adds move long runs instead of W_out-long snippets;
  that costs two cheap transposes of (N·O·P) elements, of the output and of its gradient.
- backward: two more GEMMs of the same size, ``dW = dY @ colsᵀ`` (computed as
  ``(cols @ dYᵀ)ᵀ``, the orientation multi-threaded OpenBLAS handles well) and
  ``dcols = Wᵀ @ dY``, then col2im: ``dcols`` is added back into a zero padded gradient one
  kernel offset at a time — a loop over the kH·kW offsets (25 for a 5×5 kernel), each one a
  vectorised strided add over all of N·C·H_out·W_out. There is no loop over pixels, channels
  or batch items; overlapping windows simply accumulate. ``dX`` is skipped when the input
  needs no gradient (the first layer of a network), which saves that GEMM and the col2im.

Padding: ``'zeros'`` is a fill plus a slice copy; ``'reflect'``, ``'replicate'`` and
``'circular'`` gather rows/columns by index (``_spatial.pad_gather``). The parameters use
PyTorch's names, layout and default initialisation, so state dicts carry over unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinytorch.arch import _spatial as sp
from tinytorch.core import dtypes
from tinytorch.core.function import Function
from tinytorch.core.tensor import Tensor
from tinytorch.nn import init
from tinytorch.nn.module import Module
from tinytorch.nn.parameter import Parameter

Padding = int | tuple[int, int] | str


class Conv2dFunction(Function):
    """The fused convolution op: padding, im2col, GEMM and bias in one graph node."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, *,
                stride: tuple[int, int], pads: sp.Pads, dilation: tuple[int, int],
                groups: int, padding_mode: str) -> np.ndarray:
        # x: (N, C, H, W) or (C, H, W); weight: (O, C/G, kH, kW) -> (N, O, H_out, W_out)
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        n, _, h, w = x.shape
        o, cg, kh, kw = weight.shape
        xp = _pad_channels_first(x, pads, padding_mode)                     # (C, Hp, Wp, N)
        out_hw = (sp.out_size(h, kh, stride[0], pads[0] + pads[1], dilation[0]),
                  sp.out_size(w, kw, stride[1], pads[2] + pads[3], dilation[1]))
        k, pn = cg * kh * kw, out_hw[0] * out_hw[1] * n
        cols = sp.windows(xp, (kh, kw), stride, dilation, out_hw).reshape(groups, k, pn)
        w3 = weight.reshape(groups, o // groups, k)                          # (G, O/G, K)
        prod = np.matmul(w3, cols).reshape(-1, n)                            # (O·Ho·Wo, N)
        # one transposing copy to NCHW; as a 2-D transpose it runs about twice as fast
        out = np.ascontiguousarray(prod.T).reshape(n, o, *out_hw)           # (N, O, Ho, Wo)
        if bias is not None:
            out += bias[:, None, None]
        ctx.saved_tensors = (cols, w3)
        ctx.geometry = (x.shape, xp.shape, weight.shape, out_hw, stride, pads, dilation,
                        padding_mode, unbatched)
        return out[0] if unbatched else out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any, Any]:
        # grad: (N, O, Ho, Wo) -> dx (N, C, H, W), dweight (O, C/G, kH, kW), dbias (O,)
        cols, w3 = ctx.saved_tensors
        x_shape, xp_shape, w_shape, out_hw, stride, pads, dilation, mode, unbatched = (
            ctx.geometry)
        if unbatched:
            grad = grad[None]
        groups, og, _ = w3.shape
        n = grad.shape[0]
        g = np.ascontiguousarray(grad.reshape(n, -1).T)                     # (O·Ho·Wo, N)
        g3 = g.reshape(groups, og, -1)                                       # (G, O/G, P·N)
        need_x, need_w, need_b = ctx.needs_input_grad
        gb = g3.sum(axis=2).reshape(-1) if need_b else None
        gw = None
        if need_w:
            # (K, P·N) @ (P·N, O/G) and a transpose of the tiny result: the same GEMM as
            # dY @ colsᵀ, but multi-threaded OpenBLAS handles this orientation far better
            gw = np.matmul(cols, g3.transpose(0, 2, 1)).transpose(0, 2, 1).reshape(w_shape)
        gx = None
        if need_x:
            c, kh, kw = xp_shape[0], w_shape[2], w_shape[3]
            dcols = np.matmul(w3.transpose(0, 2, 1), g3)                     # (G, K, P·N)
            dcols = dcols.reshape(c, kh, kw, *out_hw, n)                     # (C,kH,kW,Ho,Wo,N)
            dxp = np.zeros(xp_shape, dtype=grad.dtype)                       # (C, Hp, Wp, N)
            for i in range(kh):                  # col2im: one strided add per kernel offset
                for j in range(kw):
                    _, _, rows, cols_ = sp.window_slice(i, j, stride, dilation, out_hw)
                    dxp[:, rows, cols_] += dcols[:, i, j]
            dpad = np.ascontiguousarray(dxp.reshape(-1, n).T).reshape(n, *xp_shape[:3])
            if mode == "zeros":                                              # (N, C, Hp, Wp)
                gx = dpad[:, :, pads[0]:pads[0] + x_shape[2], pads[2]:pads[2] + x_shape[3]]
            else:
                gx = sp.pad_gather_backward(dpad, x_shape, pads, mode)
            if unbatched:
                gx = gx[0]
        return gx, gw, gb


def _pad_channels_first(x: np.ndarray, pads: sp.Pads, mode: str) -> np.ndarray:
    """(N, C, H, W) -> padded (C, Hp, Wp, N): the one transposing copy of the input."""
    if mode != "zeros":
        return np.ascontiguousarray(sp.pad_gather(x, pads, mode).transpose(1, 2, 3, 0))
    n, c, h, w = x.shape
    xp = np.zeros((c, h + pads[0] + pads[1], w + pads[2] + pads[3], n), dtype=x.dtype)
    xp[:, pads[0]:pads[0] + h, pads[2]:pads[2] + w] = x.transpose(1, 2, 3, 0)
    return xp


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
    return Conv2dFunction.apply(input, weight, bias, stride=stride, pads=pads,
                                dilation=dilation, groups=groups, padding_mode=padding_mode)


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
        if device is not None and not str(device).startswith("cpu"):
            raise RuntimeError(f"TinyTorch runs on the CPU only; got device {device!r}")
        if not isinstance(groups, int) or groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
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
        self.weight = Parameter(Tensor._wrap(np.empty(shape, dtype=d)))
        if bias:
            self.bias = Parameter(Tensor._wrap(np.empty((out_channels,), dtype=d)))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

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
