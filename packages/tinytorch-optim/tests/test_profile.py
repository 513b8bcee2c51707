"""``tinytorch.perf.profile``: FLOPs worked out by hand and against PyTorch's FlopCounterMode,
saved memory against a hand analysis, the JSON and the plot, and the error naming a layer."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import tinytorch
from tinytorch import nn
from tinytorch.arch import GPT, Conv2d, GPTConfig, LeNet5, MultiheadAttention, gpt_nano
from tinytorch.nn import functional as F
from tinytorch.perf import Profile, profile
from tinytorch.perf.profiler import measure_roofs

FAST = {"repeats": 1, "warmup": 0}


class Wrap(nn.Module):
    """A module around a functional call, so that it gets a row of its own."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def flops(model, *args, **kw) -> tuple[int, int]:
    total = profile(model, args if len(args) > 1 else args[0], **FAST, **kw).total
    return total.flops_forward, total.flops_backward


@pytest.fixture
def seeded():
    tinytorch.manual_seed(0)


# ---------------------------------------------------------------------------- hand-worked FLOPs
def test_linear_flops_by_hand(seeded):
    fc = nn.Linear(5, 3)
    # 2·M·in·out = 2·4·5·3 = 120 forward; backward: the weight gradient only (the input
    # needs none), another 120; the bias gradient counts 0
    assert flops(fc, tinytorch.randn(4, 5)) == (120, 120)
    # the input needs a gradient too: grad_input is one more GEMM of the same size
    assert flops(fc, tinytorch.randn(4, 5, requires_grad=True)) == (120, 240)
    # leading dims fold into M: (2, 4, 5) is M = 8 rows
    assert flops(fc, tinytorch.randn(2, 4, 5)) == (240, 240)


@pytest.mark.parametrize("options, hw_out, forward", [
    # forward = 2·N·C_out·(C_in/G)·kH·kW·H_out·W_out with N=2, C_in=4, C_out=6, k=3, 9×9 input
    ({}, 7, 2 * 2 * 6 * 4 * 9 * 7 * 7),                                 # 21168
    ({"stride": 2}, 4, 2 * 2 * 6 * 4 * 9 * 4 * 4),                      # (9-3)//2+1 = 4
    ({"padding": 1}, 9, 2 * 2 * 6 * 4 * 9 * 9 * 9),                     # same size
    ({"dilation": 2}, 5, 2 * 2 * 6 * 4 * 9 * 5 * 5),                    # span 5: 9-5+1 = 5
    ({"groups": 2}, 7, 2 * 2 * 6 * 2 * 9 * 7 * 7),                      # C_in/G = 2
    ({"stride": 2, "padding": 1, "dilation": 2, "groups": 2}, 4,        # (9+2-5)//2+1 = 4
     2 * 2 * 6 * 2 * 9 * 4 * 4),                                        # 6912
])
def test_conv2d_flops_by_hand(seeded, options, hw_out, forward):
    conv = Conv2d(4, 6, 3, **options)
    groups = options.get("groups", 1)
    x = tinytorch.randn(2, 4, 9, 9)
    p = profile(conv, x, **FAST)
    assert p[""].calls == 1
    assert p.total.flops_forward == forward
    # no input gradient: only the weight gradient, counted over all C_in channels (G × forward)
    assert p.total.flops_backward == groups * forward
    # with the input gradient: one more convolution the size of the forward
    assert flops(conv, x.clone().requires_grad_()) == (forward, (groups + 1) * forward)
    assert conv(x).shape[-1] == hw_out


def test_conv_transpose2d_flops_by_hand(seeded):
    up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2)
    x = tinytorch.randn(2, 4, 5, 5)
    # 2·N·H_in·W_in·C_in·(C_out/G)·kH·kW = 2·2·25·4·3·9 = 10800, G·10800 for the weight
    # gradient, 10800 more for the input gradient
    assert flops(up, x) == (10800, 21600)
    assert flops(up, x.clone().requires_grad_()) == (10800, 32400)


