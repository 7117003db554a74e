"""The model's pieces, one per file (TransformerLens's names and shapes).

Each piece holds its parameters and hook points; the maths is in
:mod:`minigpt.functional` and :mod:`minigpt.attention`. ``GPT.forward`` is
these pieces in a row:

>>> import torch
>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=1, d_model=8, n_heads=2, d_vocab=10, n_ctx=4, seed=0))
>>> tokens = torch.tensor([[1, 2, 3]])                           # [batch pos]
>>> resid = model.embed(tokens) + model.pos_embed(tokens)         # [batch pos d_model]
>>> resid = model.blocks[0](resid)
>>> logits = model.unembed(model.ln_final(resid))                 # [batch pos d_vocab]
>>> torch.equal(logits, model(tokens))
True
"""

from .attention import Attention
from .block import Block
from .embed import Embed, PosEmbed, Unembed
from .layer_norm import LayerNorm, LayerNormPre
from .mlp import MLP

__all__ = ["Attention", "Block", "Embed", "LayerNorm", "LayerNormPre", "MLP", "PosEmbed", "Unembed"]
