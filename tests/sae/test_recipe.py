"""The ``sae-stdlib-bytes`` recipe, short: it trains, writes a loadable folder, records times and held-out metrics."""

from __future__ import annotations

import json

import pytest
import torch

from minigpt.sae import load_sae, load_train_info
from minigpt.train.recipes import get_recipe


@pytest.mark.slow
def test_a_short_run_writes_a_loadable_sae_that_already_reconstructs(tmp_path):
    out = get_recipe("sae-stdlib-bytes-short").run(tmp_path / "sae", progress=False)  # 100 steps, 100 windows
    sae = load_sae(out)
    assert (sae.cfg.d_in, sae.cfg.d_sae, sae.cfg.kind, sae.cfg.k) == (512, 1024, "topk", 16)
    assert sae.cfg.hook_name == "blocks.1.mlp.hook_post" and sae.cfg.model_name == "stdlib-bytes"
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(1024), atol=1e-5)
    info = load_train_info(out)
    assert info["command"] == "minigpt train sae-stdlib-bytes-short --seed 0"
    assert info["config"]["steps"] == 100 and info["data"]["n_tokens"] == 100 * 127
    assert info["wall_s"] > 0 and info["cpu_s"] > 0 and info["threads"] == 1
    held_out = info["held_out"]
    assert held_out["n_tokens"] == 48 * 127 and held_out["l0"] == 16
    # measured after 100 steps: FVE 0.79, loss recovered 0.81 (11.7 s of CPU in all)
    assert held_out["fve"] > 0.7 and held_out["loss_recovered"] > 0.7
    assert held_out["loss_clean"] < held_out["loss_spliced"] < held_out["loss_zero_ablated"]
    rows = json.loads((out / "history.json").read_text())["rows"]
    assert [r["step"] for r in rows] == [50, 100] and rows[-1]["mse"] < rows[0]["mse"]


def test_the_recipe_names_its_settings():
    with pytest.raises(ValueError, match="sae-stdlib-bytes recipe has no setting 'dtype'"):
        get_recipe("sae-stdlib-bytes").run("unused", dtype="bfloat16")
    with pytest.raises(ValueError, match="sae-stdlib-bytes-short recipe has no setting 'resume'"):
        get_recipe("sae-stdlib-bytes-short").run("unused", resume=True)
