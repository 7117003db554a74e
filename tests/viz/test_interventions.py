"""The intervention views without a browser: the data each document carries, escaping, size."""

from __future__ import annotations

import html as html_lib
import re

import numpy as np
import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.interp import CausalTrace, TunedLens, causal_trace, logit_lens
from minigpt.viz import causal_trace_view, logit_lens_view, patching_heatmap
from minigpt.viz.grid import grid_view
from minigpt.viz.html import _colour
from tests.viz.test_html import assert_self_contained, payload

EVIL = "<img src=x onerror=alert(1)>"
WHITE, RED, BLUE = "rgb(255,255,255)", "rgb(255,85,85)", "rgb(85,135,255)"   # 0, +max, -max on a diverging scale


@pytest.fixture(scope="module")
def byte_model() -> GPT:
    return GPT(GPTConfig(n_layers=2, d_model=16, n_heads=2, d_vocab=256, n_ctx=32, tokenizer="bytes",
                         bos_token_id=0, seed=0)).eval()


def hand_trace(**changes) -> CausalTrace:
    """2 layers x 4 tokens, subject at positions 1 and 2; p_restored = effects + 0.25."""
    fields = dict(effects=torch.tensor([[0.0, 0.5, 0.1, 0.0], [0.0, 0.25, 0.0, 0.75]]), p_clean=0.9, p_corrupted=0.25,
                  tokens=torch.tensor([0, 80, 97, 105]), subject_positions=[1, 2], answer=33, kind="mlp", window=3,
                  noise=0.1)
    return CausalTrace(**{**fields, **changes})


# ---------------------------------------------------------------------------- logit lens
def test_logit_lens_view_shows_the_lens(byte_model):
    text = "Paris is"
    view = logit_lens_view(byte_model, text, k=5)
    assert_self_contained(view.html)
    data = payload(view)
    assert data == view.payload and data["kind"] == "logit_lens"
    tokens = byte_model.to_str_tokens(text)
    assert data["rows"] == ["out", "L1", "L0"] and data["cols"] == tokens        # the output at the top
    top = logit_lens(byte_model, byte_model.to_tokens(text))[:, 0].flip(0).topk(5, dim=-1)   # [3 pos 5]
    ids = [data["top"]["vocab"][i] for i in data["top"]["ids"]]
    assert ids == byte_model.to_str_tokens(top.indices.flatten())
    assert np.allclose(data["top"]["probs"], top.values.exp().flatten(), rtol=1e-3)
    assert data["text"] == ids[::5]                                               # each cell: its top-1 token
    top1 = top.values[..., 0].exp().flatten()
    assert np.allclose(data["series"][0]["values"], top1, rtol=1e-3)
    assert data["colours"] == [_colour(float(p), False) for p in top1]           # white 0 .. red 1
    assert "top-1 probability" in view.html and "logit lens" in data_title(view)


def data_title(view) -> str:
    return html_lib.unescape(re.search(r'<div class="mg-title">(.*?)</div>', view.html).group(1))


def test_tuned_lens_and_precomputed_log_probs(byte_model):
    tokens = byte_model.to_tokens("abc")[0]
    lens = TunedLens.for_model(byte_model)              # identity translators: the logit lens
    tuned, plain = logit_lens_view(byte_model, tokens, lens=lens), logit_lens_view(byte_model, tokens)
    assert tuned.payload["top"]["ids"] == plain.payload["top"]["ids"]
    assert "tuned lens" in data_title(tuned)
    given = logit_lens_view(byte_model, tokens, lens=logit_lens(byte_model, tokens[None]), k=3)
    assert given.payload["top"]["k"] == 3 and given.payload["series"] == plain.payload["series"]
    with pytest.raises(ValueError, match=r"n_layers \+ 1 = 3, pos = 4"):
        logit_lens_view(byte_model, tokens, lens=torch.zeros(2, 4, 256))


# ------------------------------------------------------------------------------ patching
def test_patching_layer_pos_is_symmetric_about_zero():
    results = torch.tensor([[2.0, -2.0, 0.0], [1.0, 0.5, -1.0]])
    view = patching_heatmap(results, x_labels=["a", " b", "c"], title="resid_pre")
    assert_self_contained(view.html)
    data = payload(view)
    assert (data["rows"], data["cols"], data["x_label"], data["y_label"]) == (["L0", "L1"], ["a", " b", "c"],
                                                                               "position", "layer")
    assert data["series"][0]["values"] == [2.0, -2.0, 0.0, 1.0, 0.5, -1.0]
    assert data["colours"][:3] == [RED, BLUE, WHITE]
    assert data["colours"][3] == _colour(0.75, True) and data["colours"][5] == _colour(0.25, True)
    legend = re.search(r'<div class="mg-legend">.*?</div>', view.html).group(0)
    assert "<span>-2</span>" in legend and "<span>2</span>" in legend              # the colour bar: -max .. max


def test_patching_layer_head_and_all_positive():
    view = patching_heatmap(torch.tensor([[0.0, 4.0], [1.0, 2.0]]), kind="layer_head", label="logit diff")
    data = view.payload
    assert data["cols"] == ["H0", "H1"] and data["x_label"] == "head"
    assert data["colours"][0] == WHITE and data["colours"][1] == RED             # still centred on 0
    assert data["series"][0]["label"] == "logit diff"


