"""The facts recipe: a short variant learns its facts from scratch, and the full recipe replays the shipped run."""

from __future__ import annotations

import json

import pytest
import torch

from minigpt.checkpoints import SHIPPED, load_checkpoint, load_history
from minigpt.data import facts as F
from minigpt.train import get_recipe
from minigpt.train.facts import SHORT


@pytest.mark.slow
def test_short_recipe_learns_the_facts_and_the_held_out_wording(tmp_path):
    out = get_recipe("facts-short").run(tmp_path / "short", device="cpu", seed=0, progress=False)
    rows = load_history(out)["rows"]
    print("facts-short:", [(r["step"], round(r["recall_train"], 3), round(r["recall_test"], 3)) for r in rows])
    assert rows[0]["recall_train"] < 0.2  # chance is 1 in 12
    assert rows[-1]["recall_train"] >= 0.9 and rows[-1]["recall_test"] >= 0.7
    model = load_checkpoint(out)  # the vocabulary travels with the weights
    assert F.recall_accuracy(model, "train", SHORT["n_subjects"]) == rows[-1]["recall_train"]
    info = json.loads((out / "train.json").read_text())
    assert info["command"] == "minigpt train facts-short --seed 0" and info["cpu_s"] > 0


@pytest.mark.slow
def test_the_recipe_replays_the_shipped_run(tmp_path):
    """Same seed, same batches, same weights: the first 100 steps give the shipped history's first rows."""
    out = get_recipe("facts").run(tmp_path / "replay", device="cpu", seed=0, progress=False, stop_at=100)
    rows, shipped = load_history(out)["rows"], load_history("facts")["rows"]
    assert [r["step"] for r in rows] == [0, 100]
    for row, want in zip(rows, shipped):
        assert row.keys() == want.keys()
        for key in row.keys() - {"time_s"}:
            assert row[key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), key


def test_the_shipped_run_records_how_it_was_made():
    info = json.loads((SHIPPED / "facts" / "train.json").read_text())
    assert info["command"] == "minigpt train facts --seed 0" and info["finished"] and info["threads"] == 1
    assert info["cpu_s"] <= 300, info["cpu_s"]  # measured on a loaded machine; quiet, it is less
    assert (SHIPPED / "facts" / "vocab.json").is_file()
    assert json.loads((SHIPPED / "facts" / "vocab.json").read_text())["words"] == F.tokenizer().words


def test_batches_do_not_depend_on_the_global_generator():
    torch.manual_seed(0)
    a = F.facts_batch(torch.Generator().manual_seed(5), 4)
    torch.manual_seed(1)
    assert torch.equal(a, F.facts_batch(torch.Generator().manual_seed(5), 4))
