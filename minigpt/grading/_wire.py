"""The wire between the grader and its sandboxed child: cases in, outputs back, as data only.

Both directions use the same two files, a JSON tree and the tensors it points to::

    cases.json / cases.safetensors        the grader -> the child (trusted)
    outputs.json / outputs.safetensors    the child -> the grader (untrusted: read defensively)

A tree node is ``{"k": kind, ...}``: ``none``, ``bool``, ``int``, ``float`` (``"nan"``,
``"inf"``, ``"-inf"`` as strings: JSON has no such numbers), ``str``, ``list``, ``tuple``,
``dict`` (string keys), ``dtype``, ``tensor`` (a key into the tensors file; a subclass is
recorded by name in ``cls`` and stripped) and ``opaque`` (anything else, by type name only).
Never a pickle: the grader rebuilds plain tensors, numbers and containers, so nothing the
student's code returns can run code in the grader's process.

>>> tensors = {}
>>> encode([torch.ones(2), 3, print], tensors)  # doctest: +NORMALIZE_WHITESPACE
{'k': 'list', 'items': [{'k': 'tensor', 'key': 't0'}, {'k': 'int', 'v': 3},
                        {'k': 'opaque', 'type': 'builtin_function_or_method'}]}
>>> tensors
{'t0': tensor([1., 1.])}

Loaded by :mod:`minigpt.grading._child` by its file path inside the sandbox, so it imports
only the standard library, torch and :mod:`minigpt.weights.safetensors` (the one reader and
writer of the tensors files).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any, BinaryIO

import torch

if __package__:  # minigpt.grading._wire, in the grader's process
    from ..weights import safetensors
else:  # loaded by its file path in the sandbox, after the reader (see _child.py): the minigpt package stays out
    safetensors = sys.modules["_sandbox_safetensors"]

MAX_DEPTH = 32


# ---------------------------------------------------------------- trees of data


def _float(x: float):
    return x if math.isfinite(x) else repr(x)  # "nan", "inf", "-inf": JSON has no such numbers


def encode(value, tensors: dict, strict: bool = False, depth: int = 0):
    """``value`` as a JSON tree; its tensors go to ``tensors`` under fresh keys.

    ``strict`` (the grader encoding cases) raises on what is not data; otherwise
    (the sandbox encoding outputs) such a value is recorded by its type name only.
    """
    kind = type(value)
    if depth > MAX_DEPTH:
        if strict:
            raise ValueError("nested too deeply")
        return {"k": "opaque", "type": "deeply nested value"}
    if value is None:
        return {"k": "none"}
    if kind is bool:
        return {"k": "bool", "v": value}
    if kind is int:
        return {"k": "int", "v": value}
    if kind is float:
        return {"k": "float", "v": _float(value)}
    if kind is str:
        return {"k": "str", "v": value[:100_000]}
    if kind in (list, tuple):
        return {"k": kind.__name__, "items": [encode(v, tensors, strict, depth + 1) for v in value]}
    if kind is dict and all(type(k) is str for k in value):
        return {"k": "dict", "items": [[k, encode(v, tensors, strict, depth + 1)] for k, v in value.items()]}
    if kind is torch.dtype:
        return {"k": "dtype", "v": str(value).removeprefix("torch.")}
    if isinstance(value, torch.Tensor):
        try:
            plain = torch.Tensor.as_subclass(value, torch.Tensor).detach().cpu()
            if plain.dtype not in safetensors.CODES:
                raise TypeError(f"a tensor of dtype {plain.dtype} cannot be graded")
            plain = plain.contiguous().clone()
        except Exception as exc:
            if strict:
                raise
            return {"k": "opaque", "type": f"{kind.__name__} ({type(exc).__name__}: {str(exc)[:200]})"}
        key = f"t{len(tensors)}"
        tensors[key] = plain
        node = {"k": "tensor", "key": key}
        if kind is not torch.Tensor and kind is not torch.nn.Parameter:
            node["cls"] = kind.__name__[:100]
        return node
    if strict:
        raise TypeError(f"cannot send a {kind.__name__} to the sandbox (use tensors, numbers, strings, "
                        "lists, tuples, dicts with string keys)")
    return {"k": "opaque", "type": kind.__name__[:100]}


def decode(node, tensors: dict):
    """The inverse of :func:`encode` for trusted trees (the grader's cases)."""
    k = node["k"]
    if k == "none":
        return None
    if k in ("bool", "int", "str"):
        return node["v"]
    if k == "float":
        return float(node["v"])
    if k in ("list", "tuple"):
        items = [decode(v, tensors) for v in node["items"]]
        return items if k == "list" else tuple(items)
    if k == "dict":
        return {key: decode(v, tensors) for key, v in node["items"]}
    if k == "dtype":
        return getattr(torch, node["v"])
    if k == "tensor":
        return tensors[node["key"]]
    raise ValueError(f"cannot decode a {k!r} node")


def write_cases(job: Path, cases: list[dict]) -> None:
    """The grader's side: ``cases.json`` and ``cases.safetensors`` in ``job`` (raises on what is not data)."""
    tensors: dict = {}
    trees = [encode(dict(case), tensors, strict=True) for case in cases]
    safetensors.save_safetensors(tensors, job / "cases.safetensors")
    (job / "cases.json").write_text(json.dumps(trees))


def read_cases(job_dir: str) -> list:
    """The child's side: the keyword arguments of every case."""
    with open(os.path.join(job_dir, "cases.json")) as f:
        trees = json.load(f)
    tensors = safetensors.load_safetensors(os.path.join(job_dir, "cases.safetensors"))
    return [decode(tree, tensors) for tree in trees]


def write_outputs(outputs: list, tensors_file: BinaryIO, trees_file) -> int:
    """The child's side: each output as a tree (what is not data by its type name only); returns how many."""
    tensors: dict = {}
    trees = [encode(o, tensors) for o in outputs]
    safetensors.save_safetensors(tensors, tensors_file)
    json.dump(trees, trees_file)
    return len(trees)


# ---------------------------------------------------------------- reading the outputs back (untrusted)


def read_json(path: Path, max_bytes: int):
    """A JSON file the child wrote, or None if it is missing, a link, too large or not JSON."""
    try:
        if path.is_symlink() or path.stat().st_size > max_bytes:
            return None
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


_CLASSES: dict[tuple[str, bool], type] = {}


def _stand_in(name: str, tensor: bool) -> type:
    """A class named like the learner's object (a Tensor subclass when it was one), so messages name it."""
    name = re.sub(r"\W", "_", str(name))[:60] or "object"
    if name[0].isdigit():
        name = "_" + name
    if (name, tensor) not in _CLASSES:
        _CLASSES[name, tensor] = type(name, (torch.Tensor,) if tensor else (), {"__module__": "sandbox output"})
    return _CLASSES[name, tensor]


class BadOutputs(Exception):
    """Outputs the child left that cannot be read back as data (malformed, missing or too large)."""


def decode_untrusted(node: Any, get_tensor, budget: list[int], depth: int = 0) -> Any:
    """Rebuild an output tree written by the child, accepting only data of the expected forms."""
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH + 1 or not isinstance(node, dict):
        raise BadOutputs("malformed output tree")
    k, v = node.get("k"), node.get("v")
    if k == "none":
        return None
    if k == "bool" and type(v) is bool:
        return v
    if k == "int" and type(v) is int:
        return v
    if k == "float" and (type(v) in (int, float) or v in ("nan", "inf", "-inf")):
        return float(v)
    if k == "str" and type(v) is str:
        return v
    if k == "dtype" and type(v) is str and isinstance(getattr(torch, v, None), torch.dtype):
        return getattr(torch, v)
    if k in ("list", "tuple") and isinstance(node.get("items"), list):
        items = [decode_untrusted(i, get_tensor, budget, depth + 1) for i in node["items"]]
        return items if k == "list" else tuple(items)
    if k == "dict" and isinstance(node.get("items"), list):
        pairs = node["items"]
        if not all(isinstance(p, list) and len(p) == 2 and type(p[0]) is str for p in pairs):
            raise BadOutputs("malformed dict in the outputs")
        return {key: decode_untrusted(val, get_tensor, budget, depth + 1) for key, val in pairs}
    if k == "tensor" and type(node.get("key")) is str:
        t = get_tensor(node["key"])
        return t.as_subclass(_stand_in(node["cls"], True)) if type(node.get("cls")) is str else t
    if k == "opaque":
        return _stand_in(node.get("type", "object"), False)()
    raise BadOutputs(f"unexpected output node {str(k)[:40]!r}")


def read_outputs(out: Path, max_bytes: int) -> list[Any]:
    """The child's outputs, rebuilt as data; :class:`BadOutputs` for anything malformed or too large."""
    tree_file, tensor_file = out / "outputs.json", out / "outputs.safetensors"
    trees = read_json(tree_file, 16 << 20)
    if not isinstance(trees, list):
        raise BadOutputs("the outputs could not be read back")
    if tensor_file.is_symlink() or not tensor_file.is_file() or tensor_file.stat().st_size > max_bytes:
        raise BadOutputs("the output tensors could not be read back")
    try:
        source = safetensors.open_safetensors(tensor_file)
    except (safetensors.CheckpointError, OSError, ValueError, KeyError, TypeError) as exc:
        raise BadOutputs(f"the output tensors could not be read back ({exc})") from None
    keys = set(source.keys)

    def get_tensor(key: str) -> torch.Tensor:
        if key not in keys:
            raise BadOutputs(f"output tensor {key[:40]!r} is missing")
        try:
            return source.get(key).clone()
        except Exception as exc:
            raise BadOutputs(f"output tensor {key[:40]!r} is malformed ({type(exc).__name__})") from None

    budget = [200_000]
    return [decode_untrusted(t, get_tensor, budget) for t in trees]
