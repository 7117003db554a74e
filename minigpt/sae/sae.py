"""A sparse autoencoder: ``x -> acts = act((x - b_dec) W_enc + b_enc) -> x_hat = acts W_dec + b_dec``.

An SAE rewrites an activation ``x [... d_in]`` (say an MLP's ``hook_post``) as a sparse, non-negative
combination of ``d_sae`` learned directions, the rows of ``W_dec``. Parameters, as in SAELens and ARENA:

- ``W_enc [d_in d_sae]``, ``b_enc [d_sae]``: the encoder;
- ``W_dec [d_sae d_in]``: one direction per latent, each row of unit norm (training keeps it so; without
  the constraint an L1 penalty is dodged by shrinking ``acts`` and growing ``W_dec``);
- ``b_dec [d_in]``: subtracted before encoding and added back after decoding (it centres the data);
- ``threshold [d_sae]`` (JumpReLU only): where each latent switches on.

``kind`` picks the activation (:mod:`minigpt.sae.activations`): ``"relu"`` (trained with an L1 penalty),
``"topk"`` (``k`` latents per token) or ``"jumprelu"`` (trained with an L0 penalty).

Every step passes a hook point named as in SAELens, so a run can be cached or patched:
``hook_sae_input [... d_in]``, ``hook_sae_acts_pre [... d_sae]``, ``hook_sae_acts_post [... d_sae]``,
``hook_sae_recons [... d_in]`` and, spliced into a model, ``hook_sae_error`` and ``hook_sae_output``.

>>> sae = SAE(d_in=4, d_sae=8, kind="topk", k=2, seed=0)
>>> x = torch.randn(3, 4)                                  # [batch d_in]
>>> acts = sae.encode(x)                                   # [batch d_sae]
>>> acts.shape, int((acts > 0).sum(-1).max()) <= 2
(torch.Size([3, 8]), True)
>>> sae.decode(acts).shape, sae.W_dec.norm(dim=-1).allclose(torch.ones(8))
(torch.Size([3, 4]), True)
>>> _, cache = sae.run_with_cache(x)
>>> cache["hook_sae_acts_post"].equal(acts)
True
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..hooks import HookedModule, HookPoint
from .activations import jumprelu, step, topk_relu

KINDS = ("relu", "topk", "jumprelu")


@dataclass(frozen=True)
class SAEConfig:
    """What an SAE is (its shape and activation) and, when known, what it reads (``model_name``, ``hook_name``)."""

    d_in: int
    d_sae: int
    kind: str = "relu"
    k: int | None = None  # TopK: latents per token
    bandwidth: float = 0.1  # JumpReLU: width of the pseudo-derivative's rectangle kernel (epsilon; see train_sae)
    hook_name: str | None = None  # e.g. "blocks.1.mlp.hook_post"
    model_name: str | None = None  # e.g. "stdlib-bytes"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.d_in < 1 or self.d_sae < 1:
            raise ValueError(f"d_in and d_sae must be positive, got d_in={self.d_in}, d_sae={self.d_sae}")
        if self.kind == "topk" and (self.k is None or not 1 <= self.k <= self.d_sae):
            raise ValueError(f"kind='topk' needs k between 1 and d_sae={self.d_sae}, got k={self.k}")
        if self.kind != "topk" and self.k is not None:
            raise ValueError(f"k is for kind='topk' only; kind={self.kind!r} got k={self.k}")

    @property
    def n_layers(self) -> None:
        """An SAE has no layers (an :class:`~minigpt.cache.ActivationCache` asks its model's config)."""
        return None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SAEConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown SAEConfig fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


class SAELoss(NamedTuple):
    """One batch's training loss and its parts (each a scalar, averaged over tokens)."""

    loss: Tensor  # mse + coeff * sparsity
    mse: Tensor  # ||x - x_hat||^2, summed over d_in
    sparsity: Tensor  # relu: L1 of acts; jumprelu: L0 (the step function); topk: 0
    acts: Tensor  # [batch d_sae]
    x_hat: Tensor  # [batch d_in]


class SAE(HookedModule):
    """A sparse autoencoder with ``d_sae`` latents reading ``d_in``-dimensional activations (see the module doc)."""

    def __init__(self, d_in: int, d_sae: int, kind: str = "relu", k: int | None = None, *, bandwidth: float = 0.1,
                 hook_name: str | None = None, model_name: str | None = None, seed: int | None = 0) -> None:
        super().__init__()
        self.cfg = SAEConfig(d_in=d_in, d_sae=d_sae, kind=kind, k=k, bandwidth=bandwidth, hook_name=hook_name,
                             model_name=model_name)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        W_dec = torch.randn(d_sae, d_in, generator=generator)
        W_dec /= W_dec.norm(dim=-1, keepdim=True)
        self.W_dec = nn.Parameter(W_dec)  # [d_sae d_in], unit rows
        self.W_enc = nn.Parameter(W_dec.T.clone())  # [d_in d_sae]: tied at init (Conerly et al. 2024, Gao et al.)
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.b_dec = nn.Parameter(torch.zeros(d_in))
        if kind == "jumprelu":
            self.threshold = nn.Parameter(torch.full((d_sae,), 1e-3))  # [d_sae]: the paper's start; kept >= 0
        self.hook_sae_input = HookPoint()  # [... d_in]
        self.hook_sae_acts_pre = HookPoint()  # [... d_sae]
        self.hook_sae_acts_post = HookPoint()  # [... d_sae]
        self.hook_sae_recons = HookPoint()  # [... d_in]
        self.hook_sae_error = HookPoint()  # [... d_in]: x - x_hat, with use_error_term
        self.hook_sae_output = HookPoint()  # [... d_in]: what goes back into a model
        self.setup_hooks()

    @classmethod
    def from_config(cls, cfg: SAEConfig, seed: int | None = 0) -> "SAE":
        return cls(**cfg.to_dict(), seed=seed)

    @property
    def kind(self) -> str:
        return self.cfg.kind

    @property
    def d_sae(self) -> int:
        return self.cfg.d_sae

    @property
    def device(self) -> torch.device:
        return self.W_enc.device

    # -- the maths, without hooks ---------------------------------------------------------------
    def pre_acts(self, x: Tensor) -> Tensor:
        """``(x - b_dec) W_enc + b_enc``: ``[... d_in] -> [... d_sae]``."""
        if x.shape[-1] != self.cfg.d_in:
            raise ValueError(f"the SAE reads d_in={self.cfg.d_in} features; got an input of shape {tuple(x.shape)}"
                             + (f" (was it trained on {self.cfg.hook_name}?)" if self.cfg.hook_name else ""))
        return (x - self.b_dec) @ self.W_enc + self.b_enc

    def activation(self, pre: Tensor) -> Tensor:
        """The kind's activation function: ``[... d_sae] -> [... d_sae]``."""
        if self.kind == "relu":
            return pre.relu()
        if self.kind == "topk":
            return topk_relu(pre, self.cfg.k)
        return jumprelu(pre, self.threshold, self.cfg.bandwidth)

    # -- the hooked forward -----------------------------------------------------------------------
    def encode(self, x: Tensor) -> Tensor:
        """The latents' activations: ``[... d_in] -> [... d_sae]`` (non-negative, mostly 0)."""
        x = self.hook_sae_input(x)
        pre = self.hook_sae_acts_pre(self.pre_acts(x))
        return self.hook_sae_acts_post(self.activation(pre))

    def decode(self, acts: Tensor) -> Tensor:
        """The reconstruction ``acts W_dec + b_dec``: ``[... d_sae] -> [... d_in]``."""
        return self.hook_sae_recons(acts @ self.W_dec + self.b_dec)

    def forward(self, x: Tensor, use_error_term: bool = False) -> Tensor:
        """The reconstruction ``x_hat [... d_in]``.

        With ``use_error_term`` the output is ``x_hat + (x - x_hat_clean)``, equal to ``x`` unless a hook changed
        the latents: so an edit of one latent moves the model by exactly that latent's share (SAELens's option).
        """
        x_hat = self.decode(self.encode(x))
        if use_error_term:
            with torch.no_grad():
                clean = self.activation(self.pre_acts(x)) @ self.W_dec + self.b_dec  # no hooks: the unedited x_hat
            x_hat = x_hat + self.hook_sae_error(x - clean)
        return self.hook_sae_output(x_hat)

    def loss(self, x: Tensor, coeff: float = 0.0) -> SAELoss:
        """The training loss on ``x [batch d_in]``: ``mse + coeff * sparsity`` (see :class:`SAELoss`).

        ReLU: ``sparsity`` is the L1 norm of the post-ReLU activations; the decoder's rows have unit norm, so it
        equals the decoder-norm-weighted L1 of Anthropic's April 2024 update. JumpReLU: the L0, ``sum H(pre -
        threshold)``, trained through the pseudo-derivative. TopK: none (``k`` sets the sparsity).
        """
        x = self.hook_sae_input(x)
        pre = self.hook_sae_acts_pre(self.pre_acts(x))
        acts = self.hook_sae_acts_post(self.activation(pre))
        x_hat = self.decode(acts)
        mse = (x_hat - x).pow(2).sum(-1).mean()
        if self.kind == "relu":
            sparsity = acts.sum(-1).mean()  # acts >= 0: the L1 norm
        elif self.kind == "jumprelu":
            sparsity = step(pre, self.threshold, self.cfg.bandwidth).sum(-1).mean()
        else:
            sparsity = torch.zeros((), device=x.device)
        return SAELoss(mse + coeff * sparsity, mse, sparsity, acts, x_hat)

    # -- files ------------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike):
        """Write ``cfg.json`` and ``sae_weights.safetensors`` (SAELens's file names) to ``folder``."""
        from .io import save_sae

        return save_sae(self, folder)

    @classmethod
    def load(cls, folder: str | os.PathLike, device: str | torch.device = "cpu") -> "SAE":
        """The SAE a :meth:`save` wrote to ``folder``."""
        from .io import read_sae

        return read_sae(folder, device=device)

    def extra_repr(self) -> str:
        k = f", k={self.cfg.k}" if self.cfg.k else ""
        return f"d_in={self.cfg.d_in}, d_sae={self.cfg.d_sae}, kind={self.kind!r}{k}"