def test_patching_wrong_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"\[n_layers, pos\] .* got shape \(3,\)"):
        patching_heatmap(torch.zeros(3))
    with pytest.raises(ValueError, match=r"\[n_layers, n_heads\] .* got shape \(1, 2, 3\)"):
        patching_heatmap(torch.zeros(1, 2, 3), kind="layer_head")
    with pytest.raises(ValueError, match="kind must be one of"):
        patching_heatmap(torch.zeros(2, 2), kind="layer")
    with pytest.raises(ValueError, match="got 2 x_labels, expected 3"):
        patching_heatmap(torch.zeros(2, 3), x_labels=["a", "b"])
    with pytest.raises(TypeError, match="list of strings"):
        patching_heatmap(torch.zeros(2, 3), x_labels="abc")
    with pytest.raises(ValueError, match="NaN"):
        patching_heatmap(torch.tensor([[float("nan")]]))


# --------------------------------------------------------------------------- causal trace
def test_causal_trace_view_hand_checked(byte_model):
    view = causal_trace_view(hand_trace(), byte_model)
    assert_self_contained(view.html)
    data = payload(view)
    assert data["rows"] == ["\x00", "P*", "a*", "i"]                                  # the subject marked
    assert data["cols"] == ["0", "1"] and data["x_label"] == "centre of 3 restored mlp layers"
    restored, effects = data["series"]
    assert restored["label"] == "p('!') restored" and effects["label"] == "indirect effect"
    assert restored["values"] == [0.25, 0.25, 0.75, 0.5, 0.35, 0.25, 0.25, 1.0]      # tokens down, layers across
    assert effects["values"] == [0.0, 0.0, 0.5, 0.25, 0.1, 0.0, 0.0, 0.75]
    assert data["colours"][0] == WHITE and data["colours"][-1] == "rgb(255,65,45)"  # white at p_corrupted, red at max
    title = data_title(view)
    assert "mlp" in title and "p_clean = 0.9" in title and "p_corrupted = 0.25" in title


def test_causal_trace_view_without_a_model():
    data = causal_trace_view(hand_trace(kind="resid", window=1)).payload
    assert data["rows"] == ["#0", "#80*", "#97*", "#105"] and data["x_label"] == "restored layer (resid)"
    data = causal_trace_view(hand_trace(), ["<s>", " P", "a", " i"], answer=" Q").payload
    assert data["rows"] == ["<s>", " P*", "a*", " i"] and data["series"][0]["label"] == "p(' Q') restored"
    with pytest.raises(ValueError, match="got 3 str_tokens, expected 4"):
        causal_trace_view(hand_trace(), ["a", "b", "c"])


def test_causal_trace_view_of_a_real_trace(byte_model):
    trace = causal_trace(byte_model, "Paris is", subject="Paris", answer=" F", samples=2)
    data = causal_trace_view(trace, byte_model).payload
    assert (data["n_rows"], data["n_cols"]) == (9, 2)
    assert [row.endswith("*") for row in data["rows"]] == [False] + [True] * 5 + [False] * 3
    assert np.allclose(data["series"][1]["values"], trace.effects.T.flatten(), atol=1e-4, rtol=1e-3)


# ------------------------------------------------------------------- escaping, size, files
def test_tokens_are_text_never_markup_or_urls(byte_model):
    tokens = [EVIL, "</script><script>alert(2)</script>", " https://example.com", "//cdn"]
    views = [
        patching_heatmap(torch.randn(2, 4), x_labels=tokens, title=EVIL + " https://a.b"),
        causal_trace_view(hand_trace(), tokens, answer=EVIL),
        grid_view([("v", np.ones((1, 4)))], rows=[EVIL], cols=tokens, lo=0.0, hi=1.0, diverging=False,
                  cell_text=tokens, title="//x", legend=EVIL),
    ]
    for view in views:
        assert_self_contained(view.html)
        lowered = view.html.lower()
        assert lowered.count("<script") == 2 and lowered.count("</script>") == 2     # the payload and the code
        assert EVIL not in view.html and "</script><script>alert(2)" not in view.html
    assert payload(views[0])["cols"] == tokens                                      # the JSON decodes to the text
    assert payload(views[1])["rows"] == [EVIL, "</script><script>alert(2)</script>*", " https://example.com*",
                                         "//cdn"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in views[0].html                   # the title, escaped


def test_size_12_layers_64_positions():
    """GPT-2's vocabulary, 12 layers x 64 positions: every cell's top 10 sent, about 8,000 distinct tokens."""
    model = GPT(GPTConfig(n_layers=12, d_model=16, n_heads=2, n_ctx=64, seed=0))
    tokens = torch.randint(0, 50257, (64,), generator=torch.Generator().manual_seed(0))
    log_probs = (torch.randn(13, 64, 50257, generator=torch.Generator().manual_seed(1)) * 3).log_softmax(-1)
    lens = logit_lens_view(model, tokens, lens=log_probs)
    assert len(set(lens.payload["top"]["ids"])) > 7000
    patch = patching_heatmap(torch.randn(12, 64), x_labels=model.to_str_tokens(tokens))
    trace = causal_trace_view(hand_trace(effects=torch.rand(12, 64), tokens=tokens), model)
    sizes = {name: len(view) for name, view in [("lens", lens), ("patch", patch), ("trace", trace)]}
    assert sizes["lens"] < 400_000 and sizes["patch"] < 60_000 and sizes["trace"] < 80_000, sizes


def test_save_and_repr(tmp_path):
    view = patching_heatmap(torch.eye(3), kind="layer_head")
    path = view.save(tmp_path / "patch.html")
    assert path.read_text(encoding="utf-8") == view.html
    frame = view._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and html_lib.unescape(frame).count("minigptGrid(") == 1
    assert view.height <= 1200
