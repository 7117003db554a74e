"""The induction recipe from scratch: the short variant forms an induction head (slow: trains for real)."""

from __future__ import annotations

import json

import pytest

from minigpt.checkpoints import load_checkpoint
from minigpt.interp import head_scores
from minigpt.train import get_recipe


@pytest.mark.slow
def test_short_recipe_forms_an_induction_head(tmp_path):
    out = get_recipe("induction-2l-short").run(tmp_path / "short", device="cpu", seed=0, progress=False)
    model = load_checkpoint(out)
    induction = head_scores(model, "induction")
    previous = head_scores(model, "previous_token")
    print(f"induction-2l-short: best layer-1 induction score {induction[1].max():.3f}, "
          f"best layer-0 previous-token score {previous[0].max():.3f}")
    assert induction[1].max() >= 0.5 and previous[0].max() >= 0.3
    rows = json.loads((out / "history.json").read_text())["rows"]
    assert rows[0]["induction_score"] < 0.2 and rows[-1]["loss_ratio"] < 0.5
