"""SAE folders: ``cfg.json`` (an :class:`SAEConfig`) and ``sae_weights.safetensors``, SAELens's file names.

A trained SAE may also carry ``train.json`` (how it was trained, its measured metrics) and ``history.json``.
The package ships some beside its GPT checkpoints (``minigpt/checkpoints/shipped/<name>/``); they are not
GPTs, so :func:`minigpt.checkpoints.load_checkpoint` does not list or load them: :func:`load_sae` does.

>>> import tempfile
>>> from minigpt.sae import SAE
>>> with tempfile.TemporaryDirectory() as folder:
...     sae = SAE(d_in=4, d_sae=8, kind="topk", k=2, seed=0)
...     _ = sae.save(folder)
...     again = load_sae(folder)
>>> again.cfg == sae.cfg, again.W_dec.equal(sae.W_dec)
(True, True)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..checkpoints import SHIPPED
from ..weights.safetensors import load_safetensors, save_safetensors
from .sae import SAE, SAEConfig

CONFIG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"


def save_sae(sae: SAE, folder: str | os.PathLike) -> Path:
    """Write ``sae`` (fp32) to ``folder``; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(sae.cfg.to_dict(), indent=1))
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in sae.state_dict().items()}
    save_safetensors(state, folder / WEIGHTS_FILE)
    return folder


def list_saes() -> list[str]:
    """The names of the SAEs shipped with the package."""
    if not SHIPPED.is_dir():
        return []
    return sorted(p.name for p in SHIPPED.iterdir() if (p / CONFIG_FILE).is_file())


def sae_path(name_or_folder: str | os.PathLike) -> Path:
    """The folder of a shipped SAE (by name) or of one :meth:`SAE.save` wrote (by path)."""
    folder = Path(name_or_folder).expanduser()
    if (folder / CONFIG_FILE).is_file():
        return folder
    if (SHIPPED / str(name_or_folder) / CONFIG_FILE).is_file():
        return SHIPPED / str(name_or_folder)
    raise FileNotFoundError(
        f"no SAE {str(name_or_folder)!r}: not a shipped name (shipped: {', '.join(list_saes()) or 'none'}) and not "
        f"a folder with a {CONFIG_FILE} (one that SAE.save or `minigpt train sae-...` wrote)")


def read_sae(folder: str | os.PathLike, device: str | torch.device = "cpu") -> SAE:
    """The SAE stored in ``folder`` (a path; see :func:`load_sae` for shipped names)."""
    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{folder} has no {CONFIG_FILE}: not an SAE folder (SAE.save writes one)")
    cfg = SAEConfig.from_dict(json.loads((folder / CONFIG_FILE).read_text()))
    try:
        state = load_safetensors(folder / WEIGHTS_FILE)
    except Exception as exc:  # missing, truncated or foreign: say which file
        raise ValueError(f"could not read {folder / WEIGHTS_FILE}: {exc}") from exc
    sae = SAE.from_config(cfg, seed=None)
    sae.load_state_dict(state)
    return sae.to(device).eval()


def load_sae(name_or_folder: str | os.PathLike, device: str | torch.device = "cpu") -> SAE:
    """A shipped SAE by name (see :func:`list_saes`), or the one in a folder."""
    return read_sae(sae_path(name_or_folder), device=device)


def load_train_info(name_or_folder: str | os.PathLike) -> dict:
    """An SAE folder's ``train.json``: the command, settings, times and measured metrics of its training."""
    path = sae_path(name_or_folder) / "train.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path.parent} has no train.json (it was not written by a training recipe)")
    return json.loads(path.read_text())
