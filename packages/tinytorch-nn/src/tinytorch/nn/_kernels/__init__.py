"""The fast kernels behind tinytorch-nn's ops, one module per op family.

Each public op (``F.gelu``, ``F.silu``, ``F.layer_norm``, ``F.rms_norm``, ``F.cross_entropy``)
is written first as its plain reference, in the file a reader opens (``nn/functional/``). The
kernel here computes the same thing with the systems work a learner can skip on first reading:
cache-sized blocks, threads, fused passes, memory reused on the last backward. The public op
runs the kernel unless ``tinytorch.use_reference_kernels(True)`` asks for the reference, and
``tests/test_kernels_vs_reference.py`` keeps each pair equal, values and gradients.

- ``pointwise.py``: GELU (exact and tanh) and SiLU, output and derivative in one blocked sweep.
- ``layer_norm.py``: LayerNorm and RMSNorm over row blocks, statistics-only saving.
- ``cross_entropy.py``: log-softmax + NLL fused into one blocked pass that saves the gradient.
"""
