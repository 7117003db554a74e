"""Weights in and out: Hugging Face GPT-2 checkpoints, safetensors files, weight processing.

One concern per module, lowest first::

    safetensors.py   the one safetensors reader and writer, and its dtype table (stdlib + torch only)
    files.py         a folder's weight files: one safetensors, shards, weights-only .bin
    hub.py           a model name to a folder: the Hugging Face cache, then the hub
    hf_map.py        the one table between Hugging Face's tensor names and ours; config.json both ways
    pretrained.py    from_pretrained / save_pretrained (GPT.from_pretrained, model.save_pretrained)
    processing.py    fold_ln, center_writing_weights, center_unembed, fold_value_biases

Our own trained runs (``config.json`` in minigpt's names, snapshots, history) are
:mod:`minigpt.checkpoints`, which reads and writes through :mod:`.safetensors` too.

>>> from minigpt.weights import from_pretrained, process_weights, load_safetensors, save_safetensors
"""

from .pretrained import from_pretrained, save_pretrained
from .processing import center_unembed, center_writing_weights, fold_ln, fold_value_biases, process_weights
from .safetensors import CheckpointError, load_safetensors, save_safetensors

__all__ = ["CheckpointError", "center_unembed", "center_writing_weights", "fold_ln", "fold_value_biases",
           "from_pretrained", "load_safetensors", "process_weights", "save_pretrained", "save_safetensors"]
