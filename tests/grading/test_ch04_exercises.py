"""Chapter 4's exercises: what is particular to the chapter (which exercises, their kinds and cases).

test_every_exercise.py holds what every exercise must do (the solution passes, the stub is not
implemented, every known mistake is named). Plus oracles: the reference pieces equal minigpt.interp's
Fourier tools and progress measures.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import solutions.ch04_grokking as sol
from minigpt.data import all_pairs, modular_labels
from minigpt.grading import all_exercises
from minigpt.interp import fourier as lib
from minigpt.interp import progress as lib_progress

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = all_exercises(chapter=4)


def test_chapter_has_the_planned_exercises():
    names = [ex.name for ex in EXERCISES]
    assert names == ["modular_pairs", "fourier_basis", "fft1d", "fft2d", "key_frequencies", "project_onto_frequency",
                     "neuron_frequency_clusters", "xpy_directions", "restricted_loss", "excluded_loss",
                     "sum_sq_weights"]


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_chapter_metadata(ex):
    """Chapter 4's file and kind, and four known mistakes at least; test_every_exercise.py checks the rest."""
    assert ex.file == "ch04_grokking.py" and ex.kind == "function"
    assert len(ex.mutants) >= 4


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_cases_are_seeded_and_small(ex):
    first, second = ex.make_cases(), ex.make_cases()
    assert 2 <= len(first) <= 4
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        for key in a:
            values = a[key].values() if isinstance(a[key], dict) else [a[key]]
            others = b[key].values() if isinstance(b[key], dict) else [b[key]]
            for x, y in zip(values, others):
                if isinstance(x, torch.Tensor):
                    assert torch.equal(x, y), key
                    assert x.numel() <= 2_000, (key, x.shape)
                else:
                    assert x == y, key


def test_solutions_file_imports_nothing_from_minigpt():
    """Chapter 4's solutions stand alone (test_every_exercise.py checks every file for the grader)."""
    tree = ast.parse((ROOT / "solutions" / "ch04_grokking.py").read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if "grading" in m or m.startswith("solutions") or m.startswith("minigpt")]


# ---------------------------------------------------------------------------
# oracles: the reference pieces against minigpt.interp and minigpt.data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("p", [3, 5, 11, 59])
def test_data_and_basis_equal_the_library(p):
    tokens, labels = sol.modular_pairs(p)
    assert torch.equal(tokens, all_pairs(p))
    assert torch.equal(labels, modular_labels(all_pairs(p), p))
    torch.testing.assert_close(sol.fourier_basis(p), lib.fourier_basis(p)[0])


def test_transforms_equal_the_library():
    g = torch.Generator().manual_seed(0)
    basis = sol.fourier_basis(13)
    x = torch.randn(13, 13, 4, generator=g)
    torch.testing.assert_close(sol.fft1d(x, basis), lib.fft1d(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sol.fft2d(x, basis), lib.fft2d(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sol.project_onto_frequency(x, 4, basis), lib.project_onto_frequency(x, 4),
                               atol=1e-5, rtol=1e-5)


def test_key_frequencies_and_clusters_equal_the_library():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(13, 8, generator=g)
    x += 6 * torch.cos(2 * torch.pi * 3 * torch.arange(13) / 13)[:, None] * torch.randn(8, generator=g)
    assert sol.key_frequencies(sol.fft1d(x, sol.fourier_basis(13))) == lib.key_frequencies(x)
    acts = torch.randn(13, 13, 16, generator=g).relu()
    a = torch.arange(13.0)
    acts[..., :6] += 4 * torch.cos(2 * torch.pi * 5 * (a[:, None] + a[None, :]) / 13)[..., None]
    labels = sol.neuron_frequency_clusters(lib.fft2d(acts), threshold=0.5)
    clusters = lib.neuron_clusters(lib.neuron_frequency_fractions(acts), threshold=0.5)
    assert {k: v for k, v in clusters.items()} == {int(k): torch.nonzero(labels == k).flatten().tolist()
                                                   for k in labels.unique().tolist() if k}
    assert set(clusters) == {5}


def test_losses_equal_the_library():
    p, freqs = 7, [2, 3]
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(p * p, p, generator=g, dtype=torch.float64)
    labels = modular_labels(all_pairs(p), p)
    train_idx = torch.randperm(p * p, generator=g)[:20]
    torch.testing.assert_close(sol.restricted_loss(logits, labels, freqs),
                               lib_progress.restricted_loss(logits, labels, freqs))
    torch.testing.assert_close(sol.excluded_loss(logits, labels, freqs, train_idx),
                               lib_progress.excluded_loss(logits, labels, freqs, train_idx))
    cos, sin = sol.xpy_directions(3, p)
    torch.testing.assert_close(cos, lib.cos_xpy_direction(3, p, torch.float64))
    torch.testing.assert_close(sin, lib.sin_xpy_direction(3, p, torch.float64))
    model = torch.nn.Linear(3, 2)
    assert sol.sum_sq_weights(dict(model.named_parameters())).item() == pytest.approx(
        lib_progress.sum_sq_weights(model))
