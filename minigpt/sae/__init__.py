"""Sparse autoencoders: ReLU, TopK and JumpReLU SAEs, their training, metrics, and splicing into a model.

One concern per module:

- :mod:`~minigpt.sae.activations`: the activation functions (TopK over the latent axis, JumpReLU and its
  pseudo-derivatives);
- :mod:`~minigpt.sae.sae`: the :class:`SAE` module (``W_enc [d_in d_sae]``, ``W_dec [d_sae d_in]``, hooks);
- :mod:`~minigpt.sae.maintenance`: unit decoder rows, resampling dead latents;
- :mod:`~minigpt.sae.train`: :func:`train_sae`;
- :mod:`~minigpt.sae.metrics`: L0, fraction of variance explained, dead latents, loss recovered;
- :mod:`~minigpt.sae.splice`: running a model with an SAE in place of an activation;
- :mod:`~minigpt.sae.io`: SAE folders and the shipped SAEs (:func:`load_sae`);
- :mod:`~minigpt.sae.evaluate`: held-out stdlib text and the targets of an SAE of ``stdlib-bytes``;
- :mod:`~minigpt.sae.labels`: per-byte labels of Python source (in a string, a comment, ...) to test features on.

>>> from minigpt.sae import SAE, train_sae, load_sae   # no side effects on import
"""

from .activations import jumprelu, step, topk_relu
from .io import list_saes, load_sae, load_train_info, read_sae, save_sae
from .maintenance import normalise_decoder_, remove_parallel_grad_, resample_dead_
from .metrics import (dead_fraction, fraction_variance_explained, l0, loss_recovered, recovered_share, sae_metrics,
                      spliced_losses)
from .sae import KINDS, SAE, SAEConfig, SAELoss
from .splice import model_activations, run_with_cache_with_sae, run_with_sae, spliced
from .train import SAETrainResult, fold_input_scale_, input_scale, train_sae

__all__ = [
    "KINDS", "SAE", "SAEConfig", "SAELoss", "SAETrainResult", "dead_fraction", "fold_input_scale_",
    "fraction_variance_explained", "input_scale", "jumprelu", "l0", "list_saes", "load_sae", "load_train_info",
    "loss_recovered", "model_activations", "normalise_decoder_", "read_sae", "recovered_share", "remove_parallel_grad_",
    "resample_dead_", "run_with_cache_with_sae", "run_with_sae", "sae_metrics", "save_sae", "spliced",
    "spliced_losses", "step", "topk_relu", "train_sae",
]
