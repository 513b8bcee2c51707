"""FLOPs of the ops that ran, counted by PyTorch's ``FlopCounterMode`` rules.

The rules (``torch.utils.flop_counter``), so that a count here means the same as a count there:

- A multiply-add is 2 FLOPs. Only matrix products, convolutions and attention count;
  elementwise ops, reductions, softmax, normalisation, pooling and embedding lookups count 0.
  They are memory-bound and small next to the products.
- **Matrix product** ``(..., M, K) @ (..., K, N)``: ``2·B·M·K·N``, where ``B`` is the product
  of the broadcast batch dims. Backward is one product of the same size for each operand that
  needs a gradient. A matrix-vector or dot product (a 1-D right operand with a left one of at
  most 2 dims) counts 0, because PyTorch runs it as ``mv``/``dot``, which the counter skips.
- **Convolution**, weight ``(C_out, C_in/G, kH, kW)``, output ``(N, C_out, H_out, W_out)``:
  ``2·N·C_out·(C_in/G)·kH·kW·H_out·W_out``. Stride, padding and dilation enter only through
  ``H_out·W_out``, and groups through ``C_in/G``. Backward: the input gradient is a
  convolution of the same size; the weight gradient is counted as a convolution over all
  ``C_in`` channels, ``G`` times the forward, as ``FlopCounterMode`` counts it. Bias
  gradients count 0. A transposed convolution, weight ``(C_in, C_out/G, kH, kW)``, costs
  ``2·N·C_in·(C_out/G)·kH·kW·H_in·W_in``, the same product run from the input's positions,
  and its backward follows the same two rules.
- **Attention** ``softmax(Q Kᵀ) V`` with ``Q (B.., L, E)``, ``K (B.., S, E)``, ``V (B.., S, Ev)``:
  the two batched products, ``2·B·L·S·E + 2·B·L·S·Ev``. The full ``L×S`` score matrix is
  counted even under a causal mask. Backward: ``dV = Pᵀ dO`` (``2·B·L·S·Ev``) when V needs a
  gradient, ``dP = dO Vᵀ`` (``2·B·L·S·Ev``) when Q or K does, then ``dQ = dS K`` and
  ``dK = dSᵀ Q`` (``2·B·L·S·E`` each) for those that need one.

How a count is found: ``node_flops(node)`` looks up the class of an autograd graph node (a
``Function`` instance recorded by the forward) in ``COUNTERS`` and reads the operand shapes
from what the node kept: its saved arrays, its ``out_shape`` and its configuration
attributes. So the count follows what actually ran, whichever module or functional call ran
it, and the backward count follows ``needs_input_grad``: the first layer of a network does
not compute a gradient for its input, and it is not counted. The table names each op class,
the fast kernels of the lower tiers' ``_kernels`` modules as well as their references, since
a node is matched by its exact class. A new op with a product inside registers its counter
with ``register_flops``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from tinytorch.arch._kernels.attention import AttentionKernel, PackedSelfAttention
from tinytorch.arch._kernels.conv import Conv2dKernel
from tinytorch.arch.attention import AttentionReference, AttentionWeights
from tinytorch.arch.conv import Conv2dReference
from tinytorch.arch.conv_transpose import ConvTranspose2dFunction
from tinytorch.core.function import Function
from tinytorch.core.ops.arithmetic import MatMul
from tinytorch.core.ops.linalg import AddMatMul
from tinytorch.nn.functional.linear import Linear

Shape = tuple[int, ...]
Counter = Callable[[Function], tuple[int, int]]  # node -> (forward FLOPs, backward FLOPs)


# ---------------------------------------------------------------------------- the formulas
def matmul_flops(a_shape: Shape, b_shape: Shape) -> int:
    """``a @ b`` with NumPy's (and PyTorch's) matmul rules; 0 for matrix-vector and dot."""
    if len(b_shape) == 1 and len(a_shape) <= 2:
        return 0
    a = a_shape if len(a_shape) > 1 else (1,) + a_shape        # (K,) -> (1, K)
    b = b_shape if len(b_shape) > 1 else b_shape + (1,)        # (K,) -> (K, 1)
    batch = math.prod(_broadcast(a[:-2], b[:-2]))
    return 2 * batch * a[-2] * a[-1] * b[-1]


def conv_flops(out_shape: Shape, weight_shape: Shape) -> int:
    """Forward convolution: ``2·N·C_out·(C_in/G)·kH·kW·H_out·W_out``; out (N, C_out, Ho, Wo)
    or unbatched (C_out, Ho, Wo), weight (C_out, C_in/G, kH, kW)."""
    return 2 * math.prod(out_shape) * math.prod(weight_shape[1:])


def conv_backward_flops(out_shape: Shape, weight_shape: Shape, groups: int, need_input: bool,
                        need_weight: bool) -> int:
    """Backward convolution: the input gradient as the forward, the weight gradient ``G``
    times the forward (a convolution over all input channels, as ``FlopCounterMode`` counts)."""
    forward = conv_flops(out_shape, weight_shape)
    return forward * (int(need_input) + groups * int(need_weight))


def attention_flops(q_shape: Shape, k_shape: Shape, v_shape: Shape) -> int:
    """``Q Kᵀ`` and ``P V``: ``2·B·L·S·E + 2·B·L·S·Ev`` for q (B.., L, E), k (B.., S, E),
    v (B.., S, Ev)."""
    b, l, s = _attention_sizes(q_shape, k_shape, v_shape)
    return 2 * b * l * s * (q_shape[-1] + v_shape[-1])


def attention_backward_flops(q_shape: Shape, k_shape: Shape, v_shape: Shape, need_q: bool,
                             need_k: bool, need_v: bool) -> int:
    """The products of attention's backward that run: ``dV``, ``dP``, ``dQ``, ``dK``."""
    b, l, s = _attention_sizes(q_shape, k_shape, v_shape)
    e, ev = q_shape[-1], v_shape[-1]
    flops = 2 * b * l * s * ev * int(need_v)                  # dV = Pᵀ dO
    flops += 2 * b * l * s * ev * int(need_q or need_k)       # dP = dO Vᵀ
    flops += 2 * b * l * s * e * (int(need_q) + int(need_k))  # dQ = dS K, dK = dSᵀ Q
    return flops


