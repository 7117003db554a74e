"""A checkpoint folder's weight files, read one tensor at a time: safetensors, shards, ``.bin``.

A Hugging Face folder holds one of, in our order of preference::

    model.safetensors                 one file (read by :mod:`minigpt.weights.safetensors`)
    model.safetensors.index.json      {"weight_map": {tensor name: shard file}} and the shards
    pytorch_model.bin                 a pickled state dict
    pytorch_model.bin.index.json      the same, sharded

``.bin`` files are read with ``torch.load(weights_only=True)``: tensors and plain
containers only, never arbitrary pickled objects. Every opener returns a
:class:`~minigpt.weights.safetensors.TensorSource`, so the loader does not care which.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch

from .safetensors import CheckpointError, TensorSource, open_safetensors

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def open_bin(file: Path) -> TensorSource:
    """A ``torch.save(state_dict)`` file, loaded with ``weights_only=True`` (memory-mapped)."""
    try:
        sd = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{file} could not be read as a PyTorch weights file with weights_only=True ({first}). "
            "minigpt never unpickles arbitrary objects; re-save the weights with torch.save(state_dict) "
            "or as safetensors."
        ) from None
    if not isinstance(sd, dict):
        raise CheckpointError(f"{file} holds a {type(sd).__name__}, not a dict of tensors (a state_dict)")
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{file} holds non-tensor values under {bad[:5]}: it is not a state_dict of weights")
    return TensorSource(list(sd), sd.__getitem__)


def open_index(index: Path, open_shard: Callable[[Path], TensorSource]) -> TensorSource:
    """The tensors of every shard an ``*.index.json`` lists, as one source."""
    try:
        weight_map: dict[str, str] = json.loads(index.read_text())["weight_map"]
    except Exception as exc:
        raise CheckpointError(f"{index} is not a valid shard index ({exc})") from None
    shards: dict[str, TensorSource] = {}
    for shard in sorted(set(weight_map.values())):
        if not (index.parent / shard).is_file():
            raise CheckpointError(f"{index} lists the shard {shard}, which is missing from {index.parent}")
        shards[shard] = open_shard(index.parent / shard)
    return TensorSource(
        list(weight_map),
        lambda key: shards[weight_map[key]].get(key),
        lambda key, out: shards[weight_map[key]].read_into(key, out),
    )


def open_weights(path: Path) -> tuple[Path, TensorSource]:
    """The weight file found at ``path`` (a folder or a .safetensors file) and its tensors."""
    if path.is_file():
        return path, open_safetensors(path)
    for fname, opener in (
        ("model.safetensors", open_safetensors),
        ("model.safetensors.index.json", lambda f: open_index(f, open_safetensors)),
        ("pytorch_model.bin", open_bin),
        ("pytorch_model.bin.index.json", lambda f: open_index(f, open_bin)),
    ):
        if (path / fname).is_file():
            return path / fname, opener(path / fname)
    raise CheckpointError(f"{path} holds none of the weight files {', '.join(WEIGHT_FILES)}")
