"""Values and gradients of a few composite expressions against PyTorch, when it is installed.

The same lambda runs on both libraries (``import tinytorch as torch`` compatibility), in
float64, and the results must agree to round-off. Skipped without torch.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch as tt

TORCH_PAIRS = {
    "softmax": lambda L, x: L.softmax(x, dim=1),
    "log_softmax": lambda L, x: x.log_softmax(dim=0),
    "logsumexp": lambda L, x: x.logsumexp(dim=1, keepdim=True),
    "var": lambda L, x: x.var(dim=0),
    "std_keepdim": lambda L, x: x.std(dim=1, keepdim=True),
    "norm": lambda L, x: x.norm(dim=1),
    "max_values": lambda L, x: x.max(dim=1).values,
    "amin": lambda L, x: x.amin(dim=(0, 1)),
    "sigmoid_tanh": lambda L, x: x.sigmoid() * x.tanh(),
    "matmul_t": lambda L, x: x @ x.T,
    "where_clamp": lambda L, x: L.where(x > 0, x.clamp(max=0.5), x * x),
    "gather": lambda L, x: x.gather(1, L.tensor([[0, 0], [2, 1], [3, 3]])),
    "index": lambda L, x: x[L.tensor([2, 0, 2]), 1:],
}


@pytest.mark.parametrize("name", sorted(TORCH_PAIRS))
def test_values_and_gradients_match_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(7).standard_normal((3, 4))
    fn = TORCH_PAIRS[name]
    ours_x = tt.tensor(a, requires_grad=True)
    ref_x = torch.tensor(a, requires_grad=True)
    ours, ref = fn(tt, ours_x), fn(torch, ref_x)
    np.testing.assert_allclose(ours.detach().numpy(), ref.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    weights = np.random.default_rng(8).standard_normal(tuple(ref.shape))
    (ours * tt.tensor(weights)).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours_x.grad.numpy(), ref_x.grad.numpy(), rtol=1e-10, atol=1e-12)
