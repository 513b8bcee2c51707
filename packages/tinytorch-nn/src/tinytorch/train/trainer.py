"""``Trainer`` and ``fit``: a training loop for people who don't want to write their own.

One epoch: for each ``(x, y)`` batch, forward, loss and backward; every ``accumulate`` batches,
clip the gradient norm, step the optimizer, zero the gradients (and step a per-step scheduler).
Then evaluate on the validation loader under ``no_grad``, step a per-epoch scheduler, append a
record to the history, ask early stopping, and write a checkpoint. The loaders are any iterables
of ``(x, y)`` batches (a ``DataLoader``, a list), so this tier does not depend on the data tier;
shuffling is the loader's job, and a loader that shuffles with ``tinytorch``'s global generator
(``DataLoader(shuffle=True)`` does) resumes exactly, because checkpoints carry that generator's
state; a private ``Generator`` handed to a loader is not saved.

Systems view: the loop adds O(1) Python work per batch to the model's own forward and backward
(one ``.item()`` for the loss, one pass over the outputs per metric). Memory is one batch of
activations plus gradients and optimizer state; accumulating k batches gives the gradient of a
k-times larger batch (exactly, for mean-reduced losses and equal batch sizes) at the activation
memory of one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tinytorch.core.grad_mode import no_grad
from tinytorch.core.progress import progress
from tinytorch.core.tensor import Tensor
from tinytorch.nn.utils import clip_grad_norm_
from tinytorch.train.checkpoint import load_checkpoint, save_checkpoint
from tinytorch.train.early_stopping import EarlyStopping
from tinytorch.train.metrics import Metric, resolve_metrics

if TYPE_CHECKING:
    from tinytorch.nn import Module
    from tinytorch.optim import Optimizer
    from tinytorch.optim.scheduler import LRScheduler

Batches = Iterable[tuple[Tensor, Tensor]]  # (inputs, targets) per batch
PathLike = str | os.PathLike


class _Totals:
    """Sample-weighted sums of the loss and metrics over an epoch."""

    def __init__(self, metrics: dict[str, Metric]) -> None:
        self.metrics = metrics
        self.sums = dict.fromkeys(["loss", *metrics], 0.0)
        self.count = 0

    def add(self, loss: Tensor, output: Tensor, target: Tensor) -> None:
        n = target.shape[0] if target.ndim else 1
        self.count += n
        self.sums["loss"] += loss.item() * n
        for name, fn in self.metrics.items():
            self.sums[name] += fn(output, target) * n

    def means(self) -> dict[str, float]:
        return {k: v / max(self.count, 1) for k, v in self.sums.items()}


class Trainer:
    """Trains ``model`` on ``loss_fn(model(x), y)`` with ``optimizer``.

    Args:
        scheduler: stepped once per epoch, or once per optimizer step when
            ``scheduler_interval="step"`` (e.g. ``OneCycleLR``).
        metrics: ``["accuracy"]`` or ``{name: fn(output, target) -> float}``; the loss is
            always recorded. History keys are ``train_<name>`` and ``val_<name>``.
        grad_clip: clip the total gradient norm to this value before each step.
        accumulate: sum gradients over this many batches per optimizer step.
        early_stopping: an ``EarlyStopping`` watching a history key (default ``val_loss``).
        checkpoint: a path written atomically after every epoch.
        progress: show one progress bar for the run (loss, samples/s, then each epoch's
            record).
    """

    def __init__(
        self,
        model: Module,
        loss_fn: Callable[[Tensor, Tensor], Tensor],
        optimizer: Optimizer,
        scheduler: LRScheduler | None = None,
        *,
        metrics: Mapping[str, Metric] | Iterable[str] | None = None,
        grad_clip: float | None = None,
        accumulate: int = 1,
        scheduler_interval: str = "epoch",
        early_stopping: EarlyStopping | None = None,
        checkpoint: PathLike | None = None,
        progress: bool = True,
    ) -> None:
        if not isinstance(accumulate, int) or accumulate < 1:
            raise ValueError(f"accumulate must be a positive int, got {accumulate!r}")
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', "
                             f"got {scheduler_interval!r}")
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.metrics = resolve_metrics(metrics)
        self.grad_clip = grad_clip
        self.accumulate = accumulate
        self.scheduler_interval = scheduler_interval
        self.early_stopping = early_stopping
        self.checkpoint = checkpoint
        self.progress = progress
        self.epoch = 0  # finished epochs
        self.history: list[dict[str, float]] = []

    # ------------------------------------------------------------------ the loop
    def fit(self, train_loader: Batches, epochs: int, val_loader: Batches | None = None,
            resume: bool | PathLike = False) -> list[dict[str, float]]:
        """Train until ``epochs`` epochs in total are done (or early stopping fires).

        ``resume=True`` continues from ``checkpoint`` if that file exists (else starts fresh);
        ``resume=path`` continues from that file. Returns the history, one dict per epoch.
        """
        if resume:
            path = self.checkpoint if resume is True else resume
            if path is None:
                raise ValueError("resume=True needs checkpoint=path (or pass resume=path)")
            if resume is not True or os.path.exists(path):
                self.load(path)
        self.optimizer.zero_grad()
        n_batches = _length(train_loader)
        remaining = max(epochs - self.epoch, 0)
        bar = progress(total=None if n_batches is None else n_batches * remaining,
                       desc=f"epoch {self.epoch + 1}/{epochs}", unit="batch",
                       disable=None if self.progress else True)
        with bar:
            while self.epoch < epochs and not (self.early_stopping and self.early_stopping.stopped):
                bar.set_description(f"epoch {self.epoch + 1}/{epochs}")
                record = {"epoch": self.epoch + 1, "lr": self.optimizer.param_groups[0]["lr"]}
                record.update(self.train_epoch(train_loader, bar))
                if val_loader is not None:
                    record.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
                bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k != "epoch"})
                if self.scheduler is not None and self.scheduler_interval == "epoch":
                    self.scheduler.step()
                self.epoch += 1
                self.history.append(record)
                if self.early_stopping is not None:
                    self.early_stopping.update(_monitored(record, self.early_stopping.monitor))
                if self.checkpoint is not None:
                    self.save(self.checkpoint)
        return self.history

    def train_epoch(self, loader: Batches, bar: Any = None) -> dict[str, float]:
        """One pass over ``loader`` with updates; returns ``train_loss`` and train metrics."""
        self.model.train()
        n_batches = _length(loader)
        k = self.accumulate
        totals = _Totals(self.metrics)
        start = time.perf_counter()
        pending = False  # gradients accumulated but not yet applied
        for i, (x, y) in enumerate(loader):
            output = self.model(x)
            loss = self.loss_fn(output, y)
            # the last group of an epoch may be short: scale by its real size when known
            group = k if n_batches is None else min(k, n_batches - (i // k) * k)
            (loss * (1.0 / group) if group > 1 else loss).backward()
            pending = True
            if (i + 1) % k == 0 or i + 1 == n_batches:
                self._optimizer_step()
                pending = False
            totals.add(loss, output, y)
            if bar is not None:
                bar.update(1)
                rate = totals.count / max(time.perf_counter() - start, 1e-9)
                bar.set_postfix(loss=f"{totals.means()['loss']:.4f}", samples_s=f"{rate:,.0f}",
                                refresh=False)
        if totals.count == 0:
            raise ValueError("the training loader yielded no batches")
        if pending:  # a loader without len() ended inside an accumulation group
            self._optimizer_step()
        seconds = time.perf_counter() - start
        record = {f"train_{name}": v for name, v in totals.means().items()}
        record["samples_per_s"] = totals.count / max(seconds, 1e-9)
        return record

    def evaluate(self, loader: Batches) -> dict[str, float]:
        """Loss and metrics over ``loader`` in eval mode without recording gradients."""
        was_training = self.model.training
        self.model.eval()
        totals = _Totals(self.metrics)
        try:
            with no_grad():
                for x, y in loader:
                    output = self.model(x)
                    totals.add(self.loss_fn(output, y), output, y)
        finally:
            self.model.train(was_training)
        if totals.count == 0:
            raise ValueError("the evaluation loader yielded no batches")
        return totals.means()

    def _optimizer_step(self) -> None:
        if self.grad_clip is not None:
            clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad()
        if self.scheduler is not None and self.scheduler_interval == "step":
            self.scheduler.step()

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: PathLike) -> None:
        """Checkpoint the run (atomically) after the epochs finished so far."""
        save_checkpoint(path, self.model, self.optimizer, self.epoch, self.scheduler,
                        self.early_stopping, self.history)

    def load(self, path: PathLike) -> None:
        """Restore a run from ``path``: weights, optimizer, scheduler, epoch, history, RNG."""
        state = load_checkpoint(path, self.model, self.optimizer, self.scheduler,
                                self.early_stopping)
        self.epoch = state["epoch"]
        self.history = list(state["history"])


def fit(
    model: Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: Optimizer,
    train_loader: Batches,
    epochs: int,
    val_loader: Batches | None = None,
    scheduler: LRScheduler | None = None,
    metrics: Mapping[str, Metric] | Iterable[str] | None = None,
    grad_clip: float | None = None,
    accumulate: int = 1,
    early_stopping: EarlyStopping | None = None,
    checkpoint: PathLike | None = None,
    resume: bool | PathLike = False,
    scheduler_interval: str = "epoch",
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train ``model`` for ``epochs`` epochs and return the history (see ``Trainer``)."""
    trainer = Trainer(model, loss_fn, optimizer, scheduler, metrics=metrics, grad_clip=grad_clip,
                      accumulate=accumulate, scheduler_interval=scheduler_interval,
                      early_stopping=early_stopping, checkpoint=checkpoint, progress=progress)
    return trainer.fit(train_loader, epochs, val_loader, resume=resume)


def _length(loader: Batches) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def _monitored(record: dict[str, float], key: str) -> float:
    if key not in record:
        raise KeyError(f"early stopping monitors {key!r}, but the epoch record has only "
                       f"{sorted(record)} (pass val_loader= to get val_* keys)")
    return record[key]
