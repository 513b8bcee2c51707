"""Compression: fewer non-zero weights, fewer channels, lower rank, a smaller student.

| file | what it holds |
|---|---|
| prune.py | ``prune_magnitude`` (masks kept through training), ``sparsity``, ``remove_pruning`` |
| prune_channels.py | ``prune_channels``: whole channels removed, the next layers shrunk to match |
| sparse.py | ``save_sparse`` / ``load_sparse``: bitmask + values on disk, bit-exact |
| low_rank.py | ``low_rank``: a Linear as two thin ones from its truncated SVD; ``low_rank_model`` |
| distill.py | ``distillation_loss``: Hinton et al.'s teacher-student loss |
| cost.py | ``model_cost`` / ``compare_cost``: parameters, FLOPs and latency, before and after |
"""

from tinytorch.perf.compression.cost import CostComparison, ModelCost, compare_cost, model_cost
from tinytorch.perf.compression.distill import distillation_loss
from tinytorch.perf.compression.low_rank import LowRankLinear, low_rank, low_rank_model
from tinytorch.perf.compression.prune import (
    LayerSparsity,
    Sparsity,
    is_pruned,
    prune_magnitude,
    remove_pruning,
    sparsity,
)
from tinytorch.perf.compression.prune_channels import prune_channels
from tinytorch.perf.compression.sparse import load_sparse, save_sparse

__all__ = [
    "CostComparison", "LayerSparsity", "LowRankLinear", "ModelCost", "Sparsity",
    "compare_cost", "distillation_loss", "is_pruned", "load_sparse", "low_rank",
    "low_rank_model", "model_cost", "prune_channels", "prune_magnitude", "remove_pruning",
    "save_sparse", "sparsity",
]
