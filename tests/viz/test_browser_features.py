"""The neuron view, the feature dashboard and the atlas in a real browser (Debian's Chromium under Playwright),
fully offline: no console error, no request besides the file, interactions show the model's own numbers, and
markup in the data is shown as text and never runs.

Skipped, with the reason, where /usr/bin/chromium or the playwright package is missing, as in test_browser.py.
"""

from __future__ import annotations

import json

import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.checkpoints import load_checkpoint
from minigpt.interp import FeatureContext, activation_histogram, neuron_acts
from minigpt.viz import feature_atlas, feature_dashboard, neuron_dashboard, neuron_view
from minigpt.viz.html import _colour
from tests.viz.test_browser_interventions import EVIL, open_view

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
from tests.viz.test_browser import Page, browser  # noqa: E402,F401  (the fixture, module scoped)

torch.set_num_threads(1)
TEXT = "def f(x):\n    return x + 1\n"


@pytest.fixture(scope="module")
def model() -> GPT:
    return load_checkpoint("stdlib-bytes").eval()


def rgb(css: str) -> str:
    return css.replace(" ", "")


def visible(text: str) -> str:
    """A token as the dashboard prints it: newline and tab as marks, other control characters as \\xNN."""
    marks = {"\n": "\u23ce", "\t": "\u21e5"}
    return "".join(marks.get(c, f"\\x{ord(c):02x}") if ord(c) < 32 or ord(c) == 127 else c for c in text)


def mouse_to(page: Page, locator: str, point: dict) -> None:
    box = page.page.locator(locator).first.bounding_box()
    page.page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])


# ----------------------------------------------------------------------------- neuron view
def test_neuron_view_numbers_are_the_models_and_follow_the_query(browser, model, tmp_path):
    layer, head = 1, 2
    page = open_view(browser, neuron_view(model, TEXT, layer, head), tmp_path, "neuron")
    page.offline_and_clean()
    tokens = model.to_tokens(TEXT)
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.startswith(f"blocks.{layer}.attn.hook_"))
    scores, pattern = cache["attn_scores", layer][0, head], cache["pattern", layer][0, head]   # [query_pos key_pos]
    q, k = cache["q", layer][0, :, head], cache["k", layer][0, :, head]                      # [pos d_head]
    n = tokens.shape[1]

    def check_row(query: int) -> None:
        shown = page.eval("v.shown")
        assert shown["query"] == query
        assert all(s is None for s in shown["scores"][query + 1:])                           # the causal mask
        torch.testing.assert_close(torch.tensor(shown["scores"][:query + 1]), scores[query, :query + 1],
                                   atol=2e-5, rtol=1e-5)
        torch.testing.assert_close(torch.tensor(shown["weights"]), pattern[query], atol=1e-6, rtol=1e-5)
        cells = page.page.locator(".mg-nv-score").all_inner_texts()
        assert cells[query + 1:] == ["-\u221e"] * (n - query - 1)
        assert [float(c) for c in cells[:query + 1]] == pytest.approx(scores[query, :query + 1].tolist(), abs=6e-5)
        weights = [float(c) for c in page.page.locator(".mg-nv-weight").all_inner_texts()]
        assert weights == pytest.approx(pattern[query].tolist(), abs=6e-5)
        products = torch.tensor(shown["products"])                                            # q_i ∘ k_key
        torch.testing.assert_close(products, q[query] * k[shown["key"]], atol=1e-5, rtol=1e-5)

    check_row(n - 1)
    assert page.eval("v.shown.key") == int(pattern[n - 1].argmax())
    page.page.locator(".mg-nv-tok").nth(7).click()                                # a click on a token: the query
    check_row(7)
    assert page.page.locator(".mg-nv-tok.mg-sel").inner_text() == model.to_str_tokens(TEXT)[7]
    page.page.select_option("select", "12")                                        # the selector does the same
    check_row(12)
    page.page.locator(".mg-nv-row").nth(3).click()                                 # a row: that key's sum
    assert page.eval("v.shown.key") == 3
    detail = page.page.locator(".mg-nv-detail").inner_text().splitlines()
    assert detail[0].startswith("query [12]") and "key [3]" in detail[0]
    assert float(detail[2].rsplit("= ", 1)[1]) == pytest.approx(float(scores[12, 3]), abs=6e-5)
    assert float(detail[3].rsplit("= ", 1)[1]) == pytest.approx(float(pattern[12, 3]), abs=6e-5)
    page.page.locator(".mg-nv-row").nth(20).click()                                # a masked key: nothing changes
    assert page.eval("v.shown.key") == 3
    first = page.page.locator(".mg-nv-row").nth(3).locator(".mg-c").nth(model.cfg.d_head)   # q∘k, cell 0
    first.hover()
    assert page.page.locator(".mg-tip").inner_text().startswith("q[0] \u00d7 k3[0] = ")
    page.offline_and_clean()
    page.page.close()


