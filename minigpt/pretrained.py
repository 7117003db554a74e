"""Loading GPT-2 checkpoints in Hugging Face's formats, and writing them.

``GPT.from_pretrained`` takes a model name (``gpt2``, ``gpt2-medium``,
``gpt2-large``, ``gpt2-xl``, ``distilgpt2``), a Hugging Face folder, or one
``.safetensors`` file with its ``config.json`` beside it. It reads, in this
order of preference, ``model.safetensors``, sharded safetensors
(``model.safetensors.index.json``) and ``pytorch_model.bin`` (with
``torch.load(weights_only=True)``: tensors only, never arbitrary pickles).

Names are looked up in the Hugging Face cache first; only when they are
missing, and ``HF_HUB_OFFLINE`` is not set, are they downloaded with the
``huggingface_hub`` client (``pip install "minigpt[hub]"``).

The model is built on the ``meta`` device (no memory), given empty storage of
the right dtype on the right device, and filled one tensor at a time, so
loading needs about one copy of the weights, not two.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import torch

from .config import GPTConfig
from .checkpoint_files import WEIGHT_FILES, CheckpointError, open_weights
from .hf_weights import config_from_hf, config_to_hf, load_hf_tensors, minigpt_to_hf

HUB_NAMES = {
    "gpt2": "openai-community/gpt2",
    "gpt2-medium": "openai-community/gpt2-medium",
    "gpt2-large": "openai-community/gpt2-large",
    "gpt2-xl": "openai-community/gpt2-xl",
    "distilgpt2": "distilbert/distilgpt2",
}



# -- finding the files -----------------------------------------------------------------------
def hf_cache_dir() -> Path:
    """Where the Hugging Face hub client keeps its cache (``HF_HUB_CACHE``, ``HF_HOME``, ...)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def _has_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / f).is_file() for f in WEIGHT_FILES)


def cached_snapshot(name: str, cache_dir: Path | None = None) -> tuple[Path | None, list[Path]]:
    """The cached snapshot folder of a known model name, and every folder that was looked at."""
    cache_dir = cache_dir or hf_cache_dir()
    repo_ids = [HUB_NAMES[name], name] if HUB_NAMES[name] != name else [name]
    looked = []
    for repo_id in repo_ids:
        repo = cache_dir / ("models--" + repo_id.replace("/", "--"))
        looked.append(repo)
        ref = repo / "refs" / "main"
        candidates = [repo / "snapshots" / ref.read_text().strip()] if ref.is_file() else []
        candidates += sorted((repo / "snapshots").glob("*")) if (repo / "snapshots").is_dir() else []
        for folder in candidates:
            if _has_weights(folder):
                return folder, looked
    return None, looked


def _download(name: str, cache_dir: Path | None, looked: list[Path]) -> Path:
    where = ", ".join(map(str, looked))
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("0", "false", "no", ""):
        raise CheckpointError(
            f"{name!r} is not in the Hugging Face cache (looked in {where}) and HF_HUB_OFFLINE is set, "
            "so it was not downloaded. Unset HF_HUB_OFFLINE on a machine with network access, or pass "
            "the path of a folder that holds config.json and model.safetensors."
        )
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise CheckpointError(
            f"{name!r} is not in the Hugging Face cache (looked in {where}); downloading it needs the "
            "huggingface_hub client: pip install 'minigpt[hub]' (or pass a local folder)"
        ) from None
    try:
        folder = snapshot_download(
            HUB_NAMES[name], cache_dir=str(cache_dir) if cache_dir else None,
            allow_patterns=["config.json", "model.safetensors", "model.safetensors.index.json", "model-*.safetensors"],
        )
    except Exception as exc:  # network down, hub unreachable, ...
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"could not download {name!r} from the Hugging Face hub ({type(exc).__name__}: {reason}). "
            f"It is not cached either (looked in {where}). Connect to the network, or pass a local folder."
        ) from None
    return Path(folder)


def resolve(name_or_path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """A folder (or a ``.safetensors`` file) holding the checkpoint for ``name_or_path``."""
    cache = Path(cache_dir) if cache_dir else None
    path = Path(name_or_path).expanduser()
    if path.exists():
        if path.is_file() and path.suffix != ".safetensors":
            raise CheckpointError(f"{path} is a file but not a .safetensors file; pass its folder instead")
        return path
    name = str(name_or_path)
    if name in HUB_NAMES:
        folder, looked = cached_snapshot(name, cache)
        return folder if folder is not None else _download(name, cache, looked)
    import difflib

    close = difflib.get_close_matches(name, list(HUB_NAMES), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise CheckpointError(
        f"{name!r} is neither a known model name ({', '.join(HUB_NAMES)}) nor an existing "
        f"file or folder.{hint}"
    )


def read_config(path: Path, name: str = "custom") -> GPTConfig:
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


# -- the public functions ----------------------------------------------------------------------
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
    :mod:`minigpt.processing`); each leaves the log-probs unchanged.
    """
    from .model import GPT

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
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = config_to_hf(model.cfg)
    tensors = minigpt_to_hf({k: v.detach().cpu() for k, v in model.state_dict().items()}, model.cfg)
    if model.cfg.tie_embeddings:
        tensors.pop("lm_head.weight")  # the same matrix as wte; Hugging Face re-ties it on load
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def iter_known_names() -> Iterator[str]:
    return iter(HUB_NAMES)
