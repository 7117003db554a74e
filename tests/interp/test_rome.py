"""ROME: the pieces by hand (covariance, key, the rank-one update), the original model untouched, and the
issue's test: on a model trained here to recall 20 facts, an edit changes its fact and keeps the others."""

from __future__ import annotations

import pytest
import torch

import tests.interp.facts_model as F
from minigpt import GPT, GPTConfig
from minigpt.interp import (apply_rank_one, causal_trace, edit_metrics, mlp_key_covariance, rome_edit,
                            rome_update)


def _model() -> GPT:
    return GPT(GPTConfig(n_layers=2, d_model=16, n_heads=2, d_vocab=12, n_ctx=12, seed=0)).eval()


def test_covariance_by_hand():
    model, tokens = _model(), torch.randint(0, 12, (5, 7), generator=torch.Generator().manual_seed(0))
    _, cache = model.run_with_cache(tokens)
    keys = cache["blocks.1.mlp.hook_post"].flatten(0, 1)  # [35 d_mlp]
    want = sum(torch.outer(k, k) for k in keys) / len(keys)
    torch.testing.assert_close(mlp_key_covariance(model, 1, tokens, batch_size=2), want, atol=1e-6, rtol=1e-5)


def test_update_by_hand_and_the_original_untouched():
    model = _model()
    cov = mlp_key_covariance(model, 0, torch.randint(0, 12, (16, 10), generator=torch.Generator().manual_seed(1)))
    prompt, subject, prefixes = [1, 2, 3, 4], [2, 3], [[5], [6, 9, 9]]
    update = rome_update(model, 0, prompt, subject, new_target=7, cov=cov, prefixes=prefixes, steps=3)
    contexts, lasts = [prompt, [5] + prompt, [6, 9, 9] + prompt], [2, 3, 5]  # the bare prompt, then each prefix
    keys = [model.run_with_cache(torch.tensor([c]))[1]["blocks.0.mlp.hook_post"][0, i] for c, i in zip(contexts, lasts)]
    torch.testing.assert_close(update.key, torch.stack(keys).mean(0))                         # k*
    torch.testing.assert_close(cov @ update.u, update.key, atol=1e-3 * update.key.norm().item(), rtol=0)  # C^-1 k*
    mlp = model.blocks[0].mlp
    torch.testing.assert_close(update.key @ (mlp.W_out + update.delta_W) + mlp.b_out, update.value)  # k* -> v*
    assert len(update.losses) == 3

    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    edited = rome_edit(model, 0, prompt, subject, 7, cov=cov, prefixes=prefixes, steps=3)
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())           # untouched
    changed = [name for name, p in edited.named_parameters() if not torch.equal(p, before[name])]
    assert changed == ["blocks.0.mlp.W_out"]
    torch.testing.assert_close(edited.blocks[0].mlp.W_out, apply_rank_one(_model(), update).blocks[0].mlp.W_out)


def test_key_at_the_last_token():
    """fact_token="last": the key is the MLP's activation at the prompt's last token (after each prefix)."""
    model = _model()
    cov = mlp_key_covariance(model, 1, torch.randint(0, 12, (16, 10), generator=torch.Generator().manual_seed(1)))
    prompt, subject, prefixes = [1, 2, 3, 4], [2, 3], [[5], [6, 9, 9]]
    update = rome_update(model, 1, prompt, subject, new_target=7, cov=cov, prefixes=prefixes, steps=3,
                         fact_token="last")  # the last layer may be edited at the last token
    contexts = [prompt, [5] + prompt, [6, 9, 9] + prompt]
    keys = [model.run_with_cache(torch.tensor([c]))[1]["blocks.1.mlp.hook_post"][0, -1] for c in contexts]
    torch.testing.assert_close(update.key, torch.stack(keys).mean(0))
    mlp = model.blocks[1].mlp
    torch.testing.assert_close(update.key @ (mlp.W_out + update.delta_W) + mlp.b_out, update.value)
    with pytest.raises(ValueError, match="nothing reads"):  # at the subject's last token, the last MLP is no use
        rome_update(model, 1, prompt, subject, 7, cov=cov, prefixes=prefixes, steps=3)
    with pytest.raises(ValueError, match="fact_token must be one of"):
        rome_update(model, 1, prompt, subject, 7, cov=cov, prefixes=prefixes, fact_token="first")
    with pytest.raises(ValueError, match="not in the prompt"):
        rome_update(model, 1, prompt, [9], 7, cov=cov, prefixes=prefixes, fact_token="last")


