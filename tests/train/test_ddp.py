"""DDP through torchrun: 2 CPU processes (gloo) train exactly as 1 process on the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from minigpt.cli import main

ARGS = ["induction-2l", "--steps", "20", "--device", "cpu", "--seed", "3", "--no-progress"]


@pytest.mark.slow
def test_two_processes_equal_one_on_the_global_batch(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
              "-m", "minigpt.train", *ARGS, "--out", str(tmp_path / "ddp")]
    proc = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    torch.set_num_threads(1)
    assert main(["train", *ARGS, "--out", str(tmp_path / "one")]) == 0

    ddp, one = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("ddp", "one"))
    assert ddp.keys() == one.keys()
    # b_K's true gradient is exactly zero (softmax ignores a constant added to all of a query's scores),
    # so it receives rounding noise only, and Adam scales noise up to lr-sized steps: the rounding of one
    # process and of two differs, so b_K differs by up to ~lr per step. Everything else must agree.
    diffs = {k: (ddp[k] - one[k]).abs().max().item() for k in one}
    diff = max(v for k, v in diffs.items() if not k.endswith("b_K"))
    print(f"DDP vs one process: max parameter difference {diff:.2e} (b_K: {max(diffs.values()):.2e})")
    assert diff < 1e-6, f"max parameter difference {diff:.2e}"
    start = load_file(str(tmp_path / "one" / "snapshots" / "step_000000.safetensors"))
    assert max((start[k].float() - one[k]).abs().max().item() for k in one) > 1e-3  # the model did move

    info = json.loads((tmp_path / "ddp" / "train.json").read_text())
    assert info["world_size"] == 2 and info["finished"]
    rows = {name: json.loads((tmp_path / name / "history.json").read_text())["rows"] for name in ("ddp", "one")}
    assert rows["ddp"][-1]["train_loss"] == pytest.approx(rows["one"][-1]["train_loss"], rel=1e-5)  # global mean
