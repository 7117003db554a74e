"""From a model name to a folder on disk: the Hugging Face cache first, the hub only when allowed.

Names (``gpt2``, ``gpt2-medium``, ``gpt2-large``, ``gpt2-xl``, ``distilgpt2``) are
looked up in the Hugging Face cache first; only when they are missing, and
``HF_HUB_OFFLINE`` is not set, are they downloaded with the ``huggingface_hub``
client (``pip install "minigpt-interp[hub]"``). A path that exists is taken as it is.
Every failure says what was looked for and where.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from .files import WEIGHT_FILES
from .safetensors import CheckpointError

HUB_NAMES = {
    "gpt2": "openai-community/gpt2",
    "gpt2-medium": "openai-community/gpt2-medium",
    "gpt2-large": "openai-community/gpt2-large",
    "gpt2-xl": "openai-community/gpt2-xl",
    "distilgpt2": "distilbert/distilgpt2",
}


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
            "huggingface_hub client: pip install 'minigpt-interp[hub]' (or pass a local folder)"
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


def iter_known_names() -> Iterator[str]:
    return iter(HUB_NAMES)
