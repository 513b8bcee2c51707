"""``tinytorch.utils``: PyTorch's ``torch.utils`` path.

``tinytorch.utils.data`` (``DataLoader``, ``Dataset``, ...) is shipped by tinytorch-data, which
adds the module to this package; ``extend_path`` lets the two distributions share it.
"""

import pkgutil

__path__ = pkgutil.extend_path(__path__, __name__)