def _broadcast(a: Shape, b: Shape) -> Shape:
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    return tuple(max(x, y) for x, y in zip(a, b))


def _attention_sizes(q_shape: Shape, k_shape: Shape, v_shape: Shape) -> tuple[int, int, int]:
    """(B, L, S): the broadcast batch·heads count, query and key lengths."""
    batch = _broadcast(_broadcast(q_shape[:-2], k_shape[:-2]), v_shape[:-2])
    return math.prod(batch), q_shape[-2], k_shape[-2]


# ---------------------------------------------------------------------------- per op class
def _linear(node: Function) -> tuple[int, int]:
    # x (*, in) @ w (out, in)ᵀ -> (*, out); the op keeps x's shape as ``x_shape``
    forward = 2 * math.prod(node.out_shape) * node.x_shape[-1]
    need_x, need_w, _ = node.needs_input_grad
    return forward, forward * (int(need_x) + int(need_w))


def _matmul(node: Function) -> tuple[int, int]:
    forward = matmul_flops(node.a_shape, node.b_shape)
    return forward, forward * sum(node.needs_input_grad)


def _add_matmul(node: Function) -> tuple[int, int]:
    # saved: a (..., M, K), b (..., K, N); c is added, which counts 0
    a, b = node.saved_tensors
    forward = matmul_flops(a.shape, b.shape)
    _, need_a, need_b = node.needs_input_grad
    return forward, forward * (int(need_a) + int(need_b))


def _conv(weight_shape: Shape, groups: int, node: Function) -> tuple[int, int]:
    need_x, need_w, _ = node.needs_input_grad
    return (conv_flops(node.out_shape, weight_shape),
            conv_backward_flops(node.out_shape, weight_shape, groups, need_x, need_w))


def _conv_kernel(node: Function) -> tuple[int, int]:
    # saved: weight, then the column matrices of each batch chunk
    return _conv(node.saved_tensors[0].shape, node.geom.groups, node)


def _conv_reference(node: Function) -> tuple[int, int]:
    # saved: cols, weight
    return _conv(node.saved_tensors[1].shape, node.groups, node)


def _conv_transpose(node: Function) -> tuple[int, int]:
    # saved: x (N, C_in, H, W), weight (C_in, C_out/G, kH, kW); geometry ends with G
    x, weight = node.saved_tensors
    forward = 2 * x.shape[0] * math.prod(x.shape[2:]) * math.prod(weight.shape)
    need_x, need_w, _ = node.needs_input_grad
    return forward, forward * (int(need_x) + node.geometry[3] * int(need_w))


def _attention(node: Function) -> tuple[int, int]:
    # saved: q, k, v, probabilities, dropout mask; arguments (q, k, v, mask)
    q, k, v = node.saved_tensors[:3]
    need_q, need_k, need_v, _ = node.needs_input_grad
    return (attention_flops(q.shape, k.shape, v.shape),
            attention_backward_flops(q.shape, k.shape, v.shape, need_q, need_k, need_v))


def _packed_attention(node: Function) -> tuple[int, int]:
    # one input, the packed projection (N, L, 3E); saved q, k, v as (N, H, L, D) views of it
    q, k, v = node.saved_tensors[:3]
    need = node.needs_input_grad[0]
    return (attention_flops(q.shape, k.shape, v.shape),
            attention_backward_flops(q.shape, k.shape, v.shape, need, need, need))


def _attention_weights(node: Function) -> tuple[int, int]:
    # P = softmax(q kᵀ): one product forward, dQ and dK backward; saved q, k, probabilities
    q, k, _ = node.saved_tensors
    forward = matmul_flops(q.shape, k.shape[:-2] + (k.shape[-1], k.shape[-2]))
    need_q, need_k, _ = node.needs_input_grad
    return forward, forward * (int(need_q) + int(need_k))


COUNTERS: dict[type, Counter] = {
    Linear: _linear,
    MatMul: _matmul,
    AddMatMul: _add_matmul,
    Conv2dKernel: _conv_kernel,
    Conv2dReference: _conv_reference,
    ConvTranspose2dFunction: _conv_transpose,
    AttentionKernel: _attention,
    AttentionReference: _attention,
    PackedSelfAttention: _packed_attention,
    AttentionWeights: _attention_weights,
}


def register_flops(function: type, counter: Counter) -> None:
    """Count the FLOPs of ``function`` (a ``Function`` subclass) with ``counter(node) ->
    (forward, backward)``, reading shapes from what the node saved."""
    if not (isinstance(function, type) and issubclass(function, Function)):
        raise TypeError(f"register_flops: expected a Function subclass, got {function!r}")
    COUNTERS[function] = counter


def node_flops(node: Function) -> tuple[int, int]:
    """(forward, backward) FLOPs of one recorded op; ``(0, 0)`` for ops that count nothing."""
    counter = COUNTERS.get(type(node))
    return (0, 0) if counter is None else counter(node)