def test_batched_matmul_flops_by_hand(seeded):
    a = tinytorch.randn(3, 4, 5, requires_grad=True)
    b = tinytorch.randn(3, 5, 6, requires_grad=True)
    # 2·B·M·K·N = 2·3·4·5·6 = 720 forward; one product of that size per input gradient
    assert flops(Wrap(tinytorch.bmm), a, b) == (720, 1440)
    assert flops(Wrap(tinytorch.matmul), a, b) == (720, 1440)
    # a shared (K, N) weight broadcast over the batch: the same 720
    w = tinytorch.randn(5, 6, requires_grad=True)
    assert flops(Wrap(tinytorch.matmul), a, w) == (720, 1440)
    # baddbmm: the product counts, the added input does not
    c = tinytorch.randn(3, 4, 6, requires_grad=True)
    assert flops(Wrap(tinytorch.baddbmm), c, a, b) == (720, 1440)
    # matrix-vector products are not counted (PyTorch runs them as mv, which it skips)
    v = tinytorch.randn(5, requires_grad=True)
    assert flops(Wrap(tinytorch.matmul), tinytorch.randn(4, 5, requires_grad=True), v) == (0, 0)


def test_attention_flops_by_hand(seeded):
    q = tinytorch.randn(2, 3, 5, 4, requires_grad=True)     # B = 2·3 slices, L = 5, E = 4
    k = tinytorch.randn(2, 3, 7, 4, requires_grad=True)     # S = 7
    v = tinytorch.randn(2, 3, 7, 6, requires_grad=True)     # Ev = 6
    # forward: Q Kᵀ 2·6·5·7·4 = 1680, P V 2·6·5·7·6 = 2520 -> 4200
    # backward: dV 2520 + dP 2520 + dQ 1680 + dK 1680 = 8400
    sdpa = Wrap(F.scaled_dot_product_attention)
    assert flops(sdpa, q, k, v) == (4200, 8400)
    # a causal mask does not change the count: the full L×S scores are computed
    causal = Wrap(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert flops(causal, q, k[:, :, :5], v[:, :, :5]) == (3000, 6000)
    # only V needs a gradient: dV alone
    assert flops(sdpa, q.detach(), k.detach(), v) == (4200, 2520)


@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_attention_flops_by_hand(seeded, need_weights):
    mha = MultiheadAttention(8, 2, batch_first=True)
    x = tinytorch.randn(2, 5, 8, requires_grad=True)        # N = 2, L = S = 5, E = 8, H = 2
    model = Wrap(lambda x: mha(x, x, x, need_weights=need_weights)[0])
    model.mha = mha
    p = profile(model, x, **FAST)
    # input projection 2·(N·L)·E·3E = 3840; attention 2·(N·H)·L·S·(D + D) = 2·4·5·5·8 = 1600
    assert p["mha"].flops_forward == 3840 + 1600
    assert p["mha.out_proj"].flops_forward == 2 * 10 * 8 * 8       # 1280
    # backward: every product twice (input and weight gradients, dQ/dK/dV/dP)
    assert p["mha"].flops_backward == 2 * (3840 + 1600)
    assert p.total.flops_backward == 2 * p.total.flops_forward


# ---------------------------------------------------------------------------- whole models
def test_lenet5_totals_match_its_documented_flops(seeded):
    p = profile(LeNet5(), tinytorch.randn(3, 1, 28, 28), **FAST)
    assert p.total.flops_forward == 3 * 833_040                   # LeNet5's docstring, per sample
    assert p.total.params == 61_706
    # conv1 computes no input gradient: its backward is its weight gradient alone
    assert p["features.0"].flops_backward == p["features.0"].flops_forward
    assert p["classifier.1"].flops_backward == 2 * p["classifier.1"].flops_forward


def test_gpt_totals_match_flops_per_token(seeded):
    model = GPT(gpt_nano())
    idx = tinytorch.randint(0, 65, (2, 16))
    p = profile(model, idx, **FAST)
    assert p.total.flops_forward == 2 * 16 * model.flops_per_token()
    assert p.total.flops_backward == 2 * p.total.flops_forward     # no product sees the ids
    assert p.total.params == model.num_parameters() == 28_064
    assert p["lm_head"].params == 0                # tied to wte: counted once, where first met
    assert p["lm_head"].flops_forward == 2 * 32 * 32 * 65
    rows = [r.name for r in p.layers]
    assert "blocks.0" in rows and "blocks" not in rows     # residual adds; a bare ModuleList
    assert p.total.flops_forward == sum(r.flops_forward for r in p.layers)


def test_a_module_called_twice_is_counted_twice(seeded):
    fc = nn.Linear(4, 4)
    model = Wrap(lambda x: fc(fc(x)))
    model.fc = fc
    p = profile(model, tinytorch.randn(3, 4), **FAST)
    assert p["fc"].calls == 2
    assert p["fc"].flops_forward == 2 * (2 * 3 * 4 * 4)
    # first call: weight gradient only; second call: weight and input gradients
    assert p["fc"].flops_backward == 3 * (2 * 3 * 4 * 4)
    assert p["fc"].params == 20
    assert [r.name for r in p.layers] == ["fc"]             # the wrapper did nothing itself


@pytest.fixture(params=[False, True], ids=["kernels", "reference"])
def reference(request):
    before = tinytorch.reference_kernels_enabled()
    tinytorch.use_reference_kernels(request.param)
    yield request.param
    tinytorch.use_reference_kernels(before)


def _torch_flops(torch, model, x):
    """Forward and backward FLOPs by ``FlopCounterMode``. Attention runs on PyTorch's math
    backend: its CPU flash kernel is missing from the counter's table (it would count 0),
    while the math backend's batched products give the counter's sdpa formula exactly."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    with sdpa_kernel(SDPBackend.MATH):
        with FlopCounterMode(display=False) as counter:
            out = model(x)
        forward = counter.get_total_flops()
        with FlopCounterMode(display=False) as counter:
            out.backward(torch.ones_like(out))
    return forward, counter.get_total_flops()


def test_small_cnn_matches_torch_flop_counter(seeded, reference):
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    ours = nn.Sequential(
        Conv2d(3, 8, 3, padding=1), nn.ReLU(), Conv2d(8, 16, 3, stride=2, dilation=2),
        nn.ReLU(), Conv2d(16, 16, 3, padding=1, groups=4),
        nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, groups=2), nn.Flatten(),
        nn.Linear(8 * 11 * 11, 10))
    theirs = tnn.Sequential(
        tnn.Conv2d(3, 8, 3, padding=1), tnn.ReLU(), tnn.Conv2d(8, 16, 3, stride=2, dilation=2),
        tnn.ReLU(), tnn.Conv2d(16, 16, 3, padding=1, groups=4),
        tnn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, groups=2), tnn.Flatten(),
        tnn.Linear(8 * 11 * 11, 10))
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    assert flops(ours, tinytorch.tensor(x)) == _torch_flops(torch, theirs, torch.tensor(x))


def test_small_gpt_matches_torch_flop_counter(seeded, reference):
    torch = pytest.importorskip("torch")
    tnn, tF = torch.nn, torch.nn.functional
    c = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)

    class Block(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            e = c.n_embd
            self.ln_1, self.ln_2 = tnn.LayerNorm(e), tnn.LayerNorm(e)
            self.qkv, self.out = tnn.Linear(e, 3 * e), tnn.Linear(e, e)
            self.fc, self.proj = tnn.Linear(e, 4 * e), tnn.Linear(4 * e, e)

        def forward(self, x):
            n, t, e = x.shape
            heads = self.qkv(self.ln_1(x)).reshape(n, t, 3, c.n_head, e // c.n_head)
            q, k, v = heads.permute(2, 0, 3, 1, 4)
            a = tF.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.out(a.transpose(1, 2).reshape(n, t, e))
            return x + self.proj(tF.gelu(self.fc(self.ln_2(x)), approximate="tanh"))

    class TorchGPT(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = tnn.Embedding(c.vocab_size, c.n_embd)
            self.wpe = tnn.Parameter(torch.zeros(c.block_size, c.n_embd))
            self.blocks = tnn.ModuleList(Block() for _ in range(c.n_layer))
            self.ln_f = tnn.LayerNorm(c.n_embd)

        def forward(self, idx):
            x = self.wte(idx) + self.wpe[: idx.shape[1]]
            for block in self.blocks:
                x = block(x)
            return tF.linear(self.ln_f(x), self.wte.weight)           # tied lm_head

    idx = np.random.default_rng(0).integers(0, c.vocab_size, (3, c.block_size))
    ours = profile(GPT(c), tinytorch.tensor(idx), **FAST).total
    expected = _torch_flops(torch, TorchGPT(), torch.tensor(idx))
    assert (ours.flops_forward, ours.flops_backward) == expected


# ---------------------------------------------------------------------------- saved memory
def test_saved_memory_of_a_two_layer_mlp_by_hand(seeded):
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    p = profile(model, tinytorch.randn(4, 6), **FAST)
    # Linear 0 saves its input x (4·6 floats) and its weight (a parameter: not an activation);
    # ReLU saves its output h (4·5 floats); Linear 2 saves h again (the same array: counted
    # once, where first met) and its weight
    assert [(r.name, r.saved_bytes) for r in p.layers] == [("0", 96), ("1", 80), ("2", 0)]
    assert p.total.saved_bytes == 4 * 6 * 4 + 4 * 5 * 4


def test_an_array_saved_twice_counts_once(seeded):
    fc = nn.Linear(6, 5)
    model = Wrap(lambda x: (lambda h: h * h)(F.relu(fc(x))))
    model.fc = fc
    p = profile(model, tinytorch.randn(4, 6), **FAST)
    # x (96 B) by the Linear; h = relu(...) (80 B) saved by relu and twice by the product
    assert p["fc"].saved_bytes == 96
    assert p[""].saved_bytes == 80


# ---------------------------------------------------------------------------- time, state
def test_every_layer_with_work_has_measured_times(seeded):
    p = profile(LeNet5(), tinytorch.randn(4, 1, 28, 28), repeats=2, warmup=0)
    for row in p.layers:
        assert row.forward_ms > 0, row.name
        if row.flops_forward:
            assert row.backward_ms > 0, row.name
    assert p.forward_ms > 0 and p.backward_ms > 0


def test_forward_only_profile_has_no_backward(seeded):
    p = profile(LeNet5(), tinytorch.randn(2, 1, 28, 28), backward=False, **FAST)
    assert p.total.flops_backward == 0 and p.backward_ms == 0.0
    assert p.total.flops_forward == 2 * 833_040 and p.total.saved_bytes > 0
    assert "backward" not in p.table().splitlines()[-1]


def test_profile_leaves_the_model_as_it_was(seeded):
    model = LeNet5(batch_norm=True)
    x = tinytorch.randn(4, 1, 28, 28)
    model(x).sum().backward()
    grads = [p.grad for p in model.parameters()]
    buffers = [b.numpy().copy() for b in model.buffers()]
    rng = tinytorch.get_rng_state()
    profile(model, x, repeats=2, warmup=1)
    assert all(p.grad is g for p, g in zip(model.parameters(), grads))
    assert all(np.array_equal(b.numpy(), s) for b, s in zip(model.buffers(), buffers))
    after = tinytorch.rand(3).tolist()
    tinytorch.set_rng_state(rng)
    assert tinytorch.rand(3).tolist() == after                   # the generator was put back
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_wrong_input_shape_names_the_layer(seeded):
    model = LeNet5()
    with pytest.raises(RuntimeError, match=r"layer 'classifier\.1' \(Linear\).*\(2, 576\)"):
        profile(model, tinytorch.randn(2, 1, 32, 32), **FAST)
    with pytest.raises(RuntimeError, match=r"layer 'features\.0' \(Conv2d\).*\(2, 3, 28, 28\)"):
        profile(model, tinytorch.randn(2, 3, 28, 28), **FAST)
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(ValueError, match=r"layer '\(model\)' \(GPT\).*block size"):
        profile(GPT(gpt_nano()), tinytorch.randint(0, 65, (1, 17)), **FAST)


def test_a_model_without_a_graph_is_refused(seeded):
    model = nn.Linear(3, 2).requires_grad_(False)
    with pytest.raises(RuntimeError, match="recorded no autograd graph"):
        profile(model, tinytorch.randn(2, 3), **FAST)


# ---------------------------------------------------------------------------- output
def test_json_round_trip(seeded, tmp_path):
    p = profile(LeNet5(), tinytorch.randn(2, 1, 28, 28), **FAST)
    path = tmp_path / "lenet.json"
    p.save(path)
    data = json.loads(path.read_text())
    assert data["total"]["flops_forward"] == 2 * 833_040
    assert [r["name"] for r in data["layers"]] == [r.name for r in p.layers]
    back = Profile.load(path)
    assert back.to_dict() == p.to_dict()
    assert back.table() == p.table()
    with pytest.raises(ValueError, match="not a TinyTorch profile"):
        Profile.from_dict({"format": "something else"})
    del data["layers"][0]["name"]
    with pytest.raises(ValueError, match="missing or malformed"):
        Profile.from_dict(data)


def test_table_lists_every_row_and_the_totals(seeded):
    p = profile(LeNet5(), tinytorch.randn(2, 1, 28, 28), **FAST)
    text = p.table()
    for row in p.layers:
        assert row.name in text
    total = next(line for line in text.splitlines() if line.startswith("total"))
    assert "61,706" in total and "1.67 M" in total                 # 2 × 833,040 FLOPs


def test_roofline_png_is_written(seeded, tmp_path):
    pytest.importorskip("matplotlib")
    p = profile(LeNet5(), tinytorch.randn(8, 1, 28, 28), repeats=1, warmup=0)
    path = tmp_path / "roofline.png"
    p.roofline(path, peak_gflops=50.0, bandwidth_gbs=10.0)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="bandwidth_gbs must be a positive number"):
        p.roofline(path, peak_gflops=50.0, bandwidth_gbs=0.0)


def test_measured_roofs_are_positive():
    roofs = measure_roofs()
    assert roofs.peak_gflops > 0 and roofs.bandwidth_gbs > 0
    assert roofs.ridge == roofs.peak_gflops / roofs.bandwidth_gbs


def test_roofline_without_matplotlib_names_the_extra(seeded, tmp_path, monkeypatch):
    p = profile(nn.Linear(3, 2), tinytorch.randn(2, 3), **FAST)
    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)                # its import now fails
    with pytest.raises(ImportError, match=r"pip install tinytorch-optim\[plot\]"):
        p.roofline(tmp_path / "r.png")
    assert not (tmp_path / "r.png").exists()


def test_tito_perf_profile_writes_json(tmp_path, capsys):
    from tinytorch.cli import main

    path = tmp_path / "mlp.json"
    assert main(["perf", "profile", "mlp", "-b", "2", "--repeats", "1", "--json",
                 str(path)]) == 0
    assert "total" in capsys.readouterr().out
    assert Profile.load(path).total.params == 235_146
    assert main(["perf", "profile", "mlp", "--batch-size", "0"]) == 2


def test_profile_of_a_gpt_reports_the_kv_cache_it_would_allocate() -> None:
    model = GPT(gpt_nano())
    c = model.config
    prof = profile(model, tinytorch.randint(0, c.vocab_size, (3, 8)), repeats=1)
    # keys and values, every layer, 3 sequences of block_size positions, float32
    assert prof.kv_cache_bytes == 2 * c.n_layer * 3 * c.block_size * c.n_embd * 4
    assert "KV cache" in prof.table()
    assert Profile.from_dict(prof.to_dict()).kv_cache_bytes == prof.kv_cache_bytes


def test_profile_of_a_model_without_a_cache_reports_none() -> None:
    prof = profile(nn.Linear(4, 2), tinytorch.randn(3, 4), repeats=1)
    assert prof.kv_cache_bytes == 0 and "KV cache" not in prof.table()
