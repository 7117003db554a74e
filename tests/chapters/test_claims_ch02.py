"""The claims chapter 2's prose makes that no cell beside them prints, asserted on the same computation.

Each test repeats the chapter's own calls (the shipped ``stdlib-bytes``, its held-out windows, the
chapter's seeds) and is marked ``pytest.mark.claim(ID)`` for the ``<!-- claim: ID -->`` tag after the
sentence it checks (tests/chapters/test_chapter_form.py holds tags and tests together).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from minigpt.attention import get_attention, list_attention
from minigpt.checkpoints import load_checkpoint
from minigpt.checkpoints.format import checkpoint_path
from minigpt.data.corpus import stdlib_corpus
from minigpt.grading import all_exercises, get_exercise
from minigpt.interp.detectors import previous_token_score
from minigpt.tokenizer import ByteTokenizer

REPO = Path(__file__).resolve().parents[2]
CHAPTER = REPO / "chapters" / "02_attention.py"
CODE = 'def greet(name):\n    return "Hello, " + name\n'  # the chapter's line of Python
SPACE = ord(" ")


@pytest.fixture(scope="module")
def model():
    model = load_checkpoint("stdlib-bytes")
    model.set_tokenizer(ByteTokenizer())
    return model


@pytest.fixture(scope="module")
def line_cache(model):
    with torch.no_grad():
        _, cache = model.run_with_cache(model.to_tokens(CODE))
    return cache


@pytest.fixture(scope="module")
def windows(model):
    """The chapter's 16 held-out windows: a BOS byte, then n_ctx - 1 bytes of code."""
    held_out = stdlib_corpus(val_fraction=0.05).eval_batch(model.cfg.n_ctx - 1, n=16)
    return torch.cat([torch.full((16, 1), model.bos_token_id), held_out], dim=1)


@pytest.fixture(scope="module")
def window_patterns(model, windows):
    """``[n_layers batch n_heads pos pos]``: every layer's pattern on the held-out windows."""
    with torch.no_grad():
        _, cache = model.run_with_cache(windows, names_filter=lambda name: name.endswith("hook_pattern"))
    return torch.stack([cache["pattern", layer] for layer in range(model.cfg.n_layers)])


def by_distance(pattern: torch.Tensor, distances=range(12)) -> list[float]:
    """The chapter's curve: mean weight at key ``q - d`` for each distance ``d`` (pattern ``[batch q k]``)."""
    return [pattern.diagonal(offset=-d, dim1=-2, dim2=-1).mean().item() for d in distances]


def entropy(pattern: torch.Tensor) -> torch.Tensor:
    return -torch.xlogy(pattern, pattern).sum(-1)


def train_json() -> dict:
    return json.loads((checkpoint_path("stdlib-bytes") / "train.json").read_text())


@pytest.mark.claim("ch02.exercise_table")
def test_the_exercise_table_lists_every_chapter_2_exercise_with_its_difficulty():
    rows = re.findall(r"^# \| `(\w+)` \| .+? \| (\d) \|$", CHAPTER.read_text(), re.M)
    registered = {ex.name: ex.difficulty for ex in all_exercises(chapter=2)}
    assert dict((name, int(d)) for name, d in rows) == registered
    assert [name for name, _ in rows] == [ex.name for ex in all_exercises(chapter=2)]  # in the chapter's order


@pytest.mark.claim("ch02.model_recipe")
def test_stdlib_bytes_is_chapter_1s_model_trained_in_about_two_minutes_with_a_bos_byte_its_text_lacks(model):
    from minigpt.train.stdlib import with_bos

    train = train_json()
    assert train["recipe"] == "stdlib-bytes" and train["command"].startswith("minigpt train stdlib-bytes")
    assert train["data"]["corpus"] == "minigpt.data.stdlib_corpus" and train["data"]["bos"] == 0
    assert train["threads"] == 1 and 90 <= train["wall_s"] <= 170, train["wall_s"]  # "about two minutes"
    assert model.cfg.d_vocab == 256 and model.bos_token_id == 0
    assert 'checkpoint = "stdlib-bytes"' in (REPO / "chapters" / "01_transformer_from_scratch.py").read_text()
    corpus = stdlib_corpus(val_fraction=train["data"]["val_fraction"])
    assert not (corpus.train == 0).any() and not (corpus.val == 0).any()  # byte 0 never occurs in its text
    assert with_bos(corpus.train[None, :5])[0, 0] == 0  # every training window starts with it
    assert model.to_tokens("x")[0].tolist() == [0, ord("x")]


