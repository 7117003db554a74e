"""Logit lens and tuned lens: the readout by hand, the last layer is the model, the tuned lens beats the
logit lens on a trained model (held-out text), files round-trip."""

from __future__ import annotations

import pytest
import torch

from minigpt import GPT, GPTConfig
from minigpt.interp import TunedLens, kl_to_final, logit_lens


def _model(**kw) -> GPT:
    return GPT(GPTConfig(n_layers=3, d_model=32, n_heads=4, d_vocab=50, n_ctx=16, seed=2, **kw)).eval()


@pytest.mark.parametrize("kw", [{}, dict(normalization_type=None), dict(tie_embeddings=False, unembed_bias=True)],
                         ids=["LN", "no LN", "untied + b_U"])
def test_logit_lens_by_hand(kw):
    model = _model(**kw)
    with torch.no_grad():  # a LayerNorm and bias that matter
        if kw.get("normalization_type", "LN") == "LN":
            model.ln_final.w.add_(torch.rand(32))
            model.ln_final.b.add_(torch.randn(32))
        if model.unembed.b_U is not None:
            model.unembed.b_U.add_(torch.randn(50))
    tokens = torch.randint(0, 50, (2, 7), generator=torch.Generator().manual_seed(0))
    logits, cache = model.run_with_cache(tokens)
    lens = logit_lens(model, cache)
    assert lens.shape == (4, 2, 7, 50)
    torch.testing.assert_close(lens[-1], logits.log_softmax(-1), atol=1e-5, rtol=0)  # the model itself
    torch.testing.assert_close(logit_lens(model, tokens), lens)                   # tokens or a cache
    resid = cache["blocks.1.hook_resid_pre"]
    if kw.get("normalization_type", "LN") == "LN":
        mean, var = resid.mean(-1, keepdim=True), resid.var(-1, keepdim=True, unbiased=False)
        resid = (resid - mean) / (var + 1e-5).sqrt() * model.ln_final.w + model.ln_final.b
    by_hand = resid @ model.W_U + (model.unembed.b_U if model.unembed.b_U is not None else 0)
    torch.testing.assert_close(lens[1], by_hand.log_softmax(-1).detach(), atol=1e-5, rtol=1e-5)
    assert kl_to_final(lens)[-1] == 0 and (kl_to_final(lens) > -1e-6).all()


def test_missing_activations_and_a_lens_for_another_model():
    model = _model()
    _, cache = model.run_with_cache(torch.tensor([[1, 2, 3]]), names_filter="blocks.0.hook_resid_pre")
    with pytest.raises(KeyError, match="resid_pre"):
        logit_lens(model, cache)
    with pytest.raises(ValueError, match="n_layers=2, d_model=32"):
        TunedLens(2, 32)(model, torch.tensor([[1, 2, 3]]))


def test_fit_save_load(tmp_path, capsys):
    model = _model()
    tokens = torch.randint(0, 50, (8, 12), generator=torch.Generator().manual_seed(0))
    lens = TunedLens.for_model(model)
    torch.testing.assert_close(lens(model, tokens), logit_lens(model, tokens))  # identity: the logit lens
    losses = lens.fit(model, tokens, steps=5, lr=1e-2, batch_size=4, progress=True)
    assert len(losses) == 5 and "tuned lens" in capsys.readouterr().err            # a tqdm bar
    assert all(p.requires_grad and p.grad is None for p in model.parameters())      # the model untouched
    folder = lens.save(tmp_path / "lens")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "tuned_lens.safetensors"]
    again = TunedLens.load(folder)
    assert torch.equal(again.W, lens.W) and torch.equal(again.b, lens.b)
    with pytest.raises(FileNotFoundError, match="config.json"):
        TunedLens.load(tmp_path / "nowhere")


def test_tuned_lens_beats_the_logit_lens_on_stdlib_bytes():
    """On held-out stdlib text the tuned lens is closer to the final distribution at every layer."""
    from minigpt.checkpoints import load_checkpoint
    from minigpt.data.corpus import stdlib_corpus

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = load_checkpoint("stdlib-bytes").eval()
        corpus = stdlib_corpus(n_bytes=300_000)
        bos = model.cfg.bos_token_id
        train = corpus.sampler(63)(torch.Generator().manual_seed(0), 256)
        train = torch.cat([torch.full((256, 1), bos), train], dim=1)              # [n_seq 1 + 63]
        val = torch.cat([torch.full((16, 1), bos), corpus.eval_batch(127, n=16)], dim=1)
        lens = TunedLens.for_model(model)
        lens.fit(model, train, steps=40, lr=1e-2, batch_size=8, progress=False)
        with torch.no_grad():
            logit_kl, tuned_kl = kl_to_final(logit_lens(model, val)), kl_to_final(lens(model, val))
            final = model(val).log_softmax(-1)
    finally:
        torch.set_num_threads(threads)
    print(f"KL(final || lens) per layer, logit lens {logit_kl.tolist()}, tuned lens {tuned_kl.tolist()}")
    assert (tuned_kl[:-1] < logit_kl[:-1]).all()
    torch.testing.assert_close(logit_lens(model, val)[-1], final, atol=1e-5, rtol=0)
