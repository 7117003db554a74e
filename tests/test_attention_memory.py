"""benchmarks/attention_memory.py runs, and the tiled kernel never holds a ``[query_pos, key_pos]`` matrix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def attention_memory(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import attention_memory

    return attention_memory


@pytest.mark.slow  # three fresh Python processes
def test_small_run_reports_every_kernel(attention_memory, tmp_path):
    out = tmp_path / "memory.json"
    pos = 512
    rows = attention_memory.main(["--pos", str(pos), "--d-head", "16", "--kernels", "online,sdpa,naive",
                                  "--json", str(out)])
    assert json.loads(out.read_text()) == rows
    peak = {row["kernel"]: row["tensors_bytes"] for row in rows}
    assert set(peak) == {"online", "sdpa", "naive"} and all(n > 0 for n in peak.values())
    assert peak["naive"] >= 4 * pos * pos  # the reference holds the fp32 scores
    assert peak["online"] < pos * pos  # less than a full boolean mask alone: only tiles
