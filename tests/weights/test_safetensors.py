"""The one safetensors reader and writer: round trips, the ``safetensors`` library as the oracle, bad files."""

from __future__ import annotations

import io
import json
import struct

import pytest
import torch

from minigpt.weights.safetensors import (CODES, DTYPES, CheckpointError, load_safetensors, open_safetensors,
                                         read_header, save_safetensors)

safetensors_torch = pytest.importorskip("safetensors.torch")


def every_dtype() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    out = {}
    for code, dtype in DTYPES.items():
        if dtype.is_floating_point:
            t = torch.randn(3, 5, generator=gen).to(dtype)
        elif dtype == torch.bool:
            t = torch.rand(3, 5, generator=gen) > 0.5
        else:
            t = torch.randint(0, 100, (3, 5), generator=gen).to(dtype)
        out[f"t_{code}"] = t
    out["scalar"] = torch.tensor(2.5)
    out["empty"] = torch.zeros(0, 4)
    out["strided"] = torch.arange(12.0).reshape(3, 4).T  # not contiguous
    return out


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert set(a) == set(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        assert torch.equal(a[key], b[key]), key


def test_the_dtype_table_goes_both_ways():
    assert {CODES[dtype]: dtype for dtype in CODES} == DTYPES
    assert DTYPES["BF16"] is torch.bfloat16 and CODES[torch.bool] == "BOOL"


def test_round_trip_of_every_dtype(tmp_path):
    tensors = every_dtype()
    save_safetensors(tensors, tmp_path / "t.safetensors")
    assert_same(load_safetensors(tmp_path / "t.safetensors"), tensors)


def test_the_library_reads_what_we_write_with_metadata_and_aligned_offsets(tmp_path):
    from safetensors import safe_open

    tensors = every_dtype()
    save_safetensors(tensors, tmp_path / "t.safetensors", metadata={"format": "pt"})
    assert_same(safetensors_torch.load_file(str(tmp_path / "t.safetensors")), tensors)
    with safe_open(str(tmp_path / "t.safetensors"), "pt") as f:
        assert f.metadata() == {"format": "pt"}
    header, start = read_header(tmp_path / "t.safetensors")
    assert start % 8 == 0
    for info in header.values():  # each tensor starts at a multiple of its element size
        assert info["data_offsets"][0] % DTYPES[info["dtype"]].itemsize == 0


def test_we_read_what_the_library_writes(tmp_path):
    tensors = {k: v.contiguous() for k, v in every_dtype().items()}
    safetensors_torch.save_file(tensors, str(tmp_path / "t.safetensors"), metadata={"format": "pt"})
    assert_same(load_safetensors(tmp_path / "t.safetensors"), tensors)
    source = open_safetensors(tmp_path / "t.safetensors")
    out = torch.empty(3, 5)
    assert source.read_into("t_F32", out) and torch.equal(out, tensors["t_F32"])
    assert not source.read_into("t_F32", torch.empty(3, 5, dtype=torch.float64))  # declines: another dtype


def test_writes_into_an_open_binary_file():
    f = io.BytesIO()
    save_safetensors({"x": torch.ones(2, dtype=torch.float16)}, f)
    (n,) = struct.unpack("<Q", f.getvalue()[:8])
    assert json.loads(f.getvalue()[8:8 + n]) == {"x": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}
    assert f.getvalue()[8 + n:] == torch.ones(2, dtype=torch.float16).view(torch.uint8).numpy().tobytes()


def test_an_unknown_dtype_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="complex64"):
        save_safetensors({"z": torch.zeros(2, dtype=torch.complex64)}, tmp_path / "z.safetensors")


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:5], "too short"),
    (lambda raw: raw[:-3], "truncated"),
    (lambda raw: struct.pack("<Q", 10**12) + raw[8:], "header claims"),
    (lambda raw: raw[:8] + b"not json" + raw[16:], "not JSON"),
])
def test_a_damaged_file_says_what_is_wrong(tmp_path, damage, message):
    path = tmp_path / "t.safetensors"
    save_safetensors({"x": torch.arange(10.0)}, path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match=message):
        load_safetensors(path)
