"""Chapter 3 checks: direct logit attribution, ablation hooks and ablation scores (a function of a model)."""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import register_exercise

# ---------------------------------------------------------------------------
# logit_attribution
# ---------------------------------------------------------------------------


def attribution_cases() -> list[Case]:
    g = torch.Generator().manual_seed(304)
    cases = []
    for n_comp, batch, pos, d, v in ((4, 2, 5, 6, 10), (3, 3, 4, 8, 7), (5, 1, 6, 4, 9)):
        cases.append(dict(components=_randn(g, n_comp, batch, pos, d), W_U=_randn(g, d, v),
                          tokens=torch.randint(0, v, (batch, pos), generator=g)))
    return cases


def _attr(components, W_U, targets, comps=None):
    comps = components[:, :, :-1] if comps is None else comps
    return torch.einsum("cbpd,dbp->cbp", comps, W_U[:, targets])


def _current_token(components, W_U, tokens):
    return _attr(components, W_U, tokens[:, :-1])


def _shifted_components(components, W_U, tokens):
    return _attr(components, W_U, tokens[:, 1:], comps=components[:, :, 1:])


def _log_probs(components, W_U, tokens):
    logp = (components[:, :, :-1] @ W_U).log_softmax(dim=-1)  # [c b p-1 d_vocab]
    return logp.gather(-1, tokens[None, :, 1:, None].expand(len(components), -1, -1, 1))[..., 0]


def _summed(components, W_U, tokens):
    return _attr(components, W_U, tokens[:, 1:]).sum(dim=0)


register_exercise(
    id="ch03.logit_attribution", name="logit_attribution", title="Direct logit attribution", points=2, difficulty=2,
    hints=["The logit of token t is resid @ W_U[:, t], and resid is the sum of the components: attribute term by term.",
           "Position p predicts tokens[:, p + 1]: use components[:, :, :-1] with W_U[:, tokens[:, 1:]] "
           "([d_model batch pos-1]) and einsum 'c b p d, d b p -> c b p'."],
    make_cases=attribution_cases,
    mutants=[
        Mutant("current-token", "each position is scored on its *own* token; the logits at position p predict "
               "the *next* token, tokens[:, p + 1] (use tokens[:, 1:]).", _current_token),
        Mutant("shifted-components", "the components are shifted (components[:, :, 1:]); position p's residual "
               "predicts token p + 1, so drop the *last* position: components[:, :, :-1].", _shifted_components),
        Mutant("log-probs", "these are log-probabilities (after a log_softmax); a direct attribution is linear: "
               "the raw logit contribution components @ W_U[:, token], with no softmax.", _log_probs),
        Mutant("summed", "the components were summed; keep one row per component: "
               "[n_components, batch, pos - 1].", _summed),
    ],
)


# ---------------------------------------------------------------------------
# zero_ablation_hook and mean_ablation_hook
# ---------------------------------------------------------------------------


def hook_cases() -> list[Case]:
    g = torch.Generator().manual_seed(305)
    return [dict(z=_randn(g, 2, 5, 4, 3), head=1), dict(z=_randn(g, 3, 4, 3, 5), head=2),
            dict(z=_randn(g, 4, 3, 2, 4), head=0)]


def _replace(z: Tensor, index, value) -> Tensor:
    z = z.clone()
    z[index] = value
    return z


def _zero_position(z, head, hook=None):
    return _replace(z, (slice(None), head), 0.0)


def _zero_all(z, head, hook=None):
    return torch.zeros_like(z)


def _keep_only(z, head, hook=None):
    others = [h for h in range(z.shape[2]) if h != head]
    return _replace(z, (slice(None), slice(None), others), 0.0)


def _zero_dim(z, head, hook=None):
    return _replace(z, (..., head), 0.0)


def _mean_ablate(z, head, hook=None, dims=(0,)):
    return _replace(z, (slice(None), slice(None), head), z[:, :, head].mean(dim=dims, keepdim=True))


register_exercise(
    id="ch03.zero_ablation_hook", name="zero_ablation_hook", title="Zero-ablation hook", points=1, difficulty=1,
    hints=["z is [batch pos n_heads d_head]: the heads are the third axis, z[:, :, head].",
           "Clone first (z = z.clone()), set the head's slice to 0, return the clone."],
    make_cases=hook_cases,
    mutants=[
        Mutant("position-axis", "a *position* was zeroed (z[:, head]); the heads are the third axis of "
               "[batch pos n_heads d_head]: z[:, :, head] = 0.", _zero_position),
        Mutant("whole-layer", "every head was zeroed; ablate only head `head`: z[:, :, head] = 0.", _zero_all),
        Mutant("other-heads", "every head *except* `head` was zeroed; zero just that one.", _keep_only),
        Mutant("d-head-axis", "a component of d_head was zeroed in every head (z[..., head]); select the head "
               "on the third axis: z[:, :, head].", _zero_dim),
        Mutant("mean-not-zero", "the head was replaced by its batch mean (mean ablation); zero ablation sets it "
               "to 0.", _mean_ablate),
    ],
)

