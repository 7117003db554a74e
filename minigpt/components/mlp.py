"""The MLP: ``W_out · act(W_in · x + b_in) + b_out``, applied at each position."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import GPTConfig
from ..functional import activation, linear
from ..hooks import HookPoint


class MLP(nn.Module):
    """``W_in: [d_model, d_mlp]``, ``W_out: [d_mlp, d_model]``; hooks ``hook_pre``/``hook_post: [batch pos d_mlp]``."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model))
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model))
        self.act = activation(cfg.act_fn)
        self.hook_pre = HookPoint()
        self.hook_post = HookPoint()

    def forward(self, x: Tensor) -> Tensor:  # [batch pos d_model] -> same
        pre = self.hook_pre(linear(x, self.W_in, self.b_in))
        post = self.hook_post(self.act(pre))
        return linear(post, self.W_out, self.b_out)
