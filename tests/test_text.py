"""Model-side text helpers with TransformerLens's semantics (GPT-2's real tokenizer, offline)."""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.tokenizer import get_tokenizer


@pytest.fixture(scope="module")
def model():
    return GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, n_ctx=32, seed=0))


def test_to_tokens_prepends_the_end_of_text_token(model):
    assert model.to_tokens("Hello world").tolist() == [[50256, 15496, 995]]
    assert model.to_tokens("Hello world", prepend_bos=False).tolist() == [[15496, 995]]


def test_batches_are_right_padded_and_truncated(model):
    tokens = model.to_tokens(["Hello world", "Hi"])
    assert tokens.tolist() == [[50256, 15496, 995], [50256, 17250, 50256]]
    assert model.to_tokens("word " * 100).shape == (1, 32)


def test_str_tokens_string_and_single_token(model):
    assert model.to_str_tokens(" Paris is nice", prepend_bos=False) == [" Paris", " is", " nice"]
    assert model.to_str_tokens(torch.tensor([[40, 716], [50256, 995]])) == [["I", " am"], ["<|endoftext|>", " world"]]
    assert model.to_string(torch.tensor([15496, 995])) == "Hello world"
    assert model.to_string(torch.tensor([[15496], [995]])) == ["Hello", " world"]
    assert model.to_single_token(" Paris") == 6342 and model.to_single_token("Paris") == 40313
    with pytest.raises(ValueError, match="2 tokens, not one"):
        model.to_single_token(" Parisian")


def test_forward_and_generate_take_text(model):
    torch.testing.assert_close(model("Hello world"), model(model.to_tokens("Hello world")))
    out = model.generate("Hello", max_new_tokens=3, temperature=0.0)
    assert out.shape == (1, 5) and out[0, 0] == 50256


def test_models_without_a_tokenizer_say_how_to_get_one():
    toy = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_vocab=256, n_ctx=8))
    with pytest.raises(ValueError, match="set_tokenizer"):
        toy.to_tokens("hi")
    toy.set_tokenizer(get_tokenizer("bytes"))
    assert toy.to_tokens("hi", prepend_bos=False).tolist() == [[104, 105]]
    small = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_vocab=100, n_ctx=8))
    with pytest.raises(ValueError, match="256 tokens but the model's d_vocab is 100"):
        small.set_tokenizer(get_tokenizer("bytes"))


def test_the_public_surface_of_design_md_imports():
    from minigpt import GPT, GPTConfig, get_tokenizer  # noqa: F401
    from minigpt.attention import get_attention, list_attention, register_attention  # noqa: F401
    from minigpt.grading import check  # noqa: F401

    assert get_tokenizer("gpt2").encode("Hello world") == [15496, 995]


def test_to_string_of_one_token():
    import torch

    from minigpt import GPT, GPTConfig

    model = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_vocab=256, tokenizer="bytes"))
    assert model.to_string(torch.tensor(104)) == "h" and model.to_string(105) == "i"
    assert model.to_string(torch.tensor([104, 105])) == "hi"
