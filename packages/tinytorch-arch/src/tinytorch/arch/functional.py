"""The Architecture tier's functional ops, at the names ``tinytorch.nn.functional`` exposes.

``F.conv2d``, ``F.max_pool2d``, ``F.scaled_dot_product_attention``, ... resolve here when
tinytorch-arch is installed. Each function lives beside its layer; this module only gathers them.
"""

from tinytorch.arch.adaptive_pooling import adaptive_max_pool2d
from tinytorch.arch.attention import scaled_dot_product_attention
from tinytorch.arch.batchnorm import batch_norm
from tinytorch.arch.conv import conv2d
from tinytorch.arch.conv_transpose import conv_transpose2d
from tinytorch.arch.dropout2d import dropout2d
from tinytorch.arch.embedding import embedding
from tinytorch.arch.fold import fold, unfold
from tinytorch.arch.groupnorm import group_norm, instance_norm
from tinytorch.arch.pixel_shuffle import pixel_shuffle, pixel_unshuffle
from tinytorch.arch.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from tinytorch.arch.upsample import interpolate

__all__ = ["adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "conv2d", "dropout2d",
           "embedding", "max_pool2d", "scaled_dot_product_attention",
           "adaptive_max_pool2d", "conv_transpose2d", "fold", "group_norm", "instance_norm",
           "interpolate", "pixel_shuffle", "pixel_unshuffle", "unfold"]
