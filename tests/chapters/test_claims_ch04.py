"""What chapter 4's prose says about the canonical grokking run, asserted on the shipped checkpoint and history.

Each test is tagged in the chapter as ``<!-- claim: ch04.<name> -->`` right after the sentence it
checks, and computes the claim with the calls the chapter makes (the reference exercises are the
solutions, which ``mine_or_reference`` falls back to). The fast run (p = 59) is trained in the
chapter and described there by text rendered from the run; only its settings are asserted here.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import solutions.ch04_grokking as sol
from minigpt.checkpoints import list_snapshots, load_checkpoint, load_history
from minigpt.data import all_pairs, modular_data
from minigpt.interp.fourier import neuron_frequency_fractions
from minigpt.interp.grok import grok_grids
from minigpt.train.grokking import FAST, load_settings, summary

NAME = "grokking-canonical"


@pytest.fixture(scope="module")
def history() -> dict:
    return load_history(NAME)


def row(history: dict, step: int) -> dict:
    return next(r for r in history["rows"] if r["step"] == step)


@pytest.fixture(scope="module")
def canon() -> dict:
    """The canonical model read as the chapter reads it: grids, basis, key frequencies, clusters, W_logit."""
    with torch.no_grad():
        model = load_checkpoint(NAME)
        p = model.cfg.modulus
        grids = grok_grids(model)
        basis = sol.fourier_basis(p)
        key = sol.key_frequencies(sol.fft1d(model.W_E[:p], basis))
        cluster = sol.neuron_frequency_clusters(sol.fft2d(grids["neurons"], basis))
        attn, mlp = model.blocks[0].attn, model.blocks[0].mlp
        W_neur, W_logit = sol.effective_weights(model.W_E, attn.W_V, attn.W_O, mlp.W_in, mlp.W_out, model.W_U, p)
    data = modular_data(p, "add", 0.3, 0)
    return dict(model=model, p=p, grids=grids, basis=basis, key=key, cluster=cluster, W_neur=W_neur,
                W_logit=W_logit, data=data, labels=data.all_labels())


def _power(coeffs: torch.Tensor) -> torch.Tensor:
    return coeffs[1::2].pow(2) + coeffs[2::2].pow(2)


# ---------------------------------------------------------------------------
# the run: memorisation, grokking, the clock
# ---------------------------------------------------------------------------


@pytest.mark.claim("ch04.memorises_first")
def test_memorises_by_epoch_200(history):
    assert 0.25 < row(history, 100)["train_acc"] < 0.30  # "27 % at epoch 100"
    assert row(history, 200)["train_acc"] == 1.0
    assert row(history, 200)["test_acc"] < 0.02  # "fewer than 2 % of the other pairs" (chance 1/113)
    assert summary(history["rows"])["train_100_step"] == 200


@pytest.mark.claim("ch04.groks_late")
def test_groks_near_epoch_20000(history):
    info = summary(history["rows"])
    assert (info["test_50_step"], info["test_99_step"]) == (19_200, 21_500)
    assert row(history, 22_000)["test_acc"] == 1.0


@pytest.mark.claim("ch04.canonical_clock")
def test_canonical_clock_at_99_percent(history):
    info = summary(history["rows"])
    assert info["test_99_step"] == 21_500
    assert round(info["test_99_seconds"]) == 1_917 and round(info["test_99_seconds"] / 60) == 32
    settings = load_settings(NAME)
    assert settings.threads == 1 and settings.fast  # one thread, the fast training step


@pytest.mark.claim("ch04.fast_settings")
def test_fast_recipe_settings():
    assert (FAST.p, FAST.train_frac, FAST.lr) == (59, 0.4, 5e-3)


@pytest.mark.claim("ch04.split_sizes")
def test_canonical_split(canon):
    assert (len(canon["data"].train_idx), len(canon["data"].test_idx)) == (3_831, 8_938)


@pytest.mark.claim("ch04.param_count")
def test_parameter_count(canon):
    assert sum(p.numel() for p in canon["model"].parameters()) == 227_328


@pytest.mark.claim("ch04.test_loss_peak")
def test_test_loss_rises_while_memorising(history):
    peak = max(history["rows"], key=lambda r: r["test_loss"])
    assert peak["step"] == 1_400 and round(peak["test_loss"], 1) == 32.8


# ---------------------------------------------------------------------------
# the embedding: key frequencies, SVD, circles
# ---------------------------------------------------------------------------


@pytest.mark.claim("ch04.key_frequencies")
def test_three_key_frequencies(canon):
    assert canon["key"] == [22, 18, 1]


@pytest.mark.claim("ch04.svd_six_directions")
def test_svd_finds_the_key_frequencies(canon):
    S, freqs = sol.embedding_svd(canon["model"].W_E.detach(), canon["basis"], 6)
    assert [round(s, 2) for s in S[:7].tolist()] == [4.97, 4.91, 4.82, 4.81, 4.47, 4.39, 0.89]
    assert freqs.tolist() == [22, 22, 18, 18, 1, 1]
    variance = S.pow(2) / S.pow(2).sum()
    assert round(float(variance[:6].sum()), 3) == 0.987


@pytest.mark.claim("ch04.circles")
def test_each_key_frequency_is_a_circle(canon):
    W_E = canon["model"].W_E[:canon["p"]].detach()
    for k in canon["key"]:
        part = sol.project_onto_frequency(W_E, k, canon["basis"])
        S = torch.linalg.svdvals(part - part.mean(0))
        assert S[1] / S[0] >= 0.98 and S[2] < 1e-4 * S[0]


# ---------------------------------------------------------------------------
# attention and neurons
# ---------------------------------------------------------------------------


@pytest.mark.claim("ch04.attention_split")
def test_attention_goes_to_a_and_b(canon):
    model, p = canon["model"], canon["p"]
    with torch.no_grad():
        _, cache = model.run_with_cache(all_pairs(p), names_filter=lambda n: n == "blocks.0.attn.hook_pattern")
    pattern = cache["blocks.0.attn.hook_pattern"][:, :, -1]  # [pairs, n_heads, key_pos]: from = to a, b, =
    mean = pattern.mean(0)
    assert ((mean[:, 0] - 0.5).abs() < 0.01).all() and ((mean[:, 1] - 0.5).abs() < 0.01).all()
    assert (mean[:, 2] < 0.01).all() and pattern[..., 2].max() < 0.032


@pytest.mark.claim("ch04.heads_linear")
def test_heads_are_terms_of_a_alone_and_b_alone(canon):
    coeffs = sol.fft2d(canon["grids"]["attention"].permute(1, 2, 0).double(), canon["basis"].double())
    coeffs[0, 0] = 0
    sq = coeffs.pow(2)
    keep = torch.tensor([0] + [i for k in canon["key"] for i in (2 * k - 1, 2 * k)])
    total = sq.sum((0, 1))
    a_alone, b_alone = sq[keep, 0].sum(0) / total, sq[0, keep].sum(0) / total
    assert ((a_alone + b_alone > 0.965) & (a_alone + b_alone < 0.985)).all()  # "about 97-98 %"
    assert ((a_alone - b_alone).abs() < 0.02).all()  # "split nearly evenly"


@pytest.mark.claim("ch04.cluster_sizes")
def test_neuron_clusters(canon):
    cluster = canon["cluster"]
    sizes = {int(k): int((cluster == k).sum()) for k in cluster.unique()}
    assert sizes == {0: 161, 22: 158, 18: 104, 1: 89}
    spread = canon["grids"]["neurons"].reshape(canon["p"] ** 2, -1).var(0)
    assert round(float(spread[cluster == 0].median()), 2) == 0.08  # "median variance 0.08"
    assert round(float(spread[cluster > 0].median()), 1) == 2.0  # "against 2.0 in the clusters"
    # the chapter's library view gives the same clusters
    fractions = neuron_frequency_fractions(canon["grids"]["neurons"])
    best, arg = fractions.max(0)
    assert torch.equal(torch.where(best >= 0.85, arg + 1, 0), cluster)


# ---------------------------------------------------------------------------
# the weights, and ablating clusters
# ---------------------------------------------------------------------------


@pytest.mark.claim("ch04.weights_follow_clusters")
def test_w_neur_and_w_logit_follow_the_clusters(canon):
    p, basis, key, cluster = canon["p"], canon["basis"], canon["key"], canon["cluster"]
    neur_power = _power(sol.fft1d(canon["W_neur"].detach().permute(1, 0, 2), basis)).sum(1)
    logit_power = _power(sol.fft1d(canon["W_logit"].detach().T, basis))
    rows = [k - 1 for k in key]
    assert neur_power[rows].sum() / neur_power.sum() > 0.9985  # "99.9 %"
    clustered = cluster > 0
    for power in (neur_power, logit_power):
        assert torch.equal((power.argmax(0) + 1)[clustered], cluster[clustered])  # all 351
    for k in key:
        own = logit_power[k - 1, cluster == k].sum() / logit_power[:, cluster == k].sum()
        assert 0.985 < own < 0.995  # "about 99 %"


@pytest.mark.claim("ch04.cluster_ablation")
def test_ablating_a_key_frequency_costs_accuracy(canon):
    p, grids = canon["p"], canon["grids"]
    logits, neurons = grids["logits"].reshape(p * p, p), grids["neurons"].reshape(p * p, -1)
    base = F.cross_entropy(logits.double(), canon["labels"])
    assert 1.4e-7 < base < 1.6e-7
    losses, accuracies = sol.frequency_ablation(logits, neurons, canon["W_logit"].detach(), canon["cluster"],
                                                canon["labels"], [22, 18, 1])
    assert round(accuracies[0].item(), 2) == 0.65 and 1.05 < losses[0] < 1.15  # "65 %, about 1.1"
    assert 0.60 < accuracies[1] < 0.70 and 0.9 < losses[1] < 1.2  # "about the same"
    assert round(accuracies[2].item(), 2) == 0.94
    clustered = (canon["cluster"] > 0).long()
    _, all_key = sol.frequency_ablation(logits, neurons, canon["W_logit"].detach(), clustered, canon["labels"], [1])
    assert round(all_key.item(), 2) == 0.14


@pytest.mark.claim("ch04.unclustered_ablation")
def test_ablating_the_unclustered_neurons_costs_nothing(canon):
    p, grids = canon["p"], canon["grids"]
    losses, accuracies = sol.frequency_ablation(grids["logits"].reshape(p * p, p), grids["neurons"].reshape(p * p, -1),
                                                canon["W_logit"].detach(), canon["cluster"], canon["labels"], [0])
    assert 5e-6 < losses[0] < 7e-6 and accuracies[0] == 1.0


@pytest.mark.claim("ch04.logit_share")
def test_six_directions_explain_the_logits(canon):
    p = canon["p"]
    logits = canon["grids"]["logits"].reshape(p * p, p).double()
    centred = logits - logits.mean(0)
    kept = sum(torch.outer(d, d @ centred) for k in canon["key"] for d in sol.xpy_directions(k, p))
    assert round(float(kept.pow(2).sum() / centred.pow(2).sum()), 3) == 0.994


# ---------------------------------------------------------------------------
# progress measures and weight decay
# ---------------------------------------------------------------------------


@pytest.mark.claim("ch04.final_losses")
def test_final_losses(canon):
    p, labels = canon["p"], canon["labels"]
    logits = canon["grids"]["logits"].reshape(p * p, p).double()
    restricted = sol.restricted_loss(logits, labels, canon["key"])
    full = F.cross_entropy(logits, labels)
    assert 5.2e-8 < restricted < 5.4e-8 and restricted < full
    excluded = sol.excluded_loss(logits, labels, canon["key"], canon["data"].train_idx)
    assert round(float(excluded), 1) == 7.8 and excluded > math.log(p)


@pytest.mark.claim("ch04.excluded_climbs")
def test_excluded_loss_climbs_six_orders(history):
    rows = history["rows"]
    peak = max(rows, key=lambda r: r["test_loss"])
    assert peak["train_loss"] < 1e-6
    low = min((r for r in rows if r["step"] >= peak["step"]), key=lambda r: r["excluded_loss"])
    high = max(rows, key=lambda r: r["excluded_loss"])
    assert 4e-6 < peak["excluded_loss"] < 6e-6  # "near 0 (5e-6)"
    assert math.log10(high["excluded_loss"] / low["excluded_loss"]) > 6
    assert high["step"] == 21_000 and round(high["excluded_loss"]) == 17


@pytest.mark.claim("ch04.snapshots_match")
def test_snapshots_reproduce_the_history(canon, history):
    p, labels, key = canon["p"], canon["labels"], canon["key"]
    for step in list_snapshots(NAME)[::6]:  # three of the six the chapter recomputes
        with torch.no_grad():
            logits = grok_grids(load_checkpoint(NAME, step=step))["logits"].reshape(p * p, p).double()
        r = row(history, step)
        ours = (sol.restricted_loss(logits, labels, key),
                sol.excluded_loss(logits, labels, key, canon["data"].train_idx))
        for mine, theirs in zip(ours, (r["restricted_loss"], r["excluded_loss"])):
            assert abs(float(mine) - theirs) <= 5e-3 * abs(theirs)  # about three significant digits, not exact
            assert float(mine) != theirs


@pytest.mark.claim("ch04.weights_rise_then_fall")
def test_sum_of_squared_weights(history):
    rows = history["rows"]
    heaviest = max(rows, key=lambda r: r["sum_sq_weights"])
    assert heaviest["step"] == 900
    assert [round(r["sum_sq_weights"]) for r in (rows[0], heaviest, rows[-1])] == [1_132, 3_604, 840]
    after = [r["sum_sq_weights"] for r in rows if r["step"] >= heaviest["step"]]
    assert all(b < a for a, b in zip(after, after[1:]))  # it falls at every evaluation
