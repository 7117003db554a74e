"""The model's pieces, one per file (TransformerLens's names and shapes)."""

from .attention import Attention
from .block import Block
from .embed import Embed, PosEmbed, Unembed
from .layer_norm import LayerNorm, LayerNormPre
from .mlp import MLP

__all__ = ["Attention", "Block", "Embed", "LayerNorm", "LayerNormPre", "MLP", "PosEmbed", "Unembed"]
