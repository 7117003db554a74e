"""The shipped ``facts`` model: it recalls its facts, causal tracing finds where, and ROME edits them there.

Chapter 5's claims about this model, measured on the checkpoint the recipe wrote (one thread):

- recall: every training wording and the held-out one (:func:`minigpt.data.facts.recall_accuracy`);
- causal tracing (3σ noise on the subject's embeddings, one layer restored at a time): the
  fact is read at the prompt's **last** token, by the last MLP, not at the subject's tokens
  as in GPT-2 (Meng et al. 2022): attention brings the subject's words to the last token
  and MLP 3 looks the fact up there;
- ROME with its key where the trace points (``fact_token="last"``, layer 3) changes the fact,
  carries over to every wording, and leaves other people's facts alone.
"""

from __future__ import annotations

import random

import pytest
import torch

from minigpt.checkpoints import load_checkpoint, load_history
from minigpt.data import facts as F
from minigpt.interp import causal_trace, edit_metrics, logit_lens, mlp_key_covariance, rome_edit

SITE_LAYER = 3  # the trace's site: MLP 3 at the last token
COLUMNS = ("subject_first", "subject_last", "after_subject", "last")


@pytest.fixture(scope="module")
def model():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_checkpoint("facts")
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cov(model):
    return mlp_key_covariance(model, SITE_LAYER, F.facts_batch(torch.Generator().manual_seed(123), 256))


def sample_facts(n: int, seed: int = 0) -> list[F.FactRecord]:
    return random.Random(seed).sample(F.fact_table(), n)


def mean_trace(model, kind: str, facts, frame: int = 0, samples: int = 5) -> torch.Tensor:
    """``[n_layers, 4]``: indirect effects at the subject's first and last tokens, the token after, the last."""
    grids = []
    for fact in facts:
        trace = causal_trace(model, F.prompt(fact.subject, fact.relation, frame), fact.subject, " " + fact.object,
                             kind=kind, window=1, samples=samples)
        first, last = trace.subject_positions[0], trace.subject_positions[-1]
        grids.append(trace.effects[:, [first, last, last + 1, -1]])
    return torch.stack(grids).mean(0)


def test_the_model_recalls_its_facts_in_every_wording(model):
    train, test = F.recall_accuracy(model, "train"), F.recall_accuracy(model, "test")
    print(f"recall: trained wordings {train:.4f}, held-out wording {test:.4f}")
    assert train >= 0.95 and test >= 0.80
    last = load_history("facts")["rows"][-1]  # the history's last row is this model
    assert (last["recall_train"], last["recall_test"]) == (train, test)


def test_the_checkpoint_brings_its_vocabulary(model):
    assert model.to_str_tokens("Ivo van Pellow speaks") == ["<bos>", "Ivo", "van", "Pellow", "speaks"]
    fact = F.fact_table()[0]
    logits = model(model.to_tokens(F.prompt(fact.subject, fact.relation)))
    assert model.to_string([int(logits[0, -1].argmax())]) == fact.object


def test_causal_trace_finds_the_fact_in_the_last_mlp_at_the_last_token(model):
    facts = sample_facts(8)
    mlp = mean_trace(model, "mlp", facts)
    print("mlp (window 1), columns", COLUMNS, "\n", mlp)
    layer, column = divmod(int(mlp.argmax()), len(COLUMNS))
    assert (layer, COLUMNS[column]) == (SITE_LAYER, "last")
    # measured: 0.39 there, 0.11 at most at the subject's tokens (MLP 0 at its last token)
    assert mlp[SITE_LAYER, -1] >= 0.3 and mlp[:, :2].max() <= mlp[SITE_LAYER, -1] / 3
    resid = mean_trace(model, "resid", facts)
    assert resid[-1, -1] >= 0.8 and resid[:, :2].max() <= 0.15  # the last token's stream carries it; the subject's
    # tokens, one at a time, do not (the other subject token stays noised)


def test_the_logit_lens_sees_the_answer_only_after_the_last_block(model):
    facts = sample_facts(16, seed=1)
    tokens = model.to_tokens([F.prompt(f.subject, f.relation) for f in facts])
    last = torch.tensor([len(F.tokenizer().encode(F.prompt(f.subject, f.relation))) for f in facts])
    answers = torch.tensor([F.tokenizer().encode(f.object)[0] for f in facts])
    _, cache = model.run_with_cache(tokens)
    lens = logit_lens(model, cache)[:, torch.arange(len(facts)), last]  # [n_layers + 1, batch, d_vocab]
    p_answer = lens.exp()[:, torch.arange(len(facts)), answers].mean(1)  # [n_layers + 1]
    print("logit lens P(answer) at the last token, before each block and after the last:", p_answer)
    assert p_answer[-1] >= 0.9 and p_answer[:-1].max() <= 0.5


def rome_results(model, cov, n_edits: int) -> list:
    prefixes = F.context_prefixes(8, seed=0)
    results = []
    for i, fact in enumerate(sample_facts(n_edits, seed=2)):
        case = F.edit_case(fact.subject, fact.relation, seed=i)
        edited = rome_edit(model, SITE_LAYER, case.prompt, case.subject, case.new_target, cov=cov,
                           prefixes=prefixes, fact_token="last")
        kw = dict(prompt=case.prompt, new_target=case.new_target, old_target=case.old_target)
        after = edit_metrics(model, edited, case.neighbours + case.same_subject, paraphrases=case.paraphrases, **kw)
        before = edit_metrics(model, model, case.neighbours + case.same_subject, **kw)
        results.append((after, before))
    return results


def check_rome(results) -> dict:
    n = len(results)
    summary = {"efficacy": sum(a.efficacy for a, _ in results) / n,
               "paraphrase": sum(a.paraphrase for a, _ in results) / n,
               "neighbourhood_drop": sum(b.neighbourhood - a.neighbourhood for a, b in results) / n}
    print(f"ROME at MLP {SITE_LAYER}, last token, {n} edits: {summary}")
    assert summary["efficacy"] >= 0.9 and summary["paraphrase"] >= 0.6 and summary["neighbourhood_drop"] <= 0.05
    return summary


def test_rome_at_the_traced_site_edits_a_fact(model, cov):
    check_rome(rome_results(model, cov, 2))  # ~4 s; twenty edits below


@pytest.mark.slow
def test_rome_twenty_edits(model, cov):
    check_rome(rome_results(model, cov, 20))
