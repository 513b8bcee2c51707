"""Acceleration, measured: each optimisation of the lower tiers beside the plain path it
replaces, checked for the same answer before its gain is reported.

- ``pair``: ``KernelPair`` (a reference and a kernel for the same work), ``agreement`` (values
  and gradients within a stated tolerance) and ``measure_pair`` (check, then ``compare``);
- ``catalogue``: ``default_pairs()``, every reference/kernel pair of nn and arch (switched by
  ``tinytorch.use_reference_kernels``), the threaded rows (1 thread against all cores), im2col
  against a direct convolution, and the cache-blocking demonstration;
- ``blocked_matmul``: a matrix product by rows and in cache-sized tiles, in NumPy;
- ``direct_conv``: a convolution as one product per kernel offset;
- ``report``: ``measure_acceleration()`` and its ``AccelerationReport`` (table, JSON).

``tito perf accel`` prints the report.
"""

from tinytorch.perf.acceleration.blocked_matmul import (
    block_for_cache,
    matmul_blocked,
    matmul_by_rows,
)
from tinytorch.perf.acceleration.catalogue import default_pairs, fwd_bwd, switched, threaded
from tinytorch.perf.acceleration.direct_conv import conv2d_direct
from tinytorch.perf.acceleration.pair import (
    AccelerationRow,
    Agreement,
    KernelPair,
    agreement,
    measure_pair,
)
from tinytorch.perf.acceleration.report import AccelerationReport, measure_acceleration

__all__ = [
    "AccelerationReport", "AccelerationRow", "Agreement", "KernelPair", "agreement",
    "block_for_cache", "conv2d_direct", "default_pairs", "fwd_bwd", "matmul_blocked",
    "matmul_by_rows", "measure_acceleration", "measure_pair", "switched", "threaded",
]
