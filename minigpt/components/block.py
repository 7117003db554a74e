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


class Block(nn.Module):
    """``resid_mid = resid_pre + attn(ln1(resid_pre))``; ``resid_post = resid_mid + mlp(ln2(resid_mid))``."""

    def __init__(self, cfg: GPTConfig, layer: int, kernel: str = "sdpa") -> None:
        super().__init__()
        self.layer = layer
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

    def forward(self, resid: Tensor, kv_cache=None) -> Tensor:
        resid = self.hook_resid_pre(resid)
        attn_out = self.hook_attn_out(self.attn(self.ln1(resid), kv_cache, self.layer))
        if self.attn_only:
            return self.hook_resid_post(resid + attn_out)
        resid = self.hook_resid_mid(resid + attn_out)
        mlp_out = self.hook_mlp_out(self.mlp(self.ln2(resid)))
        return self.hook_resid_post(resid + mlp_out)
