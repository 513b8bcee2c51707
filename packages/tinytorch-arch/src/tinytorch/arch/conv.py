"""2-D convolution: ``Conv2d`` and ``conv2d``, as im2col over a strided view plus one GEMM.

Systems view, for x (N, C, H, W), weight (O, C/G, kH, kW), output (N, O, H_out, W_out),
``K = (C/G)·kH·kW`` and ``P = H_out·W_out``:

- forward: one transposing copy pads the input into a channels-first layout; a zero-copy
  window view of it (``_spatial.windows``) is copied *once* into the im2col matrix ``cols``
  (G, K, P·N); one matrix product ``W (G, O/G, K) @ cols`` (one BLAS call per group) gives
  (O, P·N), and one transposing copy turns that into NCHW. FLOPs ``2·N·O·K·P``; extra memory:
  ``cols``, ``N·C·kH·kW·P`` elements (kH·kW times the input at stride 1), kept for the weight
  gradient — memory traded for one large GEMM instead of kH·kW small ones.
- two column orders. When the input needs a gradient, batch-last (C, Hp, Wp, N): a row of
  one channel, ``(W_out, N)``, is then one contiguous run (at stride 1), so the im2col copy
  and the col2im adds move long runs. When it does not (the first layer, inference), there is
  no col2im, and batch-major (C, N, Hp, Wp) columns make the output transpose a copy of whole
  (H_out·W_out) planes instead of a 2-D transpose of the output.
- backward: ``dW = dY @ colsᵀ`` (computed as ``(cols @ dYᵀ)ᵀ``, the orientation
  multi-threaded OpenBLAS handles well), and, when the input needs it, ``dX``: col2im fused
  with the ``Wᵀ @ dY`` product one kernel row at a time — kH GEMMs of (kW·C/G, O/G) by
  (O/G, P·N) into one reused scratch, each of whose kW offsets is added into a strided window
  of the zero-padded gradient. That is a loop over the kH·kW kernel offsets (25 for a 5×5
  kernel), the usual way to write col2im in NumPy; each step is a vectorised add over all of
  N·C·H_out·W_out, overlapping windows simply accumulate, and the (K, P·N) ``dcols`` matrix
  is never materialised. There is no loop over pixels, channels or batch items.

Threads: with several ``tinytorch.set_num_threads`` threads, a batch is cut into chunks of
``BATCH_CHUNK`` samples, each a whole convolution as above, and the chunks run in parallel,
each with single-threaded BLAS (threadpoolctl holds NumPy's BLAS at one thread meanwhile), so the
copies and adds between the GEMMs use every core too. Extra memory: none beyond the columns
(the chunks' ``cols`` together are the batch's). The weight gradient sums the chunks in
order, so results are deterministic for a given thread count.

Padding: ``'zeros'`` is a fill plus a slice copy; ``'reflect'``, ``'replicate'`` and
``'circular'`` gather rows/columns by index (``_spatial.pad_gather``). The parameters use
PyTorch's names, layout and default initialisation, so state dicts carry over unchanged.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from tinytorch.arch import _spatial as sp
from tinytorch.core import dtypes
from tinytorch.core.function import Function
from tinytorch.core.grad_mode import is_grad_enabled
from tinytorch.core.parallel import get_num_threads, parallel_rows
from tinytorch.core.tensor import Tensor
from tinytorch.nn import init
from tinytorch.nn.module import Module
from tinytorch.nn.parameter import Parameter

Padding = int | tuple[int, int] | str


class Conv2dFunction(Function):
    """The fused convolution op: padding, im2col, GEMM and bias in one graph node.

    With several ``tinytorch.set_num_threads`` threads, a batch of more than ``BATCH_CHUNK``
    samples is cut into chunks of that many samples, each a whole convolution of its own
    (``_forward_chunk``, ``_backward_chunk``), run in parallel with single-threaded BLAS
    (``_run_chunks``): the im2col copies, col2im adds and layout transposes then run on every
    core as well, not only the GEMMs. The weight gradient sums the chunks' gradients in chunk
    order, so a run is deterministic; it can differ from a one-thread run in the last bits.
    """

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, *,
                stride: tuple[int, int], pads: sp.Pads, dilation: tuple[int, int],
                groups: int, padding_mode: str, batch_last: bool) -> np.ndarray:
        # x: (N, C, H, W) or (C, H, W); weight: (O, C/G, kH, kW) -> (N, O, H_out, W_out)
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        spans = _chunk_spans(x.shape[0])
        outs: list[Any] = [None] * len(spans)
        saved: list[Any] = [None] * len(spans)

        def run(ids: slice) -> None:
            for c in range(ids.start, ids.stop):
                outs[c], saved[c] = _forward_chunk(x[spans[c]], weight, stride, pads, dilation,
                                                   groups, padding_mode, batch_last)

        _run_chunks(len(spans), run)
        out = outs[0] if len(outs) == 1 else np.concatenate(outs)
        if bias is not None:
            out += bias[:, None, None]
        ctx.saved_tensors = (spans, saved, weight.shape, unbatched)
        return out[0] if unbatched else out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any, Any]:
        # grad: (N, O, Ho, Wo) -> dx (N, C, H, W), dweight (O, C/G, kH, kW), dbias (O,)
        spans, saved, w_shape, unbatched = ctx.saved_tensors
        if unbatched:
            grad = grad[None]
        need_x, need_w, need_b = ctx.needs_input_grad
        parts: list[Any] = [None] * len(spans)

        def run(ids: slice) -> None:
            for c in range(ids.start, ids.stop):
                parts[c] = _backward_chunk(grad[spans[c]], *saved[c], need_x, need_w)

        _run_chunks(len(spans), run)
        gb = grad.sum(axis=(0, 2, 3)) if need_b else None
        gw = None
        if need_w:
            gw = parts[0][1]
            for _, part_w in parts[1:]:          # in chunk order, whichever thread ran them
                gw = gw + part_w
            gw = gw.reshape(w_shape)
        gx = None
        if need_x:
            gx = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
            if unbatched:
                gx = gx[0]
        return gx, gw, gb


BATCH_CHUNK = 32  # samples per chunk when the batch is split among threads


def _chunk_spans(n: int) -> list[slice]:
    """The batch cut into runs of ``BATCH_CHUNK`` samples; one run on one thread, where
    smaller GEMMs one after the other only cost (about 10 % per training step here)."""
    if get_num_threads() == 1:
        return [slice(0, n)]
    return [slice(i, min(i + BATCH_CHUNK, n)) for i in range(0, max(n, 1), BATCH_CHUNK)]


@functools.cache
def _blas() -> Any:
    """threadpoolctl's handle on NumPy's BLAS, found once (it scans the loaded libraries)."""
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


def _run_chunks(count: int, run: Any) -> None:
    """``run(slice of chunk numbers)`` over every chunk: in parallel when there are threads.

    Two chunks on two threads, each with a single-threaded GEMM, beat one batch with a
    two-threaded GEMM, because the copies between the GEMMs get both cores too, and no BLAS
    thread spins on a core ours needs: milestone 04's conv2 forward + backward took 18-22 ms
    in five runs of ``python tools/bench_cnn.py``, against 22-29 ms in six runs before.
    """
    if count == 1:
        run(slice(0, count))
        return
    with _blas().limit(limits=1, user_api="blas"):
        parallel_rows(count, run)


def _forward_chunk(x: np.ndarray, weight: np.ndarray, stride: tuple[int, int], pads: sp.Pads,
                   dilation: tuple[int, int], groups: int, padding_mode: str,
                   batch_last: bool) -> tuple[np.ndarray, tuple[Any, ...]]:
    """The convolution of one chunk (N, C, H, W) -> ((N, O, H_out, W_out), what backward needs)."""
    n, _, h, w = x.shape
    o, cg, kh, kw = weight.shape
    xp = _pad(x, pads, padding_mode, batch_last)           # (C, Hp, Wp, N) / (C, N, Hp, Wp)
    out_hw = (sp.out_size(h, kh, stride[0], pads[0] + pads[1], dilation[0]),
              sp.out_size(w, kw, stride[1], pads[2] + pads[3], dilation[1]))
    k, pn = cg * kh * kw, out_hw[0] * out_hw[1] * n
    cols = sp.windows(xp, (kh, kw), stride, dilation, out_hw, batch_last)
    cols = cols.reshape(groups, k, pn)                     # im2col: the one big copy
    w3 = weight.reshape(groups, o // groups, k)                          # (G, O/G, K)
    out = _to_nchw(np.matmul(w3, cols), n, batch_last).reshape(n, o, *out_hw)
    geometry = (x.shape, xp.shape, weight.shape, out_hw, stride, pads, dilation, padding_mode,
                batch_last)
    return out, (cols, w3, geometry)


def _backward_chunk(grad: np.ndarray, cols: np.ndarray, w3: np.ndarray,
                    geometry: tuple[Any, ...], need_x: bool,
                    need_w: bool) -> tuple[Any, Any]:
    """One chunk's ``(dx, dweight as (G, O/G, K))`` from its grad (N, O, H_out, W_out)."""
    x_shape, xp_shape, w_shape, out_hw, stride, pads, dilation, mode, batch_last = geometry
    groups, og, _ = w3.shape
    n = grad.shape[0]
    g3 = _from_nchw(grad, batch_last).reshape(groups, og, -1)           # (G, O/G, P·N)
    gw = None
    if need_w:
        # (K, P·N) @ (P·N, O/G) and a transpose of the tiny result: the same GEMM as
        # dY @ colsᵀ, but multi-threaded OpenBLAS handles this orientation far better
        gw = np.matmul(cols, g3.transpose(0, 2, 1)).transpose(0, 2, 1)
    gx = None
    if need_x:  # the input needed a gradient, so forward used the batch-last layout
        # col2im fused with the dcols GEMM, one kernel row at a time: dcols for row i is
        # W_iᵀ (G, kW·C/G, O/G) @ dY (G, O/G, P·N), written into one reused scratch, and
        # each of its kW offsets is added into the strided window of the padded gradient.
        # The full (K, P·N) dcols matrix is never materialised.
        c, kh, kw = xp_shape[0], w_shape[2], w_shape[3]
        cg = c // groups
        w_rows = np.ascontiguousarray(                                   # (kH,G,kW·C/G,O/G)
            w3.reshape(groups, og, cg, kh, kw).transpose(3, 0, 4, 2, 1)
        ).reshape(kh, groups, kw * cg, og)
        scratch = np.empty((groups, kw * cg, g3.shape[2]), dtype=grad.dtype)
        windows = scratch.reshape(groups, kw, cg, *out_hw, n)       # (G,kW,C/G,Ho,Wo,N)
        dxp = np.zeros(xp_shape, dtype=grad.dtype)                       # (C, Hp, Wp, N)
        dxp_groups = dxp.reshape(groups, cg, *xp_shape[1:])
        for i in range(kh):
            np.matmul(w_rows[i], g3, out=scratch)
            for j in range(kw):
                _, _, rows, cols_ = sp.window_slice(i, j, stride, dilation, out_hw)
                dxp_groups[:, :, rows, cols_] += windows[:, j]
        dpad = np.ascontiguousarray(dxp.reshape(-1, n).T).reshape(n, *xp_shape[:3])
        if mode == "zeros":                                              # (N, C, Hp, Wp)
            gx = dpad[:, :, pads[0]:pads[0] + x_shape[2], pads[2]:pads[2] + x_shape[3]]
        else:
            gx = sp.pad_gather_backward(dpad, x_shape, pads, mode)
    return gx, gw


