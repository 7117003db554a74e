"""Turning a grokking run into a checkpoint folder: progress measures per row, and which snapshots to keep.

While a run trains, :class:`StateRecorder` keeps an fp32 copy of the weights
every ``every`` epochs (a grokking model is small: ~0.9 MB each). Afterwards,
with the final model's key frequencies known, :func:`add_progress_measures`
adds the measures of :mod:`minigpt.interp.progress` to the history rows, and
:func:`pick_snapshot_steps` chooses the few steps worth shipping: evenly
spaced along the path the (normalised, log) curves travel, so the frames of
an animation fall where the model changes, not where it idles.
"""

from __future__ import annotations

import math

import torch

from ..interp.fourier import fft1d, frequency_power, key_frequencies
from ..interp.progress import progress_measures

__all__ = ["StateRecorder", "add_progress_measures", "pick_snapshot_steps"]

MEASURED = ("restricted_loss", "excluded_loss", "sum_sq_weights", "embed_explained", "neuron_explained")


class StateRecorder:
    """A training callback that keeps ``{epoch: state_dict}`` every ``every`` epochs (and at the end)."""

    def __init__(self, every: int = 100) -> None:
        self.every = every
        self.states: dict[int, dict[str, torch.Tensor]] = {}

    def __call__(self, epoch: int, model, row=None) -> None:
        if epoch % self.every == 0:
            self.record(epoch, model)

    def record(self, epoch: int, model) -> None:
        self.states[epoch] = {k: v.detach().to("cpu", torch.float32, copy=True) for k, v in model.state_dict().items()}


def add_progress_measures(rows: list[dict], states: dict[int, dict], model, data, freqs: list[int],
                          progress: bool = False) -> list[dict]:
    """Add each state's progress measures (against ``freqs``) and embedding spectrum to the row of its step."""
    by_step = {r["step"]: r for r in rows}
    work = model.__class__(model.cfg, attention=model.attention, init=False).to(model.device)
    steps = sorted(states)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, desc="progress measures")
    p = data.p
    for step in steps:
        work.load_state_dict(states[step])
        measures = progress_measures(work, data, freqs)
        spectrum = frequency_power(fft1d(work.W_E[:p].detach().double()))
        row = by_step.get(step)
        if row is None:
            continue
        for key in MEASURED:
            row[key] = measures[key]
        row["embed_spectrum"] = [float(f"{v:.4g}") for v in (spectrum / spectrum.sum()).tolist()]
    return rows


def pick_snapshot_steps(rows: list[dict], n: int, keys=("test_loss", "restricted_loss", "excluded_loss",
                                                          "sum_sq_weights", "train_loss")) -> list[int]:
    """``n`` steps (always the first and the last) spaced evenly along the curves' path.

    Each curve is taken in log space and scaled to ``[0, 1]``; the path length between rows
    is the Euclidean norm of the change of all curves together.
    """
    rows = [r for r in rows if all(r.get(k) is not None for k in keys)]
    if len(rows) <= n:
        return [r["step"] for r in rows]
    curves = []
    for k in keys:
        v = torch.tensor([math.log(max(r[k], 1e-12)) for r in rows], dtype=torch.float64)
        span = (v.max() - v.min()).clamp_min(1e-12)
        curves.append((v - v.min()) / span)
    pts = torch.stack(curves, dim=1)
    seg = (pts[1:] - pts[:-1]).norm(dim=1)
    arc = torch.cat([torch.zeros(1, dtype=torch.float64), seg.cumsum(0)])
    targets = torch.linspace(0, float(arc[-1]), n, dtype=torch.float64)[1:-1]
    chosen = sorted({int(torch.argmin((arc - t).abs())) for t in targets} | {0, len(rows) - 1})
    # duplicates (flat stretches) leave fewer than n: fill with the largest gaps in steps
    while len(chosen) < n:
        gaps = [(rows[b]["step"] - rows[a]["step"], a, b) for a, b in zip(chosen, chosen[1:]) if b - a > 1]
        if not gaps:
            break
        _, a, b = max(gaps)
        chosen = sorted(set(chosen) | {(a + b) // 2})
    return [rows[i]["step"] for i in chosen]


def final_key_frequencies(model, p: int) -> list[int]:
    """The key frequencies of a trained grokking model, from its embedding."""
    return key_frequencies(model.W_E[:p].detach())
