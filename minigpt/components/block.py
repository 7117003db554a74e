"""One transformer block: pre-LayerNorm attention, then pre-LayerNorm MLP, each added to the residual.

Each sub-layer *adds* to the residual stream: a block whose writing matrices
(``W_O``, ``W_out``) and their biases are zero passes the residual through
unchanged, whatever it reads:

>>> import torch
>>> from minigpt import GPT, GPTConfig
>>> block = GPT(GPTConfig(n_layers=1, d_model=8, n_heads=2, d_vocab=10, n_ctx=4, seed=0)).blocks[0]
>>> with torch.no_grad():
...     block.attn.W_O[:], block.mlp.W_out[:] = 0.0, 0.0  # b_O and b_out start at 0
>>> resid = torch.randn(1, 3, 8)                          # [batch pos d_model]
>>> torch.equal(block(resid), resid)
True
"""

from __future__ import annotations

import einops
from torch import Tensor, nn

from ..config import GPTConfig
from ..hooks import HookPoint
from .attention import Attention
from .layer_norm import LayerNorm, LayerNormPre
from .mlp import MLP


def make_norm(cfg: GPTConfig) -> nn.Module:
    """The LayerNorm ``cfg.normalization_type`` names: ``"LN"``, ``"LNPre"`` (no weights) or ``None`` (identity)."""
    if cfg.normalization_type == "LN":
        return LayerNorm(cfg.d_model, cfg.layer_norm_eps)
    if cfg.normalization_type == "LNPre":
        return LayerNormPre(cfg.d_model, cfg.layer_norm_eps)
    return nn.Identity()


def per_head_copies(resid: Tensor, n_heads: int) -> Tensor:
    """``[batch pos d_model] -> [batch pos n_heads d_model]``: one copy of the residual per head.

    A real copy (not a broadcast view), so a hook may change one head's copy in place.

    >>> import torch
    >>> per_head_copies(torch.tensor([[[1.0, 2.0]]]), n_heads=3).tolist()  # [batch pos n_heads d_model]
    [[[[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]]]
    """
    return einops.repeat(resid, "batch pos d_model -> batch pos n_heads d_model", n_heads=n_heads).clone()


# Hook points a flag adds (TransformerLens's names), each off by default: flag -> its hooks.
FLAG_HOOKS = {
    "use_split_qkv_input": ("hook_q_input", "hook_k_input", "hook_v_input"),  # [batch pos n_heads d_model]
    "use_attn_in": ("hook_attn_in",),  # [batch pos n_heads d_model]
    "use_hook_mlp_in": ("hook_mlp_in",),  # [batch pos d_model]
}


class Block(nn.Module):
    """``resid_mid = resid_pre + attn(ln1(resid_pre))``; ``resid_post = resid_mid + mlp(ln2(resid_mid))``.

    Three flags (TransformerLens's; set them through ``GPT.set_use_split_qkv_input`` and
    friends) add hook points before a sub-layer reads the residual; off, they cost nothing:

    - ``use_split_qkv_input``: ``hook_q_input``, ``hook_k_input``, ``hook_v_input``, each
      ``[batch pos n_heads d_model]``: the residual copied per head *before* ``ln1``;
      ``ln1`` then runs on each copy and each head projects its own. Patching
      ``hook_k_input`` changes the keys only (path patching needs this).
    - ``use_attn_in``: ``hook_attn_in``, ``[batch pos n_heads d_model]``: one per-head copy
      that queries, keys and values all read (unless split inputs are on too).
    - ``use_hook_mlp_in``: ``hook_mlp_in``, ``[batch pos d_model]``: a copy of ``resid_mid``
      as the MLP's ``ln2`` reads it.
    """

    def __init__(self, cfg: GPTConfig, layer: int, kernel: str = "sdpa") -> None:
        super().__init__()
        self.layer = layer
        self.n_heads = cfg.n_heads
        self.attn_only = cfg.attn_only
        self.ln1 = make_norm(cfg)
        self.attn = Attention(cfg, kernel)
        if not cfg.attn_only:
            self.ln2 = make_norm(cfg)
            self.mlp = MLP(cfg)
        self.hook_resid_pre = HookPoint()  # [batch pos d_model], likewise below
        self.hook_attn_out = HookPoint()
        if not cfg.attn_only:
            self.hook_resid_mid = HookPoint()
            self.hook_mlp_out = HookPoint()
        self.hook_resid_post = HookPoint()
        self.use_split_qkv_input = self.use_attn_in = self.use_hook_mlp_in = False

    def set_flag(self, flag: str, use: bool) -> None:
        """Turn one of :data:`FLAG_HOOKS`'s flags on or off, adding or removing its hook points."""
        if flag == "use_hook_mlp_in" and self.attn_only and use:
            raise ValueError("an attention-only model has no MLP: hook_mlp_in cannot be used")
        setattr(self, flag, bool(use))
        for name in FLAG_HOOKS[flag]:
            if use and not hasattr(self, name):
                setattr(self, name, HookPoint())
            elif not use and hasattr(self, name):
                delattr(self, name)

    def forward(self, resid: Tensor, kv_cache=None) -> Tensor:
        resid = self.hook_resid_pre(resid)
        if self.use_split_qkv_input or self.use_attn_in:
            attn_out = self.hook_attn_out(self._split_attention(resid, kv_cache))
        else:
            attn_out = self.hook_attn_out(self.attn(self.ln1(resid), kv_cache, self.layer))
        if self.attn_only:
            return self.hook_resid_post(resid + attn_out)
        resid = self.hook_resid_mid(resid + attn_out)
        mlp_in = self.hook_mlp_in(resid.clone()) if self.use_hook_mlp_in else resid
        mlp_out = self.hook_mlp_out(self.mlp(self.ln2(mlp_in)))
        return self.hook_resid_post(resid + mlp_out)

    def _split_attention(self, resid: Tensor, kv_cache) -> Tensor:
        """Attention on per-head copies of ``resid`` (``[batch pos n_heads d_model]``), as TransformerLens.

        ``ln1`` normalises each copy (its hooks see ``[batch pos n_heads ...]``; with split
        inputs it runs once each for queries, keys and values, in that order).
        """
        if self.use_attn_in:
            q_in = k_in = v_in = self.hook_attn_in(per_head_copies(resid, self.n_heads))
        if self.use_split_qkv_input:
            q_in = self.hook_q_input(per_head_copies(resid, self.n_heads))
            k_in = self.hook_k_input(per_head_copies(resid, self.n_heads))
            v_in = self.hook_v_input(per_head_copies(resid, self.n_heads))
            q_in, k_in, v_in = self.ln1(q_in), self.ln1(k_in), self.ln1(v_in)
        else:  # one input for all three: normalise it once
            q_in = k_in = v_in = self.ln1(q_in)
        return self.attn(q_in, kv_cache, self.layer, key_input=k_in, value_input=v_in)