def test_neuron_view_uses_the_models_attn_scale(browser, tmp_path):
    """attn_scale 2.0, not sqrt(d_head) = 4: the page divides by the model's own scale."""
    model = GPT(GPTConfig(n_layers=1, d_model=32, n_heads=2, d_vocab=256, n_ctx=16, tokenizer="bytes",
                          bos_token_id=0, attn_scale=2.0, seed=0)).eval()
    tokens = torch.tensor([0, 5, 9, 3, 7, 200])
    page = open_view(browser, neuron_view(model, tokens, 0, 1, query=4), tmp_path, "scale")
    page.offline_and_clean()
    _, cache = model.run_with_cache(tokens[None], names_filter="blocks.0.attn.hook_attn_scores")
    shown = page.eval("v.shown.scores")
    torch.testing.assert_close(torch.tensor(shown[:5]), cache["attn_scores", 0][0, 1, 4, :5], atol=1e-5, rtol=1e-5)
    page.page.close()


# ----------------------------------------------------------------------------- dashboard
def test_dashboard_colours_hover_histogram_and_logits(browser, model, tmp_path):
    tokens = model.to_tokens(["def f(x):\n    return x + 1\n", "class A:\n    pass\n", "import os\nos.path.join"])
    view = neuron_dashboard(model, tokens, layer=1, neuron=3, k=8, window=(10, 3))
    page = open_view(browser, view, tmp_path, "dash")
    page.offline_and_clean()
    data = view.payload
    assert page.page.locator(".mg-ctx").count() == 8 == page.eval("v.nContexts")
    first = data["contexts"][0]
    peak = page.page.locator(".mg-ctx").first.locator(".mg-peak")
    assert rgb(peak.evaluate("e => getComputedStyle(e).backgroundColor")) == _colour(1.0, False)   # the top: red
    peak.hover()
    tip = page.page.locator(".mg-tip").inner_text()
    assert tip.startswith(json.dumps(first["tokens"][first["peak"]])) and tip.endswith(f"{first['value']:.4f}")
    line = page.page.locator(".mg-ctx").first.locator(".mg-ctx-tokens").inner_text()
    assert line == visible("".join(first["tokens"]))                                # newlines shown as marks
    hist = activation_histogram(neuron_acts(model, tokens, 1, 3), bins=30)
    i = int(hist.counts.argmax())
    mouse_to(page, ".mg-hist canvas", page.eval(f"v.binPoint({i})"))
    assert page.eval("v.shown") == {"bin": i, "count": int(hist.counts[i])}
    assert page.page.locator(".mg-tip").inner_text().endswith(f": {int(hist.counts[i])} tokens")
    rows = page.page.locator(".mg-logits tr").nth(1).locator("td").all_inner_texts()
    promoted, suppressed = data["logits"]["promoted"][0], data["logits"]["suppressed"][0]
    assert rows[0].startswith(json.dumps(promoted[0])) and float(rows[1]) == pytest.approx(promoted[1], abs=1e-3)
    assert float(rows[3]) == pytest.approx(suppressed[1], abs=1e-3) and float(rows[3]) < 0
    page.offline_and_clean()
    page.page.close()


