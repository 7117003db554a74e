"""``GPT.from_pretrained`` and ``model.save_pretrained``: GPT-2 checkpoints in Hugging Face's formats.

``from_pretrained`` takes a model name (``gpt2``, ``gpt2-medium``, ``gpt2-large``,
``gpt2-xl``, ``distilgpt2``; see :mod:`minigpt.weights.hub` for where it is looked
for), a Hugging Face folder, or one ``.safetensors`` file with its ``config.json``
beside it. It reads, in this order of preference, ``model.safetensors``, sharded
safetensors (``model.safetensors.index.json``) and ``pytorch_model.bin`` (with
``torch.load(weights_only=True)``: tensors only, never arbitrary pickles); see
:mod:`minigpt.weights.files`.

The model is built on the ``meta`` device (no memory), given empty storage of
the right dtype on the right device, and filled one tensor at a time through
the table of :mod:`minigpt.weights.hf_map`, so loading needs about one copy of
the weights, not two.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..config import GPTConfig
from .files import open_weights
from .hf_map import config_from_hf, config_to_hf, load_hf_tensors, minigpt_to_hf
from .hub import HUB_NAMES, resolve
from .safetensors import CheckpointError, save_safetensors


def read_config(path: Path, name: str = "custom") -> GPTConfig:
    """The ``GPTConfig`` of the ``config.json`` in ``path`` (a folder) or beside it (a file)."""
    folder = path if path.is_dir() else path.parent
    file = folder / "config.json"
    if not file.is_file():
        raise CheckpointError(f"no config.json in {folder}: the weights' geometry (layers, heads, ...) is unknown")
    try:
        hf = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{file} is not valid JSON ({exc})") from None
    try:
        return config_from_hf(hf, name=name)
    except ValueError as exc:
        raise CheckpointError(f"{file}: {exc}") from None


def from_pretrained(
    name_or_path: str | os.PathLike,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    attention: str = "sdpa",
    cache_dir: str | os.PathLike | None = None,
    fold_ln: bool = False,
    center_writing_weights: bool = False,
    center_unembed: bool = False,
    fold_value_biases: bool = False,
):
    """A :class:`~minigpt.GPT` with the weights of a Hugging Face GPT-2 checkpoint (raw by default).

    The processing flags apply TransformerLens's weight processing (see
    :mod:`minigpt.weights.processing`); each leaves the log-probs unchanged.
    """
    from ..model import GPT

    path = resolve(name_or_path, cache_dir)
    name = str(name_or_path) if str(name_or_path) in HUB_NAMES else path.name
    cfg = read_config(path, name=name)
    file, tensors = open_weights(path)
    with torch.device("meta"):
        model = GPT(cfg, attention=attention, init=False)
    model = model.to(dtype=dtype or torch.float32).to_empty(device=device or "cpu")
    load_hf_tensors(model, tensors, source=str(file))
    model.eval()  # GPT-2's tokenizer is attached on first use (see minigpt.text)
    if fold_ln or center_writing_weights or center_unembed or fold_value_biases:
        from .processing import process_weights

        model = process_weights(
            model, fold_ln=fold_ln, center_writing_weights=center_writing_weights,
            center_unembed=center_unembed, fold_value_biases=fold_value_biases,
        )
    return model


def save_pretrained(model, folder: str | os.PathLike) -> Path:
    """Write ``config.json`` and ``model.safetensors`` that ``GPT2LMHeadModel.from_pretrained`` loads."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = config_to_hf(model.cfg)
    tensors = minigpt_to_hf({k: v.detach().cpu() for k, v in model.state_dict().items()}, model.cfg)
    if model.cfg.tie_embeddings:
        tensors.pop("lm_head.weight")  # the same matrix as wte; Hugging Face re-ties it on load
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_safetensors(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    return folder
