"""The checkpoints shipped with the package load and do what the chapters say they do."""

from __future__ import annotations

import json

import pytest
import torch

from minigpt.checkpoints import SHIPPED, list_checkpoints, list_snapshots, load_checkpoint, load_history
from minigpt.interp import head_scores
from minigpt.train.induction import eval_tokens, half_losses


def folder_mb(name: str) -> float:
    return sum(p.stat().st_size for p in (SHIPPED / name).rglob("*") if p.is_file()) / 2**20


@pytest.fixture(scope="module")
def induction():
    return load_checkpoint("induction-2l")


def test_shipped_names():
    assert {"induction-2l", "stdlib-bytes", "facts", "ioi"} <= set(list_checkpoints())


@pytest.mark.parametrize("name, max_mb", [("induction-2l", 10), ("stdlib-bytes", 3), ("facts", 4), ("ioi", 2)])
def test_shipped_folders_are_small_and_reproducible(name, max_mb):
    assert folder_mb(name) <= max_mb
    info = json.loads((SHIPPED / name / "train.json").read_text())
    assert info["command"].startswith(f"minigpt train {name}") and info["seed"] == 0 and info["finished"]
    assert not (SHIPPED / name / "resume.pt").exists()  # training state is not shipped
    from safetensors import safe_open

    with safe_open(str(SHIPPED / name / "model.safetensors"), "pt") as f:  # the final model is fp32
        assert all(f.get_tensor(k).dtype == torch.float32 for k in f.keys())


def test_a_shipped_sae_is_not_a_gpt_checkpoint():
    """SAE folders (cfg.json, sae_weights.safetensors) sit beside the GPTs; list_checkpoints skips them."""
    from minigpt.sae import list_saes, load_sae

    assert "sae-stdlib-bytes" in list_saes() and not set(list_saes()) & set(list_checkpoints())
    with pytest.raises(FileNotFoundError, match="not a shipped name"):
        load_checkpoint("sae-stdlib-bytes")
    assert folder_mb("sae-stdlib-bytes") <= 10
    info = json.loads((SHIPPED / "sae-stdlib-bytes" / "train.json").read_text())
    assert info["command"].startswith("minigpt train sae-stdlib-bytes") and info["seed"] == 0 and info["finished"]
    assert load_sae("sae-stdlib-bytes").cfg.model_name in list_checkpoints()  # the GPT it reads is shipped too


def test_induction_model_has_an_induction_head_in_layer_1(induction):
    scores = head_scores(induction, "induction")  # the interp detectors' default data: BOS + 2 x 31 tokens
    assert scores[1].max() >= 0.8, scores
    assert scores[0].max() < 0.3  # layer 0 cannot do induction on its own


def test_induction_model_has_a_previous_token_head_in_layer_0(induction):
    scores = head_scores(induction, "previous_token")
    assert scores[0].max() >= 0.5 and scores[0].max() > scores[1].max(), scores


def test_the_repeated_half_is_predicted(induction):
    tokens, seq_len = eval_tokens(induction, seed=7)
    with torch.no_grad():
        losses = half_losses(induction, tokens, seq_len)
    assert losses["loss_first_half"] > 4.0  # random tokens: ~log(127)
    assert losses["loss_ratio"] < 0.2, losses


def test_induction_history_shows_the_phase_change():
    rows = load_history("induction-2l")["rows"]
    steps = [r["step"] for r in rows]
    scores = [r["induction_score"] for r in rows]
    assert steps[0] == 0 and len(rows) >= 20
    assert scores[0] < 0.1 and scores[-1] >= 0.8
    jump = next(s for s, v in zip(steps, scores) if v >= 0.5)  # the phase change: not at the start
    assert jump >= 300
    snapshots = list_snapshots("induction-2l")
    assert len(snapshots) >= 20 and snapshots[0] == 0 and jump in snapshots  # enough to plot the change
    early, late = (load_checkpoint("induction-2l", step=s) for s in (snapshots[0], snapshots[-1]))
    assert head_scores(early, "induction")[1].max() < 0.1 <= 0.8 <= head_scores(late, "induction")[1].max()


def test_stdlib_bytes_model_predicts_python_and_has_positional_heads():
    from minigpt.data import stdlib_corpus
    from minigpt.tokenizer import ByteTokenizer
    from minigpt.train.stdlib import with_bos

    model = load_checkpoint("stdlib-bytes")
    model.set_tokenizer(ByteTokenizer())
    assert model.to_tokens("def f")[0].tolist() == [0, 100, 101, 102, 32, 102]  # the BOS byte first, as in training
    val = with_bos(stdlib_corpus(seed=0, val_fraction=0.05).eval_batch(127, n=32))  # held-out files
    with torch.no_grad():
        assert model(val, return_type="loss").item() < 1.6  # nats per byte (uniform: 5.5)
    previous = head_scores(model, "previous_token", val)
    first = head_scores(model, "first_token", val)
    assert previous.max() >= 0.45 and first.max() >= 0.25, (previous, first)  # measured: 0.51 and 0.32


@pytest.mark.parametrize("name, bos, tokenizer, modulus", [
    ("induction-2l", 0, None, None), ("stdlib-bytes", 0, "bytes", None), ("grokking-canonical", None, None, 113)])
def test_shipped_configs_load_into_typed_fields(name, bos, tokenizer, modulus):
    """The shipped config.json files keep these in ``extra`` (written before the fields existed): they load unchanged."""
    raw = json.loads((SHIPPED / name / "config.json").read_text())
    assert "bos_token_id" not in raw and raw["extra"]  # the legacy layout, not rewritten
    cfg = load_checkpoint(name).cfg
    assert (cfg.bos_token_id, cfg.tokenizer, cfg.modulus, cfg.extra) == (bos, tokenizer, modulus, {})


def test_induction_model_records_its_bos():
    assert load_checkpoint("induction-2l").cfg.bos_token_id == 0


def test_a_checkpoint_brings_the_tokenizer_it_records():
    model = load_checkpoint("stdlib-bytes")  # no set_tokenizer: the config names "bytes"
    assert model.to_str_tokens("def f", prepend_bos=False) == ["d", "e", "f", " ", "f"]
    assert model.to_str_tokens("def f") == ["\x00", "d", "e", "f", " ", "f"]  # its BOS, byte 0, first
    assert model.to_tokens("def f")[0].tolist() == [0, 100, 101, 102, 32, 102]
    with pytest.raises(ValueError, match="has no tokenizer"):
        load_checkpoint("induction-2l").to_str_tokens("def f")  # random tokens: it records none
