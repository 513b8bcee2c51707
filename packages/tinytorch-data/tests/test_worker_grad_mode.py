"""A DataLoader worker's ``no_grad`` must never switch off recording in the training thread."""

from __future__ import annotations

import threading

import numpy as np

import tinytorch as tt
from tinytorch.data import DataLoader, Dataset


class _NoGradTransformDataset(Dataset):
    """Each item is made under ``no_grad`` (as an augmentation would be) and holds the worker
    inside that block until the training thread has taken a step."""

    def __init__(self, n: int, inside: threading.Event, stepped: threading.Event) -> None:
        self.n = n
        self.inside = inside
        self.stepped = stepped

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tt.Tensor:
        with tt.no_grad():
            self.inside.set()
            self.stepped.wait(10)
            return tt.full((2,), float(i))


def test_a_worker_inside_no_grad_does_not_stop_the_training_step_from_recording() -> None:
    inside, stepped = threading.Event(), threading.Event()
    loader = DataLoader(_NoGradTransformDataset(4, inside, stepped), batch_size=2,
                        num_workers=1)
    batches = iter(loader)
    w = tt.tensor([1.0, -2.0], requires_grad=True)
    first = threading.Thread(target=lambda: next(batches))
    first.start()
    try:
        assert inside.wait(10), "the worker never started its item"
        loss = (w * w).sum()               # the training step, while the worker is in no_grad
        assert loss.requires_grad
        loss.backward()
        np.testing.assert_array_equal(w.grad.numpy(), [2.0, -4.0])
    finally:
        stepped.set()
        first.join(10)
