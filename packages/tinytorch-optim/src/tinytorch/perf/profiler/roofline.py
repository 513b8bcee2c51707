"""The roofline model: where each layer sits under this machine's two limits.

A kernel that does ``F`` FLOPs while moving ``Q`` bytes between memory and the cores has an
*arithmetic intensity* ``I = F / Q`` (FLOP per byte). It cannot run faster than either limit:

    attainable GFLOP/s = min(peak GFLOP/s, bandwidth GB/s × I)

Left of the ridge point ``I = peak / bandwidth`` a layer is memory-bound (elementwise ops,
small matrix products, batch-1 inference); right of it, compute-bound (large GEMMs and
convolutions). A point far below its roof is bound by something else: Python overhead, a
poor memory layout, too little work to fill the cores.

The two roofs are measured here, with the library's own thread policy (``core.parallel``):

- **peak**: a ``GEMM_N × GEMM_N`` float32 matrix product (``2·N³`` FLOPs), the fastest thing
  this machine does with NumPy's BLAS;
- **bandwidth**: a copy of a ``COPY_BYTES`` float32 array, far larger than the caches, which
  reads and writes every byte once (``2 × COPY_BYTES`` moved).

Each is the median of a few timed runs after a warm-up, measured once per process (about a
quarter of a second). A layer's point uses its forward pass: ``F`` its forward FLOPs, ``Q``
the bytes of its inputs, outputs, parameters and buffers (each moved once, the least any
implementation must move, so the true intensity is at most this) and the achieved rate
``F`` over its measured forward time. Layers with no counted FLOPs (activations, pooling,
normalisation) have no intensity on this scale and are left out of the plot.
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tinytorch.core.atomic import atomic_write
from tinytorch.core.parallel import blas_for_gemm

if TYPE_CHECKING:
    from tinytorch.perf.profiler.report import Profile

GEMM_N = 1024                   # the peak's matrix size: 2.1 GFLOP per product
COPY_BYTES = 64 * 2**20         # the bandwidth's array: 64 MiB, past any cache
RUNS = 5


@dataclass(frozen=True)
class MachineRoofs:
    """The measured limits: GEMM peak in GFLOP/s and memory bandwidth in GB/s."""

    peak_gflops: float
    bandwidth_gbs: float

    @property
    def ridge(self) -> float:
        """The intensity (FLOP/byte) where the two roofs meet."""
        return self.peak_gflops / self.bandwidth_gbs


def _median_seconds(run: Callable[[], object]) -> float:
    run()                                                    # warm-up
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@functools.lru_cache(maxsize=1)
def measure_roofs() -> MachineRoofs:
    """Time a large float32 GEMM and a large array copy on this machine (once per process)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    b = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    c = np.empty_like(a)

    def gemm() -> None:
        with blas_for_gemm(GEMM_N, GEMM_N, GEMM_N):
            np.matmul(a, b, out=c)

    src = np.ones(COPY_BYTES // 4, dtype=np.float32)
    dst = np.empty_like(src)
    peak = 2 * GEMM_N**3 / _median_seconds(gemm) / 1e9
    bandwidth = 2 * COPY_BYTES / _median_seconds(lambda: np.copyto(dst, src)) / 1e9
    return MachineRoofs(peak, bandwidth)


def layer_points(profile: Profile) -> list[tuple[str, float, float]]:
    """``(layer, intensity FLOP/byte, achieved GFLOP/s)`` of each row with forward FLOPs."""
    points = []
    for row in profile.layers:
        moved = row.input_bytes + row.output_bytes + row.param_bytes + row.buffer_bytes
        if row.flops_forward and row.forward_ms > 0 and moved:
            points.append((row.label, row.flops_forward / moved,
                           row.flops_forward / (row.forward_ms * 1e-3) / 1e9))
    return points


def plot_roofline(profile: Profile, path: str | os.PathLike[str], *,
                  peak_gflops: float | None = None, bandwidth_gbs: float | None = None) -> None:
    """Write the roofline of ``profile``'s layers as a PNG to ``path`` (atomically).

    The roofs are measured with ``measure_roofs`` unless both are given.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        raise ImportError("Profile.roofline needs matplotlib, which is not installed; "
                          "install it with: pip install tinytorch-optim[plot]") from None
    for name, value in (("peak_gflops", peak_gflops), ("bandwidth_gbs", bandwidth_gbs)):
        if value is not None and not value > 0:
            raise ValueError(f"roofline: {name} must be a positive number, got {value!r}")
    points = layer_points(profile)
    if not points:
        raise ValueError(f"roofline: no layer of {profile.model} has forward FLOPs and a "
                         "measured time, so there is nothing to plot")
    if peak_gflops is None or bandwidth_gbs is None:
        measured = measure_roofs()
        peak_gflops = peak_gflops if peak_gflops is not None else measured.peak_gflops
        bandwidth_gbs = bandwidth_gbs if bandwidth_gbs is not None else measured.bandwidth_gbs
    roofs = MachineRoofs(peak_gflops, bandwidth_gbs)

    names, intensity, achieved = zip(*points)
    lo = min(min(intensity), roofs.ridge) / 8
    hi = max(max(intensity), roofs.ridge) * 8
    xs = np.geomspace(lo, hi, 256)
    fig = Figure(figsize=(9, 6), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.loglog(xs, np.minimum(roofs.peak_gflops, roofs.bandwidth_gbs * xs), color="black",
              label=f"roof: {roofs.bandwidth_gbs:.1f} GB/s × intensity, "
                    f"{roofs.peak_gflops:.1f} GFLOP/s GEMM peak")
    ax.axvline(roofs.ridge, color="grey", linestyle=":", linewidth=1,
               label=f"ridge: {roofs.ridge:.1f} FLOP/byte")
    ax.scatter(intensity, achieved, color="tab:blue", zorder=3, label="layers (forward)")
    for name, x, y in points:
        ax.annotate(name, (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7)
    left_out = len(profile.layers) - len(points)
    shapes = ", ".join(str(tuple(s)) for s in profile.input_shapes)
    ax.set_title(f"Roofline: {profile.model} on {shapes}"
                 + (f" ({left_out} layers without FLOPs not shown)" if left_out else ""),
                 fontsize=10)
    ax.set_xlabel("arithmetic intensity (forward FLOPs / bytes in, out and of weights)")
    ax.set_ylabel("achieved GFLOP/s (forward)")
    ax.set_xlim(lo, hi)
    ax.set_ylim(min(min(achieved), roofs.bandwidth_gbs * lo) / 3, roofs.peak_gflops * 3)
    plain = FuncFormatter(lambda v, _: f"{v:g}")       # 60, not 6×10¹
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png")
