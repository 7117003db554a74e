"""The schedule, the weight-decay groups, gradient clipping."""

from __future__ import annotations

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook
from tests.train.tiny_models import _one_thread, counting_sampler, tiny_model  # noqa: F401  (_one_thread: an autouse fixture)

from minigpt import GPT, GPTConfig
from minigpt.train import TrainConfig, lr_factor, make_optimizer, make_scheduler, param_groups, train


def test_schedule_warms_up_linearly_then_follows_a_cosine_to_the_floor():
    steps, warmup, floor = 100, 10, 0.1
    f = [lr_factor(s, steps=steps, warmup_steps=warmup, min_lr_ratio=floor) for s in range(steps)]
    assert f[:warmup] == pytest.approx([(s + 1) / warmup for s in range(warmup)])  # linear warm-up
    assert f[warmup] == pytest.approx(1.0)  # the peak right after warm-up
    assert all(a >= b for a, b in zip(f[warmup:], f[warmup + 1:]))  # then never rises
    assert f[-1] == pytest.approx(floor)  # the last update is at the floor
    # half-way down the cosine, half-way between the peak and the floor
    assert lr_factor(60, steps=111, warmup_steps=10, min_lr_ratio=floor) == pytest.approx((1 + floor) / 2)
    assert lr_factor(50, steps=steps, warmup_steps=warmup, schedule="constant") == 1.0


def test_scheduler_drives_the_optimizer_lr_step_by_step():
    model = tiny_model()
    cfg = TrainConfig(steps=20, warmup_steps=4, lr=0.01, min_lr_ratio=0.0)
    opt = make_optimizer(model, cfg)
    sched = make_scheduler(opt, cfg)
    seen = []
    for _ in range(cfg.steps):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.01 * lr_factor(s, steps=20, warmup_steps=4, min_lr_ratio=0.0) for s in range(20)])


def test_weight_decay_applies_to_weight_matrices_only():
    model = GPT(GPTConfig(n_layers=2, d_model=32, n_heads=4, d_vocab=50, n_ctx=16, seed=0))
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(n.rsplit(".", 1)[-1].startswith("W_") for n in decay["names"])
    assert {"embed.W_E", "pos_embed.W_pos", "blocks.0.attn.W_Q", "blocks.1.mlp.W_out"} <= set(decay["names"])
    assert {"blocks.0.attn.b_Q", "blocks.0.ln1.w", "blocks.0.ln1.b", "ln_final.w"} <= set(no_decay["names"])
    # b_Q is [n_heads d_head], a matrix by shape but a bias by role: not decayed
    assert model.blocks[0].attn.b_Q.ndim == 2
    # every parameter exactly once (the tied unembedding is W_E itself)
    ids = [id(p) for g in (decay, no_decay) for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())


def test_clipping_bounds_the_gradient_norm_at_every_step():
    norms = []

    def record(optimizer, args, kwargs):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())

    def huge_loss(model, batch):  # gradients ~1e4 times too large
        return 1e4 * model(batch, return_type="loss")

    handle = register_optimizer_step_pre_hook(record)
    try:
        result = train(tiny_model(), counting_sampler, TrainConfig(steps=3, batch_size=4, grad_clip=0.5,
                       progress=False), loss_fn=huge_loss)
    finally:
        handle.remove()
    assert len(norms) == 3 and max(norms) <= 0.5 + 1e-4
    assert result.history[-1]["grad_norm"] > 100  # the norm before clipping is recorded