# ----------------------------------------------------------------------------- atlas
def test_atlas_hover_shows_the_latents_context(browser, model, tmp_path):
    tokens = model.to_tokens("for i in range(10):\n    print(i)\n")[0]
    contexts = [FeatureContext(batch=0, pos=p, value=1.0 + p, start=p - 4, tokens=tokens[p - 4:p + 1].tolist(),
                               acts=[0.0] * 4 + [1.0 + p]) for p in range(5, 13)]
    directions = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))
    view = feature_atlas(directions, contexts, values=[c.value for c in contexts], model=model)
    page = open_view(browser, view, tmp_path, "atlas")
    page.offline_and_clean()
    for i in (0, 5):
        mouse_to(page, ".mg-atlas canvas", page.eval(f"v.pointXY({i})"))
        assert page.eval("v.shown") == i
        assert page.page.locator(".mg-tip").inner_text() == f"latent {i}"
        info = page.page.locator(".mg-atlas-info").inner_text()
        assert info.startswith(f"latent {i}") and f"max activation = {contexts[i].value:.3f}" in info
        assert visible("".join(model.to_str_tokens(contexts[i].tokens))) in info
        assert page.page.locator(".mg-atlas-info .mg-peak").inner_text() == model.to_str_tokens(contexts[i].tokens)[-1]
    strongest = page.eval("v.pixel(7)")                                            # the largest value: red
    assert f"rgb({strongest[0]},{strongest[1]},{strongest[2]})" == view.payload["colours"][7] == _colour(1.0, False)
    page.page.mouse.move(2, 2)
    assert page.eval("v.shown") is None and page.page.locator(".mg-atlas-info").inner_text() == "hover a point"
    page.offline_and_clean()
    page.page.close()


# ----------------------------------------------------------------------------- escaping
def evil_model() -> GPT:
    """A model whose tokens read as markup: token i is shown as one of three hostile strings."""
    model = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_mlp=32, d_vocab=12, n_ctx=16, seed=0)).eval()
    strings = [EVIL, "</script><b>bold</b>", "\" onmouseover=\"alert(2)"]
    model.to_str_tokens = lambda ids, **kwargs: [strings[int(i) % 3] for i in ids]
    return model


def test_markup_in_the_data_is_text_and_never_runs(browser, tmp_path):
    model = evil_model()
    tokens = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7]])
    views = {
        "neuron": neuron_view(model, tokens[0], 0, 1, title=EVIL),
        "dash": feature_dashboard(model, tokens, torch.arange(8.0)[None], model.blocks[0].mlp.W_out[0], title=EVIL,
                                  k=3, label=EVIL),
        "atlas": feature_atlas(torch.randn(3, 5), [EVIL, None, "</script>"], labels=[EVIL, "b", "c"], title=EVIL),
    }
    for name, view in views.items():
        page = open_view(browser, view, tmp_path, f"evil_{name}")
        page.offline_and_clean()
        assert page.page.locator(".mg-title").first.inner_text() == EVIL
        assert page.page.evaluate("document.querySelectorAll('img, b').length") == 0 and page.dialogs == []
        if name == "neuron":
            assert page.page.locator(".mg-nv-tok").nth(0).inner_text() == EVIL
            page.page.locator(".mg-nv-tok").nth(2).hover()
        elif name == "dash":
            assert EVIL in page.page.locator(".mg-ctx").first.inner_text()
            assert page.page.locator(".mg-logits").inner_text().count(json.dumps(EVIL)) >= 1
            page.page.locator(".mg-ctx .mg-tok").first.hover()
        else:
            mouse_to(page, ".mg-atlas canvas", page.eval("v.pointXY(0)"))
            assert page.page.locator(".mg-tip").inner_text() == EVIL
            assert EVIL in page.page.locator(".mg-atlas-info").inner_text()
        assert page.page.evaluate("document.querySelectorAll('img, b').length") == 0 and page.dialogs == []
        page.offline_and_clean()
        page.page.close()
