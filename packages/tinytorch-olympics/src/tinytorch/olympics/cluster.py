"""Dask clusters for a class's worth of submissions (the ``[dask]`` extra).

``tito olympics verify --scheduler tcp://host:8786`` sends each bundle's measurement to a
Dask distributed cluster through ``Client.get_executor``. A verification cluster differs
from a data-processing one in four settings, all made where the cluster starts:

- **one single-threaded worker per core** (``--nworkers N --nthreads 1``): a timed run owns
  its core;
- **a ``bench`` resource of 1 per worker**; every job asks for it, so two timed jobs never
  share a worker;
- **onnxruntime on one intra-op thread with spinning off**: the measuring child sets it for
  every session (``measure.make_session``), whatever the worker's environment;
- **``allowed-failures``** kept low (1): a submission that kills its worker is retried once,
  then marked failed, instead of taking down worker after worker. The verifier turns that
  failure into a rejected record.

Each measurement still runs in its own sandboxed child process on the worker, so a crash
inside onnxruntime costs a child, not the worker. Workers need tinytorch-olympics installed
and the task's dataset in their cache; bundles travel to them as bytes.

``local_cluster`` starts the same on this machine, for tests and for trying it out.
"""

from __future__ import annotations

import os
from typing import Any

ALLOWED_FAILURES = 1


def local_cluster(n_workers: int | None = None) -> Any:
    """A ``distributed.LocalCluster`` set up for verification: ``n_workers`` (default: one
    per usable core) single-threaded worker processes, each with ``bench=1``."""
    try:
        import dask
        from distributed import LocalCluster
    except ImportError:
        raise ImportError("a Dask cluster needs the dask extra: pip install "
                          "'tinytorch-olympics[dask]'") from None
    if n_workers is None:
        n_workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                            resources={"bench": 1}, dashboard_address=None)
