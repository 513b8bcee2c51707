"""``tinytorch.train``: a small training loop with metrics, early stopping and checkpoints.

``fit(model, loss_fn, optimizer, train_loader, epochs, ...)`` runs the loop once; ``Trainer``
is the same loop as an object (for ``evaluate`` or manual checkpoints). Checkpoints hold the
model, optimizer, scheduler, epoch, early-stopping state, history and RNG state, so a resumed
run is bit-identical to an uninterrupted one.
"""

from tinytorch.train.checkpoint import load_checkpoint, save_checkpoint
from tinytorch.train.early_stopping import EarlyStopping
from tinytorch.train.metrics import accuracy
from tinytorch.train.trainer import Trainer, fit

__all__ = ["fit", "Trainer", "EarlyStopping", "accuracy", "save_checkpoint", "load_checkpoint"]
