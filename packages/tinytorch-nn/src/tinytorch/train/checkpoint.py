"""Training checkpoints: everything needed to resume a run exactly where it stopped.

A checkpoint holds the model's and the optimizer's state dicts, the scheduler's, the number of
finished epochs, the early-stopping state, the history so far, and the global random generator's
state. Restoring all of them at an epoch boundary makes the rest of the run bit-identical to an
uninterrupted one: the parameters and optimizer buffers are the same floats, the learning rate
schedule continues from the same epoch, and every later random draw (shuffling through
``tinytorch``'s generator, dropout, initialisation) sees the same stream.

The file is written with ``tinytorch.save``, which writes a temporary file and renames it, so a
crash mid-write leaves the previous checkpoint intact. Size: about the parameter bytes times
(1 + number of optimizer buffers per parameter), e.g. 3× the model for Adam.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from tinytorch.core.random import get_rng_state, set_rng_state
from tinytorch.core.serialization import load, save

if TYPE_CHECKING:
    from tinytorch.nn import Module
    from tinytorch.optim import Optimizer
    from tinytorch.optim.scheduler import LRScheduler
    from tinytorch.train.early_stopping import EarlyStopping

FORMAT = "tinytorch-train-checkpoint"
VERSION = 1


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Module,
    optimizer: Optimizer,
    epoch: int,
    scheduler: LRScheduler | None = None,
    early_stopping: EarlyStopping | None = None,
    history: list[dict[str, float]] | None = None,
) -> None:
    """Write an atomic checkpoint of a run after ``epoch`` finished epochs."""
    save({
        "format": FORMAT,
        "version": VERSION,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "early_stopping": None if early_stopping is None else early_stopping.state_dict(),
        "history": list(history or []),
        "rng_state": get_rng_state(),
    }, path)


def load_checkpoint(
    path: str | os.PathLike[str],
    model: Module,
    optimizer: Optimizer | None = None,
    scheduler: LRScheduler | None = None,
    early_stopping: EarlyStopping | None = None,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Restore what ``save_checkpoint`` wrote into the given objects (in place).

    Returns the checkpoint dict (``epoch`` and ``history`` are what a caller usually needs).
    The optimizer is loaded before the scheduler, which relies on its groups' ``initial_lr``.
    """
    state = load(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise RuntimeError(f"{os.fspath(path)} is not a training checkpoint (expected a dict "
                           f"with format {FORMAT!r}, written by save_checkpoint)")
    if state.get("version") != VERSION:
        raise RuntimeError(f"{os.fspath(path)} has checkpoint version {state.get('version')!r}; "
                           f"this TinyTorch reads version {VERSION}")
    if (scheduler is None) != (state["scheduler"] is None):
        has = "has" if state["scheduler"] is not None else "has no"
        given = "was" if scheduler is not None else "was not"
        raise ValueError(f"{os.fspath(path)} {has} scheduler state, but a scheduler {given} "
                         "given: resume with the same setup that wrote the checkpoint")
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    if early_stopping is not None and state["early_stopping"] is not None:
        early_stopping.load_state_dict(state["early_stopping"])
    if restore_rng:
        set_rng_state(state["rng_state"])
    return state
