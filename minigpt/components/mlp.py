"""The MLP: ``act(x W_in + b_in) W_out + b_out``, applied at each position.

``act`` is :func:`minigpt.functional.activation` of ``cfg.act_fn``. Two ReLU
neurons, one reading ``x`` and one ``-x``, both writing ``+1``, compute ``|x|``:

>>> from minigpt import GPTConfig
>>> mlp = MLP(GPTConfig(d_model=1, d_mlp=2, n_heads=1, d_vocab=1, n_ctx=1, act_fn="relu"))
>>> with torch.no_grad():
...     mlp.W_in[:] = torch.tensor([[1.0, -1.0]])     # [d_model d_mlp]
...     mlp.W_out[:] = torch.tensor([[1.0], [1.0]])   # [d_mlp d_model]; b_in, b_out start at 0
>>> mlp(torch.tensor([[[-3.0], [2.0]]])).tolist()    # relu(x) + relu(-x)
[[[3.0], [2.0]]]
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import GPTConfig
from ..functional import activation, activation_, linear, stored_parameter
from ..hooks import HookPoint


class MLP(nn.Module):
    """``W_in: [d_model, d_mlp]``, ``W_out: [d_mlp, d_model]``; hooks ``hook_pre``/``hook_post: [batch pos d_mlp]``."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        # Stored as nn.Linear weights ([d_out, d_in]); shown transposed, as TransformerLens does.
        self.W_in = stored_parameter((cfg.d_mlp, cfg.d_model), (1, 0))  # [d_model d_mlp]
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = stored_parameter((cfg.d_model, cfg.d_mlp), (1, 0))  # [d_mlp d_model]
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model))
        self.act = activation(cfg.act_fn)
        self.act_ = activation_(cfg.act_fn)
        self.hook_pre = HookPoint()
        self.hook_post = HookPoint()

    def forward(self, x: Tensor) -> Tensor:  # [batch pos d_model] -> same
        pre = self.hook_pre(linear(x, self.W_in.T, self.b_in))  # [batch pos d_mlp]
        if self.hook_pre.has_hooks or (torch.is_grad_enabled() and pre.requires_grad):
            post = self.act(pre)
        else:  # nothing else will read `pre`: overwrite it rather than allocate another buffer
            post = self.act_(pre)
        post = self.hook_post(post)
        return linear(post, self.W_out.T, self.b_out)