@pytest.mark.claim("ch02.trained_scores_wide")
def test_layer_0_scores_on_the_line_spread_about_2_8(line_cache):
    scores = line_cache["attn_scores", 0]
    assert round(scores[torch.isfinite(scores)].std().item(), 1) == 2.8


@pytest.mark.claim("ch02.mask_convention")
@pytest.mark.parametrize("kernel", [pytest.param(name, marks=[pytest.mark.slow] if name == "flex" else [])
                                    for name in list_attention(available_only=True)])  # flex compiles: seconds
def test_every_kernel_aligns_fewer_queries_to_the_last_keys(kernel):
    g = torch.Generator().manual_seed(0)
    query_pos, key_pos = 3, 8
    q, k, v = (torch.randn(1, 2, n, 4, generator=g) for n in (query_pos, key_pos, key_pos))
    mask = torch.ones(query_pos, key_pos, dtype=torch.bool).tril(diagonal=key_pos - query_pos)  # query i at 5 + i
    scores = (q @ k.transpose(-1, -2) / 2).masked_fill(~mask, float("-inf"))
    torch.testing.assert_close(get_attention(kernel)(q, k, v), scores.softmax(-1) @ v, atol=1e-5, rtol=1e-5)


@pytest.mark.claim("ch02.scale_saturation")
def test_without_the_scale_entropy_collapses_and_the_gradient_shrinks_from_d_head_16_on():
    # the chapter's cells, in the same order of draws from the same generator
    g = torch.Generator().manual_seed(0)
    d_heads = [4, 16, 64, 256, 1024, 4096]
    n_queries, n_keys = 256, 64
    raw = {d: torch.randn(n_queries, d, generator=g) @ torch.randn(n_keys, d, generator=g).T for d in d_heads}
    upstream = torch.randn(n_queries, n_keys, generator=g)
    rows = {"entropy": {"scaled": [], "unscaled": []}, "grad": {"scaled": [], "unscaled": []}}
    for d in d_heads:
        for name, s in (("scaled", raw[d] / math.sqrt(d)), ("unscaled", raw[d])):
            s = s.clone().requires_grad_(True)
            p = s.softmax(dim=-1)
            (p * upstream).sum().backward()
            rows["entropy"][name].append(entropy(p.detach()).mean().item())
            rows["grad"][name].append(s.grad.norm(dim=-1).mean().item())
    entropy_unscaled, grad_unscaled = rows["entropy"]["unscaled"], rows["grad"]["unscaled"]
    assert all(a > b for a, b in zip(entropy_unscaled, entropy_unscaled[1:]))
    assert round(entropy_unscaled[-1], 2) == 0.07
    assert all(round(e, 1) == 3.7 for e in rows["entropy"]["scaled"])
    assert grad_unscaled[1] > grad_unscaled[0]  # "grows a little from 4 to 16"
    assert all(a > b for a, b in zip(grad_unscaled[1:], grad_unscaled[2:]))  # "then shrinks at every step"
    assert 6.5 < grad_unscaled[1] / grad_unscaled[-1] < 7.5  # "about 7 times smaller at 4,096 than at 16"
    assert all(0.17 < x < 0.19 for x in rows["grad"]["scaled"])  # "between 0.17 and 0.19"


@pytest.mark.claim("ch02.layer0_sharper")
def test_every_layer_1_head_is_more_spread_out_than_every_layer_0_head(line_cache, window_patterns):
    on_line = [entropy(line_cache["pattern", layer][0]).mean(-1) for layer in range(2)]  # [n_heads] each
    assert on_line[1].min() > on_line[0].max()
    held_out = entropy(window_patterns).mean(dim=(1, 3))  # [n_layers n_heads]
    assert held_out[1].min() > held_out[0].max()


@pytest.mark.claim("ch02.held_out_windows")
def test_the_windows_come_from_the_split_held_out_in_training(model, windows):
    data = train_json()["data"]
    from minigpt.train.stdlib import DATA

    assert data["val_fraction"] == DATA["val_fraction"] == 0.05 and train_json()["seed"] == 0
    corpus = stdlib_corpus(val_fraction=0.05)  # the chapter's call: n_bytes and seed as the recipe's
    assert data["n_bytes"] == DATA["n_bytes"] == 2_000_000
    assert len(corpus.train) + len(corpus.val) == data["train_tokens"] + data["val_tokens"]
    assert windows.shape == (16, model.cfg.n_ctx) and (windows[:, 0] == 0).all()
    val = corpus.val.tolist()
    text = bytes(val).decode("latin-1")
    for window in windows[:, 1:]:
        assert bytes(window.tolist()).decode("latin-1") in text


