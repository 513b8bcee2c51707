"""``tinytorch.utils.data``: PyTorch's path to the data tier, so that
``from torch.utils.data import DataLoader, TensorDataset`` runs unchanged with
``import tinytorch as torch``. Everything here is defined in ``tinytorch.data``.
"""

from tinytorch.data import *  # noqa: F403
from tinytorch.data import __all__  # noqa: F401
