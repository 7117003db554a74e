"""benchmarks/train_throughput.py runs on a CPU (``--smoke``) and trains both peers on the same numbers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def train_throughput(monkeypatch):
    pytest.importorskip("transformers")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import train_throughput

    return train_throughput


def test_smoke_run_writes_tokens_per_second_and_mfu(train_throughput, tmp_path):
    out = tmp_path / "tt.json"
    results = train_throughput.main(["--smoke", "--device", "cpu", "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(results))
    for peer in ("minigpt", "hf"):
        assert results[peer]["tokens_per_s"] > 0
        assert results[peer]["mfu"] is None  # a CPU is not in the peak table: MFU n/a
    # same weights, same batches: the first loss agrees (the models are twins)
    assert results["minigpt"]["first_loss"] == pytest.approx(results["hf"]["first_loss"], abs=1e-4)
    assert results["settings"]["tokens_per_step"] == 2 * 32 * 2
    assert results["ratio_tokens_per_s"] > 0


def test_gpu_check_refuses_to_run_without_cuda(monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.setattr(sys, "argv", ["gpu_check.py", "--out", "/dev/null"])
    import gpu_check

    assert gpu_check.main() == 2
