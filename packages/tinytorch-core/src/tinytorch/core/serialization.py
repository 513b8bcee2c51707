"""``save`` / ``load``: tensors and nested containers in a documented format that runs no code.

Format (version 1). A file is a ZIP archive (members stored uncompressed) holding:

- ``tinytorch.json``: the manifest, ``{"format": "tinytorch", "version": 1, "root": NODE}``;
- ``arrays/<n>.npy``: one standard NumPy ``.npy`` file per distinct tensor or array, written and
  read with ``allow_pickle=False``.

A ``NODE`` is a JSON object tagged by ``"type"``:

==========  ============================================================================
``none``    ``None``
``bool``    ``{"value": true}``
``int``     ``{"value": "12345"}`` (a decimal string: Python ints of any size round-trip)
``float``   ``{"value": "0x1.8p+1"}`` (``float.hex``: exact, and ``inf``/``nan`` survive)
``str``     ``{"value": "text"}``
``list``    ``{"items": [NODE, ...]}``; ``tuple`` the same
``dict``    ``{"items": [[KEY_NODE, NODE], ...]}`` in insertion order; keys keep their type
``tensor``  ``{"file": "arrays/0.npy", "dtype": "float32", "shape": [2, 3],
            "requires_grad": false}``
``ndarray`` ``{"file": ..., "dtype": ..., "shape": ...}`` (a NumPy array or scalar,
            ``"scalar": true`` for the latter)
==========  ============================================================================

The same Tensor object reached twice is stored once and loads as one object again. Loading
never unpickles: only JSON and ``.npy`` headers are parsed, so a checkpoint from an untrusted
source cannot run code. Writing to a path goes through ``tinytorch.core.atomic.atomic_write``
(temporary file beside the target, fsync, ``os.replace``), so a crash never leaves a
half-written checkpoint under the real name; symlinks, read-only files, FIFOs and the umask are
treated as ``open(path, "wb")`` treats them.

Cost: one pass over the tensor bytes to write and one to read; the manifest is tiny.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import IO, Any

import numpy as np

from tinytorch.core import dtypes
from tinytorch.core.atomic import atomic_write
from tinytorch.core.tensor import Tensor

MANIFEST = "tinytorch.json"
FORMAT = "tinytorch"
VERSION = 1
_ZIP64_LIMIT = 1 << 31


class _Writer:
    """Turns a Python object into manifest nodes, collecting arrays to store."""

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.seen: dict[int, dict[str, Any]] = {}

    def _array_node(self, kind: str, key: Any, arr: np.ndarray) -> dict[str, Any]:
        if id(key) in self.seen:
            return self.seen[id(key)]
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"save: cannot store an array of dtype {arr.dtype}")
        node = {"type": kind, "file": f"arrays/{len(self.arrays)}.npy", "dtype": str(arr.dtype),
                "shape": list(arr.shape)}
        self.arrays.append(arr)
        self.seen[id(key)] = node
        return node

    def node(self, obj: Any, where: str) -> dict[str, Any]:
        if obj is None:
            return {"type": "none"}
        if isinstance(obj, bool):
            return {"type": "bool", "value": obj}
        if isinstance(obj, int):
            return {"type": "int", "value": str(obj)}
        if isinstance(obj, float):
            return {"type": "float", "value": float.hex(obj)}
        if isinstance(obj, str):
            return {"type": "str", "value": obj}
        if isinstance(obj, Tensor):
            node = self._array_node("tensor", obj, obj.array)
            node["requires_grad"] = bool(obj.requires_grad)
            return node
        if isinstance(obj, np.ndarray):
            return self._array_node("ndarray", obj, obj)
        if isinstance(obj, np.generic):
            return {**self._array_node("ndarray", obj, np.asarray(obj)), "scalar": True}
        if isinstance(obj, (list, tuple)):
            kind = "tuple" if isinstance(obj, tuple) else "list"
            return {"type": kind, "items": [self.node(v, f"{where}[{i}]")
                                            for i, v in enumerate(obj)]}
        if isinstance(obj, dict):
            return {"type": "dict", "items": [
                [self.key(k, where), self.node(v, f"{where}[{k!r}]")] for k, v in obj.items()
            ]}
        raise TypeError(f"save: cannot store an object of type {type(obj).__name__} at {where}; "
                        "supported: Tensor, ndarray, dict, list, tuple, None, bool, int, float, "
                        "str")

    def key(self, k: Any, where: str) -> dict[str, Any]:
        if k is None or isinstance(k, (bool, int, float, str)):
            return self.node(k, where)
        raise TypeError(f"save: dict key {k!r} at {where} has type {type(k).__name__}; "
                        "keys must be str, int, float, bool or None")


def _write_archive(stream: IO[bytes], manifest: dict[str, Any], arrays: list[np.ndarray]) -> None:
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest))
        for i, arr in enumerate(arrays):
            with zf.open(f"arrays/{i}.npy", "w", force_zip64=arr.nbytes >= _ZIP64_LIMIT) as out:
                np.lib.format.write_array(out, arr, allow_pickle=False)


def save(obj: Any, f: str | os.PathLike[str] | IO[bytes]) -> None:
    """Save a Tensor, or dicts/lists/tuples of Tensors and plain values, to a path or file.

    ``f`` is a path (written atomically; see ``tinytorch.core.atomic``) or a binary file
    object opened for writing. A path that ``open(f, "wb")`` would refuse raises the same
    ``OSError`` subclass, naming ``f``.
    """
    writer = _Writer()
    manifest = {"format": FORMAT, "version": VERSION, "root": writer.node(obj, "the root")}
    if not isinstance(f, (str, os.PathLike)):
        _write_archive(f, manifest, writer.arrays)
        return
    with atomic_write(f) as stream:
        _write_archive(stream, manifest, writer.arrays)


class _Reader:
    """Rebuilds Python objects from manifest nodes, reading arrays from the archive."""

    def __init__(self, zf: zipfile.ZipFile, name: str) -> None:
        self.zf = zf
        self.name = name
        self.loaded: dict[str, Any] = {}

    def fail(self, what: str) -> RuntimeError:
        return RuntimeError(f"load: {self.name} is corrupt: {what}")

    def array(self, node: dict[str, Any]) -> np.ndarray:
        member = node["file"]
        try:
            with self.zf.open(member) as src:
                arr = np.lib.format.read_array(src, allow_pickle=False)
                trailing = src.read(1)           # reaching the end verifies the CRC-32
        except KeyError:
            raise self.fail(f"the archive has no member {member!r}") from None
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise self.fail(f"member {member!r} is not a valid .npy array ({e})") from None
        if trailing:
            raise self.fail(f"member {member!r} has data after its array")
        if str(arr.dtype) != node["dtype"] or list(arr.shape) != node["shape"]:
            raise self.fail(f"member {member!r} holds {arr.dtype} {list(arr.shape)}, expected "
                            f"{node['dtype']} {node['shape']}")
        if arr.dtype not in dtypes._SUPPORTED:
            raise self.fail(f"member {member!r} has unsupported dtype {arr.dtype}")
        return arr

    def node(self, node: Any) -> Any:
        if not isinstance(node, dict) or "type" not in node:
            raise self.fail(f"expected a tagged node in the manifest, got {node!r:.80}")
        kind = node["type"]
        if kind == "none":
            return None
        if kind in ("bool", "str"):
            return node["value"]
        if kind == "int":
            return int(node["value"])
        if kind == "float":
            return float.fromhex(node["value"])
        if kind in ("list", "tuple"):
            items = [self.node(v) for v in node["items"]]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            return {self.node(k): self.node(v) for k, v in node["items"]}
        if kind in ("tensor", "ndarray"):
            member = node["file"]
            if member not in self.loaded:
                arr = self.array(node)
                if kind == "ndarray":
                    self.loaded[member] = arr[()] if node.get("scalar") else arr
                else:
                    t = Tensor._wrap(arr)
                    if node.get("requires_grad"):
                        t.requires_grad_(True)
                    self.loaded[member] = t
            return self.loaded[member]
        raise self.fail(f"unknown node type {kind!r}")


def load(f: str | os.PathLike[str] | IO[bytes], map_location: Any = None, *,
         weights_only: bool = True) -> Any:
    """Load what ``save`` wrote, from a path or a binary file object.

    ``map_location`` may only name the CPU; ``weights_only`` is accepted for PyTorch
    compatibility (loading never runs code either way). A file that is not a TinyTorch
    checkpoint, or is truncated or corrupt, raises a RuntimeError naming it.
    """
    if map_location is not None and not str(map_location).startswith("cpu"):
        raise RuntimeError(f"TinyTorch runs on the CPU only; got map_location={map_location!r}")
    name = os.fspath(f) if isinstance(f, (str, os.PathLike)) else getattr(f, "name", repr(f))
    expected = (f"expected a TinyTorch checkpoint (a zip archive with a {MANIFEST} manifest, "
                f"format {FORMAT!r} version {VERSION})")
    try:
        zf = zipfile.ZipFile(f, "r")
    except (zipfile.BadZipFile, EOFError, ValueError) as e:
        raise RuntimeError(f"load: {name} is not a TinyTorch checkpoint or is truncated ({e}); "
                           f"{expected}") from None
    with zf:
        try:
            manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
        except KeyError:
            raise RuntimeError(f"load: {name} has no {MANIFEST}; {expected}") from None
        except (ValueError, zipfile.BadZipFile, OSError, EOFError) as e:
            raise RuntimeError(f"load: {name} has an unreadable {MANIFEST} ({e}); "
                               f"{expected}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise RuntimeError(f"load: {name} is not a TinyTorch checkpoint; {expected}")
        if manifest.get("version") != VERSION:
            raise RuntimeError(f"load: {name} has format version {manifest.get('version')!r}; "
                               f"this TinyTorch reads version {VERSION}")
        reader = _Reader(zf, name)
        try:
            return reader.node(manifest.get("root"))
        except (KeyError, TypeError, ValueError) as e:
            raise reader.fail(f"malformed manifest ({type(e).__name__}: {e})") from None
