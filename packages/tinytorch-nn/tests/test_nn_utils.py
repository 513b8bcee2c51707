"""nn.utils: gradient clipping and parameter/vector conversion."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinytorch
import tinytorch.nn as nn
from tinytorch.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    parameters_to_vector,
    vector_to_parameters,
)


def _params_with_grads(*grads):
    params = []
    for g in grads:
        p = nn.Parameter(tinytorch.zeros(*np.shape(g)))
        p.grad = tinytorch.tensor(np.asarray(g, dtype=np.float32))
        params.append(p)
    return params


def test_clip_grad_norm_returns_the_total_norm_and_scales_in_place():
    a, b = _params_with_grads([3.0, 0.0], [[4.0]])          # global 2-norm = 5
    ga = a.grad.array
    total = clip_grad_norm_([a, b], max_norm=1.0)
    assert isinstance(total, tinytorch.Tensor) and total.shape == ()
    assert total.item() == pytest.approx(5.0)
    assert a.grad.array is ga
    np.testing.assert_allclose(ga, [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), [[0.8]], rtol=1e-5)


def test_clip_grad_norm_leaves_small_gradients_alone():
    (a,) = _params_with_grads([0.3, 0.4])
    assert clip_grad_norm_(a, max_norm=1.0).item() == pytest.approx(0.5)
    np.testing.assert_array_equal(a.grad.numpy(), np.float32([0.3, 0.4]))


def test_clip_grad_norm_other_norm_types_and_params_without_grad():
    a, b = _params_with_grads([1.0, -3.0], [2.0])
    c = nn.Parameter(tinytorch.zeros(2))                     # no grad: skipped
    assert clip_grad_norm_([a, b, c], 10.0, norm_type=math.inf).item() == 3.0
    assert clip_grad_norm_([a, b, c], 10.0, norm_type=1).item() == pytest.approx(6.0)
    assert clip_grad_norm_([c], 1.0).item() == 0.0


def test_clip_grad_norm_on_a_model_after_backward():
    m = nn.Linear(10, 10)
    (m(tinytorch.randn(4, 10)) * 1000).sum().backward()
    before = math.sqrt(sum(float((p.grad.numpy() ** 2).sum()) for p in m.parameters()))
    total = clip_grad_norm_(m.parameters(), max_norm=0.5)
    assert total.item() == pytest.approx(before, rel=1e-5)
    after = math.sqrt(sum(float((p.grad.numpy() ** 2).sum()) for p in m.parameters()))
    assert after == pytest.approx(0.5, rel=1e-4)


def test_clip_grad_norm_non_finite_norm_raises_only_when_asked():
    (a,) = _params_with_grads([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(a, 1.0, error_if_nonfinite=True)
    assert math.isinf(clip_grad_norm_(a, 1.0).item())


def test_clip_grad_value_clamps_elementwise_in_place():
    a, b = _params_with_grads([-5.0, 0.5, 2.0], [[0.1, -0.2]])
    ga = a.grad.array
    assert clip_grad_value_([a, b], 1.0) is None
    assert a.grad.array is ga
    np.testing.assert_allclose(ga, [-1.0, 0.5, 1.0])
    np.testing.assert_allclose(b.grad.numpy(), [[0.1, -0.2]], rtol=1e-6)


def test_parameters_to_vector_and_back_round_trip():
    m = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    vec = parameters_to_vector(m.parameters())
    assert vec.shape == (m.num_parameters(),)
    np.testing.assert_array_equal(vec.detach().numpy()[:6], m[0].weight.array.reshape(-1))
    vector_to_parameters(tinytorch.arange(11, dtype=tinytorch.float32), m.parameters())
    np.testing.assert_array_equal(m[0].weight.array, [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(m[1].bias.array, [10])


def test_parameters_to_vector_is_differentiable():
    m = nn.Linear(2, 2)
    (parameters_to_vector(m.parameters()) * 3).sum().backward()
    np.testing.assert_array_equal(m.weight.grad.numpy(), np.full((2, 2), 3.0))


def test_vector_to_parameters_checks_its_input():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        vector_to_parameters(np.zeros(6), m.parameters())
    with pytest.raises(RuntimeError, match="has 5 elements but the parameters hold 6"):
        vector_to_parameters(tinytorch.zeros(5), m.parameters())
