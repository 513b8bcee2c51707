"""The convolution kernel: ``conv.py``'s reference with other column layouts, a fused col2im
and the batch cut into chunks across threads.

What it does differently from the reference (``Conv2dReference`` in ``conv.py``), and why:

- **A column layout chosen by the size of the product.** For ``K = (C/G)·kH·kW`` and
  ``P = H_out·W_out`` output positions the products are (O/G, K) by (K, columns). Which
  columns one product gets decides whether BLAS or the copies around it dominate:
  - **per sample** (N, G, K, P), the reference's own layout, when ``K <= SAMPLE_MAX_K`` (few
    input channels, as in a network's first layer). Each product is as cheap as copying its
    operands, so the layout that copies least wins: the product of one sample lands in the
    output already in NCHW order, with no transpose of the output or of its gradient, and
    each sample's columns, output and gradient stay in the cache while BLAS works on them.
    The weight gradient is N products (K, P) @ (P, O/G) and their sum. A bias rides along
    as one more input channel: a row of ones under each group's columns and the bias as the
    weights' last column, so the product adds it and the weight gradient's product gives
    the bias gradient as its last column, with no pass of its own over the output or dY.
  - **batch inside each channel** (G, K, P·N) otherwise. One transposing copy pads the input
    straight into a channels-first layout and each product is G GEMMs of (O/G, K) by
    (K, P·N): BLAS gets one large matrix instead of N small ones whose P columns would be too
    few to run it well, for one transpose back to NCHW. Batch-last columns (C, Hp, Wp, N)
    when the input needs a gradient: one row of one channel, ``(W_out, N)``, is one
    contiguous run, so the im2col copy and the col2im adds move long runs instead of short
    rows. Batch-major columns (C, N, Hp, Wp) when it does not (inference): there is no
    col2im, and the output transpose becomes a copy of whole (H_out·W_out) planes. The
    bias is added by that transposing copy, which writes each chunk's output into place.
- **The weight gradient's orientation.** ``dW = dY @ colsᵀ`` is computed as
  ``(cols @ dYᵀ)ᵀ``, the orientation OpenBLAS handles well.
- **Fused col2im.** The reference materialises ``dcols = Wᵀ @ dY`` (N, G, K, P), as large as
  the columns, and then adds it back window by window. Here the product is taken one kernel
  row at a time in batch-last order: kH GEMMs of (kW·C/G, O/G) by (O/G, P·N) into one reused
  scratch, each of whose kW offsets is added into a strided window of the padded gradient.
  The full ``dcols`` is never allocated. The input gradient is computed only when the input
  needs one (``ctx.needs_input_grad[0]``): never for the first layer.
- **Batch chunks across threads.** When the thread policy gives this op several threads
  (``parallel.usable_threads()``), the batch is cut into chunks of ``ceil(N / threads)``
  samples, at least ``MIN_CHUNK`` and at most ``BATCH_CHUNK``, each a whole convolution as
  above, and the chunks run in parallel with BLAS held at one thread
  (``parallel.blas_threads``): the im2col copies, col2im adds and layout transposes then use
  every core too, not only the GEMMs, and no BLAS worker spins on a core one of our threads
  needs. Each chunk writes its own samples of the output and of the input gradient; the
  weight and bias gradients sum the chunks in chunk order, so a run is deterministic for a
  given thread count (it can differ from a one-thread run in the last bits). On one thread
  (or one free core) batch columns still come in chunks of ``BATCH_CHUNK`` samples, run one
  after the other: a chunk's columns, a few MB, stay in the cache from the im2col copy to
  the GEMM, where a whole batch's would not. Per-sample columns gain nothing from chunks
  there and take the whole batch. A batch that is one chunk gets BLAS threads for its
  products by the policy's size rule (``parallel.blas_for_gemm``).

Cost, for ``K = (C/G)·kH·kW`` and ``P = H_out·W_out``: ``2·N·O·K·P`` FLOPs forward, twice that
backward; extra memory: the columns, ``N·C·kH·kW·P`` elements, kept for the weight gradient.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Literal, NamedTuple

import numpy as np

from tinytorch.arch import _spatial as sp
from tinytorch.core.function import Function
from tinytorch.core.parallel import blas_for_gemm, blas_threads, parallel_rows, usable_threads

SAMPLE_MAX_K = 32  # columns per sample when a product's K = (C/G)·kH·kW is at most this
BATCH_CHUNK = 32   # most samples in one chunk when the batch is split among threads
MIN_CHUNK = 8      # fewest samples in one chunk: a smaller batch is not split

# the columns: per sample (N, G, K, P), or (G, K, P·N) in batch-last or batch-major order
Layout = Literal["sample", "batch_last", "batch_major"]


class Geometry(NamedTuple):
    """What backward needs to know about a convolution besides its arrays."""

    chw: tuple[int, int, int]           # the input's (C, H, W)
    padded: tuple[int, int, int]        # (C, Hp, Wp)
    out_hw: tuple[int, int]
    stride: tuple[int, int]
    pads: sp.Pads
    dilation: tuple[int, int]
    groups: int
    padding_mode: str
    layout: Layout


class Conv2dKernel(Function):
    """The fused convolution op: padding, im2col, GEMM and bias in one graph node, chunked."""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, *,
                stride: tuple[int, int], pads: sp.Pads, dilation: tuple[int, int],
                groups: int, padding_mode: str, batch_last: bool) -> np.ndarray:
        # x: (N, C, H, W) or (C, H, W); weight: (O, C/G, kH, kW) -> (N, O, H_out, W_out)
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        n, c, h, w = x.shape
        o, cg, kh, kw = weight.shape
        out_hw = (sp.out_size(h, kh, stride[0], pads[0] + pads[1], dilation[0]),
                  sp.out_size(w, kw, stride[1], pads[2] + pads[3], dilation[1]))
        k, p = cg * kh * kw, out_hw[0] * out_hw[1]
        layout: Layout = ("sample" if k <= SAMPLE_MAX_K else
                          "batch_last" if batch_last else "batch_major")
        geom = Geometry((c, h, w), (c, h + pads[0] + pads[1], w + pads[2] + pads[3]), out_hw,
                        stride, pads, dilation, groups, padding_mode, layout)
        spans = _chunk_spans(n, layout)
        out = np.empty((n, o, *out_hw), dtype=x.dtype)
        cols: list[Any] = [None] * len(spans)
        gemm = _gemm_threads(len(spans), o // groups, k, p if layout == "sample" else p * n)

        def run(ids: slice) -> None:
            for i in range(ids.start, ids.stop):
                cols[i] = _forward_chunk(x[spans[i]], weight, bias, geom, out[spans[i]], gemm)

        _run_chunks(len(spans), run)
        ctx.save_for_backward(weight, *cols)
        ctx.spans, ctx.geom, ctx.unbatched = spans, geom, unbatched
        return out[0] if unbatched else out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[Any, Any, Any]:
        # grad: (N, O, Ho, Wo) -> dx (N, C, H, W), dweight (O, C/G, kH, kW), dbias (O,)
        weight, *cols = ctx.saved_tensors
        spans, geom = ctx.spans, ctx.geom
        if ctx.unbatched:
            grad = grad[None]
        need_x, need_w, need_b = ctx.needs_input_grad
        n = grad.shape[0]
        o, cg, kh, kw = weight.shape
        w3 = weight.reshape(geom.groups, o // geom.groups, -1)             # (G, O/G, K)
        gx = np.empty((n, *geom.chw), dtype=grad.dtype) if need_x else None
        parts: list[Any] = [None] * len(spans)
        p = geom.out_hw[0] * geom.out_hw[1]
        gemm = _gemm_threads(len(spans), w3.shape[2], o // geom.groups,
                             p if geom.layout == "sample" else p * n)

        def run(ids: slice) -> None:
            for i in range(ids.start, ids.stop):
                parts[i] = _backward_chunk(grad[spans[i]], cols[i], w3, (kh, kw), geom,
                                           None if gx is None else gx[spans[i]],
                                           need_w, need_b, gemm)

        _run_chunks(len(spans), run)
        gw = gb = None
        if need_w:
            gw = parts[0][0]
            for part_w, _ in parts[1:]:          # in chunk order, whichever thread ran them
                gw = gw + part_w
            gw = gw.reshape(weight.shape)
        if need_b:
            gb = parts[0][1]
            for _, part_b in parts[1:]:
                gb = gb + part_b
        if gx is not None and ctx.unbatched:
            gx = gx[0]
        return gx, gw, gb


def _chunk_spans(n: int, layout: Layout) -> list[slice]:
    """The batch cut into chunks: one per usable thread, of ``MIN_CHUNK`` to ``BATCH_CHUNK``
    samples each. On one thread (or with fewer than ``2 * MIN_CHUNK`` samples), batch columns
    still come in chunks of ``BATCH_CHUNK`` samples, whose columns stay in the cache between
    the im2col copy and the GEMM; per-sample columns take the whole batch at once."""
    threads = usable_threads()
    if threads > 1 and n >= 2 * MIN_CHUNK:
        size = max(MIN_CHUNK, min(BATCH_CHUNK, math.ceil(n / threads)))
    else:
        size = max(n, 1) if layout == "sample" else BATCH_CHUNK
    return [slice(i, min(i + size, n)) for i in range(0, max(n, 1), size)]


def _gemm_threads(chunks: int, m: int, k: int, n: int) -> contextlib.AbstractContextManager[Any]:
    """The BLAS threads for a chunk's (M, K) @ (K, N) products: the policy's size rule when the
    batch is one chunk, else one thread (``_run_chunks`` holds BLAS there)."""
    return blas_for_gemm(m, k, n) if chunks == 1 else contextlib.nullcontext()


def _run_chunks(count: int, run: Any) -> None:
    """``run(slice of chunk numbers)`` over every chunk: in parallel when there are threads,
    each chunk's GEMMs on one BLAS thread."""
    if count == 1:
        run(slice(0, count))
        return
    with blas_threads(1):
        parallel_rows(count, run)


