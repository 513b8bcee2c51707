"""Shared test settings for tinytorch-core: a modest hypothesis profile and a clean global state.

The ``core`` profile keeps property-based tests quick (each gradcheck example runs a few
hundred tiny forwards) and writes nothing into the source tree (no example database; its
scratch directory lives in the system temp dir). Set
``HYPOTHESIS_PROFILE=thorough`` for a longer local search.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

import tinytorch

set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "tinytorch-core-hypothesis"))
settings.register_profile(
    "core",
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", parent=settings.get_profile("core"), max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "core"))


@pytest.fixture(autouse=True)
def _restore_global_state() -> Iterator[None]:
    """Every test starts and ends with grad mode on and float32 as the default dtype."""
    tinytorch.set_grad_enabled(True)
    tinytorch.set_default_dtype(tinytorch.float32)
    state = tinytorch.get_rng_state()
    yield
    tinytorch.set_grad_enabled(True)
    tinytorch.set_default_dtype(tinytorch.float32)
    tinytorch.set_rng_state(state)
