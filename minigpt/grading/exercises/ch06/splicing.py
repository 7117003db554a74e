"""Chapter 6 check: the loss an SAE recovers when spliced into a model, against zero-ablation."""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from ...registry import Case, Mutant
from .._shared import _randn
from ._common import build, encode, random_state, register_exercise

_SPLICE_CFG = dict(n_layers=2, d_model=16, n_heads=2, d_mlp=24, d_vocab=12, n_ctx=8)


def _greedy(model, g: torch.Generator, batch: int, pos: int) -> Tensor:
    """``[batch pos]`` tokens that continue a random first token greedily: the model predicts them well,
    so deleting an activation costs it a lot and the loss-recovered fraction is well conditioned."""
    tokens = torch.randint(0, model.cfg.d_vocab, (batch, 1), generator=g)
    with torch.no_grad():
        for _ in range(pos - 1):
            tokens = torch.cat([tokens, model(tokens)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return tokens


def _near_identity_sae(g: torch.Generator, d_in: int, noise: float) -> dict[str, Tensor]:
    """An SAE with ``d_sae = 2 d_in`` latents ``±e_i`` (exact: ReLU(y) - ReLU(-y) = y), then ``noise`` added."""
    eye = torch.eye(d_in)
    W_dec = torch.cat([eye, -eye]) + _randn(g, 2 * d_in, d_in, scale=noise)
    W_dec = W_dec / W_dec.norm(dim=-1, keepdim=True)
    return dict(W_enc=torch.cat([eye, -eye], dim=1) + _randn(g, d_in, 2 * d_in, scale=noise),
                b_enc=_randn(g, 2 * d_in, scale=noise), W_dec=W_dec, b_dec=_randn(g, d_in, scale=0.3))


def splice_cases() -> list[Case]:
    g = torch.Generator().manual_seed(651)
    cases = []
    for hook_name, d_in in (("blocks.0.mlp.hook_post", _SPLICE_CFG["d_mlp"]),
                            ("blocks.1.hook_resid_mid", _SPLICE_CFG["d_model"])):
        state = random_state(g, _SPLICE_CFG)
        tokens = _greedy(build(_SPLICE_CFG, state), g, batch=3, pos=8)
        calls = [dict(tokens=tokens, hook_name=hook_name, **_near_identity_sae(g, d_in, noise))
                 for noise in (0.15, 0.35)]
        cases.append(dict(cfg=_SPLICE_CFG, state_dict=state, calls=calls))
    return cases


def _recovered(model, tokens, hook_name, W_enc, b_enc, W_dec, b_dec, *, how="reference", ablation="zero",
               add_b_dec=True):
    def splice(act, hook):
        return encode(act, W_enc, b_enc, b_dec) @ W_dec + (b_dec if add_b_dec else 0.0)

    def ablate(act, hook):
        return torch.zeros_like(act) if ablation == "zero" else act.mean(dim=(0, 1)).expand_as(act)

    with torch.no_grad():
        clean = model(tokens, return_type="loss")
        spliced = model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(hook_name, splice)])
        ablated = model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(hook_name, ablate)])
    return {"reference": (ablated - spliced) / (ablated - clean),
            "upside-down": (ablated - clean) / (ablated - spliced),
            "lost": (spliced - clean) / (ablated - clean),
            "ratio": clean / spliced}[how].item()


register_exercise(
    id="ch06.loss_recovered", name="loss_recovered", title="Loss recovered by a spliced SAE", points=2, difficulty=2,
    hints=["Three losses on the same tokens: the clean model, a hook at hook_name returning the SAE's "
           "reconstruction, a hook returning torch.zeros_like(act).",
           "model.run_with_hooks(tokens, return_type='loss', fwd_hooks=[(hook_name, splice)]); then "
           "(L_zero - L_spliced) / (L_zero - L_clean)."],
    make_cases=splice_cases,
    mutants=[
        Mutant("upside-down", "the fraction is upside down: (L_zero - L_clean) / (L_zero - L_spliced); the gap the "
               "SAE closes, L_zero - L_spliced, goes on top.", functools.partial(_recovered, how="upside-down")),
        Mutant("loss-lost", "this is the share of the loss *lost* by splicing, (L_spliced - L_clean) / "
               "(L_zero - L_clean); return the share recovered, 1 minus it.",
               functools.partial(_recovered, how="lost")),
        Mutant("ratio-of-losses", "this is L_clean / L_spliced; loss recovered compares the spliced run with both "
               "ends of the scale: (L_zero - L_spliced) / (L_zero - L_clean).",
               functools.partial(_recovered, how="ratio")),
        Mutant("mean-ablation", "the activation was replaced by its mean; the baseline here is zero-ablation: "
               "torch.zeros_like(act) (SAELens's ce_loss_score).", functools.partial(_recovered, ablation="mean")),
        Mutant("no-b_dec-in-reconstruction", "the spliced activation lacks b_dec: the reconstruction is "
               "sae_encode(act, ...) @ W_dec + b_dec.", functools.partial(_recovered, add_b_dec=False)),
    ],
    depends_on=["ch06.sae_encode"], kind="model", atol=1e-4, rtol=1e-4,
)
