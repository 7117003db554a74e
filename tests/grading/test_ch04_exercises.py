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
                     "sum_sq_weights", "embedding_svd", "effective_weights", "frequency_ablation"]


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


# ---------------------------------------------------------------------------
# oracles for the weights' exercises: a real forward pass with hooks
# ---------------------------------------------------------------------------


def _small_grokking_model(p: int = 7):
    from minigpt import GPT
    from minigpt.grokking_model import grokking_config, init_grokking_

    model = GPT(grokking_config(p, d_model=16, n_heads=2, d_mlp=32))
    init_grokking_(model, "tl", seed=3)
    return model


@torch.no_grad()
def test_effective_weights_are_what_the_neurons_and_logits_receive():
    """Every head looking at ``a`` only, no positions or biases: the neurons' input is
    ``W_E[=] @ W_in + Σ_h W_neur[h, a]``, and the logits less the direct path are ``post @ W_logit``."""
    p = 7
    model = _small_grokking_model(p)
    for name, param in model.named_parameters():
        if not name.split(".")[-1].startswith("W_") or "W_pos" in name:
            param.zero_()
    attn, mlp = model.blocks[0].attn, model.blocks[0].mlp
    W_neur, W_logit = sol.effective_weights(model.W_E, attn.W_V, attn.W_O, mlp.W_in, mlp.W_out, model.W_U, p)

    def look_at_a(pattern, hook):
        out = torch.zeros_like(pattern)
        out[..., 0] = 1.0
        return out

    tokens = all_pairs(p)
    names = ("blocks.0.mlp.hook_pre", "blocks.0.mlp.hook_post", "blocks.0.hook_resid_mid")
    with model.hooks(fwd_hooks=[("blocks.0.attn.hook_pattern", look_at_a)]):
        logits, cache = model.run_with_cache(tokens, names_filter=lambda name: name in names)
    pre = cache["blocks.0.mlp.hook_pre"][:, -1]  # [p*p, d_mlp]
    torch.testing.assert_close(pre - model.W_E[p] @ mlp.W_in, W_neur.sum(0)[tokens[:, 0]], atol=1e-5, rtol=1e-4)
    direct = cache["blocks.0.hook_resid_mid"][:, -1] @ model.W_U[:, :p]
    torch.testing.assert_close(logits[:, -1, :p] - direct, cache["blocks.0.mlp.hook_post"][:, -1] @ W_logit,
                               atol=1e-5, rtol=1e-4)


@torch.no_grad()
def test_frequency_ablation_equals_a_mean_ablation_hook():
    from minigpt.interp.grok import grok_grids

    p = 7
    model = _small_grokking_model(p)
    grids = grok_grids(model)
    logits, neurons = grids["logits"].reshape(p * p, p), grids["neurons"].reshape(p * p, -1)
    mlp = model.blocks[0].mlp
    W_logit = mlp.W_out @ model.W_U[:, :p]
    clusters = torch.arange(mlp.W_in.shape[1]) % 4  # frequencies 1..3, and 0 for a quarter of the neurons
    labels = modular_labels(all_pairs(p), p)
    losses, accuracies = sol.frequency_ablation(logits, neurons, W_logit, clusters, labels, [1, 2, 0])
    for i, k in enumerate([1, 2, 0]):
        members = clusters == k

        def mean_ablate(post, hook):
            post = post.clone()
            post[:, -1, members] = post[:, -1, members].mean(dim=0)
            return post

        with model.hooks(fwd_hooks=[("blocks.0.mlp.hook_post", mean_ablate)]):
            hooked = model(all_pairs(p))[:, -1, :p].double()
        assert losses[i].item() == pytest.approx(torch.nn.functional.cross_entropy(hooked, labels).item(), rel=1e-5)
        assert accuracies[i].item() == (hooked.argmax(-1) == labels).double().mean().item()


def test_embedding_svd_equals_torch_and_the_library():
    p = 13
    g = torch.Generator().manual_seed(4)
    x = torch.arange(p, dtype=torch.float32)
    W_E = 0.01 * torch.randn(p + 1, 20, generator=g) + torch.randn(1, 20, generator=g)
    for k, amplitude in ((4, 3.0), (1, 2.0)):
        W_E[:p] += amplitude * torch.cos(2 * torch.pi * k * x / p)[:, None] * torch.randn(20, generator=g)
        W_E[:p] += amplitude * torch.sin(2 * torch.pi * k * x / p)[:, None] * torch.randn(20, generator=g)
    S, freqs = sol.embedding_svd(W_E, sol.fourier_basis(p), 4)
    torch.testing.assert_close(S, torch.linalg.svdvals(W_E[:p] - W_E[:p].mean(0)))
    assert freqs.tolist() == [4, 4, 1, 1]
    assert lib.key_frequencies(W_E[:p]) == [4, 1]