def _forward_chunk(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, geom: Geometry,
                   out: np.ndarray, gemm: contextlib.AbstractContextManager[Any]) -> np.ndarray:
    """One chunk (N, C, H, W): writes its output (N, O, H_out, W_out) into ``out`` and returns
    its columns, (N, G, K, P) or (G, K, P·N) by ``geom.layout``."""
    n = x.shape[0]
    o, cg, kh, kw = weight.shape
    groups, (ho, wo) = geom.groups, geom.out_hw
    k, p = cg * kh * kw, ho * wo
    w3 = weight.reshape(groups, o // groups, k)                          # (G, O/G, K)
    xp = _pad(x, geom.pads, geom.padding_mode, geom.layout)
    if geom.layout == "sample":                                          # xp (N, C, Hp, Wp)
        view = sp.windows(xp.transpose(1, 0, 2, 3), (kh, kw), geom.stride, geom.dilation,
                          geom.out_hw, False).transpose(3, 0, 1, 2, 4, 5)  # (N,C,kH,kW,Ho,Wo)
        # im2col, one copy; with a bias, one more row of ones and the bias as its weights
        cols = np.empty((n, groups, k + (bias is not None), p), dtype=x.dtype)  # (N,G,K(+1),P)
        cols[:, :, :k].reshape(n, groups, cg, kh, kw, ho, wo)[...] = \
            view.reshape(n, groups, cg, kh, kw, ho, wo)
        if bias is not None:
            cols[:, :, k] = 1
            w3 = np.concatenate([w3, bias.reshape(groups, o // groups, 1)], axis=2)
        with gemm:
            np.matmul(w3, cols, out=out.reshape(n, groups, o // groups, p))
        return cols
    batch_last = geom.layout == "batch_last"
    cols = sp.windows(xp, (kh, kw), geom.stride, geom.dilation, geom.out_hw, batch_last)
    cols = cols.reshape(groups, k, p * n)                  # im2col: the one big copy
    with gemm:
        prod = np.matmul(w3, cols)                                       # (G, O/G, P·N)
    if batch_last:                  # columns (P, N): (O, P, N) -> (N, O, P)
        nchw = prod.reshape(o, p, n).transpose(2, 0, 1)
    else:                           # columns (N, P): (O, N, P) -> (N, O, P)
        nchw = prod.reshape(o, n, p).transpose(1, 0, 2)
    out3 = out.reshape(n, o, p)
    if bias is None:
        np.copyto(out3, nchw)
    else:                           # the bias, added by the transposing copy
        np.add(nchw, bias[:, None], out=out3)
    return cols


def _backward_chunk(grad: np.ndarray, cols: np.ndarray, w3: np.ndarray,
                    kernel: tuple[int, int], geom: Geometry, gx: np.ndarray | None,
                    need_w: bool, need_b: bool,
                    gemm: contextlib.AbstractContextManager[Any]) -> tuple[Any, Any]:
    """One chunk's grad (N, O, H_out, W_out) -> its ``(dweight as (G, O/G, K), dbias (O,))``;
    writes its input gradient (N, C, H, W) into ``gx`` unless that is None."""
    groups, og, _ = w3.shape
    n = grad.shape[0]
    p = geom.out_hw[0] * geom.out_hw[1]
    g_last = None                   # dY as (G, O/G, P·N) in batch-last order, for col2im
    gw = gb = None
    if geom.layout == "sample":
        if need_w or need_b:        # Σ_n cols_n @ dY_nᵀ: (N, G, K(+1), P) @ (N, G, P, O/G)
            g4 = grad.reshape(n, groups, og, p)
            with gemm:
                gwb = np.matmul(cols, g4.transpose(0, 1, 3, 2)).sum(axis=0).transpose(0, 2, 1)
            k = w3.shape[2]         # the bias's row of ones gives dbias as a last column
            gw, gb = gwb[:, :, :k], (gwb[:, :, k].reshape(-1) if need_b else None)
    else:
        g3 = _from_nchw(grad, geom.layout == "batch_last").reshape(groups, og, p * n)
        if need_w:
            # (K, P·N) @ (P·N, O/G) and a transpose of the tiny result: the same GEMM as
            # dY @ colsᵀ, in the orientation OpenBLAS handles far better
            with gemm:
                gw = np.matmul(cols, g3.transpose(0, 2, 1)).transpose(0, 2, 1)
        if need_b:
            gb = g3.sum(axis=2).reshape(-1)
        if geom.layout == "batch_last":
            g_last = g3
    if gx is not None:
        if g_last is None:
            g_last = _from_nchw(grad, True).reshape(groups, og, p * n)
        _col2im_into(gx, g_last, w3, kernel, geom, gemm)
    return gw, gb


def _col2im_into(gx: np.ndarray, g3: np.ndarray, w3: np.ndarray, kernel: tuple[int, int],
                 geom: Geometry, gemm: contextlib.AbstractContextManager[Any]) -> None:
    """The input gradient (N, C, H, W), written into ``gx``, from dY as batch-last columns
    ``g3`` (G, O/G, P·N): col2im fused with the dcols GEMM, one kernel row at a time.

    dcols for kernel row i is W_iᵀ (G, kW·C/G, O/G) @ dY (G, O/G, P·N), written into one
    reused scratch, and each of its kW offsets is added into the strided window of the padded
    gradient (C, Hp, Wp, N).
    """
    groups, og, _ = w3.shape
    n = gx.shape[0]
    c, kh, kw = geom.padded[0], kernel[0], kernel[1]
    cg = c // groups
    xp_shape = (*geom.padded, n)                                         # (C, Hp, Wp, N)
    w_rows = np.ascontiguousarray(                                       # (kH,G,kW·C/G,O/G)
        w3.reshape(groups, og, cg, kh, kw).transpose(3, 0, 4, 2, 1)
    ).reshape(kh, groups, kw * cg, og)
    scratch = np.empty((groups, kw * cg, g3.shape[2]), dtype=g3.dtype)
    windows = scratch.reshape(groups, kw, cg, *geom.out_hw, n)      # (G,kW,C/G,Ho,Wo,N)
    dxp = np.zeros(xp_shape, dtype=g3.dtype)
    dxp_groups = dxp.reshape(groups, cg, *xp_shape[1:])
    for i in range(kh):
        with gemm:
            np.matmul(w_rows[i], g3, out=scratch)
        for j in range(kw):
            _, _, rows, cols_ = sp.window_slice(i, j, geom.stride, geom.dilation, geom.out_hw)
            dxp_groups[:, :, rows, cols_] += windows[:, j]
    pads, (_, h, w) = geom.pads, geom.chw
    if geom.padding_mode == "zeros":              # the interior, (C, H, W, N) -> (N, C, H, W)
        np.copyto(gx, dxp[:, pads[0]:pads[0] + h, pads[2]:pads[2] + w].transpose(3, 0, 1, 2))
    else:
        dpad = np.ascontiguousarray(dxp.transpose(3, 0, 1, 2))          # (N, C, Hp, Wp)
        np.copyto(gx, sp.pad_gather_backward(dpad, pads, geom.padding_mode))


_ORDER = {"sample": (0, 1, 2, 3), "batch_last": (1, 2, 3, 0), "batch_major": (1, 0, 2, 3)}


def _pad(x: np.ndarray, pads: sp.Pads, mode: str, layout: Layout) -> np.ndarray:
    """(N, C, H, W) -> padded (N, C, Hp, Wp), (C, Hp, Wp, N) or (C, N, Hp, Wp) by ``layout``:
    one (transposing) copy."""
    order = _ORDER[layout]
    if mode != "zeros":
        return np.ascontiguousarray(sp.pad_gather(x, pads, mode).transpose(order))
    n, c, h, w = x.shape
    padded = (n, c, h + pads[0] + pads[1], w + pads[2] + pads[3])
    xp = np.zeros([padded[i] for i in order], dtype=x.dtype)
    inner = [slice(None), slice(None), slice(pads[0], pads[0] + h), slice(pads[2], pads[2] + w)]
    xp[tuple(inner[i] for i in order)] = x.transpose(order)
    return xp


def _from_nchw(grad: np.ndarray, batch_last: bool) -> np.ndarray:
    """(N, O, Ho, Wo) -> (O, P·N) with columns in batch-last (P, N) or batch-major (N, P)
    order: the output's layout back to the columns'."""
    n, o, ho, wo = grad.shape
    if batch_last:
        return np.ascontiguousarray(grad.reshape(n, o * ho * wo).T)
    return np.ascontiguousarray(grad.reshape(n, o, ho * wo).transpose(1, 0, 2))
