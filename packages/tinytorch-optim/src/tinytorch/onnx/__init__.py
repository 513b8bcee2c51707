"""``tinytorch.onnx``: export a model to ONNX and check the file in onnxruntime.

``export(model, args, f)`` traces one eval-mode forward pass and writes a standard ONNX model
(``torch.onnx.export``'s classic signature); ``verify(model, args, f)`` runs that file in
onnxruntime and compares every output with TinyTorch's own. Op translations live in
``tinytorch.onnx.ops`` and register themselves when this package is imported.

Importing works without the ``onnx`` package; exporting and verifying need it
(``pip install tinytorch-optim[onnxruntime]``), and say so when it is missing.
"""

from tinytorch.onnx import ops  # noqa: F401  (registers every handler)
from tinytorch.onnx.export import TracerWarning, export
from tinytorch.onnx.registry import UnsupportedOperatorError, register_module, register_op
from tinytorch.onnx.verify import verify

__all__ = ["TracerWarning", "UnsupportedOperatorError", "export", "register_module",
           "register_op", "verify"]
