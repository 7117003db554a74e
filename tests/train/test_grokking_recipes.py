"""The grokking recipes: the fast step equals the model, the fast run groks with a delay, the shipped run holds up."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from minigpt import GPT
from minigpt.checkpoints import SHIPPED, list_snapshots, load_checkpoint, load_history
from minigpt.data import modular_data
from minigpt.interp.fourier import key_frequencies
from minigpt.train.grokking import FAST, NO_WD, load_settings, settings_for, summary
from minigpt.train.grokking_history import pick_snapshot_steps
from minigpt.train.grokking_loop import GrokSettings, lr_at, train_grokking
from minigpt.grokking_model import grokking_config, init_grokking_, last_position_logits, modular_loss
from minigpt.train.recipes import get_recipe


def test_data_split():
    d = modular_data(13, train_frac=0.3, seed=5)
    assert len(d.train_idx) + len(d.test_idx) == 169 and len(d.train_idx) == round(0.3 * 169)
    assert torch.equal(torch.sort(torch.cat([d.train_idx, d.test_idx])).values, torch.arange(169))
    assert torch.equal(d.train_labels, (d.train_tokens[:, 0] + d.train_tokens[:, 1]) % 13)
    assert (d.train_tokens[:, 2] == 13).all() and d.d_vocab == 14
    assert d.train_mask().sum() == len(d.train_idx)
    assert torch.equal(modular_data(13, train_frac=0.3, seed=5).train_idx, d.train_idx)
    assert not torch.equal(modular_data(13, train_frac=0.3, seed=6).train_idx, d.train_idx)
    sub = modular_data(7, "sub", 0.5)
    assert torch.equal(sub.test_labels, (sub.test_tokens[:, 0] - sub.test_tokens[:, 1]) % 7)
    with pytest.raises(ValueError, match="operation"):
        modular_data(7, "div")


def test_the_model_is_a_genuine_gpt():
    cfg = grokking_config(113)
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp) == (1, 128, 4, 32, 512)
    assert (cfg.d_vocab, cfg.n_ctx, cfg.act_fn, cfg.normalization_type, cfg.tie_embeddings) == (
        114, 3, "relu", None, False)
    assert isinstance(GPT(cfg), GPT)


def test_init_schemes():
    model = GPT(grokking_config(113, seed=0))
    init_grokking_(model, "tl", seed=0)
    for name, p in model.named_parameters():
        if name.split(".")[-1].startswith("W_"):
            assert abs(p.std().item() - model.cfg.init_range) < 0.1 * model.cfg.init_range, name
        else:
            assert not p.any(), name
    gpt2 = GPT(grokking_config(113, seed=0))
    assert gpt2.blocks[0].mlp.W_out.std() < 0.8 * model.blocks[0].mlp.W_out.std()  # GPT-2's residual scaling
    init_grokking_(gpt2, "gpt2", seed=0)
    torch.testing.assert_close(gpt2.W_E, GPT(grokking_config(113, seed=0)).W_E)
    with pytest.raises(ValueError, match="init scheme"):
        init_grokking_(model, "xavier")


def test_last_position_step_equals_the_full_forward_and_its_gradients():
    model = GPT(grokking_config(11, d_model=32, n_heads=4, d_mlp=64, seed=1), attention="naive")
    d = modular_data(11, train_frac=0.5)
    x, y = d.train_tokens, d.train_labels
    fast = modular_loss(last_position_logits(model, x), y, 11)
    grads_fast = torch.autograd.grad(fast, list(model.parameters()), allow_unused=True)
    full = modular_loss(model(x)[:, -1], y, 11)
    grads_full = torch.autograd.grad(full, list(model.parameters()), allow_unused=True)
    torch.testing.assert_close(fast, full)
    for (name, _), gf, gs in zip(model.named_parameters(), grads_fast, grads_full):
        gf = torch.zeros_like(gs) if gf is None else gf  # parameters only the first positions use
        torch.testing.assert_close(gf, gs, atol=1e-6, rtol=1e-4, msg=name)


def test_settings_and_schedule():
    s = settings_for(FAST, seed=3, steps=10, dtype="float32")
    assert s.epochs == 10 and s.seed == 3 and s.p == FAST.p
    with pytest.raises(TypeError, match="unknown grokking settings"):
        settings_for(FAST, seed=0, batch_size=3)
    assert lr_at(GrokSettings(lr=1.0, warmup=10), 0) == pytest.approx(0.1)
    assert lr_at(GrokSettings(lr=1.0, warmup=10), 50) == 1.0
    decay = GrokSettings(lr=1.0, warmup=0, lr_decay_start=100, epochs=200, lr_min=0.0)
    assert lr_at(decay, 150) == pytest.approx(0.5) and lr_at(decay, 199) < 0.01
    assert NO_WD.weight_decay == 0.0


def test_recipes_are_registered():
    for name in ("grokking", "grokking-canonical", "grokking-no-wd"):
        assert get_recipe(name).name == name


def test_pick_snapshot_steps():
    rows = [{"step": 100 * i, "test_loss": 10.0 if i < 50 else 10.0 * 0.5 ** (i - 49), "restricted_loss": 1.0,
             "excluded_loss": 1.0, "sum_sq_weights": 1.0, "train_loss": 1.0} for i in range(100)]
    steps = pick_snapshot_steps(rows, 10)
    assert len(steps) == 10 and steps[0] == 0 and steps[-1] == 9900
    assert sum(s >= 5000 for s in steps) >= 7  # the frames gather where the curves move


def test_a_short_run_records_rows_and_stops_on_request():
    s = replace(FAST, p=13, train_frac=0.5, d_model=32, d_mlp=64, epochs=25, eval_every=10, stop_test_acc=None)
    run = train_grokking(s)
    assert [r["step"] for r in run.rows] == [0, 10, 20, 24]
    assert {"train_loss", "train_acc", "test_loss", "test_acc", "lr", "time"} <= set(run.rows[0])
    capped = train_grokking(replace(s, epochs=10_000, max_seconds=0.0))
    assert capped.rows[-1]["step"] == 0


@pytest.mark.slow
def test_the_fast_recipe_groks_with_the_delay_and_a_fourier_algorithm(tmp_path):
    out = get_recipe("grokking").run(tmp_path / "fast", device="cpu", seed=0, progress=False)
    history = load_history(out)
    info = summary(history["rows"])
    assert info["test_99_step"] is not None, info
    assert info["delay_ratio"] >= 3, info
    m = history["final_measures"]
    assert len(history["key_frequencies"]) <= 6
    assert m["embed_explained"] >= 0.9 and m["neuron_explained"] >= 0.9, m
    assert m["restricted_loss"] <= 2 * m["all_loss"], m
    model = load_checkpoint(out)
    assert key_frequencies(model.W_E[: FAST.p].detach()) == history["key_frequencies"]
    assert load_settings(out).lr == FAST.lr


CANONICAL_DIR = SHIPPED / "grokking-canonical"


@pytest.mark.skipif(not (CANONICAL_DIR / "config.json").is_file(), reason="the canonical run is not shipped")
def test_the_shipped_canonical_run():
    size = sum(f.stat().st_size for d in SHIPPED.glob("grokking*") for f in d.rglob("*") if f.is_file())
    assert size <= 10 * 2 ** 20, f"{size / 2 ** 20:.1f} MB shipped"
    history = load_history("grokking-canonical")
    rows = history["rows"]
    steps = [r["step"] for r in rows]
    assert steps[:3] == [0, 100, 200] and all(b - a <= 100 for a, b in zip(steps, steps[1:]))
    for key in ("restricted_loss", "excluded_loss", "sum_sq_weights", "embed_spectrum"):
        assert all(key in r for r in rows), key
    info = summary(rows)
    assert info["test_99_step"] is not None and info["delay_ratio"] >= 3, info
    # the circuit forms before the test loss drops: restricted loss falls well before test loss does
    first_below = lambda key, level: next(r["step"] for r in rows if r[key] < level)  # noqa: E731
    assert first_below("restricted_loss", 1.0) < first_below("test_loss", 1.0)
    snaps = list_snapshots("grokking-canonical")
    assert len(snaps) >= 10 and snaps == history["snapshot_steps"]
    model = load_checkpoint("grokking-canonical")
    assert model.cfg.d_vocab == 114 and model.cfg.n_layers == 1
    m = history["final_measures"]
    assert m["embed_explained"] >= 0.9 and m["neuron_explained"] >= 0.9, m
    assert m["restricted_loss"] <= 2 * m["all_loss"] or m["restricted_loss"] < 1e-6, m
    early = load_checkpoint("grokking-canonical", step=snaps[1])
    assert not torch.equal(early.W_E, model.W_E)
    train = json.loads((CANONICAL_DIR / "train.json").read_text())
    assert train["settings"]["p"] == 113 and train["settings"]["train_frac"] == 0.3
