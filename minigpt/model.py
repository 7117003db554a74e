"""GPT-2, from scratch: embed → blocks → final LayerNorm → unembed.

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=2, d_model=64, n_heads=4, d_vocab=100, n_ctx=32, seed=0))
>>> model(torch.tensor([[1, 2, 3]])).shape          # [batch pos d_vocab]
torch.Size([1, 3, 100])

The forward pass equals Hugging Face's ``GPT2LMHeadModel`` on the same weights
(see ``tests/test_hf_equivalence.py``). Every named activation passes through
a :class:`~minigpt.hooks.HookPoint`; see :mod:`minigpt.hooks`. The names, shapes and
values are TransformerLens 3.9's (``tests/test_tl_parity.py``):

- ``hook_embed``, ``hook_pos_embed``: ``[batch pos d_model]``;
- per block ``blocks.{L}.``: ``hook_resid_pre``, ``hook_attn_out``, ``hook_resid_mid``,
  ``hook_mlp_out``, ``hook_resid_post`` (``[batch pos d_model]``); ``ln1.hook_scale``
  (``[batch pos 1]``) and ``ln1.hook_normalized`` (``(x - mean) / scale``, before ``w``
  and ``b``), likewise ``ln2``; ``attn.hook_q|k|v|z`` (``[batch pos n_heads d_head]``),
  ``attn.hook_attn_scores|pattern`` (``[batch n_heads query_pos key_pos]``),
  ``attn.hook_result`` (``[batch pos n_heads d_model]``); ``mlp.hook_pre|post``
  (``[batch pos d_mlp]``);
- ``ln_final.hook_scale|normalized``, ``unembed.hook_in`` (``[batch pos d_model]``) and
  ``unembed.hook_out`` (the logits).

Three flags add more, as in TransformerLens (off by default, and free when off):
:meth:`GPT.set_use_split_qkv_input` adds ``blocks.{L}.hook_q_input|k_input|v_input``,
:meth:`GPT.set_use_attn_in` adds ``blocks.{L}.hook_attn_in`` (each ``[batch pos n_heads
d_model]``, the residual copied per head before ``ln1``) and
:meth:`GPT.set_use_hook_mlp_in` adds ``blocks.{L}.hook_mlp_in`` (``[batch pos d_model]``):

>>> model.set_use_split_qkv_input(True)
>>> logits, cache = model.run_with_cache(torch.tensor([[1, 2, 3]]))
>>> cache["blocks.0.hook_k_input"].shape            # [batch pos n_heads d_model]
torch.Size([1, 3, 4, 64])
>>> model.set_use_split_qkv_input(False)
>>> "blocks.0.hook_k_input" in model.hook_names()
False
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .attention import kernel_info
from .components import MLP, Attention, Block, Embed, LayerNorm, PosEmbed, Unembed
from .components.attention import per_head_result
from .components.block import FLAG_HOOKS, make_norm
from .config import GPTConfig
from .hooks import HookedModule, HookPoint
from .kv_cache import KVCache, StaticKVCache
from .text import TextMixin
from .validation import check_tokens

RETURN_TYPES = ("logits", "loss", "both", None)

__all__ = ["GPT", "Attention", "Block", "Embed", "LayerNorm", "MLP", "PosEmbed", "Unembed"]


class GPT(HookedModule, TextMixin):
    """A GPT-2-style decoder: ``embed (+ pos_embed) → blocks → ln_final → unembed``.

    ``GPT(cfg, attention="sdpa")`` builds a randomly initialised model (GPT-2's
    init; ``cfg.seed`` makes it reproducible); :meth:`from_pretrained` loads
    Hugging Face weights. ``attention`` names a registered kernel
    (:func:`minigpt.attention.list_attention`). Every named activation passes
    through a hook point (``model.hook_names()``); see :mod:`minigpt.hooks`.
    """

    def __init__(self, cfg: GPTConfig, attention: str = "sdpa", *, init: bool = True) -> None:
        super().__init__()
        if not isinstance(cfg, GPTConfig):
            raise TypeError(f"GPT needs a GPTConfig, got {type(cfg).__name__}; try GPTConfig.from_name('gpt2')")
        kernel_info(attention)  # fail early, listing the known kernels
        self.cfg = cfg
        self.embed = Embed(cfg)
        self.hook_embed = HookPoint()  # [batch pos d_model]
        if cfg.positional_embedding:
            self.pos_embed = PosEmbed(cfg)
            self.hook_pos_embed = HookPoint()  # [batch pos d_model]
        self.blocks = nn.ModuleList(Block(cfg, layer, attention) for layer in range(cfg.n_layers))
        self.ln_final = make_norm(cfg)
        self.unembed = Unembed(cfg, self.embed)
        self.attention = attention
        self.tokenizer = None
        if init:  # init=False leaves the weights unset, for a loader that fills them all
            self.init_weights(cfg.seed)
        self.setup_hooks()

    # -- pretrained weights (see minigpt.weights) -----------------------------------------
    @classmethod
    def from_pretrained(cls, name_or_path, **kwargs) -> "GPT":
        """``gpt2`` ... ``gpt2-xl``, ``distilgpt2``, a Hugging Face folder or a ``.safetensors`` file.

        Keyword arguments: ``dtype``, ``device``, ``attention``, ``cache_dir`` and the
        weight-processing flags ``fold_ln``, ``center_writing_weights``,
        ``center_unembed``, ``fold_value_biases`` (all off: raw weights).
        """
        from .weights.pretrained import from_pretrained

        return from_pretrained(name_or_path, **kwargs)

    def save_pretrained(self, folder) -> None:
        """Write a folder that ``transformers.GPT2LMHeadModel.from_pretrained`` loads to the same logits."""
        from .weights.pretrained import save_pretrained

        save_pretrained(self, folder)

    # -- parameters ----------------------------------------------------------------------
    @torch.no_grad()
    def init_weights(self, seed: int | None = None) -> None:
        """GPT-2's initialisation: N(0, 0.02), residual-writing matrices scaled by 1/sqrt(2 n_layers)."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        std = self.cfg.init_range
        for name, p in self.named_parameters():
            if name.endswith(("W_O", "W_out")):
                p.copy_(torch.randn(p.shape, generator=gen) * std / math.sqrt(2 * self.cfg.n_layers))
            elif name.split(".")[-1].startswith("W_"):
                p.copy_(torch.randn(p.shape, generator=gen) * std)

    @property
    def W_E(self) -> Tensor:
        return self.embed.W_E

    @property
    def W_pos(self) -> Tensor:
        return self.pos_embed.W_pos

    @property
    def W_U(self) -> Tensor:
        return self.unembed.W_U

    def _stack(self, name: str) -> Tensor:
        return torch.stack([getattr(b.attn, name) for b in self.blocks])

    @property
    def W_Q(self) -> Tensor:  # [n_layers n_heads d_model d_head]
        return self._stack("W_Q")

    @property
    def W_K(self) -> Tensor:
        return self._stack("W_K")

    @property
    def W_V(self) -> Tensor:
        return self._stack("W_V")

    @property
    def W_O(self) -> Tensor:  # [n_layers n_heads d_head d_model]
        return self._stack("W_O")

    def n_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.embed.W_E.numel() + (self.pos_embed.W_pos.numel() if self.cfg.positional_embedding else 0)
        return n

    @property
    def device(self) -> torch.device:
        return self.embed.W_E.device

    @property
    def dtype(self) -> torch.dtype:
        return self.embed.W_E.dtype

    def derived_activations(self, names):
        """Per-head results are computed from ``hook_z`` when a cache first reads them."""
        recipes = {}
        for L, block in enumerate(self.blocks):
            if f"blocks.{L}.attn.hook_result" not in names:
                continue
            W_O = block.attn.W_O.detach().clone()  # the weights as they were at caching time
            recipes[f"blocks.{L}.attn.hook_result"] = (
                f"blocks.{L}.attn.hook_z", lambda z, W_O=W_O: per_head_result(z, W_O.to(z.device))
            )
        return recipes

    # -- optional hook points (TransformerLens's flags) ----------------------------------
    def _set_block_flag(self, flag: str, use: bool) -> None:
        for block in self.blocks:
            block.set_flag(flag, use)
        self.setup_hooks()

    def set_use_split_qkv_input(self, use_split_qkv_input: bool) -> None:
        """Add (or remove) ``blocks.{L}.hook_q_input``, ``hook_k_input``, ``hook_v_input``.

        Each is ``[batch pos n_heads d_model]``: the residual stream copied once per head,
        *before* ``ln1``, as TransformerLens does. ``ln1`` then normalises each copy and each
        head projects its own, so a hook on ``hook_k_input`` changes the keys and nothing
        else (what path patching needs). Off (the default), the forward is the usual one.
        """
        self._set_block_flag("use_split_qkv_input", use_split_qkv_input)

    def set_use_attn_in(self, use_attn_in: bool) -> None:
        """Add (or remove) ``blocks.{L}.hook_attn_in``: ``[batch pos n_heads d_model]``, one
        copy of the residual per head that the head's queries, keys and values all read."""
        self._set_block_flag("use_attn_in", use_attn_in)

    def set_use_hook_mlp_in(self, use_hook_mlp_in: bool) -> None:
        """Add (or remove) ``blocks.{L}.hook_mlp_in``: ``[batch pos d_model]``, the MLP's input before ``ln2``.

        Raises ``ValueError`` on an attention-only model (it has no MLP).
        """
        self._set_block_flag("use_hook_mlp_in", use_hook_mlp_in)

    def set_use_attn_result(self, use_attn_result: bool) -> None:
        """Kept for TransformerLens code: ``blocks.{L}.attn.hook_result`` is always available here.

        ``run_with_cache`` computes the per-head results from ``hook_z`` when first read, and a
        hook on ``hook_result`` makes the forward compute them for real; so this changes nothing.
        """

    def _missing_hook_hint(self, name: str) -> str:
        for flag, hooks in FLAG_HOOKS.items():
            if name.rsplit(".", 1)[-1] in hooks:
                return f" {name.rsplit('.', 1)[-1]} exists only after model.set_{flag}(True)."
        return ""

    # -- attention kernels ---------------------------------------------------------------
    def set_attention(self, name: str) -> "GPT":
        """Run every layer on the registered kernel ``name`` (see ``minigpt.attention``)."""
        kernel_info(name)
        for block in self.blocks:
            block.attn.set_kernel(name)
        self.attention = name
        return self

    # -- forward -------------------------------------------------------------------------
    def forward(
        self,
        tokens: Tensor,
        return_type: str | None = "logits",
        *,
        kv_cache: KVCache | StaticKVCache | None = None,
        loss_per_token: bool = False,
    ):
        """``tokens: [batch pos]`` (or ``[pos]``, treated as a batch of one) → logits ``[batch pos d_vocab]``.

        Text is accepted too and goes through :meth:`to_tokens` (a BOS token first).

        ``return_type``: ``"logits"``, ``"loss"`` (mean next-token cross-entropy,
        or ``[batch pos-1]`` with ``loss_per_token``), ``"both"`` or ``None``.
        With a ``kv_cache`` (:class:`~minigpt.kv_cache.KVCache` or the fixed-shape
        :class:`~minigpt.kv_cache.StaticKVCache`) the tokens continue the cached positions.

        Under ``torch.compile`` the input checks (which read token values) are skipped and,
        with no hook attached, the forward compiles to one graph (``fullgraph=True``).
        """
        if return_type not in RETURN_TYPES:
            raise ValueError(f"return_type must be one of {RETURN_TYPES}, got {return_type!r}")
        static = getattr(kv_cache, "is_static", False)  # a StaticKVCache keeps its position in a tensor
        past = kv_cache.pos if kv_cache is not None and not static else 0
        if isinstance(tokens, str) or (isinstance(tokens, list) and tokens and isinstance(tokens[0], str)):
            tokens = self.to_tokens(tokens)
        if torch.compiler.is_compiling():  # the checks read token values on the host: a graph break
            tokens = tokens.unsqueeze(0) if tokens.ndim == 1 else tokens
        else:
            tokens = check_tokens(tokens, self.cfg, past=kv_cache.pos if static else past, device=self.device)
        if kv_cache is not None:
            kv_cache.check_room(*tokens.shape)
        positions = kv_cache.begin(tokens.shape[1]) if static else None  # [pos], absolute positions
        resid = self.hook_embed(self.embed(tokens))
        if self.cfg.positional_embedding:
            if positions is None:
                pos_embed = self.pos_embed(tokens, past)
            else:  # gathered by a position tensor, so a compiled decode step serves every position
                pos_embed = self.pos_embed.W_pos[positions].expand(tokens.shape[0], -1, -1)
            resid = resid + self.hook_pos_embed(pos_embed)
        for block in self.blocks:
            resid = block(resid, kv_cache)
        if kv_cache is not None:
            kv_cache.advance()
        if return_type is None:
            return None
        logits = self.unembed(self.ln_final(resid))
        if return_type == "logits":
            return logits
        loss = next_token_loss(logits, tokens, per_token=loss_per_token)
        return loss if return_type == "loss" else (logits, loss)

    # -- generation (see minigpt.generate) ------------------------------------------------
    def generate(self, tokens, max_new_tokens: int = 20, **kwargs):
        from .generate import generate

        return generate(self, tokens, max_new_tokens=max_new_tokens, **kwargs)


def next_token_loss(logits: Tensor, tokens: Tensor, per_token: bool = False) -> Tensor:
    """Cross-entropy of predicting ``tokens[:, 1:]`` from ``logits[:, :-1]`` (in fp32)."""
    if tokens.shape[-1] < 2:
        raise ValueError("the loss needs at least 2 tokens per sequence (it predicts each next token)")
    log_probs = logits[:, :-1].float().log_softmax(dim=-1)
    nll = -log_probs.gather(-1, tokens[:, 1:, None]).squeeze(-1)  # [batch pos-1]
    return nll if per_token else nll.mean()
