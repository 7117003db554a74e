"""GPTConfig's typed fields, and config dicts written before some of them existed."""

from __future__ import annotations

import pytest

from minigpt import GPTConfig

BASE = dict(n_layers=1, d_model=16, n_heads=2, d_vocab=114, n_ctx=3)


@pytest.mark.parametrize("extra, fields", [
    ({"bos_token_id": 0}, {"bos_token_id": 0}),
    ({"bos": 5}, {"bos_token_id": 5}),  # the spelling interp.detectors once accepted
    ({"tokenizer": "bytes"}, {"tokenizer": "bytes"}),
    ({"p": 113}, {"modulus": 113}),
    ({"bos_token_id": 0, "tokenizer": "bytes", "note": "kept"}, {"bos_token_id": 0, "tokenizer": "bytes"}),
])
def test_legacy_extra_keys_load_into_fields(extra, fields):
    cfg = GPTConfig.from_dict({**BASE, "extra": dict(extra)})
    for name, value in fields.items():
        assert getattr(cfg, name) == value
    assert cfg.extra == {k: v for k, v in extra.items() if k == "note"}  # free-form notes stay in extra


def test_new_dicts_round_trip():
    cfg = GPTConfig(**BASE, bos_token_id=3, tokenizer="bytes", modulus=113, extra={"note": 1})
    assert GPTConfig.from_dict(cfg.to_dict()) == cfg
    assert GPTConfig.from_dict({**BASE}).bos_token_id is None  # fields a dict lacks take their defaults


def test_a_field_and_a_legacy_key_that_disagree_are_an_error():
    with pytest.raises(ValueError, match="bos_token_id=1 and extra\\['bos_token_id'\\]=0"):
        GPTConfig.from_dict({**BASE, "bos_token_id": 1, "extra": {"bos_token_id": 0}})
    assert GPTConfig.from_dict({**BASE, "modulus": 113, "extra": {"p": 113}}).modulus == 113  # agreeing: fine


def test_from_dict_does_not_change_its_argument():
    d = {**BASE, "extra": {"p": 7}}
    GPTConfig.from_dict(d)
    assert d["extra"] == {"p": 7}
