"""The wire between the grader and its child: cases and outputs travel as data, and bad outputs are refused."""

from __future__ import annotations

import json

import pytest
import torch

from minigpt.grading._wire import (BadOutputs, decode, encode, read_cases, read_outputs, write_cases,
                                   write_outputs)


def test_cases_travel_to_the_child_unchanged(tmp_path):
    cases = [{"x": torch.randn(2, 3), "eps": 1e-5, "mask": torch.tensor([True, False]), "dtype": torch.bfloat16,
              "nested": {"a": [1, (2.5, None)], "b": "text"}, "inf": float("inf")}]
    write_cases(tmp_path, cases)
    (back,) = read_cases(str(tmp_path))
    assert back.keys() == cases[0].keys()
    assert torch.equal(back["x"], cases[0]["x"]) and torch.equal(back["mask"], cases[0]["mask"])
    assert back["dtype"] is torch.bfloat16 and back["nested"] == {"a": [1, (2.5, None)], "b": "text"}
    assert back["inf"] == float("inf") and back["eps"] == 1e-5


def test_a_case_that_is_not_data_is_refused():
    with pytest.raises(TypeError, match="cannot send a object"):
        encode({"x": object()}, {}, strict=True)


def test_outputs_come_back_as_plain_data_and_the_rest_by_name(tmp_path):
    class Mine(torch.Tensor):
        pass

    outputs = [torch.arange(4.0).as_subclass(Mine), (3, "s"), print, torch.zeros(2, dtype=torch.complex64)]
    with open(tmp_path / "outputs.safetensors", "wb") as tensors_file, open(tmp_path / "outputs.json", "w") as trees:
        assert write_outputs(outputs, tensors_file, trees) == 4
    tensor, pair, fn, complex_ = read_outputs(tmp_path, 1 << 20)
    assert type(tensor).__name__ == "Mine" and type(tensor).__module__ == "sandbox output"  # a stand-in class
    assert torch.equal(torch.Tensor.as_subclass(tensor, torch.Tensor), torch.arange(4.0))
    assert pair == (3, "s")
    assert type(fn).__name__ == "builtin_function_or_method"
    assert "complex64" in type(complex_).__name__  # not gradable: recorded with the reason


def test_trusted_decode_inverts_encode():
    tensors: dict = {}
    value = {"t": torch.ones(3), "l": [1, 2.0, None, "x"], "d": torch.float16}
    assert decode(encode(value, tensors, strict=True), tensors).keys() == value.keys()


@pytest.mark.parametrize("trees, tensors", [
    ("[1, 2]", None),  # nodes that are not objects
    ('[{"k": "tensor", "key": "t9"}]', None),  # a tensor that is not there
    ('[{"k": "exec", "v": "rm -rf /"}]', None),  # an unknown kind
    ("[]", b"[1, 2]"),  # a safetensors header that is a JSON list
    ("[]", b"\x00" * 3),  # too short
])
def test_malformed_outputs_are_refused(tmp_path, trees, tensors):
    (tmp_path / "outputs.json").write_text(trees)
    if tensors is None:
        with open(tmp_path / "outputs.safetensors", "wb") as f, open(tmp_path / "unused.json", "w") as g:
            write_outputs([], f, g)
    else:
        header = tensors if len(tensors) < 8 else len(tensors).to_bytes(8, "little") + tensors
        (tmp_path / "outputs.safetensors").write_bytes(header)
    with pytest.raises(BadOutputs):
        read_outputs(tmp_path, 1 << 20)


def test_outputs_larger_than_allowed_are_refused(tmp_path):
    with open(tmp_path / "outputs.safetensors", "wb") as f, open(tmp_path / "outputs.json", "w") as g:
        write_outputs([torch.zeros(1000)], f, g)
    assert json.loads((tmp_path / "outputs.json").read_text()) == [{"k": "tensor", "key": "t0"}]
    with pytest.raises(BadOutputs, match="could not be read back"):
        read_outputs(tmp_path, 100)
