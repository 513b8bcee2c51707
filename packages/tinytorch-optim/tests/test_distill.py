"""Distillation: Hinton et al.'s loss, its gradient, and a student that learns from a teacher."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import nn
from tinytorch.nn import functional as F
from tinytorch.perf import distillation_loss


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def reference(student: np.ndarray, teacher: np.ndarray, target: np.ndarray, T: float,
              alpha: float) -> float:
    log_s, log_t = log_softmax(student / T), log_softmax(teacher / T)
    kl = np.sum(np.exp(log_t) * (log_t - log_s)) / len(student)
    ce = -np.mean(log_softmax(student)[np.arange(len(student)), target])
    return alpha * T * T * kl + (1 - alpha) * ce


@pytest.mark.parametrize("T, alpha", [(4.0, 0.9), (1.0, 0.5), (2.5, 0.0), (8.0, 1.0)])
def test_the_loss_is_the_formula_of_hinton_et_al(T, alpha):
    rng = np.random.default_rng(0)
    student, teacher = rng.standard_normal((2, 6, 5)) * 3
    target = rng.integers(0, 5, 6)
    loss = distillation_loss(tt.tensor(student), tt.tensor(teacher), tt.tensor(target), T, alpha)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(reference(student, teacher, target, T, alpha), rel=1e-10)


def test_the_loss_agrees_with_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    student, teacher = rng.standard_normal((2, 8, 4)).astype(np.float32)
    target = rng.integers(0, 4, 8)
    ts, tt_, ty = torch.tensor(student), torch.tensor(teacher), torch.tensor(target)
    expected = (0.9 * 16 * torch.nn.functional.kl_div(
        torch.log_softmax(ts / 4, 1), torch.log_softmax(tt_ / 4, 1), reduction="batchmean",
        log_target=True) + 0.1 * torch.nn.functional.cross_entropy(ts, ty)).item()
    ours = distillation_loss(tt.tensor(student), tt.tensor(teacher), tt.tensor(target)).item()
    assert ours == pytest.approx(expected, rel=1e-5)


def test_matching_the_teacher_leaves_only_the_label_term():
    logits = tt.randn(4, 3)
    target = tt.tensor([0, 1, 2, 0])
    loss = distillation_loss(logits, logits, target, T=3.0, alpha=0.7)
    assert loss.item() == pytest.approx(0.3 * F.cross_entropy(logits, target).item(), rel=1e-5)


def test_gradients_match_finite_differences_in_float64():
    rng = np.random.default_rng(2)
    student = tt.tensor(rng.standard_normal((5, 4)), requires_grad=True)
    teacher = tt.tensor(rng.standard_normal((5, 4)))
    target = tt.tensor(rng.integers(0, 4, 5))
    assert tt.gradcheck(lambda s: distillation_loss(s, teacher, target, T=2.0, alpha=0.6),
                        (student,))


def test_the_teacher_receives_no_gradient():
    student = tt.randn(3, 4, requires_grad=True)
    teacher = tt.randn(3, 4, requires_grad=True)
    distillation_loss(student, teacher, tt.tensor([0, 1, 3])).backward()
    assert student.grad is not None and teacher.grad is None


def _blobs(rng: np.random.Generator, means: np.ndarray, n: int) -> tuple[tt.Tensor, tt.Tensor]:
    y = rng.integers(0, len(means), n)
    x = means[y] + rng.standard_normal((n, means.shape[1]))
    return tt.tensor(x.astype(np.float32)), tt.tensor(y)


def _train(model: nn.Module, x: tt.Tensor, y: tt.Tensor, loss_fn, steps: int = 150) -> None:
    optimizer = tt.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()


def _accuracy(model: nn.Module, x: tt.Tensor, y: tt.Tensor) -> float:
    with tt.no_grad():
        return float(np.mean(model(x).array.argmax(axis=1) == y.array))


def test_a_student_taught_by_a_teacher_beats_the_same_student_trained_alone():
    """Five overlapping Gaussian classes in 10-D. The teacher learns from 1,000 labelled
    samples; the student sees only 15. A label gives one bit of which-class; the teacher's
    logits on the same 15 inputs give the whole decision function there, which is what the
    student lacks."""
    rng = np.random.default_rng(0)
    means = rng.standard_normal((5, 10)) * 0.7
    x_teacher, y_teacher = _blobs(rng, means, 1000)
    x_few, y_few = _blobs(rng, means, 15)
    x_test, y_test = _blobs(rng, means, 1000)
    tt.manual_seed(0)
    teacher = nn.Linear(10, 5)
    _train(teacher, x_teacher, y_teacher, F.cross_entropy)
    with tt.no_grad():
        soft = teacher(x_few)

    tt.manual_seed(1)
    alone = nn.Linear(10, 5)
    tt.manual_seed(1)
    student = nn.Linear(10, 5)
    _train(alone, x_few, y_few, F.cross_entropy)
    _train(student, x_few, y_few, lambda out, y: distillation_loss(out, soft, y))

    alone_acc = _accuracy(alone, x_test, y_test)
    student_acc = _accuracy(student, x_test, y_test)
    assert student_acc > alone_acc + 0.1
    assert student_acc > 0.9 * _accuracy(teacher, x_test, y_test)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"T": 0.0}, ValueError, "temperature T must be > 0"),
    ({"alpha": 1.5}, ValueError, r"alpha must be in \[0, 1\]"),
    ({"teacher": tt.randn(4, 5)}, ValueError, r"must both be \(N, C\); got \(4, 3\) and "
                                              r"\(4, 5\)"),
    ({"teacher": tt.randn(4, 3, dtype=tt.float64)}, TypeError, "teacher logits are float64"),
])
def test_bad_arguments_are_refused(kwargs, error, message):
    teacher = kwargs.pop("teacher", tt.randn(4, 3))
    with pytest.raises(error, match=message):
        distillation_loss(tt.randn(4, 3), teacher, tt.tensor([0, 1, 2, 0]), **kwargs)
