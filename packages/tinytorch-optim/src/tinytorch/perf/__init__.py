"""tinytorch.perf: the Optimization tier (distribution tinytorch-optim).

Not to be confused with ``tinytorch.optim``, the optimizers (SGD, Adam), at PyTorch's path.
This tier makes trained models smaller and faster and measures what each change buys, after
checking that it still gives the same answer.

| sub-package | what it holds |
|---|---|
| profiler/ | ``profile``: parameters, FLOPs, saved memory, time per layer; ``Profile`` |
| quantization/ | INT8 with integer arithmetic: ``quantize_dynamic``, ``quantize_static`` |
| compression/ | pruning (magnitude, channels), sparse files, low rank, distillation |
| benchmark.py, compare.py | ``benchmark`` (median, IQR, CI), ``compare`` (alternating blocks) |
| stats.py, environment.py | intervals for the median; the environment ``fingerprint`` |
| acceleration/ | each kernel beside its reference, checked then timed; cache blocking |
| standard.py | the workloads ``tito perf bench`` times |
"""

from tinytorch.perf import acceleration, compression, profiler, quantization
from tinytorch.perf.benchmark import BenchmarkResult, benchmark
from tinytorch.perf.compare import Comparison, Side, compare
from tinytorch.perf.compression import (
    CostComparison,
    LayerSparsity,
    LowRankLinear,
    ModelCost,
    Sparsity,
    compare_cost,
    distillation_loss,
    is_pruned,
    load_sparse,
    low_rank,
    low_rank_model,
    model_cost,
    prune_channels,
    prune_magnitude,
    remove_pruning,
    save_sparse,
    sparsity,
)
from tinytorch.perf.environment import fingerprint
from tinytorch.perf.profiler import LayerProfile, Profile, profile
from tinytorch.perf.quantization import (
    DynamicQuantizedLinear,
    QuantizedConv2d,
    QuantizedLinear,
    matmul_int32,
    quantize_dynamic,
    quantize_static,
)

__version__ = "0.1.0"

__all__ = [
    "DynamicQuantizedLinear", "QuantizedConv2d", "QuantizedLinear", "matmul_int32",
    "quantization", "quantize_dynamic", "quantize_static",
    "LayerProfile", "Profile", "profile", "profiler",
    "compression", "CostComparison", "LayerSparsity", "LowRankLinear", "ModelCost", "Sparsity",
    "compare_cost", "distillation_loss", "is_pruned", "load_sparse", "low_rank",
    "low_rank_model", "model_cost", "prune_channels", "prune_magnitude", "remove_pruning",
    "save_sparse", "sparsity",
    "BenchmarkResult", "Comparison", "Side", "acceleration", "benchmark", "compare",
    "fingerprint",
]
