"""The shipped ``ioi`` model: its targets on the test split, and the circuit chapter 5 finds in it.

Prompts are the test split's (held-out frames, held-out name pairs); the corruption is "ABC":
S's second mention replaced by a third name. The metric is the logit difference
``logit(IO) - logit(S)`` at the last position, normalised so that the corrupted run is 0 and the
clean run 1. On the aligned prompts of frame 10 (``<bos> While A and B were commuting to the
place, S gave a object to``: S2 at 11, the verb at 12, END at 15) the circuit is:

- **L0H1**, a layer-0 head that, at the verb, attends to the name before it (S2) and writes it
  there (activation patching of its output: 1.0 of the effect, all of it at the verb);
- **L1H0** at the verb, which passes that on (0.4), and at END copies *both* introduced names
  from the comma that closes the introduction (direct logit attribution about +8 to IO and to S
  alike: invisible to the ABC corruption, which keeps both);
- **S-suppression heads L2H0, L2H2, L1H2** at END (weaker: L1H3, L2H1), which attend to the
  verb and push S's logit down (their direct effect: -0.48, -0.22, -0.22). L0H1 and L1H0 reach
  them through their *values*: path patching into their values moves 0.4-0.5 of the effect,
  into their queries or keys nothing.

So the decision "which name" is made by composing heads (the subject's name travels name →
verb → END), and the answer comes out as "both names, minus the subject". No head at END
attends to IO itself, unlike GPT-2's name movers. Mean-ablating the seven other heads (their
``z`` averaged over the ABC prompts of the same frame and clauses, position by position) keeps
83 % of the logit difference; those five heads plus L1H3 and L2H1 keep 99.7 %.
"""

from __future__ import annotations

import pytest
import torch

from minigpt.checkpoints import load_checkpoint
from minigpt.data import ioi
from minigpt.interp import (get_act_patch_attn_head_out_all_pos, get_act_patch_attn_head_out_by_pos,
                            get_act_patch_resid_pre, path_patch)

S2, VERB, END = 11, 12, 15  # in the aligned prompts of frame 10 (no distractor clauses)
UPSTREAM = [(0, 1), (1, 0)]
SUPPRESSORS = [(1, 2), (2, 0), (2, 2)]
CIRCUIT = UPSTREAM + SUPPRESSORS


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_checkpoint("ioi")


@pytest.fixture(scope="module")
def aligned(model):
    """64 test prompts of frame 10, the clean run's cache and the normalised metric."""
    batch = ioi.ioi_batch(64, seed=3, split="test", template=10, distractors=(0, 0))
    assert (batch["s2_pos"] == S2).all() and (batch["end_pos"] == END).all()
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(batch["clean"])
        clean = ioi.logit_diff(clean_logits, batch).item()
        corrupted = ioi.logit_diff(model(batch["corrupted"]), batch).item()
    assert clean > 8 and abs(corrupted) < 0.5, (clean, corrupted)  # measured 11.6 and 0.03

    def normalised(logits: torch.Tensor) -> torch.Tensor:
        return (ioi.logit_diff(logits, batch) - corrupted) / (clean - corrupted)

    return batch, clean_cache, normalised


def test_the_targets_on_the_test_split(model):
    batch = ioi.ioi_batch(1000, seed=0, split="test")
    with torch.no_grad():
        diff = ioi.logit_diff(model(batch["clean"]), batch, per_prompt=True)
    print(f"ioi test split: logit difference {diff.mean():.2f}, accuracy {(diff > 0).float().mean():.3f}")
    assert diff.mean() >= 3.0 and (diff > 0).float().mean() >= 0.95  # measured 12.6 and 0.999
    for frame in ioi.HELD_OUT_FRAMES:  # every held-out frame, in both orders
        for order in (0, 1):
            rows = (batch["template"] == frame) & (batch["order"] == order)
            assert rows.sum() > 100 and diff[rows].mean() >= 3.0 and (diff[rows] > 0).float().mean() >= 0.95


def test_the_checkpoint_reads_and_completes_a_sentence(model):
    tokens = model.to_tokens("When Mary and John went to the store, John gave a drink to")
    assert model.to_str_tokens(tokens[0])[:3] == ["<bos>", "When", "Mary"]
    assert model.cfg.d_vocab == ioi.tokenizer().n_vocab and model.tokenizer.words == ioi.tokenizer().words
    with torch.no_grad():
        assert model.to_string(model(tokens)[0, -1].argmax()) == "Mary"


def test_the_residual_stream_carries_s2_to_the_verb_then_to_the_end(model, aligned):
    batch, clean_cache, metric = aligned
    grid = get_act_patch_resid_pre(model, batch["corrupted"], clean_cache, metric, progress=False)  # [layer pos]
    print("resid_pre patching at S2, verb, END:\n", grid[:, [S2, VERB, END]])
    assert grid[0, S2] > 0.95 and grid[0].abs().sum() - grid[0, S2].abs() < 0.05  # only S2 differs
    assert grid[1, VERB] > 0.95  # layer 0 moved it to the verb ...
    assert grid[2, VERB] > 0.5 and grid[2, VERB] + grid[2, END] > 0.8  # ... and layer 1 begins to move it to END


