"""Seeing inside: matplotlib figures and self-contained HTML attention viewers.

>>> from minigpt.viz import head_view, plot_attention_pattern   # no side effects on import
"""

from minigpt.viz.html import HTMLView, colored_tokens, head_view, model_view
from minigpt.viz.plots import (
    plot_attention_pattern,
    plot_curves,
    plot_head_grid,
    plot_head_scores,
    plot_matrix,
)

__all__ = [
    "HTMLView",
    "colored_tokens",
    "head_view",
    "model_view",
    "plot_attention_pattern",
    "plot_curves",
    "plot_head_grid",
    "plot_head_scores",
    "plot_matrix",
]
