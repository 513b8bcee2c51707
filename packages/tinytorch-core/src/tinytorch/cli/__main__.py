"""``python -m tinytorch.cli`` is the same as ``tito``."""

import sys

from tinytorch.cli import main

sys.exit(main())