def _pad(x: np.ndarray, pads: sp.Pads, mode: str, batch_last: bool) -> np.ndarray:
    """(N, C, H, W) -> padded (C, Hp, Wp, N) or (C, N, Hp, Wp): one transposing copy."""
    order = (1, 2, 3, 0) if batch_last else (1, 0, 2, 3)
    if mode != "zeros":
        return np.ascontiguousarray(sp.pad_gather(x, pads, mode).transpose(order))
    n, c, h, w = x.shape
    hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
    xp = np.zeros((c, hp, wp, n) if batch_last else (c, n, hp, wp), dtype=x.dtype)
    inner = (slice(pads[0], pads[0] + h), slice(pads[2], pads[2] + w))
    xp[(slice(None), *inner) if batch_last else (slice(None), slice(None), *inner)] = \
        x.transpose(order)
    return xp


def _to_nchw(prod: np.ndarray, n: int, batch_last: bool) -> np.ndarray:
    """GEMM output (G, O/G, P·N) in the layout's column order -> contiguous (N, O·P)."""
    if batch_last:  # columns (P, N): a 2-D transpose, about twice as fast as the 4-D one
        return np.ascontiguousarray(prod.reshape(-1, n).T)
    return np.ascontiguousarray(prod.reshape(-1, n, prod.shape[2] // n).transpose(1, 0, 2))


def _from_nchw(grad: np.ndarray, batch_last: bool) -> np.ndarray:
    """(N, O, Ho, Wo) -> (O, P·N) with columns in the layout's order (inverse of _to_nchw)."""
    n = grad.shape[0]
    if batch_last:
        return np.ascontiguousarray(grad.reshape(n, -1).T)
    return np.ascontiguousarray(grad.reshape(n, grad.shape[1], -1).transpose(1, 0, 2))


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
    # batch-last columns make col2im fast; without an input gradient there is no col2im,
    # and batch-major columns make the output transpose a cheap block copy instead
    batch_last = input.requires_grad and is_grad_enabled()
    return Conv2dFunction.apply(input, weight, bias, stride=stride, pads=pads,
                                dilation=dilation, groups=groups, padding_mode=padding_mode,
                                batch_last=batch_last)


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
