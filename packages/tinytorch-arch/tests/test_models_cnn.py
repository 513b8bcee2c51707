"""The CNN model zoo: documented parameter counts and FLOPs, shapes, training, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
import tinytorch.nn.functional as F
from tinytorch.arch.conv import Conv2d
from tinytorch.arch.models import MLP, CifarCNN, LeNet5
from tinytorch.nn import Linear

CONFIGS = [  # (class, kwargs, input shape of one sample)
    (MLP, {}, (1, 28, 28)),
    (LeNet5, {}, (1, 28, 28)),
    (LeNet5, {"channels": (16, 32), "batch_norm": True}, (1, 28, 28)),
    (CifarCNN, {}, (3, 32, 32)),
]


def count_flops(model, sample_shape):
    """2 × multiply-accumulates of every Conv2d and Linear, measured with forward hooks."""
    total = []

    def hook(module, args, out):
        if isinstance(module, Conv2d):  # each output element: C_in/groups·kH·kW MACs
            total.append(2 * out.numel() * module.weight[0].numel())
        else:
            total.append(2 * out.numel() * module.in_features)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (Conv2d, Linear))]
    model.eval()
    with tinytorch.no_grad():
        model(tinytorch.zeros(1, *sample_shape))
    for h in handles:
        h.remove()
    return sum(total)


@pytest.mark.parametrize("cls, kwargs, shape", CONFIGS)
def test_docstring_states_the_real_parameter_count_and_flops(cls, kwargs, shape):
    model = cls(**kwargs)
    params = sum(p.numel() for p in model.parameters())
    flops = count_flops(model, shape)
    doc = " ".join(cls.__doc__.split())
    assert f"{params:,} parameters" in doc
    assert f"{flops:,} FLOPs per sample" in doc


@pytest.mark.parametrize("cls, kwargs, shape", CONFIGS)
def test_output_is_logits_per_sample_in_float32(cls, kwargs, shape):
    model = cls(num_classes=7, **kwargs) if cls is not MLP else cls(out_features=7)
    y = model(tinytorch.randn(3, *shape))
    assert y.shape == (3, 7) and y.dtype == np.float32


def test_lenet5_learns_a_fixed_batch():
    tinytorch.manual_seed(0)
    model = LeNet5(channels=(8, 16), hidden=(32, 16), image_size=12, batch_norm=True)
    x, y = tinytorch.randn(10, 1, 12, 12), tinytorch.arange(10)
    opt = tinytorch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        loss = F.cross_entropy(model(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.01 * first  # ten images, ten labels: memorised


def test_every_cnn_parameter_receives_a_gradient():
    model = CifarCNN(widths=(4, 8, 8), hidden=16)
    F.cross_entropy(model(tinytorch.randn(4, 3, 32, 32)), tinytorch.arange(4)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.abs(p.grad.numpy()).sum() > 0, name


@pytest.mark.parametrize("cls, kwargs, shape", CONFIGS[1:])
def test_state_dict_saved_and_loaded_into_a_fresh_model_gives_identical_outputs(
        tmp_path, cls, kwargs, shape):
    tinytorch.manual_seed(1)
    model = cls(**kwargs)
    opt = tinytorch.optim.SGD(model.parameters(), lr=0.1)
    loss = F.cross_entropy(model(tinytorch.randn(4, *shape)), tinytorch.arange(4))
    loss.backward()
    opt.step()  # the weights and the batch-norm statistics are no longer the initial ones
    tinytorch.save(model.state_dict(), tmp_path / "model.tt")
    tinytorch.manual_seed(2)
    fresh = cls(**kwargs)
    fresh.load_state_dict(tinytorch.load(tmp_path / "model.tt"))
    model.eval()
    fresh.eval()
    x = tinytorch.randn(5, *shape)
    np.testing.assert_array_equal(model(x).detach().numpy(), fresh(x).detach().numpy())


def test_lenet5_state_dict_runs_unchanged_in_pytorch():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class TorchLeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 16, 5, padding=2, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                nn.MaxPool2d(2), nn.Conv2d(16, 32, 5, bias=False), nn.BatchNorm2d(32),
                nn.ReLU(), nn.MaxPool2d(2))
            self.classifier = nn.Sequential(
                nn.Flatten(), nn.Linear(800, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                nn.Linear(84, 10))

        def forward(self, x):
            return self.classifier(self.features(x))

    ours = LeNet5(channels=(16, 32), batch_norm=True)
    ours(tinytorch.randn(8, 1, 28, 28))  # move the running statistics
    ref = TorchLeNet()
    ref.load_state_dict({k: torch.tensor(np.asarray(v.numpy()))
                         for k, v in ours.state_dict().items()})
    ours.eval()
    ref.eval()
    x = np.random.default_rng(3).standard_normal((4, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(ours(tinytorch.tensor(x)).detach().numpy(),
                               ref(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
