"""The shipped SAE ``sae-stdlib-bytes``: it meets the issue's targets, and latents a learner can name are there.

Every figure is measured on held-out source (stdlib files after the training corpus, which neither the model
nor the SAE read; :mod:`minigpt.sae.evaluate`), with byte labels from Python's own tokenizer
(:mod:`minigpt.sae.labels`). A feature is named from its top-activating contexts, then tested: over the
bytes its label marks, how many make it fire above a threshold (recall), and over the bytes where it fires
above that threshold, how many carry the label (precision).
"""

from __future__ import annotations

import re

import pytest
import torch

from minigpt.checkpoints import load_checkpoint
from minigpt.sae import load_sae, load_train_info, model_activations
from minigpt.sae.evaluate import evaluate_sae, held_out_text, text_windows
from minigpt.sae.labels import python_byte_labels

NAME = "sae-stdlib-bytes"


@pytest.fixture(scope="module")
def model():
    return load_checkpoint("stdlib-bytes")


@pytest.fixture(scope="module")
def sae():
    return load_sae(NAME)


@pytest.fixture(scope="module")
def held_out(model, sae):
    """``(bytes [n], acts [n d_sae], labels)`` on held-out files (one, 78 KB), in windows that start with BOS."""
    text = held_out_text(50_000)
    tokens = text_windows(text)  # [n_windows 128]
    x = model_activations(model, tokens, sae.cfg.hook_name)[:, 1:]  # [n_windows 127 d_mlp]
    with torch.no_grad():
        acts = sae.encode(x).reshape(-1, sae.cfg.d_sae)
    n = len(acts)
    labels = {k: v[:n] for k, v in python_byte_labels(text).items()}
    return tokens[:, 1:].reshape(-1), acts, labels


def test_the_shipped_sae_meets_the_targets_on_held_out_text():
    info = load_train_info(NAME)
    m = info["held_out"]  # measured by the recipe on 209,423 held-out bytes
    assert m["n_tokens"] > 200_000
    assert m["fve"] >= 0.85 and m["loss_recovered"] >= 0.85 and m["l0"] <= 25 and m["dead"] <= 0.10, m
    assert info["cpu_s"] <= 300 and info["threads"] == 1  # ~5 minutes of one thread at most
    assert info["command"] == "minigpt train sae-stdlib-bytes --seed 0"


def test_the_targets_hold_when_measured_again(model, sae):
    tokens = text_windows(held_out_text(50_000), n=120)  # [120 128]: 15,240 bytes
    m = evaluate_sae(model, sae, tokens)
    # measured: FVE 0.895, loss recovered 0.921 (clean 1.12, spliced 1.17, zero-ablated 1.69 nats per byte)
    assert m["fve"] >= 0.85 and m["loss_recovered"] >= 0.85 and m["l0"] == 16, m


def test_the_shipped_folder(sae):
    from minigpt.checkpoints import SHIPPED

    folder = SHIPPED / NAME
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 10 * 2**20
    assert (sae.cfg.d_in, sae.cfg.d_sae, sae.cfg.kind, sae.cfg.k) == (512, 1024, "topk", 16)
    assert sae.cfg.hook_name == "blocks.1.mlp.hook_post" and sae.cfg.model_name == "stdlib-bytes"
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(1024), atol=1e-5)


def _shift(mask: torch.Tensor) -> torch.Tensor:
    """``out[i] = mask[i - 1]``: the label of the previous byte."""
    return torch.cat([mask.new_zeros(1), mask[:-1]])


def _matches(data: torch.Tensor, pattern: bytes) -> torch.Tensor:
    """True at the last byte of every match of ``pattern`` in ``data``."""
    out = torch.zeros(len(data), dtype=torch.bool)
    for match in re.finditer(pattern, bytes(data.tolist())):
        out[match.end() - 1] = True
    return out


def _feature_labels(data: torch.Tensor, labels: dict) -> dict[str, torch.Tensor]:
    comment, docstring = labels["comment"], labels["docstring"]
    block_first = torch.zeros(len(data), dtype=torch.bool)  # the indentation of the line after a `...:` line
    previous, start = b"", 0
    for line in bytes(data.tolist()).split(b"\n"):
        if line.strip():
            if previous.rstrip().endswith(b":") and not previous.lstrip().startswith(b"#"):
                block_first[start:start + len(line) - len(line.lstrip(b" "))] = True
            previous = line
        start += len(line) + 1
    return {
        "after_def": _matches(data, rb"\bdef "),  # the space after the keyword
        "def_paren": _matches(data, rb"\bdef \w+\("),  # the ( that opens a def's parameters
        "comment_hash": comment & ~_shift(comment),  # the # itself
        "comment_text": comment & _shift(comment) & ~_shift(_shift(comment)),  # the byte after the #
        "docstring_open": docstring & ~_shift(docstring),  # the first quote of a docstring
        "block_indent": block_first,
    }


# latent, label, threshold, min recall, min precision; measured on the recipe's 209,423 held-out bytes
# (recall / precision) and, in brackets, on this test's 78 KB: the lower of the two, less a margin, is asserted.
NAMED_FEATURES = [
    # "after def": the space after the keyword (417 of them; 184 here): 0.95 / 1.00 (0.95 / 0.99)
    (758, "after_def", 4.0, 0.90, 0.95),
    # "a def's parameters open": the ( after a def's name: 0.74 / 0.98 (0.83 / 0.99)
    (859, "def_paren", 2.0, 0.65, 0.90),
    # "a comment starts": its # (477; 83): 0.89 / 0.98 (0.92 / 0.97)
    (775, "comment_hash", 3.0, 0.80, 0.90),
    # "a comment's text starts": the byte after # (474; 82): 0.95 / 0.96 (0.98 / 0.98)
    (395, "comment_text", 1.0, 0.90, 0.90),
    # "a docstring opens": its first quote (293; 196): recall 0.96 (0.95); it also fires on docstrings' other quotes
    (590, "docstring_open", 2.0, 0.90, 0.0),
    # "a new block's indentation": the leading spaces of the line after a `:` line (18,416; 8,812): 0.49 / 0.96
    # (0.50 / 0.97); at depth 4 it fires on 98 % of them, at 8 on 84 %, deeper on a third (other latents share it)
    (348, "block_indent", 1.0, 0.40, 0.90),
]


@pytest.mark.parametrize("latent, label, threshold, min_recall, min_precision", NAMED_FEATURES,
                         ids=[f"L{f[0]}-{f[1]}" for f in NAMED_FEATURES])
def test_a_named_feature_fires_on_what_its_name_says(held_out, latent, label, threshold, min_recall, min_precision):
    data, acts, labels = held_out
    y = _feature_labels(data, labels)[label]
    fires = acts[:, latent] > threshold
    recall = (fires & y).sum().item() / y.sum().item()
    precision = (fires & y).sum().item() / max(1, fires.sum().item())
    assert y.sum() >= 50, "too few labelled bytes to measure"
    assert recall >= min_recall and precision >= min_precision, (recall, precision)
    assert acts[~y, latent].mean() < 0.1 * acts[y, latent].mean()  # and it is mostly silent elsewhere


def test_the_docstring_latent_fires_only_on_docstring_quotes(held_out):
    data, acts, labels = held_out
    docstring = labels["docstring"]
    quotes = docstring & ((data == ord('"')) | (data == ord("'")))
    fires = acts[:, 590] > 2.0
    assert (fires & quotes).sum() / fires.sum() >= 0.95  # measured: 0.997 here
