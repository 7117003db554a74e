"""Chapter 5's exercises: what is particular to the chapter (which exercises, their kinds and cases).

test_every_exercise.py holds what every exercise must do (the solution passes, the stub is not
implemented, every known mistake fails with its own diagnosis, so no two mistakes look alike on
the cases). Plus oracles: the reference pieces equal minigpt.interp's logit lens, activation and
path patching, mean ablation, causal tracing, ROME and edit metrics on small random models.
"""

from __future__ import annotations

import pytest
import torch

import solutions.ch05_interventions as sol
from minigpt import GPT, GPTConfig
from minigpt.grading import all_exercises
from minigpt.interp import (Fact, causal_trace, edit_metrics, get_act_patch_attn_head_out_all_pos,
                            get_act_patch_attn_head_pattern_all_pos, get_act_patch_resid_pre, layer_residuals,
                            logit_lens, mean_ablation_hook, mlp_key_covariance, path_patch, rome_update)

EXERCISES = all_exercises(chapter=5)
MODEL_EXERCISES = {"accumulated_resid", "logit_lens", "act_patch_resid_pre", "act_patch_head_out",
                   "act_patch_head_pattern", "path_patch_to_logits", "path_patch_to_queries", "circuit_faithfulness",
                   "trace_state", "rome_key"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread is fastest


def test_chapter_has_the_planned_exercises():
    names = [ex.name for ex in EXERCISES]
    assert names == ["accumulated_resid", "logit_lens", "logit_diff", "patching_metric", "act_patch_resid_pre",
                     "act_patch_head_out", "act_patch_head_pattern", "path_patch_to_logits", "path_patch_to_queries",
                     "circuit_faithfulness", "noise_subject_hook", "trace_state", "rome_key", "rome_update",
                     "edit_metrics"]


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_chapter_metadata(ex):
    """Chapter 5's file and kinds, and four known mistakes at least; test_every_exercise.py checks the rest."""
    assert ex.file == "ch05_interventions.py"
    assert ex.kind == ("model" if ex.name in MODEL_EXERCISES else "function")
    assert len(ex.mutants) >= 4


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def _tensors(obj):
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _tensors(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _tensors(v)]
    return [obj] if isinstance(obj, torch.Tensor) else []


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_cases_are_seeded_and_small(ex):
    first, second = ex.make_cases(), ex.make_cases()
    assert 2 <= len(first) <= 3
    assert _same(first, second)
    for case in first:
        inputs = {k: v for k, v in case.items() if k != "state_dict"}
        assert all(t.numel() <= 2_000 for t in _tensors(inputs))
        if "state_dict" in case:  # a tiny model: a few thousand parameters
            assert sum(t.numel() for t in case["state_dict"].values()) <= 20_000


# ---------------------------------------------------------------------------
# oracles: the reference pieces against minigpt.interp
# ---------------------------------------------------------------------------


def _model(seed: int = 0, **cfg) -> GPT:
    """A small random model with weights large enough that every component moves the logits."""
    config = dict(n_layers=3, d_model=16, n_heads=2, d_mlp=32, d_vocab=12, n_ctx=10, seed=seed) | cfg
    model = GPT(GPTConfig(**config)).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.split(".")[-1].startswith("W_"):
                p.normal_(0.0, 0.5, generator=g)
    return model


@pytest.fixture(scope="module")
def ioi_like():
    """A model, clean and corrupted prompts differing at position 2, and io/s tokens; the metric as a callable."""
    torch.manual_seed(0)
    model = _model(1)
    g = torch.Generator().manual_seed(1)
    clean = torch.randint(0, 12, (4, 6), generator=g)
    corrupted = clean.clone()
    corrupted[:, 2] = (clean[:, 2] + 5) % 12
    with torch.no_grad():
        shift = model(clean)[:, -1] - model(corrupted)[:, -1]
    io, s = shift.argmax(-1), shift.argmin(-1)
    with torch.no_grad():
        clean_diff = sol.logit_diff(model(clean), io, s).item()
        corrupted_diff = sol.logit_diff(model(corrupted), io, s).item()

    def metric(logits):
        return sol.patching_metric(logits, io, s, clean_diff, corrupted_diff)

    return model, clean, corrupted, io, s, metric


def test_logit_diff_by_hand():
    logits = torch.zeros(2, 3, 5)
    logits[0, -1, 1], logits[0, -1, 4] = 3.0, 1.0  # prompt 0: io 1, s 4 -> 2
    logits[1, -1, 0], logits[1, -1, 2] = -1.0, 2.0  # prompt 1: io 0, s 2 -> -3
    logits[:, 0] = 9.0  # the first position is not read
    io, s = torch.tensor([1, 0]), torch.tensor([4, 2])
    assert sol.logit_diff(logits, io, s, per_prompt=True).tolist() == [2.0, -3.0]
    assert sol.logit_diff(logits, io, s).item() == -0.5
    assert sol.patching_metric(logits, io, s, clean_diff=1.5, corrupted_diff=-0.5).item() == 0.0
    assert sol.patching_metric(logits, io, s, clean_diff=-0.5, corrupted_diff=-2.5).item() == 1.0


def test_logit_lens_equals_the_library():
    model = _model(2, tie_embeddings=False, unembed_bias=True)
    with torch.no_grad():
        model.unembed.b_U.normal_(generator=torch.Generator().manual_seed(0))
    tokens = torch.randint(0, 12, (2, 7), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(sol.accumulated_resid(model, tokens), layer_residuals(model, tokens))
    lens = sol.logit_lens(model, tokens)
    torch.testing.assert_close(lens, logit_lens(model, tokens))
    torch.testing.assert_close(lens[-1], model(tokens).log_softmax(-1), atol=1e-5, rtol=1e-5)


def test_activation_patching_equals_transformer_lens_api(ioi_like):
    model, clean, corrupted, io, s, metric = ioi_like
    _, clean_cache = model.run_with_cache(clean)
    for mine, library in ((sol.act_patch_resid_pre, get_act_patch_resid_pre),
                          (sol.act_patch_head_out, get_act_patch_attn_head_out_all_pos),
                          (sol.act_patch_head_pattern, get_act_patch_attn_head_pattern_all_pos)):
        torch.testing.assert_close(mine(model, clean, corrupted, io, s),
                                   library(model, corrupted, clean_cache, metric, progress=False),
                                   atol=1e-4, rtol=1e-4)
    grid = sol.act_patch_resid_pre(model, clean, corrupted, io, s)
    assert grid[0, 2].item() == pytest.approx(1.0, abs=1e-5)  # the one changed token, restored: the clean run
    assert grid[0, [0, 1, 3, 4, 5]].abs().max().item() < 1e-5  # unchanged positions: nothing moves


def test_path_patching_equals_the_library(ioi_like):
    model, clean, corrupted, io, s, metric = ioi_like
    heads = [(layer, head) for layer in range(3) for head in range(2)]
    to_logits = torch.tensor([float(path_patch(model, clean, corrupted, [h], "logits", metric, "resid"))
                              for h in heads]).view(3, 2)
    torch.testing.assert_close(sol.path_patch_to_logits(model, clean, corrupted, io, s), to_logits,
                               atol=1e-5, rtol=1e-4)
    receivers = [(2, 0), (1, 1)]
    to_q = torch.tensor([float(path_patch(model, clean, corrupted, [h], receivers, metric, "q"))
                         for h in heads[:2]]).view(1, 2)
    torch.testing.assert_close(sol.path_patch_to_queries(model, clean, corrupted, io, s, receivers), to_q,
                               atol=1e-5, rtol=1e-4)
    # the last layer's heads reach the logits through no other head: path patching is activation patching
    _, corrupted_cache = model.run_with_cache(corrupted)
    noising = get_act_patch_attn_head_out_all_pos(model, clean, corrupted_cache, metric, progress=False)
    torch.testing.assert_close(to_logits[-1], noising[-1], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(to_logits[0], noising[0], atol=1e-3)  # earlier heads: frozen paths differ


def test_circuit_faithfulness_equals_mean_ablation_hooks(ioi_like):
    model, clean, corrupted, io, s, _ = ioi_like
    circuit = [(0, 1), (2, 0)]
    _, cache = model.run_with_cache(corrupted)
    hooks = []
    for layer in range(3):
        heads = [h for h in range(2) if (layer, h) not in circuit]
        mean = cache[f"blocks.{layer}.attn.hook_z"][:, :, heads].mean(0)  # [pos n_ablated d_head]
        hooks.append((f"blocks.{layer}.attn.hook_z", mean_ablation_hook(heads, mean=mean)))
    with torch.no_grad():
        want = sol.logit_diff(model.run_with_hooks(clean, fwd_hooks=hooks), io, s) / sol.logit_diff(model(clean), io, s)
    assert sol.circuit_faithfulness(model, clean, io, s, circuit, corrupted) == pytest.approx(want.item(), rel=1e-5)
    every_head = [(layer, h) for layer in range(3) for h in range(2)]
    assert sol.circuit_faithfulness(model, clean, io, s, every_head, corrupted) == pytest.approx(1.0)


def test_causal_tracing_equals_the_library():
    model = _model(3)
    tokens = torch.tensor([3, 1, 4, 7, 5, 9, 2])
    subject, answer = [2, 3], int(model(tokens[None])[0, -1].argmax())
    trace = causal_trace(model, tokens, subject=tokens[subject], answer=answer, noise=1.5, samples=5, seed=4)
    assert trace.subject_positions == subject
    for layer, position in ((0, 3), (1, 2), (2, 6), (1, 0)):
        got = sol.trace_state(model, tokens, subject, answer, layer, position, noise=1.5, samples=5, seed=4)
        assert got == pytest.approx(trace.p_restored[layer, position].item(), abs=1e-6)
    p_clean = model(tokens[None])[0, -1].softmax(-1)[answer].item()  # the last state restored: the clean run
    assert sol.trace_state(model, tokens, subject, answer, 2, 6, noise=1.5) == pytest.approx(p_clean, abs=1e-6)
    # the hook alone: noise at the subject only, the draws the library makes
    embed = torch.randn(5, 7, 16)
    noised = sol.noise_subject_hook(embed, subject, noise=1.5, seed=4)
    eps = 1.5 * torch.randn(5, 2, 16, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(noised[:, subject], embed[:, subject] + eps)
    assert torch.equal(noised[:, [0, 1, 4, 5, 6]], embed[:, [0, 1, 4, 5, 6]])


def test_rome_key_and_update_equal_the_library():
    model = _model(4, n_layers=2, d_mlp=24)
    cov = mlp_key_covariance(model, 0, torch.randint(0, 12, (16, 8), generator=torch.Generator().manual_seed(5)))
    prompt, subject, prefixes = [1, 2, 3, 4, 5], [2, 3], [[6], [7, 8]]
    update = rome_update(model, 0, prompt, subject, new_target=9, cov=cov, prefixes=prefixes, steps=3, ridge=0.0)
    # the contexts rome_update reads its key from: each prefix (none first) before the prompt, right-padded
    contexts = torch.tensor([[1, 2, 3, 4, 5, 0, 0], [6, 1, 2, 3, 4, 5, 0], [7, 8, 1, 2, 3, 4, 5]])
    key = sol.rome_key(model, 0, contexts, positions=[2, 3, 4])
    torch.testing.assert_close(key, update.key)
    mlp = model.blocks[0].mlp
    delta_W = sol.rome_update(mlp.W_out.detach(), mlp.b_out.detach(), cov, update.key, update.value)
    torch.testing.assert_close(delta_W, update.delta_W, atol=1e-5, rtol=1e-3)
    torch.testing.assert_close(update.key @ (mlp.W_out + delta_W) + mlp.b_out, update.value, atol=1e-4, rtol=1e-4)
    # with C the identity, u is k* itself: delta_W = outer(k*, v* - k* W_out - b_out) / (k* . k*)
    k, W_out, b_out = update.key, mlp.W_out.detach(), mlp.b_out.detach()
    torch.testing.assert_close(sol.rome_update(W_out, b_out, torch.eye(24), k, update.value),
                               torch.outer(k, update.value - k @ W_out - b_out) / (k @ k))


def test_edit_metrics_equal_the_library():
    original, edited = _model(5, n_layers=1), _model(6, n_layers=1)
    g = torch.Generator().manual_seed(6)
    prompt, paraphrases = [1, 2, 3], [[4, 2, 3], [5, 1, 2, 3], [2, 3], [7, 8, 2, 3]]
    facts = [Fact(torch.randint(0, 12, (4,), generator=g).tolist(), int(t))
             for t in torch.randint(0, 12, (6,), generator=g)]
    facts += [Fact(f.prompt, int(original(torch.tensor([f.prompt]))[0, -1].argmax())) for f in facts[:3]]
    new, old = 7, 4
    want = edit_metrics(original, edited, facts, prompt=prompt, new_target=new, old_target=old,
                        paraphrases=paraphrases)

    def last(prompts):
        with torch.no_grad():
            return torch.stack([edited(torch.tensor([p]))[0, -1] for p in prompts])

    got = sol.edit_metrics(last([prompt])[0], last(paraphrases), last([f.prompt for f in facts]),
                           torch.tensor([f.target for f in facts]), new, old)
    assert got == pytest.approx((want.efficacy, want.paraphrase, want.neighbourhood))