def test_head_outputs(model, aligned):
    batch, clean_cache, metric = aligned
    heads = get_act_patch_attn_head_out_all_pos(model, batch["corrupted"], clean_cache, metric, progress=False)
    print("head output patching [layer head]:\n", heads)
    assert heads[0, 1] > 0.9 and heads[1, 0] > 0.3 and heads[2, 0] > 0.3  # measured 1.0, 0.4, 0.4
    assert heads[1, 2] > 0.1 and heads[2, 2] > 0.1
    others = [heads[l, h].abs().item() for l in range(3) for h in range(4) if (l, h) not in CIRCUIT]
    assert max(others) < 0.1
    by_pos = get_act_patch_attn_head_out_by_pos(model, batch["corrupted"], clean_cache, metric,
                                                progress=False)  # [layer pos head]
    assert by_pos[0, VERB, 1] > 0.9 and by_pos[1, VERB, 0] > 0.3  # the upstream heads act at the verb
    assert all(by_pos[layer, END, head] > 0.1 for layer, head in SUPPRESSORS)  # the suppressors at END


def test_path_patching_to_the_logits_and_into_the_suppressors(model, aligned):
    batch, _, metric = aligned
    clean, corrupted = batch["clean"], batch["corrupted"]

    def effect(senders, receivers, receiver_input):
        return (path_patch(model, clean, corrupted, senders, receivers, metric, receiver_input) - 1.0).item()

    direct = {head: effect([head], "logits", "resid") for head in CIRCUIT}
    print("direct effects:", direct)
    assert direct[(2, 0)] < -0.35 and direct[(1, 2)] < -0.15 and direct[(2, 2)] < -0.15
    assert abs(direct[(0, 1)]) < 0.05 and abs(direct[(1, 0)]) < 0.05  # the upstream heads act only through others
    for sender in UPSTREAM:  # into the suppressors' values (L1H0 reaches only the layer-2 ones)
        v, q, k = (effect([sender], SUPPRESSORS, which) for which in ("v", "q", "k"))
        print(f"L{sender[0]}H{sender[1]} -> suppressors: v {v:.2f}, q {q:.2f}, k {k:.2f}")
        assert v < -0.3 and abs(q) < 0.05 and abs(k) < 0.05  # measured v -0.46 and -0.41


def test_attention_patterns(model, aligned):
    _, clean_cache, _ = aligned
    pattern = torch.stack([clean_cache[f"blocks.{layer}.attn.hook_pattern"].mean(0) for layer in range(3)])
    # [layer head query key]
    for layer, head in SUPPRESSORS:
        assert pattern[layer, head, END, VERB] > 0.8  # END -> the verb (measured 0.83 to 0.99)
    assert pattern[0, 1, VERB, S2] > 0.4 and pattern[0, 1, VERB, S2] == pattern[0, 1, VERB].max()  # verb -> S2
    assert pattern[1, 0, END, S2 - 1] > 0.9  # L1H0 at END: the comma that closes the introduction
    assert pattern[:, :, END, [2, 4]].max() < 0.05  # no head at END attends to the introduced names


def test_the_copy_head_writes_both_names_and_the_suppressors_only_the_subject(model):
    batch = ioi.ioi_batch(300, seed=5, split="test")
    with torch.no_grad():
        _, cache = model.run_with_cache(batch["clean"])
    scale = cache["ln_final.hook_scale"][:, -1]  # [batch 1]

    def attribution(layer: int, head: int, names: torch.Tensor) -> float:
        z = cache[f"blocks.{layer}.attn.hook_z"][:, -1, head]  # [batch d_head]
        out = z @ model.blocks[layer].attn.W_O[head] / scale  # [batch d_model]
        return (out * model.W_U[:, names].T).sum(-1).mean().item()

    io, s = attribution(1, 0, batch["io"]), attribution(1, 0, batch["s"])
    assert io > 5 and s > 5 and abs(io - s) < 0.1 * io  # measured +7.8 each
    for layer, head in [(2, 0), (2, 2)]:
        assert attribution(layer, head, batch["s"]) < attribution(layer, head, batch["io"]) - 1.5


def mean_ablated_logit_diff(model, keep, frame: int, distractors: tuple[int, int]) -> tuple[float, float]:
    """Logit difference of the full model, and with every head not in ``keep`` mean-ablated.

    The means: each head's ``z`` averaged over the ABC (corrupted) prompts of the same frame and
    clauses, at each position ``[pos d_head]``.
    """
    batch = ioi.ioi_batch(100, seed=11, split="test", template=frame, distractors=distractors)
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)]
    with torch.no_grad():
        full = ioi.logit_diff(model(batch["clean"]), batch).item()
        _, abc = model.run_with_cache(batch["corrupted"], names_filter=names)

        def ablate(z, hook):  # z: [batch pos n_heads d_head]
            layer, z = int(hook.name.split(".")[1]), z.clone()
            for head in range(model.cfg.n_heads):
                if (layer, head) not in keep:
                    z[:, :, head] = abc[hook.name][:, :, head].mean(0)
            return z

        ablated = ioi.logit_diff(model.run_with_hooks(batch["clean"], fwd_hooks=[(n, ablate) for n in names]), batch)
    return full, ablated.item()


@pytest.mark.parametrize("keep, low, high", [(CIRCUIT, 0.8, 0.9), (CIRCUIT + [(1, 3), (2, 1)], 0.97, 1.02),
                                              (SUPPRESSORS, -0.1, 0.1), (UPSTREAM, -0.1, 0.1), ([], -0.1, 0.1)])
def test_faithfulness(model, keep, low, high):
    """The circuit alone keeps >= 80 % of the logit difference, over the held-out frames and clauses."""
    runs = [mean_ablated_logit_diff(model, keep, frame, distractors) for frame in ioi.HELD_OUT_FRAMES
            for distractors in [(0, 0), (1, 0), (0, 1), (6, 5), (2, 6)]]
    kept = sum(a for _, a in runs) / sum(f for f, _ in runs)
    print(f"keep {keep}: {kept:.3f} of the logit difference")
    assert low <= kept <= high  # measured 0.832, 0.997, 0.03, -0.01 and 0.04