register_exercise(
    id="ch03.mean_ablation_hook", name="mean_ablation_hook", title="Mean-ablation hook", points=1, difficulty=2,
    hints=["z[:, :, head] is [batch pos d_head]; its mean over the batch (dim=0, keepdim=True) is [1 pos d_head].",
           "Assign that mean back into a clone of z (it broadcasts over the batch)."],
    make_cases=hook_cases,
    mutants=[
        Mutant("zero-not-mean", "the head was set to 0 (zero ablation); mean ablation replaces it by its mean "
               "over the batch.", lambda z, head, hook=None: _replace(z, (slice(None), slice(None), head), 0.0)),
        Mutant("mean-over-positions-too", "the mean is over the batch *and* the positions; keep one mean per "
               "position: mean over dim=0 only.", functools.partial(_mean_ablate, dims=(0, 1))),
        Mutant("mean-over-positions", "the mean is over the positions of each sequence; mean ablation averages "
               "over the batch (dim=0), one mean per position.", functools.partial(_mean_ablate, dims=(1,))),
        Mutant("whole-layer", "every head was mean-ablated; replace only head `head`.",
               lambda z, head, hook=None: z.mean(dim=0, keepdim=True).expand_as(z).clone()),
        Mutant("mean-over-heads", "the head was replaced by the mean over the *heads* (dim=2); average the "
               "head's own output over the batch (dim=0).",
               lambda z, head, hook=None: _replace(z, (slice(None), slice(None), head), z.mean(dim=2))),
    ],
)


# ---------------------------------------------------------------------------
# ablation_scores (a function of a model: kind="model")
# ---------------------------------------------------------------------------

_CFG = dict(n_layers=2, d_model=18, n_heads=3, d_vocab=13, n_ctx=16, attn_only=True)


def _ablation_model(g: torch.Generator) -> dict[str, Tensor]:
    """An attention-only model with weights large enough that every head changes the loss."""
    from ....config import GPTConfig
    from ....model import GPT

    model = GPT(GPTConfig(**_CFG), init=False)
    state = {}
    for name, p in model.state_dict().items():
        if name.endswith(".w"):
            state[name] = _randn(g, *p.shape, scale=0.2, shift=1.0)
        else:
            state[name] = _randn(g, *p.shape, scale=0.6 if name.split(".")[-1].startswith("W_") else 0.2)
    return state


def ablation_cases() -> list[Case]:
    g = torch.Generator().manual_seed(306)
    cases = []
    for batch, seq_len, bos in ((3, 5, 0), (2, 4, None)):
        half = torch.randint(1, _CFG["d_vocab"], (batch, seq_len), generator=g)
        tokens = torch.cat([half, half], dim=1)
        if bos is not None:
            tokens = torch.cat([torch.full((batch, 1), bos), tokens], dim=1)
        cases.append(dict(cfg=_CFG, state_dict=_ablation_model(g), calls=[dict(tokens=tokens, seq_len=seq_len)]))
    return cases


def _scores(model, tokens, seq_len, *, hook_fn=None, reduce="repeat", combine="diff", whole_layer=False):
    from ....interp.ablation import mean_ablation_hook, zero_ablation_hook

    hook_fn = hook_fn or zero_ablation_hook
    pos = tokens.shape[1]

    def loss(per_token):
        return per_token.mean() if reduce == "all" else per_token[:, pos - seq_len : pos - 1].mean()

    with torch.no_grad():
        clean = loss(model(tokens, return_type="loss", loss_per_token=True))
        n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
        scores = torch.zeros(n_layers, n_heads)
        for layer in range(n_layers):
            for head in range(n_heads):
                heads = list(range(n_heads)) if whole_layer else head
                if hook_fn == "mean":
                    fn = mean_ablation_hook(heads)
                else:
                    fn = hook_fn(heads)
                ablated = loss(model.run_with_hooks(tokens, return_type="loss", loss_per_token=True,
                                                    fwd_hooks=[(f"blocks.{layer}.attn.hook_z", fn)]))
                scores[layer, head] = {"diff": ablated - clean, "flip": clean - ablated,
                                       "ratio": ablated / clean}[combine]
    return scores


register_exercise(
    id="ch03.ablation_scores", name="ablation_scores", title="Ablation scores", points=3, difficulty=2,
    hints=["Loop over layers and heads; the hook name is f'blocks.{layer}.attn.hook_z' and the hook is "
           "functools.partial(zero_ablation_hook, head=head).",
           "score = repeat_loss(ablated per-token loss, seq_len) - repeat_loss(clean per-token loss, seq_len)."],
    make_cases=ablation_cases,
    mutants=[
        Mutant("all-positions", "the loss is averaged over every position; the score is about the repeat: "
               "use repeat_loss(per_token_loss, seq_len) for both runs.",
               functools.partial(_scores, reduce="all")),
        Mutant("sign-flipped", "the sign is flipped (clean - ablated); report how much the loss *rises*: "
               "ablated - clean.", functools.partial(_scores, combine="flip")),
        Mutant("ratio", "the losses were divided; the score is the difference ablated - clean.",
               functools.partial(_scores, combine="ratio")),
        Mutant("whole-layer", "every head of the layer was ablated at once; ablate one head per run "
               "(zero_ablation_hook with head=head).", functools.partial(_scores, whole_layer=True)),
        Mutant("mean-ablation", "the heads were mean-ablated; this exercise zero-ablates them "
               "(zero_ablation_hook).", functools.partial(_scores, hook_fn="mean")),
    ],
    depends_on=["ch03.repeat_loss", "ch03.zero_ablation_hook"], kind="model", atol=1e-4, rtol=1e-4,
)
