"""Fast kernels behind the Architecture tier's ops: the same algorithms as the references in
``conv.py``, ``pooling.py``, ``batchnorm.py`` and ``attention.py`` (and ``decode.py``, the
fused form of ``TransformerBlock.forward_cached``), with the systems work a first reading can
skip (other memory layouts, fused passes, threads).

Each public op runs its kernel by default and its reference under
``tinytorch.use_reference_kernels(True)``; ``tests/test_kernels_vs_reference.py`` keeps every
pair equal, values and gradients (``tests/test_kv_cache.py`` the decode pair, which has no
backward). Each module's docstring starts with what it does
differently from its reference, and why.
"""
