"""Seeing inside: matplotlib figures and self-contained HTML attention viewers.

``plots.py``: attention patterns, head grids and scores, curves, matrices; ``fourier_plots.py``:
the Fourier analysis of a grokking model; ``html.py``: the HTML viewers; ``interventions.py``
(HTML grids from ``grid.py``) and ``intervention_plots.py``: the logit lens, patching results and
causal traces; ``neuron_view.py`` (BertViz's neuron view), ``features_view.py`` (feature
dashboards) and ``atlas.py`` (a PCA map of decoder directions), drawn by
``payload_view.py``. Each figure is a ``matplotlib.figure.Figure`` made by
:func:`~minigpt.viz.plots.figure` (no pyplot state).

>>> from minigpt.viz import head_view, plot_attention_pattern   # no side effects on import
"""

from minigpt.viz.fourier_plots import (
    plot_fourier_coeffs,
    plot_frequency_spectrum,
    plot_grid,
    plot_grids,
    plot_neuron_fractions,
    plot_progress,
    plot_spectrum_over_training,
)
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
    "plot_fourier_coeffs",
    "plot_frequency_spectrum",
    "plot_grid",
    "plot_grids",
    "plot_head_grid",
    "plot_head_scores",
    "plot_matrix",
    "plot_neuron_fractions",
    "plot_progress",
    "plot_spectrum_over_training",
]

# Interventions, seen: logit lens, patching and causal tracing as HTML grids, with matplotlib twins.
from minigpt.viz.intervention_plots import plot_causal_trace, plot_logit_lens, plot_patching  # noqa: E402
from minigpt.viz.interventions import causal_trace_view, logit_lens_view, patching_heatmap  # noqa: E402

__all__ += [
    "causal_trace_view", "logit_lens_view", "patching_heatmap", "plot_causal_trace", "plot_logit_lens",
    "plot_patching",
]

# Neurons and features: BertViz's neuron view, feature dashboards and the feature atlas.
from minigpt.viz.atlas import feature_atlas, sae_atlas  # noqa: E402
from minigpt.viz.features_view import feature_dashboard, latent_dashboard, neuron_dashboard  # noqa: E402
from minigpt.viz.neuron_view import neuron_view  # noqa: E402

__all__ += ["feature_atlas", "feature_dashboard", "latent_dashboard", "neuron_dashboard", "neuron_view", "sae_atlas"]

# Toy models of superposition: the columns of W, WᵀW, feature norms, neuron weights, the phase diagram.
from minigpt.viz.superposition_plots import (  # noqa: E402
    plot_feature_dimensionality, plot_feature_norms, plot_features_2d, plot_neuron_weights, plot_phase_diagram,
    plot_wtw,
)

__all__ += ["plot_feature_dimensionality", "plot_feature_norms", "plot_features_2d", "plot_neuron_weights",
            "plot_phase_diagram", "plot_wtw"]
