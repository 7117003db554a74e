"""Chapter 1 checks: unembedding, the loss, top-k / top-p filtering and sampling."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...registry import Case, Mutant
from .._shared import INF, _randn
from ._common import register_exercise
from ....generate import top_k_filter as _lib_top_k
from ....generate import top_p_filter as _lib_top_p


# ---------------------------------------------------------------------------
# unembed, cross_entropy_per_token
# ---------------------------------------------------------------------------


def unembed_cases() -> list[Case]:
    g = torch.Generator().manual_seed(109)
    return [dict(x=_randn(g, b, p, d), W_U=_randn(g, d, v)) for b, p, d, v in ((2, 3, 6, 11), (1, 4, 5, 9),
                                                                              (3, 2, 7, 13))]


def _unembed_probs(x, W_U):
    return (x @ W_U).softmax(dim=-1)


def _unembed_log_probs(x, W_U):
    return (x @ W_U).log_softmax(dim=-1)


def _unembed_last(x, W_U):
    return x[:, -1] @ W_U


register_exercise(
    id="ch01.unembed", name="unembed", title="Unembedding", points=1, difficulty=1,
    hints=["x @ W_U: [batch pos d_model] @ [d_model d_vocab]."],
    make_cases=unembed_cases,
    mutants=[
        Mutant("softmax", "you returned probabilities; unembed returns raw logits (no softmax).", _unembed_probs),
        Mutant("log-softmax", "you returned log-probabilities; unembed returns raw logits (no log_softmax).",
               _unembed_log_probs),
        Mutant("last-position-only", "only the last position was unembedded; return logits at every "
               "position, [batch pos d_vocab].", _unembed_last),
    ],
)


def cross_entropy_cases() -> list[Case]:
    g = torch.Generator().manual_seed(110)
    # the last case is for stability: logits in the thousands, where softmax(...).log() underflows to
    # log(0) = -inf and exp overflows; log_softmax stays finite
    return [dict(logits=_randn(g, b, p, v, scale=s), tokens=torch.randint(0, v, (b, p), generator=g))
            for b, p, v, s in ((2, 5, 7, 2.0), (1, 6, 9, 2.0), (3, 3, 4, 2.0), (2, 4, 6, 1e3))]


def _ce_gather(log_probs, targets):
    return -log_probs.gather(-1, targets[..., None]).squeeze(-1)


def _ce_no_shift(logits, tokens):
    return _ce_gather(logits.log_softmax(-1), tokens)


def _ce_wrong_shift(logits, tokens):
    return _ce_gather(logits[:, 1:].log_softmax(-1), tokens[:, :-1])


def _ce_sign(logits, tokens):
    return -_ce_gather(logits[:, :-1].log_softmax(-1), tokens[:, 1:])


def _ce_probs(logits, tokens):
    return _ce_gather(logits[:, :-1].softmax(-1), tokens[:, 1:])


def _ce_mean(logits, tokens):
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten())


def _ce_pos_axis(logits, tokens):
    return _ce_gather(logits[:, :-1].log_softmax(dim=1), tokens[:, 1:])


register_exercise(
    id="ch01.cross_entropy_per_token", name="cross_entropy_per_token", title="Next-token loss", points=2, difficulty=2,
    hints=["The logits at position i predict tokens[:, i + 1]: use logits[:, :-1] and tokens[:, 1:].",
           "-log_softmax(...).gather(-1, targets[..., None]).squeeze(-1)."],
    make_cases=cross_entropy_cases,
    mutants=[
        Mutant("no-shift", "each position is scored on its own token; the logits at position i predict "
               "the *next* token: logits[:, :-1] against tokens[:, 1:].", _ce_no_shift),
        Mutant("wrong-shift", "the shift goes the wrong way (logits[:, 1:] against tokens[:, :-1]); use "
               "logits[:, :-1] against tokens[:, 1:].", _ce_wrong_shift),
        Mutant("sign", "the sign is wrong: the loss is the *negative* log-probability of the target.", _ce_sign),
        Mutant("probs-not-log", "you used probabilities, not log-probabilities: -log_softmax(...).gather(...).",
               _ce_probs),
        Mutant("averaged", "the loss is averaged to one number; return it per token, [batch pos-1].", _ce_mean),
        Mutant("softmax-over-pos", "the log_softmax runs over the positions; it normalises over the "
               "vocabulary, dim=-1.", _ce_pos_axis),
    ],
)


# ---------------------------------------------------------------------------
# top_k_filter, top_p_filter, sample_next_token
# ---------------------------------------------------------------------------


def top_k_cases() -> list[Case]:
    g = torch.Generator().manual_seed(111)
    return [dict(logits=_randn(g, b, v, scale=2.0), k=k) for b, v, k in ((3, 8, 3), (1, 5, 1), (2, 7, 4))]


def _top_k_plus_one(logits, k):
    kth = logits.sort(dim=-1, descending=True).values[..., k : k + 1]
    return logits.masked_fill(logits < kth, -INF)


def _top_k_minus_one(logits, k):
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits <= kth, -INF)


def _top_k_zero(logits, k):
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, 0.0)


def _top_k_values(logits, k):
    return logits.topk(k, dim=-1).values


register_exercise(
    id="ch01.top_k_filter", name="top_k_filter", title="Top-k filtering", points=1, difficulty=1,
    hints=["kth = logits.topk(k, dim=-1).values[..., -1:]; mask the logits strictly below it."],
    make_cases=top_k_cases,
    mutants=[
        Mutant("keeps-k-plus-one", "k + 1 logits survive: the threshold is the (k+1)-th largest (index k "
               "of the sorted row); use the k-th, topk(k).values[..., -1:].", _top_k_plus_one),
        Mutant("keeps-k-minus-one", "only k - 1 logits survive: the k-th largest itself is masked "
               "(<= instead of <).", _top_k_minus_one),
        Mutant("fill-zero", "dropped logits are set to 0, which keeps them possible; set them to -inf.",
               _top_k_zero),
        Mutant("values-only", "you returned the k largest values, [batch k]; return the whole row, "
               "[batch d_vocab], with -inf for the dropped tokens.", _top_k_values),
    ],
)


def top_p_cases() -> list[Case]:
    g = torch.Generator().manual_seed(112)
    # the last case is for stability: logits in the hundreds, where a softmax written as exp / sum overflows
    return [dict(logits=_randn(g, b, v, scale=s), p=p)
            for b, v, s, p in ((3, 8, 1.5, 0.6), (2, 6, 2.0, 0.9), (2, 7, 2.5, 0.2), (3, 6, 300.0, 0.9))]


def _nucleus(logits, p, *, strict_crossing=False, descending=True, sort=True, fill=-INF):
    if sort:
        sorted_logits, order = logits.sort(dim=-1, descending=descending)
    else:
        sorted_logits, order = logits, torch.arange(logits.shape[-1]).expand_as(logits)
    probs = sorted_logits.softmax(dim=-1)
    cum = probs.cumsum(dim=-1)
    drop_sorted = cum > p if strict_crossing else cum - probs >= p
    return logits.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), fill)


def _top_p_excludes_crossing(logits, p):
    return _nucleus(logits, p, strict_crossing=True)


def _top_p_unsorted(logits, p):
    return _nucleus(logits, p, sort=False)


def _top_p_ascending(logits, p):
    return _nucleus(logits, p, descending=False)


def _top_p_zero(logits, p):
    return _nucleus(logits, p, fill=0.0)


register_exercise(
    id="ch01.top_p_filter", name="top_p_filter", title="Top-p (nucleus) filtering", points=2, difficulty=2,
    hints=["Sort descending, softmax, cumsum. Keep a token when the mass ranked above it (cumsum - prob) is < p.",
           "Scatter the sorted drop mask back to vocabulary order: drop.scatter(-1, order, drop)."],
    make_cases=top_p_cases,
    mutants=[
        Mutant("excludes-crossing-token", "the token that takes the total past p is dropped (cumsum > p); "
               "keep it: drop only tokens whose mass *before* them (cumsum - prob) is already >= p.",
               _top_p_excludes_crossing),
        Mutant("unsorted", "the cumulative sum runs in vocabulary order; sort the probabilities in "
               "descending order first, then scatter the mask back.", _top_p_unsorted),
        Mutant("ascending", "the tokens are sorted in ascending order, so the least likely are kept; "
               "sort with descending=True.", _top_p_ascending),
        Mutant("fill-zero", "dropped logits are set to 0, which keeps them possible; set them to -inf.",
               _top_p_zero),
    ],
)


def sampler_cases() -> list[Case]:
    # two hand-picked rows: no token above 0.6 at temperature 1, and the top-p nucleus of the
    # temperature-2 case differs from the unscaled one (so each mistake shows somewhere)
    rows = torch.tensor([[1.0, 0.2, 1.6, -0.5, 0.4, -1.2], [-0.7, 1.3, 0.0, 0.6, 1.1, -0.2]])
    # stability: one more row in the second case, logits near 1e4 (2e4 once divided by the temperature),
    # where exp overflows unless the softmax subtracts the max
    large = torch.tensor([[1e4, 1e4 - 1.0, 1e4 - 2.0, 1e4 - 0.5, 0.0, -1e4]])
    n = 4000  # samples of each distinct row
    settings = (dict(temperature=1.0, top_p=0.6), dict(temperature=0.5, top_k=3), dict(temperature=2.0, top_p=0.7),
                dict(temperature=0.0, top_k=2))
    return [dict(logits=(torch.cat([rows, large]) if i == 1 else rows).repeat_interleave(n, dim=0), seed=1000 + i, **s)
            for i, s in enumerate(settings)]


def sampling_probs(logits, temperature=1.0, top_k=None, top_p=None, generator=None, *,
                   top_k_filter=_lib_top_k, top_p_filter=_lib_top_p, mistake=""):
    """The distribution ``sample_next_token`` draws from, ``[batch d_vocab]`` (one-hot when greedy).

    ``mistake`` names a known-wrong variant (the mutants below), ``""`` the reference.
    """
    if temperature == 0 and mistake != "greedy-ignored":
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
    t = 1.0 if temperature == 0 or mistake in ("temperature-after-softmax", "filters-before-temperature") \
        else temperature
    logits = logits * t if mistake == "temperature-multiplied" else logits / t
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    if mistake == "filters-before-temperature":
        logits = logits / temperature
    return logits.softmax(dim=-1)


def _sampler_mutant(name: str, diagnosis: str, **wrong) -> Mutant:
    def probs(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
        return sampling_probs(logits, temperature, top_k, top_p, **wrong)

    def sample(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
        p = probs(logits, temperature, top_k, top_p)
        return torch.multinomial(p, num_samples=1, generator=generator).squeeze(-1)

    return Mutant(name, diagnosis, sample, expected_fn=probs)


register_exercise(
    id="ch01.sample_next_token", name="sample_next_token",
    title="Sampling: greedy, temperature, top-k, top-p", points=3, difficulty=2,
    hints=["Order: divide by temperature, top_k_filter, top_p_filter, softmax, torch.multinomial(probs, 1).",
           "temperature == 0: return logits.argmax(dim=-1) before dividing by it.",
           "Pass generator=generator to torch.multinomial, and squeeze to [batch]."],
    make_cases=sampler_cases,
    mutants=[
        _sampler_mutant("temperature-after-softmax", "the temperature has no effect: it was applied after the "
                        "softmax (multinomial renormalises); divide the *logits* by the temperature.",
                        mistake="temperature-after-softmax"),
        _sampler_mutant("temperature-multiplied", "the logits are multiplied by the temperature; divide "
                        "them (a low temperature must sharpen the distribution).", mistake="temperature-multiplied"),
        _sampler_mutant("filters-before-temperature", "top-p was computed before the temperature was applied; "
                        "divide by the temperature first, then filter (as Hugging Face and minigpt do).",
                        mistake="filters-before-temperature"),
        _sampler_mutant("greedy-ignored", "temperature 0 should be greedy (the argmax), but you sampled "
                        "from the unscaled logits; return logits.argmax(dim=-1) when temperature == 0.",
                        mistake="greedy-ignored"),
        _sampler_mutant("top-k-keeps-k-plus-one", "top-k keeps k + 1 tokens; see the top_k_filter check "
                        "(the threshold is the k-th largest logit).", top_k_filter=_top_k_plus_one),
        _sampler_mutant("top-p-excludes-crossing-token", "top-p drops the token that takes the total past p; "
                        "see the top_p_filter check (keep it).", top_p_filter=_top_p_excludes_crossing),
    ],
    depends_on=["ch01.top_k_filter", "ch01.top_p_filter"], kind="sampler", expected_fn=sampling_probs,
)
