"""Reading checkpoint files one tensor at a time: safetensors, sharded safetensors, ``.bin``.

A safetensors file is simple enough to read by hand, and doing so keeps
loading lean: an 8-byte little-endian header length ``N``, ``N`` bytes of JSON
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": ...}``),
then the raw bytes of every tensor. Reading one tensor is a seek and a read
into a fresh buffer, so the loader holds the model plus one tensor at a time
(memory-mapping the file instead would keep every page it touched resident).

``.bin`` files are read with ``torch.load(weights_only=True)``: tensors and
plain containers only, never arbitrary pickled objects.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch



@dataclass
class TensorSource:
    """The tensors of a checkpoint, read one at a time."""

    keys: list[str]
    get: Callable[[str], torch.Tensor]
    # read_into(key, out): fill ``out`` in place straight from the file when it can (True) or decline (False)
    read_into: Callable[[str, torch.Tensor], bool] = lambda key, out: False
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


class CheckpointError(Exception):
    """A checkpoint that cannot be found or read; the message says where and why."""


def read_safetensors_header(file: Path) -> tuple[dict, int]:
    """The JSON header of a safetensors file and the offset where the tensor bytes start."""
    size = file.stat().st_size
    with open(file, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise CheckpointError(f"{file} is not a readable safetensors file ({size} bytes): too short, truncated?")
        (n,) = struct.unpack("<Q", raw)
        if n > min(size - 8, 100_000_000):
            raise CheckpointError(
                f"{file} is not a readable safetensors file ({size} bytes; its header claims {n} bytes). "
                "It may be corrupt or truncated: download or save it again."
            )
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{file} is not a readable safetensors file (its header is not JSON: {exc})") from None
    header.pop("__metadata__", None)
    end = max((info["data_offsets"][1] for info in header.values()), default=0)
    if 8 + n + end > size:
        raise CheckpointError(
            f"{file} is truncated: its header describes {8 + n + end} bytes but the file has {size}. "
            "Download or save it again."
        )
    return header, 8 + n


def open_safetensors(file: Path) -> TensorSource:
    header, start = read_safetensors_header(file)

    def dtype_of(key: str) -> torch.dtype:
        dtype = SAFETENSORS_DTYPES.get(header[key]["dtype"])
        if dtype is None:
            raise CheckpointError(f"{file}: tensor {key!r} has dtype {header[key]['dtype']}, which minigpt does not read")
        return dtype

    def read(key: str, buffer) -> None:
        begin, end = header[key]["data_offsets"]
        with open(file, "rb") as f:
            f.seek(start + begin)
            if f.readinto(buffer) != end - begin:
                raise CheckpointError(f"{file}: tensor {key!r} is cut short; the file is truncated")

    def get(key: str) -> torch.Tensor:
        dtype, shape = dtype_of(key), header[key]["shape"]
        begin, end = header[key]["data_offsets"]
        if end == begin:
            return torch.empty(shape, dtype=dtype)
        buffer = bytearray(end - begin)
        read(key, buffer)
        return torch.frombuffer(buffer, dtype=dtype).reshape(shape)

    def read_into(key: str, out: torch.Tensor) -> bool:
        """Read straight into ``out``'s memory: no temporary copy of a large matrix like ``wte``."""
        begin, end = header[key]["data_offsets"]
        fits = (
            out.device.type == "cpu" and out.is_contiguous() and out.dtype == dtype_of(key)
            and list(out.shape) == header[key]["shape"] and out.numel() * out.element_size() == end - begin > 0
        )
        if fits:
            read(key, memoryview(out.detach().view(torch.uint8).reshape(-1).numpy()))
        return fits

    return TensorSource(list(header), get, read_into)

def open_bin(file: Path) -> TensorSource:
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


