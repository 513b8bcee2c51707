"""Knowledge distillation (Hinton, Vinyals and Dean, 2015): a small student learns from a
large teacher's softened outputs as well as from the labels.

    loss = α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) + (1 - α)·cross_entropy(z_s, y)

A label says only which class is right; the teacher's probabilities also say how wrong each
other class is (a "3" that looks like an "8"). Dividing the logits by a temperature ``T > 1``
softens both distributions so that those small probabilities weigh in the loss. The gradient
of the KL term with respect to the student's logits scales as ``1/T²``, so the factor ``T²``
keeps its weight against the label term the same whatever ``T`` is. The KL term is averaged
over the batch (``reduction="batchmean"``, the true KL per sample), as is the cross-entropy.

Cost: two log-softmaxes and a pointwise KL over the ``(N, C)`` logits, ``O(N·C)``, small next
to any forward pass; the teacher's forward is the real price of distillation, once per batch
(or once for the whole data set, if its logits are stored).

The loss is composed of differentiable ops (``log_softmax``, ``kl_div`` with
``log_target=True``, ``cross_entropy``), so the student trains through it. The teacher's
logits are detached: the teacher does not learn from its student.
"""

from __future__ import annotations

from tinytorch.core.tensor import Tensor
from tinytorch.nn import functional as F


def distillation_loss(student_logits: Tensor, teacher_logits: Tensor, target: Tensor,
                      T: float = 4.0, alpha: float = 0.9) -> Tensor:
    """Hinton et al.'s distillation loss, a scalar.

    Args:
        student_logits: (N, C), the model being trained.
        teacher_logits: (N, C), detached here.
        target: (N,) class indices in [0, C), for the label term.
        T: temperature > 0 that softens both distributions.
        alpha: weight in [0, 1] of the soft (teacher) term; ``1 - alpha`` goes to the labels.
    """
    if student_logits.ndim != 2 or student_logits.shape != teacher_logits.shape:
        raise ValueError(f"distillation_loss: student and teacher logits must both be (N, C); "
                         f"got {tuple(student_logits.shape)} and "
                         f"{tuple(teacher_logits.shape)}")
    if student_logits.dtype != teacher_logits.dtype:
        raise TypeError(f"distillation_loss: student logits are {student_logits.dtype} but "
                        f"teacher logits are {teacher_logits.dtype}")
    if not T > 0:
        raise ValueError(f"distillation_loss: temperature T must be > 0, got {T}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"distillation_loss: alpha must be in [0, 1], got {alpha}")
    log_student = F.log_softmax(student_logits / T, dim=1)
    log_teacher = F.log_softmax(teacher_logits.detach() / T, dim=1)
    soft = F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student_logits, target)
    return alpha * T * T * soft + (1.0 - alpha) * hard
