"""``minigpt train`` and ``python -m minigpt.train``."""

from __future__ import annotations

import json

import pytest

from minigpt.checkpoints import list_snapshots, load_checkpoint
from minigpt.cli import main
from minigpt.train import get_recipe, list_recipes


def test_list_shows_every_recipe(capsys):
    assert main(["train", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("induction-2l", "induction-2l-short", "stdlib-bytes"):
        assert name in out
    assert {r.name for r in list_recipes()} >= {"induction-2l", "induction-2l-short", "stdlib-bytes"}


def test_a_tiny_run_writes_a_checkpoint_and_resumes(tmp_path, capsys):
    out = tmp_path / "ind"
    args = ["train", "induction-2l", "--out", str(out), "--steps", "3", "--device", "cpu", "--seed", "1",
            "--no-progress"]
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    model = load_checkpoint(out)
    assert model.cfg.n_layers == 2 and model.cfg.attn_only
    info = json.loads((out / "train.json").read_text())
    assert info["command"] == "minigpt train induction-2l --seed 1 --steps 3" and info["seed"] == 1
    assert info["finished"] and list_snapshots(out) == [0]
    rows = json.loads((out / "history.json").read_text())["rows"]
    assert [r["step"] for r in rows] == [0, 3] and "induction_score" in rows[-1] and "loss_ratio" in rows[-1]
    assert main(args[:5] + ["6"] + args[6:] + ["--resume"]) == 0  # extend the run: 3 more steps
    assert json.loads((out / "train.json").read_text())["step"] == 6


def test_unknown_recipe_and_missing_recipe(capsys):
    assert main(["train", "inductoin-2l"]) == 2
    assert "did you mean induction-2l" in capsys.readouterr().err.lower()
    assert main(["train"]) == 2
    assert "stdlib-bytes" in capsys.readouterr().err


def test_a_missing_device_is_a_clear_error(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["train", "induction-2l", "--device", "cuda", "--steps", "1", "--no-progress"]) == 2
    assert "no CUDA" in capsys.readouterr().err


def test_python_dash_m_parses_the_same_arguments():
    from minigpt.train.cli import build_parser

    args = build_parser().parse_args(["stdlib-bytes", "--steps", "5", "--resume", "--no-progress"])
    assert args.recipe == "stdlib-bytes" and args.steps == 5 and args.resume and args.no_progress


def test_get_recipe_names_the_known_ones():
    with pytest.raises(KeyError, match="stdlib-bytes"):
        get_recipe("nope")


def test_stdlib_recipe_runs_with_a_bos_byte(tmp_path):
    out = tmp_path / "sb"
    assert main(["train", "stdlib-bytes", "--out", str(out), "--steps", "2", "--device", "cpu", "--no-progress"]) == 0
    model = load_checkpoint(out)
    assert model.cfg.d_vocab == 256 and model.cfg.eos_token_id == 0 and model.cfg.bos_token_id == 0
    row = json.loads((out / "history.json").read_text())["rows"][-1]
    assert row["step"] == 2 and {"val_loss", "previous_token_score", "first_token_score"} <= set(row)


def test_an_sae_recipe_names_the_sae_loader(tmp_path, capsys, monkeypatch):
    from minigpt.train import recipes

    def fake_sae_recipe(out, **_):
        out.mkdir(parents=True)
        (out / "sae_weights.safetensors").write_bytes(b"")
        return out

    monkeypatch.setitem(recipes._RECIPES, "fake-sae", recipes.Recipe("fake-sae", fake_sae_recipe, "test"))
    monkeypatch.setattr(recipes, "_load_all", lambda: None)
    assert main(["train", "fake-sae", "--out", str(tmp_path / "sae"), "--device", "cpu", "--no-progress"]) == 0
    assert "minigpt.sae.load_sae(" in capsys.readouterr().out