@pytest.mark.claim("ch02.best_heads")
def test_the_best_previous_token_head_is_l0h3_at_0_51_with_0_21_two_back(model, window_patterns):
    prev = previous_token_score(window_patterns)  # [n_layers n_heads]: minigpt's detector
    prev_direct = window_patterns.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(1, -1))
    torch.testing.assert_close(prev, prev_direct)
    assert divmod(int(prev.argmax()), model.cfg.n_heads) == (0, 3)
    assert round(prev[0, 3].item(), 2) == 0.51
    assert round(by_distance(window_patterns[0, :, 3])[2], 2) == 0.21
    assert round((1 / torch.arange(2, model.cfg.n_ctx + 1)).mean().item(), 2) == 0.03


@pytest.mark.claim("ch02.first_token_spaces")
def test_the_first_token_head_rests_on_the_bos_at_spaces_only(model, windows, window_patterns):
    first = window_patterns[..., 1:, 0].mean(dim=(1, -1))  # [n_layers n_heads]
    assert divmod(int(first.argmax()), model.cfg.n_heads) == (0, 2)
    assert round(first[0, 2].item(), 2) == 0.30
    bos_weight, query_bytes = window_patterns[0, :, 2, 1:, 0], windows[:, 1:]
    assert 0.27 <= (bos_weight > 0.5).float().mean() <= 0.33  # "about 30 %"
    assert 0.65 <= (bos_weight < 0.1).float().mean() <= 0.75  # "about 70 %"
    assert bos_weight[query_bytes == SPACE].mean() >= 0.985  # "0.99 on average"
    others = [bos_weight[query_bytes == b].mean().item() for b in query_bytes.unique().tolist()
              if b != SPACE and (query_bytes == b).sum() >= 10]
    assert others and max(others) <= 0.065  # "at most 0.06"


@pytest.mark.claim("ch02.first_token_elsewhere")
def test_at_other_bytes_the_first_token_head_reads_the_last_few_bytes(windows, window_patterns):
    pattern = window_patterns[0, :, 2]  # [batch q k]
    weights = []
    for d in range(6):
        at_d = pattern.diagonal(offset=-d, dim1=-2, dim2=-1)  # [batch q - d]: query q = d .. pos-1
        weights.append(at_d[windows[:, d:] != SPACE].mean().item())
    assert sum(weights[:4]) > 0.8
    assert max(range(6), key=lambda d: weights[d]) == 1


@pytest.mark.claim("ch02.local_heads")
def test_three_layer_0_heads_peak_at_distance_1_and_layer_1_is_flat(window_patterns):
    curves = [[by_distance(window_patterns[layer, :, head]) for head in range(4)] for layer in range(2)]
    peaks = [max(range(12), key=lambda d: curve[d]) for curve in curves[0]]
    assert peaks == [0, 1, 1, 1]  # L0H0 on the token itself, L0H1..3 one back
    assert max(curves[0][1][:3]) - min(curves[0][1][:3]) < 0.02  # L0H1: nearly even over distances 0 to 2
    assert max(max(curve) for curve in curves[1]) < 0.15


@pytest.mark.claim("ch02.tiled_cases")
def test_the_tiled_check_covers_what_the_statement_says():
    cases = get_exercise("ch02.tiled_attention").make_cases()
    assert any(c["causal"] for c in cases) and any(not c["causal"] for c in cases)
    assert any(c["q"].shape[-2] < c["k"].shape[-2] for c in cases)  # fewer queries than keys
    assert any(c["k"].shape[-2] % c["block_k"] or c["q"].shape[-2] % c["block_q"] for c in cases)
    assert any(c["attn_mask"] is not None for c in cases)  # padding masks

    def sees_nothing(case) -> bool:
        query_pos, key_pos = case["q"].shape[-2], case["k"].shape[-2]
        mask = torch.ones(query_pos, key_pos, dtype=torch.bool)
        if case["causal"]:
            mask = mask.tril(diagonal=key_pos - query_pos)
        if case["attn_mask"] is not None:
            mask = mask & case["attn_mask"]
        return bool((~mask.any(-1)).any())

    assert any(sees_nothing(c) for c in cases)  # a query with no visible key
