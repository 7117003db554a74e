"""The intervention views in a real browser (Debian's Chromium driven by Playwright), fully offline.

Skipped, with the reason, where /usr/bin/chromium or the playwright package is missing, as in
test_browser.py (whose browser fixture and Page class these tests use).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.interp import CausalTrace, logit_lens
from minigpt.viz import causal_trace_view, logit_lens_view, patching_heatmap

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
from tests.viz.test_browser import Page, browser  # noqa: E402,F401  (the fixture, module scoped)

EVIL = "<img src=x onerror=alert(1)>"


def open_view(browser, view, tmp_path, name: str) -> Page:
    page = Page(browser, view.save(tmp_path / f"{name}.html"))
    page.dialogs = []
    page.page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    return page


def hover(page: Page, row: int, col: int) -> str:
    box = page.page.locator("canvas").bounding_box()
    point = page.eval("v.cellPoint(arg[0], arg[1])", [row, col])
    page.page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
    tooltip = page.page.locator(".mg-tip")
    assert tooltip.is_visible()
    return tooltip.inner_text()


@pytest.fixture(scope="module")
def byte_model() -> GPT:
    return GPT(GPTConfig(n_layers=2, d_model=16, n_heads=2, d_vocab=256, n_ctx=32, tokenizer="bytes",
                         bos_token_id=0, seed=0)).eval()


def test_logit_lens_hover_lists_the_top_10(browser, byte_model, tmp_path):
    text = "Paris is"
    page = open_view(browser, logit_lens_view(byte_model, text), tmp_path, "lens")
    page.offline_and_clean()
    tokens = byte_model.to_str_tokens(text)
    assert page.eval("[v.nRows, v.nCols, v.cols]") == [3, len(tokens), tokens]
    lines = hover(page, 1, 4).splitlines()                                   # row 1 = L1 (out is on top)
    top = logit_lens(byte_model, byte_model.to_tokens(text))[1, 0, 4].exp().topk(10)
    assert lines[0] == f'layer L1, input token "{tokens[4]}"'
    assert lines[2] == "top 10:" and len(lines) == 13
    for line, p, token_id in zip(lines[3:], top.values, top.indices):
        prob, shown = line.split("  ", 1)
        assert float(prob) == pytest.approx(float(p), rel=1e-2, abs=6e-5)
        assert shown == json.dumps(byte_model.to_str_tokens([int(token_id)])[0], ensure_ascii=False)
    assert page.eval("v.shown.row") == 1 and page.eval("v.shown.col") == 4
    page.page.mouse.move(1, 1)
    assert page.eval("v.shown") is None and not page.page.locator(".mg-tip").is_visible()
    page.offline_and_clean()
    page.page.close()


def test_patching_colours_have_the_sign_of_the_value(browser, tmp_path):
    results = torch.tensor([[1.0, -1.0, 0.0], [0.25, -0.25, 0.5]])
    page = open_view(browser, patching_heatmap(results, x_labels=["a", " b", "c"]), tmp_path, "patch")
    page.offline_and_clean()
    red, blue, white = (page.eval("v.pixel(arg[0], arg[1])", cell) for cell in ([0, 0], [0, 1], [0, 2]))
    assert red[0] == 255 and red[2] < 120 and blue[2] == 255 and blue[0] < 120 and white == [255, 255, 255]
    weak_red, weak_blue = page.eval("v.pixel(1, 0)"), page.eval("v.pixel(1, 1)")
    assert weak_red[0] > weak_red[2] > red[2] and weak_blue[2] > weak_blue[0] > blue[0]   # paler nearer 0
    lines = hover(page, 1, 1).splitlines()
    assert lines == ['layer L1, position " b"', "patched metric = -0.2500"]
    page.offline_and_clean()
    page.page.close()


def test_causal_trace_hover_and_subject_marks(browser, tmp_path):
    trace = CausalTrace(effects=torch.tensor([[0.0, 0.5, 0.1], [0.2, 0.0, 0.6]]), p_clean=0.9, p_corrupted=0.2,
                        tokens=torch.tensor([5, 6, 7]), subject_positions=[1], answer=9, kind="resid", window=1,
                        noise=0.1)
    page = open_view(browser, causal_trace_view(trace, ["The", " Eiffel", " is"], answer=" Paris"), tmp_path, "trace")
    page.offline_and_clean()
    assert page.eval("v.rows") == ["The", " Eiffel*", " is"] and page.eval("v.cols") == ["0", "1"]
    assert hover(page, 2, 1).splitlines() == ['token " is", restored layer (resid) 1',
                                               "p(' Paris') restored = 0.8000", "indirect effect = 0.6000"]
    title = page.page.locator(".mg-title").inner_text()
    assert "resid" in title and "p_clean = 0.9" in title and "p_corrupted = 0.2" in title
    white, strongest = page.eval("v.pixel(0, 0)"), page.eval("v.pixel(2, 1)")   # p_corrupted: white; max: red
    assert white == [255, 255, 255] and strongest[0] == 255 and strongest[1] < 100
    page.page.close()


def test_markup_in_tokens_shows_as_text_and_never_runs(browser, byte_model, tmp_path):
    tokens = [EVIL, "</script><b>bold</b>", " x"]
    page = open_view(browser, patching_heatmap(torch.ones(2, 3), x_labels=tokens, title=EVIL), tmp_path, "evil")
    page.offline_and_clean()
    assert page.page.locator(".mg-title").inner_text() == EVIL                 # the title, as text
    assert page.eval("v.cols") == tokens
    assert hover(page, 0, 0).splitlines()[0] == f'layer L0, position "{EVIL}"'
    assert hover(page, 0, 1).splitlines()[0] == 'layer L0, position "</script><b>bold</b>"'
    assert page.page.evaluate("document.querySelectorAll('img, b').length") == 0
    assert page.dialogs == []
    trace = CausalTrace(effects=torch.rand(2, 3), p_clean=0.5, p_corrupted=0.1, tokens=torch.tensor([1, 2, 3]),
                        subject_positions=[0], answer=4, kind="mlp", window=2, noise=0.1)
    page = open_view(browser, causal_trace_view(trace, tokens, answer=EVIL), tmp_path, "evil_trace")
    page.offline_and_clean()
    assert EVIL in page.page.locator(".mg-title").inner_text() and EVIL in page.page.locator(".mg-legend").inner_text()
    assert hover(page, 0, 0).splitlines()[0] == f'token "{EVIL}*", centre of 2 restored mlp layers 0'
    assert page.page.evaluate("document.querySelectorAll('img, b').length") == 0 and page.dialogs == []
    page.page.close()


def test_a_large_grid_draws_fast(browser, tmp_path):
    values = np.linspace(-1, 1, 12 * 64).reshape(12, 64)
    page = open_view(browser, patching_heatmap(values), tmp_path, "large")
    page.offline_and_clean()
    assert page.eval("v.drawCount") == 1 and 0 < page.eval("v.firstDrawMs") < 10_000
    assert page.eval("v.pixel(11, 63)")[0] == 255 and page.eval("v.pixel(0, 0)")[2] == 255
    page.page.close()