def test_edit_metrics_by_hand():
    model = _model()
    greedy = lambda tokens: model(torch.tensor([tokens]))[0, -1].argmax().item()  # noqa: E731
    old, new = greedy([1, 2]), (greedy([1, 2]) + 1) % 12
    facts = [([3, 4], greedy([3, 4])), ([5], (greedy([5]) + 1) % 12)]  # one fact the model knows, one it does not
    m = edit_metrics(model, model, facts, prompt=[1, 2], new_target=[new, 3], paraphrases=[[9, 1, 2]])
    probs = model(torch.tensor([[1, 2, new]]))[0, -2:].softmax(-1)  # a two-token target, teacher-forced
    assert m.p_new_before == m.p_new_after == pytest.approx((probs[0, new] * probs[1, 3]).item(), rel=1e-5)
    assert m.p_old_after == pytest.approx(model(torch.tensor([[1, 2]]))[0, -1].softmax(-1)[old].item(), rel=1e-5)
    assert m.efficacy == 0 and m.efficacy_top1 == 0 and m.n_paraphrases == 1 and m.n_facts == 2
    assert m.neighbourhood == 0.5 and m.neighbourhood_unchanged == 1.0


def test_errors():
    model = _model()
    with pytest.raises(ValueError, match="covariance.*mlp_key_covariance"):
        rome_edit(model, 0, [1, 2, 3], [2], 5)
    with pytest.raises(ValueError, match=r"\[64, 64\]"):
        rome_edit(model, 0, [1, 2, 3], [2], 5, cov=torch.eye(3))
    with pytest.raises(ValueError, match="not in the prompt"):
        rome_edit(model, 0, [1, 2, 3], [9], 5, cov_tokens=torch.randint(0, 12, (4, 6)))


def test_text_prompts_and_sampled_prefixes():
    model = GPT(GPTConfig(n_layers=2, d_model=16, n_heads=2, d_vocab=256, n_ctx=48, tokenizer="bytes",
                          bos_token_id=0, seed=0)).eval()
    cov_tokens = model.to_tokens(["def f(x): return x", "import os, sys"])
    kw = dict(cov_tokens=cov_tokens, n_prefixes=3, prefix_length=5, steps=2, seed=4)
    a = rome_edit(model, 0, "The cat is in", "The cat", " Rome", **kw)   # essence prompt "The cat is a"
    b = rome_edit(model, 0, "The cat is in", "The cat", " Rome", **kw)
    assert torch.equal(a.blocks[0].mlp.W_out, b.blocks[0].mlp.W_out)      # the sampled prefixes follow the seed
    assert not torch.equal(a.blocks[0].mlp.W_out, model.blocks[0].mlp.W_out)
    with pytest.raises(ValueError, match="nothing reads"):                # the last MLP, before the last token
        rome_edit(model, 1, "The cat is in", "The cat", " Rome", **kw)


@pytest.mark.slow
def test_rome_edits_one_of_twenty_facts_and_keeps_the_others():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = F.train_facts_model(steps=200, seed=0)
        assert F.recall(model).all() and F.recall(model, F.PARAPHRASE).all() and F.recall(model, prefix=[4, 1]).all()
        world = F.facts()
        # where is the recall? restore one MLP at a time (window 1): the layer that matters at the subject's last token
        subject, city = world[0]
        trace = causal_trace(model, F.prompt(subject, prefix=[1, 2]), subject, city, kind="mlp", window=1)
        layer = int(trace.effects[:, trace.subject_positions[-1]].argmax())
        cov = mlp_key_covariance(model, layer, F.batch(torch.Generator().manual_seed(123), 256)[0])
        prefixes = [[1], [2, 3], [4, 5, 6], [7, 8, 9, 0], [3]]
        results = []
        for which in (0, 7, 13):
            subject, city = world[which]
            new = F.CITY + (city - F.CITY + 3) % 10
            edited = rome_edit(model, layer, F.prompt(subject), subject, new, cov=cov, prefixes=prefixes)
            others = [(F.prompt(s), c) for i, (s, c) in enumerate(world) if i != which]
            paraphrases = [F.prompt(subject, F.PARAPHRASE), F.prompt(subject, prefix=[5, 5])]
            results.append(edit_metrics(model, edited, others, prompt=F.prompt(subject), new_target=new,
                                        paraphrases=paraphrases))
    finally:
        torch.set_num_threads(threads)
    print(f"trace (mlp, window 1) {trace.effects.tolist()}; edit layer {layer}")
    for m in results:
        print(m)
        assert m.efficacy == 1 and m.efficacy_top1 == 1          # the edited fact now says the new city
        assert m.n_facts == 19 and m.neighbourhood >= 18 / 19    # the other facts intact
