"""The HTML viewers, without a browser: one self-contained document, small, exact to 1/255."""

from __future__ import annotations

import html as html_lib
import json
import re

import numpy as np
import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.viz import HTMLView, colored_tokens, head_view, model_view
from minigpt.viz.patterns import decode, dequantize, encode, quantize

EXTERNAL = ("http://", "https://", 'src="//', "src='//", 'href="//', "url(", "@import", "<link", "<img", "<iframe")


def causal_patterns(n_layers: int, n_heads: int, n: int, seed: int = 0, sharp: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n_layers, n_heads, n, n, generator=g) * sharp
    mask = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
    return scores.masked_fill(mask, float("-inf")).softmax(-1)


def payload(view: HTMLView) -> dict:
    match = re.search(r'<script type="application/json" id="minigpt-data-\w+">(.*?)</script>', view.html, re.S)
    assert match, "no JSON payload in the document"
    return json.loads(match.group(1))


def assert_self_contained(document: str) -> None:
    assert document.startswith("<!DOCTYPE html>")
    assert document.count("<html") == 1 and document.count("</html>") == 1
    lowered = document.lower()
    for needle in EXTERNAL:
        assert needle not in lowered, f"external reference {needle!r} in the document"
    assert "<script src" not in lowered


@pytest.fixture(scope="module")
def tiny_model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(n_layers=2, d_model=32, n_heads=4, d_vocab=50257, n_ctx=64)).eval()


@pytest.mark.parametrize("make", [head_view, model_view])
def test_model_and_text(make, tiny_model):
    text = "The cat sat on the mat. The cat sat"
    view = make(tiny_model, text)
    assert_self_contained(view.html)
    data = payload(view)
    tokens = tiny_model.to_str_tokens(text)
    assert data["tokens"] == tokens
    assert (data["n_layers"], data["n_heads"], data["n_q"], data["n_k"]) == (2, 4, len(tokens), len(tokens))
    assert data["tri"] is True and data["kind"] == make.__name__.split("_")[0]
    # the weights sent are the model's own patterns, to 1/255
    _, cache = tiny_model.run_with_cache(tiny_model.to_tokens(text))
    expected = torch.stack([cache["pattern", layer][0] for layer in range(2)]).numpy()
    sent = dequantize(decode(data["data"]), True, 2, 4, len(tokens), len(tokens))
    assert np.abs(sent - expected).max() <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize("shape", [(4, 9, 9), (3, 4, 9, 9)])
def test_tensor_and_tokens(shape):
    pattern = causal_patterns(1, *shape[-3:])[0] if len(shape) == 3 else causal_patterns(*shape[:2], shape[-1])
    tokens = [f" w{i}" for i in range(shape[-1])]
    view = head_view(pattern, tokens, layer=0, head=1)
    data = payload(view)
    assert data["n_layers"] == (1 if len(shape) == 3 else 3)
    assert data["tokens"] == tokens and data["head"] == 1
    assert_self_contained(view.html)


def test_cache_input(tiny_model):
    _, cache = tiny_model.run_with_cache(tiny_model.to_tokens("one two three"))
    data = payload(model_view(cache, tiny_model.to_str_tokens("one two three")))
    assert data["n_layers"] == 2 and data["n_heads"] == 4


def test_quantization_round_trip_within_one_step():
    p = causal_patterns(2, 3, 33).numpy()
    flat, tri = quantize(p)
    assert tri and flat.dtype == np.uint8 and flat.size == 2 * 3 * 33 * 34 // 2   # causal triangle only
    back = dequantize(decode(encode(flat)), tri, 2, 3, 33, 33)
    assert np.abs(back - p).max() <= 1 / 255


def test_non_causal_pattern_is_kept_whole():
    p = torch.full((2, 5, 5), 0.2)   # bidirectional: the upper triangle matters
    flat, tri = quantize(p.numpy()[None])
    assert not tri and flat.size == 2 * 25
    data = payload(head_view(p, list("abcde")))
    assert data["tri"] is False


def test_hand_checked_weights():
    p = torch.tensor([[[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]])
    data = payload(head_view(p, ["a", "b", "c"]))
    assert list(decode(data["data"])) == [255, 128, 128, 51, 76, 128]


def test_urls_in_tokens_are_not_spelled_out():
    tokens = ["see", " https://example.com", " http://x", "//cdn"]
    p = causal_patterns(1, 1, 4)[0]
    for view in (head_view(p, tokens, title="from https://a.b"), colored_tokens(tokens, [1.0, 2.0, 3.0, 4.0])):
        assert_self_contained(view.html)
    assert payload(head_view(p, tokens))["tokens"] == tokens   # the JSON still decodes to the text


def test_size_gpt2_geometry_512_tokens():
    """12 layers x 12 heads x 512 tokens: uint8, triangle only, deflated. Raw float32 would be 151 MB."""
    view = head_view(causal_patterns(12, 12, 512), [f" t{i}" for i in range(512)])
    assert len(view) < 8_000_000, f"{len(view) / 1e6:.1f} MB"


def test_wrong_inputs_say_what_is_wrong(tiny_model):
    p = causal_patterns(1, 2, 5)[0]
    with pytest.raises(ValueError, match="4 string tokens but the pattern has 5"):
        head_view(p, list("abcd"))
    with pytest.raises(ValueError, match=r"expected an attention pattern of shape .* got shape \(5, 5\)"):
        head_view(p[0], list("abcde"))
    with pytest.raises(ValueError, match="square"):
        head_view(p[:, :3], list("abcde"))
    with pytest.raises(ValueError, match=r"\[0, 1\].*scores"):
        head_view(p * 10 - 3, list("abcde"))
    with pytest.raises(ValueError, match="NaN"):
        head_view(torch.full((1, 2, 2), float("nan")), list("ab"))
    with pytest.raises(TypeError, match="list of strings"):
        head_view(p, "abcde")
    with pytest.raises(ValueError, match="out of range"):
        head_view(p, list("abcde"), head=7)
    with pytest.raises(TypeError, match="text is missing"):
        head_view(tiny_model)
    with pytest.raises(ValueError, match="one value per token"):
        colored_tokens(list("abc"), [1.0, 2.0])


def test_save_and_repr(tmp_path):
    p = causal_patterns(2, 2, 6)
    for make in (head_view, model_view):
        view = make(p, list("abcdef"))
        path = view.save(tmp_path / f"{make.__name__}.html")
        assert path.read_text(encoding="utf-8") == view.html
        frame = view._repr_html_()
        assert frame.startswith("<iframe srcdoc=") and html_lib.unescape(frame).count("minigptRender(") == 1
    # two views of the same data on one page never share an element id
    a, b = (re.search(r'id="minigpt-(\w+)"', head_view(p, list("abcdef")).html).group(1) for _ in range(2))
    assert a != b


def test_colored_tokens():
    view = colored_tokens(["a", " b", "<c>"], torch.tensor([-1.0, 0.0, 2.0]), label="loss")
    assert_self_contained(view.html)
    assert view.html.count('class="mg-tok"') == 3
    assert "&lt;c&gt;" in view.html and 'data-value="2"' in view.html
    assert "loss = -1" in view.html and "linear-gradient" in view.html   # tooltip and legend
    assert "rgb(255,255,255)" in view.html                                 # 0 is white on a diverging scale
