"""Reading and writing checkpoint folders (see the package docstring for the layout).

Weights go through :mod:`minigpt.weights.safetensors`, the same reader and writer as
Hugging Face checkpoints use: files any ``safetensors`` client can open.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from ..config import GPTConfig
from ..weights.safetensors import load_safetensors, save_safetensors

SHIPPED = Path(__file__).parent / "shipped"
_SNAPSHOT = re.compile(r"step_(\d+)\.safetensors$")


def list_checkpoints() -> list[str]:
    """The names of the checkpoints shipped with the package."""
    if not SHIPPED.is_dir():
        return []
    return sorted(p.name for p in SHIPPED.iterdir() if (p / "config.json").is_file())


def checkpoint_path(name_or_folder: str | os.PathLike) -> Path:
    """The folder of a shipped checkpoint (by name) or of one ``minigpt train`` wrote (by path)."""
    folder = Path(name_or_folder).expanduser()
    if (folder / "config.json").is_file():
        return folder
    if (SHIPPED / str(name_or_folder) / "config.json").is_file():
        return SHIPPED / str(name_or_folder)
    shipped = ", ".join(list_checkpoints()) or "none"
    raise FileNotFoundError(
        f"no checkpoint {str(name_or_folder)!r}: not a shipped name (shipped: {shipped}) and not a folder "
        f"with a config.json (one that `minigpt train RECIPE --out DIR` wrote)")


def _state_dict(model: torch.nn.Module, dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    return {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
            for k, v in model.state_dict().items()}


def save_checkpoint(folder: str | os.PathLike, model, history: dict | None = None, train: dict | None = None,
                    dtype: torch.dtype | None = None) -> Path:
    """Write ``model`` (a GPT) and, when given, its training history and settings to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(model.cfg.to_dict(), indent=1))
    save_safetensors(_state_dict(model, dtype), folder / "model.safetensors")
    if history is not None:
        (folder / "history.json").write_text(json.dumps(history))
    if train is not None:
        (folder / "train.json").write_text(json.dumps(train, indent=1))
    return folder


def save_snapshot(folder: str | os.PathLike, model, step: int, dtype: torch.dtype | None = torch.float16) -> Path:
    """Weights at one training step, in ``folder/snapshots/`` (fp16 by default: they are for analysis)."""
    path = Path(folder) / "snapshots" / f"step_{step:06d}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors(_state_dict(model, dtype), path)
    return path


def list_snapshots(name_or_folder: str | os.PathLike) -> list[int]:
    """The training steps that have a weight snapshot, in order."""
    folder = checkpoint_path(name_or_folder) / "snapshots"
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _SNAPSHOT.search(p.name)))


def load_history(name_or_folder: str | os.PathLike) -> dict:
    """The training history: ``{"rows": [{"step": ..., "train_loss": ..., ...}, ...], ...}``."""
    path = checkpoint_path(name_or_folder) / "history.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path.parent} has no history.json (it was not written by a training run)")
    return json.loads(path.read_text())


def load_checkpoint(name_or_folder: str | os.PathLike, step: int | None = None, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32, attention: str = "sdpa"):
    """A GPT with a checkpoint's weights: the final ones, or the snapshot at training ``step``.

    ``name_or_folder`` is a shipped name (see :func:`list_checkpoints`) or a folder ``minigpt train`` wrote.
    The model comes with what its config records: its tokenizer (``cfg.tokenizer``, found on first use
    by ``model.to_tokens``/``to_str_tokens``), its BOS token (``cfg.bos_token_id``) and, for grokking,
    its modulus (``cfg.modulus``); older ``config.json`` files with these in ``extra`` load the same.

    >>> load_checkpoint("stdlib-bytes").to_str_tokens("def f", prepend_bos=False)
    ['d', 'e', 'f', ' ', 'f']
    """
    from ..model import GPT

    folder = checkpoint_path(name_or_folder)
    cfg = GPTConfig.from_dict(json.loads((folder / "config.json").read_text()))
    if step is None:
        path = folder / "model.safetensors"
    else:
        path = folder / "snapshots" / f"step_{step:06d}.safetensors"
        if not path.is_file():
            raise FileNotFoundError(f"{folder.name} has no snapshot at step {step}; it has {list_snapshots(folder)}")
    try:
        state = load_safetensors(path)
    except Exception as exc:  # a truncated or foreign file: say which one
        raise ValueError(f"could not read {path}: {exc} (the file is damaged; re-run the training recipe)") from exc
    model = GPT(cfg, attention=attention, init=False)
    model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
    if cfg.tokenizer == "words":  # a word-level model keeps its word list beside its weights
        from ..tokenizer import get_tokenizer

        model.set_tokenizer(get_tokenizer("words", path=folder))
    return model.to(device=device, dtype=dtype).eval()
