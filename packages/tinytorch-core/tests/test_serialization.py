"""save/load: round trips of tensors and nested values, sharing, atomic writes, bad files."""

import io
import json
import zipfile

import numpy as np
import pytest

import tinytorch


def test_tensor_round_trip_keeps_dtype_shape_values_and_requires_grad(tmp_path):
    path = tmp_path / "t.tt"
    cases = [
        tinytorch.randn(3, 4, requires_grad=True),
        tinytorch.arange(6).reshape(2, 3).t(),          # non-contiguous int64
        tinytorch.tensor([True, False]),
        tinytorch.tensor(2.5, dtype=tinytorch.float64),  # 0-d
        tinytorch.zeros(0, 3, dtype=tinytorch.float16),
    ]
    for t in cases:
        tinytorch.save(t, path)
        back = tinytorch.load(path)
        assert back.dtype == t.dtype and back.shape == t.shape
        assert back.requires_grad == t.requires_grad
        np.testing.assert_array_equal(back.detach().numpy(), t.detach().numpy())


def test_nested_structure_round_trips_with_key_types_and_plain_values(tmp_path):
    big = 2 ** 127 + 12345
    obj = {
        "state": {0: {"step": 3, "exp_avg": tinytorch.ones(2)}, 1: {"step": 3}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "name": None}],
        "rng": {"state": {"state": big, "inc": 7}, "has_uint32": 0},
        "flags": [True, False, float("inf"), -0.0],
        "array": np.arange(3, dtype=np.int32),
    }
    path = tmp_path / "ckpt.tt"
    tinytorch.save(obj, path)
    back = tinytorch.load(path)
    assert list(back["state"]) == [0, 1]
    assert back["state"][0]["step"] == 3
    np.testing.assert_array_equal(back["state"][0]["exp_avg"].numpy(), [1.0, 1.0])
    assert back["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["param_groups"][0]["name"] is None
    assert back["rng"]["state"]["state"] == big
    assert back["flags"][:3] == [True, False, float("inf")]
    assert str(back["flags"][3]) == "-0.0"
    assert back["array"].dtype == np.int32


def test_nan_survives_and_shared_tensor_loads_as_one_object():
    buf = io.BytesIO()
    w = tinytorch.tensor([1.0, float("nan")])
    tinytorch.save({"a": w, "b": w, "x": float("nan")}, buf)
    buf.seek(0)
    back = tinytorch.load(buf)
    assert back["a"] is back["b"]
    assert np.isnan(back["x"])
    assert np.isnan(back["a"].numpy()[1])


def test_format_is_a_zip_with_json_manifest_and_npy_members(tmp_path):
    path = tmp_path / "m.tt"
    tinytorch.save({"w": tinytorch.ones(2)}, path)
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("tinytorch.json"))
        assert manifest["format"] == "tinytorch" and manifest["version"] == 1
        node = manifest["root"]["items"][0][1]
        assert node["type"] == "tensor" and node["dtype"] == "float32"
        assert zf.read(node["file"]).startswith(b"\x93NUMPY")


def test_unsupported_object_raises_type_error_naming_where(tmp_path):
    with pytest.raises(TypeError, match="set"):
        tinytorch.save({"bad": {1, 2}}, tmp_path / "x.tt")
    assert list(tmp_path.iterdir()) == []       # nothing half-written left behind


def test_save_to_path_is_atomic_and_replaces_existing_file(tmp_path):
    path = tmp_path / "c.tt"
    tinytorch.save(tinytorch.ones(2), path)
    tinytorch.save(tinytorch.zeros(3), path)
    assert [p.name for p in tmp_path.iterdir()] == ["c.tt"]
    assert tinytorch.load(path).shape == (3,)


def test_loading_a_foreign_file_raises_naming_it(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"just some text")
    with pytest.raises(RuntimeError, match="notes.txt.*not a TinyTorch checkpoint"):
        tinytorch.load(path)


def test_loading_a_zip_without_manifest_raises(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data.pkl", b"\x80\x04")
    with pytest.raises(RuntimeError, match="other.zip has no tinytorch.json"):
        tinytorch.load(path)


def test_loading_a_truncated_file_raises(tmp_path):
    path = tmp_path / "t.tt"
    tinytorch.save({"w": tinytorch.randn(64, 64)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match="t.tt"):
        tinytorch.load(path)


def test_loading_corrupted_tensor_bytes_raises(tmp_path):
    path = tmp_path / "c.tt"
    tinytorch.save(tinytorch.zeros(256), path)
    data = bytearray(path.read_bytes())
    start = data.find(b"\x93NUMPY") + 200       # inside the array payload
    data[start] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="corrupt"):
        tinytorch.load(path)


def test_manifest_shape_mismatch_is_reported(tmp_path):
    src, dst = tmp_path / "a.tt", tmp_path / "b.tt"
    tinytorch.save(tinytorch.ones(4), src)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        manifest = json.loads(zin.read("tinytorch.json"))
        manifest["root"]["shape"] = [5]
        zout.writestr("tinytorch.json", json.dumps(manifest))
        zout.writestr("arrays/0.npy", zin.read("arrays/0.npy"))
    with pytest.raises(RuntimeError, match=r"expected float32 \[5\]"):
        tinytorch.load(dst)


def test_load_accepts_pytorch_keywords_but_only_cpu():
    buf = io.BytesIO()
    tinytorch.save([tinytorch.ones(1)], buf)
    buf.seek(0)
    assert tinytorch.load(buf, map_location="cpu", weights_only=True)[0].item() == 1.0
    with pytest.raises(RuntimeError, match="CPU"):
        tinytorch.load(buf, map_location="cuda:0")
