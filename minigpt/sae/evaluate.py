"""Measuring an SAE of the byte-level ``stdlib-bytes`` model on source neither of them saw.

The model trained on ``stdlib_text(2_000_000)``: the standard library's files in a shuffled order, until 2 MB.
The files that come next in that order were never read, by the model or by an SAE trained on its training
split, so they are honest held-out text; and they are whole files, so Python's tokenizer can label every
byte of them (:mod:`minigpt.sae.labels`).

>>> text = held_out_text(n_bytes=1_000)                     # one whole file (or more) after the corpus
>>> len(text) >= 1_000
True
>>> text_windows(text, n_ctx=8, n=2).shape                 # [n 1 + n_ctx]: BOS (byte 0) and 8 bytes
torch.Size([2, 9])
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..data.corpus import stdlib_text
from .metrics import recovered_share, sae_metrics, spliced_losses
from .splice import model_activations

CORPUS_BYTES = 2_000_000  # what stdlib-bytes trained on (minigpt.train.stdlib's DATA)
BOS = 0  # stdlib-bytes's BOS byte


def held_out_text(n_bytes: int = 200_000, corpus_bytes: int = CORPUS_BYTES, seed: int = 0) -> str:
    """At least ``n_bytes`` of whole stdlib files that come after the training corpus in its shuffled order."""
    seen = stdlib_text(corpus_bytes, seed)
    more = stdlib_text(len(seen) + n_bytes, seed)  # (the corpus read whole files: a little over corpus_bytes)
    if not more.startswith(seen) or len(more) - len(seen) < n_bytes:
        raise ValueError(f"the standard library holds fewer than {n_bytes} bytes beyond the first {corpus_bytes}")
    return more[len(seen):]


def text_windows(text: str, n_ctx: int = 127, n: int | None = None) -> Tensor:
    """The UTF-8 bytes of ``text`` cut into consecutive windows of ``n_ctx``, each after a BOS: ``[n 1 + n_ctx]``.

    Window ``i`` holds bytes ``i * n_ctx`` to ``(i + 1) * n_ctx - 1`` (so byte labels line up with
    ``tokens[:, 1:].flatten()``); ``n`` caps the number of windows.
    """
    data = torch.tensor(list(text.encode("utf-8")), dtype=torch.long)
    count = len(data) // n_ctx if n is None else min(n, len(data) // n_ctx)
    if count == 0:
        raise ValueError(f"the text has {len(data)} bytes, fewer than one window of {n_ctx}")
    windows = data[: count * n_ctx].reshape(count, n_ctx)
    return torch.cat([torch.full((count, 1), BOS, dtype=torch.long), windows], dim=1)


@torch.no_grad()
def evaluate_sae(model, sae, tokens: Tensor, hook_name: str | None = None, batch_size: int = 64) -> dict:
    """The targets of an SAE on ``tokens [batch pos]`` (BOS first): ``fve``, ``l0``, ``dead`` (over every
    non-BOS token), ``loss_recovered`` and the three losses (clean, spliced, zero-ablated, nats per byte)."""
    hook_name = hook_name or sae.cfg.hook_name
    device = next(model.parameters()).device
    tokens = tokens.to(device)
    x = model_activations(model, tokens, hook_name, batch_size=batch_size)[:, 1:]  # the BOS position is no text
    out = sae_metrics(sae, x.reshape(-1, x.shape[-1]))
    losses = spliced_losses(model, tokens, sae, hook_name, batch_size=batch_size)
    out["loss_recovered"] = recovered_share(losses)
    out.update({f"loss_{k}": v for k, v in losses.items()})
    return out
