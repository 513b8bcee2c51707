"""Module: registration, traversal, modes, dtype moves, hooks, repr, and the containers."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import tinytorch
import tinytorch.nn as nn


class TwoLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(4, 2)
        self.register_buffer("steps", tinytorch.zeros(1))
        self.register_buffer("scratch", tinytorch.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def test_assigning_parameters_modules_and_buffers_registers_them():
    m = TwoLayer()
    assert list(m._modules) == ["fc1", "act", "fc2"]
    assert [n for n, _ in m.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight",
                                                    "fc2.bias"]
    assert [n for n, _ in m.named_buffers()] == ["steps", "scratch"]
    assert m.fc1 is m._modules["fc1"]
    assert "fc1" not in m.__dict__


def test_plain_attributes_are_not_registered():
    m = nn.Module()
    m.size = 3
    m.t = tinytorch.ones(2)     # a plain tensor is an attribute, not a parameter or buffer
    assert m.size == 3 and list(m.parameters()) == [] and list(m.buffers()) == []


def test_reassigning_a_parameter_keeps_its_position():
    m = nn.Linear(2, 2)
    m.weight = nn.Parameter(tinytorch.zeros(2, 2))
    assert list(m.state_dict()) == ["weight", "bias"]


def test_assigning_a_plain_tensor_to_a_parameter_name_raises_type_error():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = tinytorch.zeros(2, 2)
    m.bias = None
    assert m.bias is None and [n for n, _ in m.named_parameters()] == ["weight"]


def test_assigning_before_init_raises_attribute_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tinytorch.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_register_checks_names_and_types():
    m = nn.Module()
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", tinytorch.ones(1))
    with pytest.raises(KeyError, match="empty string"):
        m.register_parameter("", None)
    with pytest.raises(TypeError, match="should be a string"):
        m.register_buffer(3, None)
    with pytest.raises(TypeError, match="Parameter or None"):
        m.register_parameter("w", tinytorch.ones(1))
    with pytest.raises(TypeError, match="Tensor or None"):
        m.register_buffer("b", 3)
    m.x = 1
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("x", tinytorch.ones(1))
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("child", 3)


def test_missing_attribute_raises_attribute_error_naming_the_class():
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        nn.Linear(1, 1).nope


def test_delattr_unregisters():
    m = TwoLayer()
    del m.fc2
    del m.steps
    assert "fc2" not in m._modules and "steps" not in m._buffers
    assert not hasattr(m, "fc2")


def test_shared_parameters_are_yielded_once_and_counted_once():
    a = nn.Linear(3, 3)
    m = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(m.parameters())) == 2
    assert m.num_parameters() == 12
    assert len(list(m.named_parameters(remove_duplicate=False))) == 4
    tied = nn.Sequential(nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False))
    tied[1].weight = tied[0].weight
    assert tied.num_parameters() == 9


def test_num_parameters_only_trainable():
    m = TwoLayer()
    m.fc1.requires_grad_(False)
    assert m.num_parameters() == 3 * 4 + 4 + 4 * 2 + 2
    assert m.num_parameters(only_trainable=True) == 4 * 2 + 2


def test_children_modules_and_named_modules():
    m = TwoLayer()
    assert list(m.children()) == [m.fc1, m.act, m.fc2]
    assert [n for n, _ in m.named_modules()] == ["", "fc1", "act", "fc2"]
    assert list(m.modules())[0] is m
    outer = nn.Sequential(m)
    assert [n for n, _ in outer.named_modules()] == ["", "0", "0.fc1", "0.act", "0.fc2"]


def test_parameters_without_recursion():
    m = TwoLayer()
    m.own = nn.Parameter(tinytorch.ones(1))
    assert [n for n, _ in m.named_parameters(recurse=False)] == ["own"]


def test_get_submodule_and_get_parameter():
    m = nn.Sequential(TwoLayer())
    assert m.get_submodule("0.fc2") is m[0].fc2
    assert m.get_submodule("") is m
    assert m.get_parameter("0.fc1.bias") is m[0].fc1.bias
    with pytest.raises(AttributeError, match="no attribute `nope`"):
        m.get_submodule("0.nope")
    with pytest.raises(AttributeError, match="no parameter `gamma`"):
        m.get_parameter("0.fc1.gamma")


def test_apply_visits_children_before_parent():
    m = TwoLayer()
    seen = []
    assert m.apply(lambda mod: seen.append(type(mod).__name__)) is m
    assert seen == ["Linear", "ReLU", "Linear", "TwoLayer"]


def test_train_and_eval_propagate_and_return_self():
    m = nn.Sequential(TwoLayer(), nn.Dropout())
    assert m.eval() is m
    assert not any(mod.training for mod in m.modules())
    m.train()
    assert all(mod.training for mod in m.modules())
    with pytest.raises(ValueError, match="boolean"):
        m.train("no")


def test_zero_grad_sets_to_none_or_zeros_in_place():
    m = TwoLayer()
    m(tinytorch.randn(5, 3)).sum().backward()
    g = m.fc1.weight.grad
    m.zero_grad(set_to_none=False)
    assert m.fc1.weight.grad is g and not g.array.any()
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_requires_grad_freezes_all_parameters():
    m = TwoLayer().requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    assert not m(tinytorch.randn(2, 3)).requires_grad


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(1)


def test_to_dtype_casts_floating_state_in_place_keeping_parameter_identity():
    m = TwoLayer()
    w = m.fc1.weight
    assert m.to(tinytorch.float64) is m
    assert m.fc1.weight is w and w.dtype == np.float64
    assert m.steps.dtype == np.float64
    assert m(tinytorch.randn(2, 3, dtype=tinytorch.float64)).dtype == np.float64
    m.float()
    assert w.dtype == np.float32
    assert m.to("cpu") is m
    with pytest.raises(RuntimeError, match="CPU only"):
        m.to("cuda")
    with pytest.raises(TypeError, match="floating point"):
        m.to(tinytorch.int64)


def test_forward_hooks_can_observe_and_replace_and_be_removed():
    m = nn.Linear(2, 2)
    calls = []
    pre = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    post = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape))
    out = m(tinytorch.ones(3, 2))
    assert calls == [(3, 2)]
    np.testing.assert_allclose(out.detach().numpy(), np.broadcast_to(m.bias.detach().numpy(),
                                                                      (3, 2)))
    pre.remove()
    post.remove()
    m(tinytorch.ones(1, 2))
    assert calls == [(3, 2)]


def test_deepcopy_and_pickle_give_independent_equal_models():
    m = TwoLayer()
    x = tinytorch.randn(4, 3)
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert isinstance(clone.fc1.weight, nn.Parameter)
        np.testing.assert_array_equal(clone(x).detach().numpy(), m(x).detach().numpy())
        clone.fc1.weight.array[...] = 0
        assert m.fc1.weight.array.any()


def test_repr_matches_pytorch_layout():
    m = nn.Sequential(nn.Linear(4, 3), nn.ReLU(inplace=True),
                      nn.ModuleList([nn.Linear(2, 2) for _ in range(3)]),
                      nn.ModuleDict({"norm": nn.LayerNorm(3)}))
    assert repr(m) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=3, bias=True)\n"
        "  (1): ReLU(inplace=True)\n"
        "  (2): ModuleList(\n"
        "    (0-2): 3 x Linear(in_features=2, out_features=2, bias=True)\n"
        "  )\n"
        "  (3): ModuleDict(\n"
        "    (norm): LayerNorm((3,), eps=1e-05, elementwise_affine=True, bias=True)\n"
        "  )\n"
        ")"
    )


def test_repr_with_multiline_extra_repr_and_children():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Identity()

        def extra_repr(self):
            return "a=1\nb=2"

    assert repr(Custom()) == "Custom(\n  a=1\n  b=2\n  (inner): Identity()\n)"


def test_sequential_indexing_slicing_and_editing():
    layers = [nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)]
    s = nn.Sequential(*layers)
    assert len(s) == 3 and s[0] is layers[0] and s[-1] is layers[2]
    head = s[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2]
    assert head[0].weight is layers[0].weight                  # slices share layers
    with pytest.raises(IndexError):
        s[3]
    s.append(nn.Sigmoid())
    assert list(s._modules) == ["0", "1", "2", "3"]
    s.insert(1, nn.Identity())
    assert isinstance(s[1], nn.Identity) and len(s) == 5
    del s[1]
    assert list(s._modules) == ["0", "1", "2", "3"] and s[1] is layers[1]
    s[1] = nn.Tanh()
    assert isinstance(s[1], nn.Tanh) and list(s._modules) == ["0", "1", "2", "3"]
    assert s(tinytorch.randn(5, 2)).shape == (5, 1)


def test_sequential_from_ordered_dict_keeps_names():
    s = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    assert s.fc is s[0]
    assert list(s.state_dict()) == ["fc.weight", "fc.bias"]


def test_module_list_behaves_like_a_list_and_registers():
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml.append(nn.Linear(1, 2))
    ml.extend([nn.Linear(2, 2)])
    ml += [nn.ReLU()]
    assert len(ml) == 4 and isinstance(ml[-1], nn.ReLU)
    assert [n for n, _ in ml.named_parameters()][:2] == ["0.weight", "0.bias"]
    ml.insert(0, nn.Identity())
    assert isinstance(ml[0], nn.Identity) and list(ml._modules) == ["0", "1", "2", "3", "4"]
    del ml[0]
    assert list(ml._modules) == ["0", "1", "2", "3"]
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    with pytest.raises(TypeError, match="iterable"):
        ml.extend(nn.Linear(1, 1))


def test_module_dict_behaves_like_a_dict_and_registers():
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    md["b"] = nn.ReLU()
    md.update([("c", nn.Tanh())])
    assert list(md) == ["a", "b", "c"] and "b" in md and len(md) == 3
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]
    assert isinstance(md.pop("b"), nn.ReLU) and "b" not in md
    with pytest.raises(ValueError, match="pair"):
        md.update(["abc"])
    md.clear()
    assert len(md) == 0
