"""The logit lens and the tuned lens: what would the model predict if it stopped at layer L?

The residual stream is a running sum, and the model reads its answer off the last one with
``ln_final`` and the unembedding. The **logit lens** (nostalgebraist, 2020) reads every
intermediate residual the same way: the stream before each block and after the last,

    lens[L] = log_softmax(unembed(ln_final(resid_pre[L])))    L = 0 .. n_layers - 1
    lens[n_layers] = log_softmax(unembed(ln_final(resid_post[n_layers - 1])))   (the model's own output)

``[n_layers + 1, batch, pos, d_vocab]`` log-probs. Early layers often speak a different
"basis" than the last, so the logit lens can be far from the final distribution. The
**tuned lens** (Belrose et al. 2023, "Eliciting Latent Predictions from Transformers with the
Tuned Lens") gives each layer an affine *translator* ``h -> h @ W[L] + b[L]`` (``W``
starts as the identity, ``b`` at zero: at first it *is* the logit lens), trained to make the
lens match the final distribution: minimise ``KL(final || lens[L])`` over the tokens of a
corpus, with the model frozen. The last layer needs no translator.

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=2, d_model=16, n_heads=2, d_vocab=10, n_ctx=8, seed=0))
>>> tokens = torch.tensor([[1, 2, 3, 4]])
>>> _, cache = model.run_with_cache(tokens)
>>> lens = logit_lens(model, cache)
>>> lens.shape                                            # [n_layers + 1, batch, pos, d_vocab]
torch.Size([3, 1, 4, 10])
>>> torch.allclose(lens[-1], model(tokens).log_softmax(-1), atol=1e-6)   # the last layer: the model itself
True
>>> tuned = TunedLens.for_model(model)                    # identity translators: the logit lens, for now
>>> torch.allclose(tuned(model, cache), lens, atol=1e-5)
True
>>> kl_to_final(lens).shape                               # KL(final || layer), nats, one per layer
torch.Size([3])
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import Tensor, nn

from ..weights.safetensors import load_safetensors, save_safetensors

__all__ = ["TunedLens", "kl_to_final", "layer_residuals", "logit_lens", "readout"]


def _resid_names(n_layers: int) -> list[str]:
    return [f"blocks.{layer}.hook_resid_pre" for layer in range(n_layers)] + [
        f"blocks.{n_layers - 1}.hook_resid_post"]


def layer_residuals(model, cache_or_tokens) -> Tensor:
    """``[n_layers + 1, batch, pos, d_model]``: ``resid_pre`` of every block, then the last ``resid_post``.

    Takes a cache from ``model.run_with_cache(tokens)`` (it must hold those hook points) or
    the tokens themselves (then only the residuals are cached).
    """
    names = _resid_names(model.cfg.n_layers)
    if isinstance(cache_or_tokens, Tensor):
        with torch.no_grad():
            _, cache = model.run_with_cache(cache_or_tokens, names_filter=names, return_type=None)
    else:
        cache = cache_or_tokens
    missing = [name for name in names if name not in cache]
    if missing:
        raise KeyError(f"the cache lacks {missing}: run model.run_with_cache(tokens) with these hook points")
    return torch.stack([cache[name] for name in names])


def readout(model, resid: Tensor) -> Tensor:
    """``log_softmax(unembed(ln_final(resid)))`` for any ``[..., d_model]``: ``[..., d_vocab]`` log-probs (fp32)."""
    return model.unembed(model.ln_final(resid)).float().log_softmax(dim=-1)


@torch.no_grad()
def logit_lens(model, cache_or_tokens) -> Tensor:
    """The logit lens: ``[n_layers + 1, batch, pos, d_vocab]`` log-probs, layer ``L`` read as if it were the last.

    Entry ``L`` reads ``resid_pre`` of block ``L``; entry ``n_layers`` reads the final
    residual, so it equals the model's own log-probs.
    """
    return readout(model, layer_residuals(model, cache_or_tokens))


def kl_to_final(lens_log_probs: Tensor, final_log_probs: Tensor | None = None) -> Tensor:
    """``KL(final || lens[L])`` in nats, averaged over batch and positions: ``[n_layers + 1]``.

    ``final_log_probs`` (``[batch, pos, d_vocab]``) defaults to the lens's last entry, the
    model's own output.
    """
    final = lens_log_probs[-1] if final_log_probs is None else final_log_probs
    kl = (final.exp() * (final - lens_log_probs)).sum(-1)  # [n_layers + 1, batch, pos]
    return kl.flatten(1).mean(-1)


class TunedLens(nn.Module):
    """One affine translator per layer: ``lens[L] = readout(resid_pre[L] @ W[L] + b[L])``.

    ``W: [n_layers, d_model, d_model]`` starts as the identity and ``b: [n_layers, d_model]`` at
    zero; :meth:`fit` trains them. Call it like :func:`logit_lens`:
    ``tuned(model, cache_or_tokens) -> [n_layers + 1, batch, pos, d_vocab]`` log-probs.
    """

    def __init__(self, n_layers: int, d_model: int) -> None:
        super().__init__()
        self.n_layers, self.d_model = n_layers, d_model
        self.W = nn.Parameter(torch.eye(d_model).repeat(n_layers, 1, 1))  # [n_layers d_model d_model]
        self.b = nn.Parameter(torch.zeros(n_layers, d_model))  # [n_layers d_model]

    @classmethod
    def for_model(cls, model) -> "TunedLens":
        """Identity translators sized for ``model``, on its device."""
        return cls(model.cfg.n_layers, model.cfg.d_model).to(model.device)

    def translate(self, resids: Tensor) -> Tensor:
        """``[n_layers + 1, batch, pos, d_model]`` → the same, each layer's translator applied (the last kept)."""
        if resids.shape[0] != self.n_layers + 1 or resids.shape[-1] != self.d_model:
            raise ValueError(f"expected residuals [n_layers + 1 = {self.n_layers + 1}, batch, pos, "
                             f"d_model = {self.d_model}], got {list(resids.shape)}")
        inner = torch.einsum("lbpi,lio->lbpo", resids[:-1].to(self.W.dtype), self.W) + self.b[:, None, None]
        return torch.cat([inner.to(resids.dtype), resids[-1:]])

    def forward(self, model, cache_or_tokens) -> Tensor:  # -> [n_layers + 1, batch, pos, d_vocab]
        self._check(model)
        return readout(model, self.translate(layer_residuals(model, cache_or_tokens)))

    def _check(self, model) -> None:
        if (model.cfg.n_layers, model.cfg.d_model) != (self.n_layers, self.d_model):
            raise ValueError(f"this lens is for n_layers={self.n_layers}, d_model={self.d_model}; the model has "
                             f"n_layers={model.cfg.n_layers}, d_model={model.cfg.d_model}")

    def fit(self, model, tokens: Tensor, steps: int = 300, lr: float = 1e-3, batch_size: int = 16,
            weight_decay: float = 0.0, seed: int = 0, progress: bool = True) -> list[float]:
        """Train the translators: minimise the mean over layers of ``KL(final || lens[L])``.

        ``tokens: [n_seq, pos]``: each step draws ``batch_size`` rows (seeded) and runs the
        frozen model on them. Adam with a cosine decay of ``lr`` (the paper uses SGD with
        Nesterov momentum on far more tokens; Adam is the forgiving choice at this size).
        ``weight_decay`` pulls ``W`` towards the identity and ``b`` towards zero.
        Returns the loss of every step (nats, mean over the ``n_layers`` translated layers).
        """
        self._check(model)
        if tokens.ndim != 2:
            raise ValueError(f"fit takes tokens [n_seq, pos], got shape {list(tokens.shape)}")
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
        eye = torch.eye(self.d_model, device=self.W.device)
        frozen = [p for p in model.parameters() if p.requires_grad]
        losses = []
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc="tuned lens", unit="step", mininterval=0.5)
        try:
            for p in frozen:  # the model stays as it is; only the translators learn
                p.requires_grad_(False)
            for _ in range(steps):
                rows = torch.randint(0, tokens.shape[0], (min(batch_size, tokens.shape[0]),), generator=gen)
                with torch.no_grad():
                    resids = layer_residuals(model, tokens[rows].to(model.device))
                    final = readout(model, resids[-1])  # [batch pos d_vocab]
                lens = readout(model, self.translate(resids)[:-1])  # [n_layers batch pos d_vocab]
                loss = kl_to_final(lens, final).mean()
                if weight_decay:
                    loss = loss + weight_decay * ((self.W - eye).pow(2).sum() + self.b.pow(2).sum())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(kl=f"{losses[-1]:.3f}", refresh=False)
        finally:
            for p in frozen:
                p.requires_grad_(True)
            if bar is not None:
                bar.close()
        return losses

    # -- files -----------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write ``path/`` with ``tuned_lens.safetensors`` (``W``, ``b``) and ``config.json``; returns the folder."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        save_safetensors({"W": self.W, "b": self.b}, folder / "tuned_lens.safetensors")
        config = {"kind": "tuned_lens", "n_layers": self.n_layers, "d_model": self.d_model}
        (folder / "config.json").write_text(json.dumps(config, indent=1) + "\n")
        return folder

    @classmethod
    def load(cls, path, device: str | torch.device = "cpu") -> "TunedLens":
        """The lens :meth:`save` wrote to the folder ``path``."""
        folder = Path(path)
        for name in ("config.json", "tuned_lens.safetensors"):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"no {name} in {folder}: TunedLens.save(folder) writes it")
        config = json.loads((folder / "config.json").read_text())
        lens = cls(config["n_layers"], config["d_model"])
        tensors = load_safetensors(folder / "tuned_lens.safetensors")
        lens.load_state_dict({"W": tensors["W"], "b": tensors["b"]})
        return lens.to(device)
