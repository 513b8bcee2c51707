"""quantize_dynamic / quantize_static: new models, fusion, calibration input, bad input, size."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tinytorch
from tinytorch import nn
from tinytorch.arch import GPT, Conv2d, gpt_nano
from tinytorch.arch.models import MLP, LeNet5
from tinytorch.perf import (
    DynamicQuantizedLinear,
    QuantizedConv2d,
    QuantizedLinear,
    quantize_dynamic,
    quantize_static,
)


def snapshot(model: nn.Module) -> dict:
    return {"state": {k: v.numpy().copy() for k, v in model.state_dict().items()},
            "types": [type(m) for m in model.modules()],
            "training": [m.training for m in model.modules()],
            "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks))
                      for m in model.modules()]}


def assert_same(before: dict, model: nn.Module) -> None:
    after = snapshot(model)
    assert after["types"] == before["types"] and after["training"] == before["training"]
    assert after["hooks"] == before["hooks"]
    assert before["state"].keys() == after["state"].keys()
    for k, v in before["state"].items():
        assert after["state"][k].dtype == v.dtype and np.array_equal(after["state"][k], v)


def lenet_with_statistics() -> tuple[nn.Module, np.ndarray]:
    """LeNet5 with batch norm whose running statistics are not the defaults."""
    tinytorch.manual_seed(0)
    model = LeNet5(channels=(8, 16), batch_norm=True)
    x = np.random.default_rng(0).normal(size=(16, 1, 28, 28)).astype(np.float32)
    with tinytorch.no_grad():
        for _ in range(3):
            model(tinytorch.from_numpy(x * 2 + 0.5))           # train mode: stats move
    return model.eval(), x


def test_dynamic_returns_a_new_model_and_leaves_the_original_alone():
    tinytorch.manual_seed(0)
    model = MLP(784, (256, 128), 10).train()
    before = snapshot(model)
    q = quantize_dynamic(model)
    assert_same(before, model)
    assert q is not model and not q.training
    layers = [m for m in q.modules() if isinstance(m, DynamicQuantizedLinear)]
    assert len(layers) == 3 and not any(isinstance(m, nn.Linear) for m in q.modules())
    x = tinytorch.randn(5, 784)
    with tinytorch.no_grad():
        want, got = model.eval()(x).numpy(), q(x).numpy()
    assert np.abs(got - want).max() < 0.02 * np.abs(want).max()


def test_static_fuses_conv_batchnorm_relu_and_leaves_the_original_alone():
    model, x = lenet_with_statistics()
    before = snapshot(model)
    q = quantize_static(model, [tinytorch.from_numpy(x)])
    assert_same(before, model)
    names = [type(m).__name__ for m in q.features]
    assert names == ["QuantizedConv2d", "Identity", "Identity", "MaxPool2d"] * 2
    assert all(isinstance(m, QuantizedConv2d) and m.relu for m in (q.features[0], q.features[4]))
    heads = [m for m in q.classifier if isinstance(m, QuantizedLinear)]
    assert [m.relu for m in heads] == [True, True, False]
    with tinytorch.no_grad():
        want, got = model(tinytorch.from_numpy(x)).numpy(), q(tinytorch.from_numpy(x)).numpy()
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.9


def test_state_dicts_hold_integers_and_reload_into_a_quantized_model(tmp_path):
    model, x = lenet_with_statistics()
    q = quantize_static(model, [tinytorch.from_numpy(x)])
    sd = q.state_dict()
    assert sd["features.0.weight"].dtype == tinytorch.int8
    assert sd["features.0.bias"].dtype == tinytorch.int32
    assert sd["features.0.input_zero_point"].dtype == tinytorch.uint8
    assert sd["classifier.1.weight_scale"].dtype == tinytorch.float32
    path = tmp_path / "lenet-int8.tt"
    tinytorch.save(sd, path)
    other = quantize_static(LeNet5(channels=(8, 16), batch_norm=True), [tinytorch.from_numpy(x)])
    other.load_state_dict(tinytorch.load(path))
    inp = tinytorch.from_numpy(x[:4])
    np.testing.assert_array_equal(other(inp).numpy(), q(inp).numpy())


@pytest.mark.parametrize("method", ["dynamic", "static"])
def test_saved_mlp_is_at_least_3_5x_smaller(tmp_path, method):
    # milestone 03's architecture: 784 -> 256 -> 128 -> 10
    tinytorch.manual_seed(0)
    model = MLP(784, (256, 128), 10)
    calibration = [tinytorch.randn(32, 784)]
    q = quantize_dynamic(model) if method == "dynamic" else quantize_static(model, calibration)
    float_path, int8_path = tmp_path / "mlp.tt", tmp_path / "mlp-int8.tt"
    tinytorch.save(model.state_dict(), float_path)
    tinytorch.save(q.state_dict(), int8_path)
    ratio = os.path.getsize(float_path) / os.path.getsize(int8_path)
    assert ratio >= 3.5, f"float {os.path.getsize(float_path)} B / int8 " \
                         f"{os.path.getsize(int8_path)} B = {ratio:.2f}"


def test_model_without_supported_layers_is_refused():
    model = nn.Sequential(nn.Flatten(), nn.ReLU())
    with pytest.raises(ValueError, match="supported layers: Linear, Conv2d; the model holds: "
                                         "Flatten, ReLU, Sequential"):
        quantize_static(model, [tinytorch.randn(2, 3)])
    with pytest.raises(ValueError, match="supported layers: Linear;"):
        quantize_dynamic(model)
    with pytest.raises(TypeError, match="expected a tinytorch.nn.Module"):
        quantize_dynamic("mlp")


@pytest.mark.parametrize("data", [[], (), iter([]), (x for x in [])],
                         ids=["list", "tuple", "iterator", "generator"])
@pytest.mark.parametrize("observer", ["minmax", "percentile"])
def test_calibration_data_without_batches_is_refused(data, observer):
    tinytorch.manual_seed(0)
    model = MLP(8, (4,), 2)
    before = snapshot(model)
    with pytest.raises(ValueError, match="yielded no batches"):
        quantize_static(model, data, observer=observer)
    assert_same(before, model)


def test_failing_calibration_leaves_the_original_alone():
    tinytorch.manual_seed(0)
    model = MLP(8, (4,), 2)
    before = snapshot(model)
    with pytest.raises(RuntimeError):
        quantize_static(model, [tinytorch.randn(3, 8), tinytorch.randn(3, 5)])
    with pytest.raises(ValueError, match="NaN or inf"):
        quantize_static(model, [tinytorch.full((3, 8), float("nan"))])
    assert_same(before, model)


def test_calibration_accepts_tensors_arrays_pairs_and_one_shot_iterators():
    tinytorch.manual_seed(0)
    model = MLP(8, (6,), 3)
    xs = [np.random.default_rng(i).normal(size=(4, 8)).astype(np.float32) for i in range(3)]
    ys = [tinytorch.zeros(4, dtype=tinytorch.int64)] * 3
    forms = {
        "tensors": [tinytorch.from_numpy(x) for x in xs],
        "arrays": xs,
        "pairs": [(tinytorch.from_numpy(x), y) for x, y in zip(xs, ys)],
        "generator": (tinytorch.from_numpy(x) for x in xs),
    }
    states = {name: quantize_static(model, data).state_dict() for name, data in forms.items()}
    for name, sd in states.items():
        for k, v in states["tensors"].items():
            assert np.array_equal(sd[k].numpy(), v.numpy()), (name, k)
    one_shot = quantize_static(model, (tinytorch.from_numpy(x) for x in xs),
                               observer="percentile")
    reusable = quantize_static(model, [tinytorch.from_numpy(x) for x in xs],
                               observer="percentile")
    for k, v in reusable.state_dict().items():
        assert np.array_equal(one_shot.state_dict()[k].numpy(), v.numpy())


def test_calibration_from_a_dataloader():
    data = pytest.importorskip("tinytorch.data")
    tinytorch.manual_seed(0)
    model = MLP(8, (6,), 3)
    x = tinytorch.randn(40, 8)
    loader = data.DataLoader(data.TensorDataset(x, tinytorch.zeros(40, dtype=tinytorch.int64)),
                             batch_size=16)
    q = quantize_static(model, loader, observer="percentile")
    assert isinstance(q.layers[1], QuantizedLinear) and q.layers[1].relu


def test_bad_calibration_items_and_options_are_refused():
    model = MLP(8, (4,), 2)
    with pytest.raises(TypeError, match="calibration item 0 is a str"):
        quantize_static(model, ["not a tensor"])
    with pytest.raises(TypeError, match="must be an iterable"):
        quantize_static(model, 42)
    with pytest.raises(ValueError, match="observer must be one of"):
        quantize_static(model, [tinytorch.randn(2, 8)], observer="entropy")


def test_shared_relu_is_not_fused():
    relu = nn.ReLU()
    model = nn.Sequential(nn.Linear(4, 4), relu, nn.Linear(4, 4), relu)
    q = quantize_static(model, [tinytorch.randn(8, 4)])
    assert [type(m).__name__ for m in q] == ["QuantizedLinear", "ReLU"] * 2
    assert not q[0].relu


def test_a_bare_layer_is_replaced_by_its_quantized_form():
    conv = Conv2d(2, 3, 3, stride=2, dilation=2, padding="valid")
    assert isinstance(quantize_static(conv, [tinytorch.randn(2, 2, 9, 9)]), QuantizedConv2d)
    assert isinstance(quantize_dynamic(nn.Linear(3, 2)), DynamicQuantizedLinear)


def test_dynamic_quantization_of_a_gpt_keeps_its_logits():
    tinytorch.manual_seed(0)
    model = GPT(gpt_nano()).eval()
    q = quantize_dynamic(model)
    assert sum(isinstance(m, DynamicQuantizedLinear) for m in q.modules()) == 7
    idx = tinytorch.randint(0, gpt_nano().vocab_size, (2, 8))
    with tinytorch.no_grad():
        want, got = model(idx), q(idx)
    want = want[0] if isinstance(want, tuple) else want
    got = got[0] if isinstance(got, tuple) else got
    assert np.abs(got.numpy() - want.numpy()).max() < 0.05 * np.abs(want.numpy()).max()


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Five Gaussian classes in 20 dimensions (fixed centres), about 95% separable."""
    centres = np.random.default_rng(123).normal(scale=1.0, size=(5, 20))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, n)
    return (centres[y] + rng.normal(size=(n, 20))).astype(np.float32), y


def test_int8_accuracy_is_at_least_99_percent_of_float32():
    tinytorch.manual_seed(0)
    model = MLP(20, (64, 32), 5)
    x, y = blobs(2000, seed=1)
    x_test, y_test = blobs(1000, seed=2)
    opt = tinytorch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(60):
        batch = slice((step * 100) % 2000, (step * 100) % 2000 + 100)
        loss = loss_fn(model(tinytorch.from_numpy(x[batch])), tinytorch.from_numpy(y[batch]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()

    def accuracy(m: nn.Module) -> float:
        with tinytorch.no_grad():
            return float((m(tinytorch.from_numpy(x_test)).numpy().argmax(1) == y_test).mean())

    float_acc = accuracy(model)
    assert 0.9 < float_acc < 0.99                 # hard enough for rounding to matter
    calibration = [tinytorch.from_numpy(x[i:i + 100]) for i in range(0, 500, 100)]
    for q in (quantize_dynamic(model), quantize_static(model, calibration),
              quantize_static(model, calibration, observer="percentile")):
        assert accuracy(q) >= 0.99 * float_acc
