"""The one safetensors reader and writer: Hugging Face checkpoints, our checkpoints, the grader's data.

A safetensors file is simple enough to read and write by hand, and doing so keeps
loading lean: an 8-byte little-endian header length ``N``, ``N`` bytes of JSON
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``),
then the raw bytes of every tensor, back to back. Reading one tensor is a seek and a
read into a fresh buffer, so a loader holds the model plus one tensor at a time
(memory-mapping the file instead would keep every page it touched resident).

>>> import io
>>> f = io.BytesIO()
>>> save_safetensors({"W": torch.arange(6.0).reshape(2, 3)}, f)
>>> raw = f.getvalue()
>>> int.from_bytes(raw[:8], "little"), raw[8:72]
(64, b'{"W":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}       ')
>>> len(raw) == 8 + 64 + 6 * 4  # header length, header (padded with spaces), six float32s
True

This module needs only the standard library and torch: the grader's sandboxed child
loads it by its file path, before (and without) importing the ``minigpt`` package.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

import torch

# The one table of safetensors dtype names. Every reader and writer in minigpt uses it.
DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
CODES: dict[torch.dtype, str] = {dtype: code for code, dtype in DTYPES.items()}
MAX_HEADER_BYTES = 100_000_000


class CheckpointError(Exception):
    """A checkpoint that cannot be found or read; the message says where and why."""


@dataclass
class TensorSource:
    """The tensors of a checkpoint, read one at a time."""

    keys: list[str]
    get: Callable[[str], torch.Tensor]
    # read_into(key, out): fill ``out`` in place straight from the file when it can (True) or decline (False)
    read_into: Callable[[str, torch.Tensor], bool] = lambda key, out: False


# -- reading ---------------------------------------------------------------------------------
def read_header(file: str | os.PathLike) -> tuple[dict, int]:
    """The JSON header of a safetensors file (without ``__metadata__``) and the offset where the tensor bytes start."""
    file = Path(file)
    size = file.stat().st_size
    with open(file, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise CheckpointError(f"{file} is not a readable safetensors file ({size} bytes): too short, truncated?")
        (n,) = struct.unpack("<Q", raw)
        if n > min(size - 8, MAX_HEADER_BYTES):
            raise CheckpointError(
                f"{file} is not a readable safetensors file ({size} bytes; its header claims {n} bytes). "
                "It may be corrupt or truncated: download or save it again."
            )
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{file} is not a readable safetensors file (its header is not JSON: {exc})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{file} is not a readable safetensors file (its header is not a JSON object)")
    header.pop("__metadata__", None)
    end = max((info["data_offsets"][1] for info in header.values()), default=0)
    if 8 + n + end > size:
        raise CheckpointError(
            f"{file} is truncated: its header describes {8 + n + end} bytes but the file has {size}. "
            "Download or save it again."
        )
    return header, 8 + n


def open_safetensors(file: str | os.PathLike) -> TensorSource:
    """The tensors of a safetensors file, each read from disk when asked for."""
    file = Path(file)
    header, start = read_header(file)

    def dtype_of(key: str) -> torch.dtype:
        dtype = DTYPES.get(header[key]["dtype"])
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


def load_safetensors(file: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, in a dict (like ``safetensors.torch.load_file``)."""
    source = open_safetensors(file)
    return {key: source.get(key) for key in source.keys}


# -- writing ---------------------------------------------------------------------------------
def save_safetensors(tensors: dict[str, torch.Tensor], file: str | os.PathLike | BinaryIO,
                     metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (any device, any strides) as safetensors to a path or an open binary file.

    Files load with the ``safetensors`` library too. Tensors are laid out widest dtype
    first, so each one's bytes start at a multiple of its element size.
    """
    tensors = {key: t.detach().cpu().contiguous() for key, t in tensors.items()}
    unknown = {key: t.dtype for key, t in tensors.items() if t.dtype not in CODES}
    if unknown:
        raise ValueError(f"safetensors files hold {', '.join(map(str, CODES))} only; got {unknown}")
    order = sorted(tensors, key=lambda key: -tensors[key].element_size())  # stable: same-width keys keep their order
    header: dict = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for key in order:
        t = tensors[key]
        size = t.numel() * t.element_size()
        header[key] = {"dtype": CODES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # the tensor bytes start 8-byte aligned
    if isinstance(file, (str, os.PathLike)):
        with open(file, "wb") as f:
            _write(f, head, [tensors[key] for key in order])
    else:
        _write(file, head, [tensors[key] for key in order])


def _write(f: BinaryIO, head: bytes, tensors: list[torch.Tensor]) -> None:
    f.write(struct.pack("<Q", len(head)) + head)
    for t in tensors:
        if t.numel():
            f.write(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
