"""Moved: figures belong with the other figures, in :mod:`minigpt.viz.fourier_plots`.

This module re-exports them so that old imports keep working, with a ``DeprecationWarning``.
"""

import warnings

from ..viz.fourier_plots import KEY_COLOR  # noqa: F401
from ..viz.fourier_plots import (plot_fourier_coeffs, plot_frequency_spectrum, plot_grid, plot_grids,
                                 plot_neuron_fractions, plot_progress, plot_spectrum_over_training)

__all__ = ["plot_frequency_spectrum", "plot_fourier_coeffs", "plot_grid", "plot_grids", "plot_neuron_fractions",
           "plot_progress", "plot_spectrum_over_training"]

warnings.warn("minigpt.interp.fourier_plots moved to minigpt.viz.fourier_plots (also exported by minigpt.viz); "
              "import the plots from there", DeprecationWarning, stacklevel=2)
