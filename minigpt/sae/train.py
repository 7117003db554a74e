"""Training an SAE on a pile of activations: Adam on ``mse + coeff * sparsity``, unit decoder rows, resampling.

>>> acts = torch.randn(1000, 8)                                   # [n d_in]: any activations
>>> result = train_sae(acts, 32, kind="topk", k=4, steps=20, lr=1e-3, seed=0, batch_size=64, progress=False)
>>> result.sae.W_dec.shape, len(result.history) > 0            # W_dec: [d_sae d_in]
(torch.Size([32, 8]), True)

What a step does (Towards Monosemanticity, ARENA 1.3.2, Gao et al. 2024, Rajamanoharan et al. 2024):

1. a random batch of rows, times a fixed ``scale`` that makes the mean norm ``sqrt(d_in)`` (SAELens's
   ``expected_average_only_in``), so one ``lr`` and ``l1_coeff`` suit activations of any size; at the end the
   scale is folded into ``b_enc``, ``b_dec`` and ``threshold`` and the SAE reads the raw activations;
2. the loss of :meth:`SAE.loss`: ReLU ``mse + l1_coeff * L1``, JumpReLU ``mse + l0_coeff * L0``, TopK ``mse``;
   the sparsity coefficient ramps up from 0 over the first ``coeff_warmup`` of the steps;
3. the gradient's component along each decoder row is removed, Adam steps (learning rate constant, then
   decaying linearly to 0 over the last 20 % of the steps), the rows are renormalised;
4. every ``resample_every`` steps (not in the last quarter), latents that fired on none of the tokens since
   the last check are resampled (:func:`~minigpt.sae.maintenance.resample_dead_`).

``b_dec`` starts at the data's mean; the encoder starts as the decoder's transpose.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .maintenance import normalise_decoder_, remove_parallel_grad_, resample_dead_
from .sae import KINDS, SAE

Sampler = Callable[[torch.Generator, int], Tensor]  # (generator, n) -> [n d_in]


@dataclass
class SAETrainResult:
    sae: SAE
    history: list[dict]  # one row per log step: step, loss, mse, sparsity, l0, fve, dead, lr (training batches)
    resampled: list[tuple[int, int]] = field(default_factory=list)  # (step, latents resampled)
    scale: float = 1.0  # the input scale used in training (already folded into the SAE)


def _sampler(acts: Tensor | Sampler) -> Sampler:
    if callable(acts):
        return acts
    if acts.ndim < 2:
        raise ValueError(f"acts must be [... d_in] with at least one token axis, got shape {tuple(acts.shape)}")
    flat = acts.reshape(-1, acts.shape[-1])  # [n d_in]
    return lambda generator, n: flat[torch.randint(len(flat), (n,), generator=generator).to(flat.device)]


def input_scale(x: Tensor) -> float:
    """``sqrt(d_in) / mean ||x||``: the factor that gives rows of ``x [n d_in]`` a mean norm of ``sqrt(d_in)``.

    >>> input_scale(torch.tensor([[3.0, 4.0], [0.0, 5.0]]))  # mean norm 5, sqrt(2) / 5
    0.282842...
    """
    return (x.shape[-1] ** 0.5 / x.norm(dim=-1).mean()).item()


@torch.no_grad()
def fold_input_scale_(sae: SAE, scale: float) -> SAE:
    """Make an SAE trained on ``scale * x`` read ``x``: ``pre`` and ``acts`` divide by ``scale``, ``x_hat`` too."""
    sae.b_enc.div_(scale)
    sae.b_dec.div_(scale)
    if sae.kind == "jumprelu":
        sae.threshold.div_(scale)
        sae.cfg = dataclasses.replace(sae.cfg, bandwidth=sae.cfg.bandwidth / scale)
    return sae


def _lr_factor(step: int, steps: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    decay_from = int(0.8 * steps)
    return 1.0 if step < decay_from else max(0.0, (steps - step) / (steps - decay_from))


def train_sae(acts: Tensor | Sampler, d_sae: int, *, kind: str = "relu", l1_coeff: float | None = None,
              l0_coeff: float | None = None, k: int | None = None, steps: int = 2000, lr: float = 1e-3,
              seed: int = 0, batch_size: int = 1024, resample_every: int | None = 500, coeff_warmup: float = 0.05,
              lr_warmup: int = 0, bandwidth: float = 0.1, normalize: bool = True, log_every: int = 50,
              dead_window: int = 200, hook_name: str | None = None, model_name: str | None = None, device=None,
              progress: bool = True) -> SAETrainResult:
    """Train an SAE with ``d_sae`` latents on ``acts`` (``[... d_in]`` or a sampler ``(generator, n) -> [n d_in]``).

    ``l1_coeff`` is the ReLU's L1 weight, ``l0_coeff`` the JumpReLU's L0 weight (both on scaled inputs),
    ``k`` the TopK's latents per token. ``resample_every=None`` never resamples. The history's ``dead`` is the
    share of latents that fired on none of the last ``dead_window`` steps' batches. ``bandwidth`` is the JumpReLU
    kernel's width on scaled inputs: the paper's 0.001 suits batches of thousands over many thousand steps; with
    a few hundred rows per batch so narrow a window rarely holds a pre-activation and the thresholds lag
    (measured on the planted-features test, 1,000 steps of 256 rows: 0.001 recovers 78 % of the directions at
    L0 2.1, 0.01 and 0.1 all of them at L0 1.2 and 1.1).
    """
    coeff = {"relu": l1_coeff, "jumprelu": l0_coeff, "topk": 0.0}.get(kind)
    if coeff is None:
        need = {"relu": "l1_coeff", "jumprelu": "l0_coeff"}.get(kind)
        raise ValueError(f"kind={kind!r} needs {need}=..." if need else f"kind must be one of {KINDS}, got {kind!r}")
    sample = _sampler(acts)
    generator = torch.Generator().manual_seed(seed)
    probe = sample(generator, max(batch_size, 4096)).float()  # [n d_in]: for the scale, b_dec and resampling
    device = torch.device(device) if device is not None else probe.device
    probe = probe.to(device)
    scale = input_scale(probe) if normalize else 1.0
    sae = SAE(probe.shape[-1], d_sae, kind=kind, k=k, bandwidth=bandwidth, hook_name=hook_name,
              model_name=model_name, seed=seed).to(device)
    with torch.no_grad():
        sae.b_dec.copy_((probe * scale).mean(0))
    optimizer = torch.optim.Adam(sae.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, steps, lr_warmup))
    last_fired = torch.zeros(d_sae, dtype=torch.long, device=device)  # the step each latent last fired
    last_reset = torch.zeros(d_sae, dtype=torch.long, device=device)  # ... or was resampled
    history, resampled, sums = [], [], {}
    bar = tqdm(range(1, steps + 1), desc=f"SAE ({kind})", unit="step", disable=not progress, mininterval=0.5)
    for step in bar:
        x = sample(generator, batch_size).to(device, torch.float32) * scale  # [batch d_in]
        ramp = min(1.0, step / max(1, coeff_warmup * steps))
        out = sae.loss(x, coeff * ramp)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        remove_parallel_grad_(sae.W_dec)
        optimizer.step()
        scheduler.step()
        normalise_decoder_(sae.W_dec)
        if kind == "jumprelu":
            with torch.no_grad():
                sae.threshold.clamp_(min=0.0)  # a negative threshold would pass negative pre-activations
        fired = (out.acts > 0).any(0)
        last_fired[fired] = step
        _accumulate(sums, out, x)
        if resample_every and step % resample_every == 0 and step <= 0.75 * steps:
            dead = (step - torch.maximum(last_fired, last_reset)) >= resample_every
            fresh = sample(generator, len(probe)).to(device, torch.float32) * scale
            n = resample_dead_(sae, fresh, dead, generator=generator, optimizer=optimizer)
            last_reset[dead] = step
            if n:
                resampled.append((step, n))
        if step % log_every == 0 or step == steps:
            window = min(step, dead_window)
            row = {"step": step, **_row(sums), "dead": ((step - last_fired) >= window).float().mean().item(),
                   "lr": scheduler.get_last_lr()[0]}
            history.append(row)
            sums = {}
            bar.set_postfix(mse=f"{row['mse']:.3g}", fve=f"{row['fve']:.3f}", l0=f"{row['l0']:.1f}",
                            dead=f"{row['dead']:.2f}", refresh=False)
    bar.close()
    fold_input_scale_(sae, scale)
    return SAETrainResult(sae.eval(), history, resampled, scale)


def _accumulate(sums: dict, out, x: Tensor) -> None:
    with torch.no_grad():
        for key, value in (("loss", out.loss), ("mse", out.mse), ("sparsity", out.sparsity),
                           ("l0", (out.acts > 0).float().sum(-1).mean()),
                           ("variance", (x - x.mean(0)).pow(2).sum(-1).mean())):
            sums[key] = sums.get(key, 0.0) + value.item()
        sums["n"] = sums.get("n", 0) + 1


def _row(sums: dict) -> dict:
    n = sums.pop("n")
    row = {key: value / n for key, value in sums.items()}
    row["fve"] = 1 - row["mse"] / row.pop("variance")
    return row
