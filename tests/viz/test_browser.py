"""The viewers in a real browser (Debian's Chromium driven by Playwright), fully offline.

Skipped, with the reason, where /usr/bin/chromium or the playwright package is missing
(`apt-get install chromium`, `pip install playwright`; `playwright install` is not needed).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch

from minigpt.viz import colored_tokens, head_view, model_view

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

N_LAYERS, N_HEADS, N = 2, 3, 12
TOKENS = [f" tok{i}" for i in range(N)]


def causal_patterns() -> torch.Tensor:
    scores = torch.randn(N_LAYERS, N_HEADS, N, N, generator=torch.Generator().manual_seed(0)) * 3
    return scores.masked_fill(torch.triu(torch.ones(N, N, dtype=torch.bool), 1), float("-inf")).softmax(-1)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        except Exception as error:  # a broken install should say so, not fail every test
            pytest.skip(f"Chromium at {CHROMIUM} does not start under Playwright: {error}")
        yield browser
        browser.close()


class Page:
    """A page opened from a saved file, recording console errors and every request."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport={"width": 900, "height": 700})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.uri = path.resolve().as_uri()
        self.page.goto(self.uri)
        self.page.wait_for_function(
            "() => Object.values(window.minigptViews || {}).some(v => v.firstDrawMs !== null || v.error)",
            timeout=10_000,
        )
        self.js = "Object.values(window.minigptViews)[0]"

    def eval(self, expression: str, arg=None):
        return self.page.evaluate(f"(arg) => {{ const v = {self.js}; return {expression}; }}", arg)

    def pixels(self) -> str:
        return self.eval("v.canvas.toDataURL()")

    def offline_and_clean(self) -> None:
        assert self.eval("v.error") is None
        assert self.errors == []
        assert self.requests == [self.uri], f"network requests besides the document: {self.requests}"


@pytest.fixture(scope="module")
def head_page(browser, tmp_path_factory):
    path = head_view(causal_patterns(), TOKENS).save(tmp_path_factory.mktemp("html") / "head.html")
    page = Page(browser, path)
    yield page
    page.page.close()


def test_head_view_renders_offline(head_page):
    head_page.offline_and_clean()
    assert head_page.eval("[v.nLayers, v.nHeads, v.nQ, v.tokens]") == [N_LAYERS, N_HEADS, N, TOKENS]


def test_layer_and_head_selectors_change_the_drawing(head_page):
    before = head_page.pixels()
    head_page.page.select_option("select >> nth=1", "2")          # head 2
    after_head = head_page.pixels()
    head_page.page.select_option("select >> nth=0", "1")          # layer 1
    after_layer = head_page.pixels()
    assert head_page.eval("[v.canvas.dataset.layer, v.canvas.dataset.head]") == ["1", "2"]
    assert len({before, after_head, after_layer}) == 3
    head_page.page.select_option("select >> nth=1", "-1")         # all heads overlaid
    assert head_page.pixels() not in {before, after_head, after_layer}
    head_page.page.select_option("select >> nth=1", "0")
    head_page.page.select_option("select >> nth=0", "0")
    head_page.offline_and_clean()


@pytest.mark.parametrize("side, index", [("q", 7), ("k", 3)])
def test_hover_shows_the_pattern_row(head_page, side, index):
    pattern = causal_patterns()
    head_page.page.select_option("select >> nth=0", "1")
    head_page.page.select_option("select >> nth=1", "2")
    box = head_page.page.locator("canvas").bounding_box()
    point = head_page.eval("v.tokenPoint(arg[0], arg[1])", [side, index])
    head_page.page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
    shown = head_page.eval("v.shown")
    assert (shown["side"], shown["index"], shown["layer"], shown["head"]) == (side, index, 1, 2)
    expected = pattern[1, 2, index] if side == "q" else pattern[1, 2, :, index]
    assert torch.allclose(torch.tensor(shown["weights"]), expected, atol=0.5 / 255 + 1e-6)
    assert torch.allclose(torch.tensor(head_page.eval("v.rowWeights(1, 2, 7)")), pattern[1, 2, 7], atol=0.5 / 255 + 1e-6)
    tooltip = head_page.page.locator(".mg-tip")
    assert tooltip.is_visible()
    best_line = tooltip.inner_text().splitlines()[1]          # "0.890  [6] ' tok6'": the top weight first
    best = int(expected.argmax())
    assert abs(float(best_line.split()[0]) - float(expected[best])) <= 1 / 255 and TOKENS[best] in best_line
    head_page.page.mouse.move(1, 1)
    assert head_page.eval("v.shown") is None


def test_screenshot_is_not_blank(head_page):
    from PIL import Image

    image = Image.open(io.BytesIO(head_page.page.screenshot())).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 20


def test_model_view_click_opens_a_head(browser, tmp_path):
    pattern = causal_patterns()
    page = Page(browser, model_view(pattern, TOKENS).save(tmp_path / "model.html"))
    page.offline_and_clean()
    assert page.page.locator(".mg-cell canvas").count() == N_LAYERS * N_HEADS
    before = page.pixels()
    page.page.locator(".mg-cell").nth(1 * N_HEADS + 2).click()
    assert page.eval("[v.state.layer, v.state.head]") == [1, 2]
    assert page.pixels() != before
    # the large map holds the pattern: read the pixel of a strong and a zero weight
    data = page.eval("Array.from(v.canvas.getContext('2d').getImageData(0, 0, v.nK, v.nQ).data)")
    red = torch.tensor(data, dtype=torch.float32).reshape(N, N, 4)[..., 0]
    expected = 255 - 224 * (torch.round(pattern[1, 2] * 255) / 255)
    assert (red - expected).abs().max() <= 1.0
    page.page.close()


def test_colored_tokens_tooltip(browser, tmp_path):
    page = browser.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    path = colored_tokens(["a", " b"], [0.5, -1.0], label="loss").save(tmp_path / "tokens.html")
    page.goto(path.resolve().as_uri())
    span = page.locator(".mg-tok").nth(1)
    assert span.get_attribute("title") == "[1] ' b'  loss = -1"
    assert span.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert requests == [path.resolve().as_uri()]
    page.close()


def test_first_draw_time_is_reported(head_page):
    assert 0 < head_page.eval("v.firstDrawMs") < 10_000
