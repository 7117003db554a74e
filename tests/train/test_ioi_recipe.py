"""The ioi recipe: its short variant replays the shipped run through the phase change; the shipped history."""

from __future__ import annotations

import json

import pytest
import torch

from minigpt.checkpoints import SHIPPED, load_checkpoint, load_history
from minigpt.data import ioi
from minigpt.train import get_recipe
from minigpt.train.ioi import SHORT_STOP


@pytest.mark.slow
def test_the_short_recipe_replays_the_shipped_run_through_the_phase_change(tmp_path):
    """Same seed, same batches, same weights: ioi-short's history is the shipped history's first rows.

    And within those 1,400 steps the model learns the task: the logit difference on the test split
    jumps from about 0 to 4.5 nats between steps 1,300 and 1,400 (~65 s of CPU).
    """
    out = get_recipe("ioi-short").run(tmp_path / "short", device="cpu", seed=0, progress=False)
    rows, shipped = load_history(out)["rows"], load_history("ioi")["rows"]
    print("ioi-short:", [(r["step"], round(r["test_logit_diff"], 2), round(r["test_acc"], 3)) for r in rows[-4:]])
    assert [r["step"] for r in rows] == list(range(0, SHORT_STOP + 1, 50))
    for row, want in zip(rows, shipped):
        assert row.keys() == want.keys()
        for key in row.keys() - {"time_s"}:
            assert row[key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), (row["step"], key)
    by_step = {r["step"]: r for r in rows}
    assert by_step[50]["train_loss"] > 2 * by_step[SHORT_STOP]["train_loss"]  # the loss falls (3.6 -> 1.09)
    assert abs(by_step[1300]["test_logit_diff"]) < 0.5 and by_step[1300]["test_acc"] < 0.6  # before: chance
    assert by_step[SHORT_STOP]["test_logit_diff"] > 3.0 and by_step[SHORT_STOP]["test_acc"] > 0.85  # after
    model = load_checkpoint(out)  # the vocabulary travels with the weights
    assert model.to_str_tokens("Mary and John")[1:] == ["Mary", "and", "John"]
    info = json.loads((out / "train.json").read_text())
    assert info["command"] == "minigpt train ioi-short --seed 0" and info["step"] == SHORT_STOP
    assert not info["finished"] and info["cpu_s"] > 0


def test_the_shipped_run_records_how_it_was_made():
    info = json.loads((SHIPPED / "ioi" / "train.json").read_text())
    assert info["command"] == "minigpt train ioi --seed 0" and info["finished"] and info["threads"] == 1
    assert info["cpu_s"] <= 300, info["cpu_s"]  # measured 195 s on a loaded machine
    words = json.loads((SHIPPED / "ioi" / "vocab.json").read_text())["words"]
    assert words == ioi.tokenizer().words  # editing the data's word lists would renumber the shipped model's words


def test_the_shipped_history_shows_the_dip_and_the_phase_change():
    rows = load_history("ioi")["rows"]
    steps, diff = [r["step"] for r in rows], [r["test_logit_diff"] for r in rows]
    assert steps == list(range(0, 4001, 50))
    jump = next(s for s, d in zip(steps, diff) if d >= 3.0)
    assert 1000 <= jump <= 2000, jump  # measured 1,400
    before = [d for s, d in zip(steps, diff) if s < jump]
    assert min(before) < -0.5  # first the model prefers S (measured -1.01 at step 1,100)
    assert diff[-1] >= 10 and rows[-1]["test_acc"] == 1.0 and rows[-1]["train_acc"] == 1.0


def test_batches_do_not_depend_on_the_global_generator():
    torch.manual_seed(0)
    a = ioi.train_batch(torch.Generator().manual_seed(5), 4)
    torch.manual_seed(1)
    assert torch.equal(a, ioi.train_batch(torch.Generator().manual_seed(5), 4))
    assert torch.equal(ioi.ioi_batch(8, seed=2)["clean"], ioi.ioi_batch(8, seed=2)["clean"])
