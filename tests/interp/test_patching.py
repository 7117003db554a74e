"""Activation patching: every function against TransformerLens's on the same weights (the oracle),
at several batch sizes (so the shortened, key/value-cached runs are used); a hand-checked case;
index_df, a caller's own setter, a hook outside the blocks; the metric sees one run at a time."""

from __future__ import annotations

import pytest
import torch

import minigpt.interp.patching as ours
from minigpt import GPT, GPTConfig
from minigpt.interp import generic_activation_patch, get_act_patch_resid_pre

tlp = pytest.importorskip("transformer_lens.patching")

SINGLE = [  # TransformerLens's functions that patch one activation
    "get_act_patch_resid_pre", "get_act_patch_resid_mid", "get_act_patch_attn_out", "get_act_patch_mlp_out",
    *[f"get_act_patch_attn_head_{what}_{where}" for what in ("out", "q", "k", "v", "pattern")
      for where in ("all_pos", "by_pos")],
    "get_act_patch_attn_head_pattern_dest_src_pos",
]
EVERY = {  # the stacked ones, from the single ones
    "get_act_patch_block_every": ["get_act_patch_resid_pre", "get_act_patch_attn_out", "get_act_patch_mlp_out"],
    "get_act_patch_attn_head_all_pos_every": [f"get_act_patch_attn_head_{w}_all_pos"
                                              for w in ("out", "q", "k", "v", "pattern")],
    "get_act_patch_attn_head_by_pos_every": [f"get_act_patch_attn_head_{w}_by_pos"
                                             for w in ("out", "q", "k", "v", "pattern")],
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread is fastest


def metric(logits):  # [batch pos d_vocab] of one patched run; reads several positions
    return logits[:, -1, 5].mean() - logits[:, -2, 7].mean() + logits[:, 1].logsumexp(-1).mean()


def setup(cfg: GPTConfig):
    from minigpt.testing import tl_twin

    model = GPT(cfg).eval()
    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(0, cfg.d_vocab, (2, 6), generator=gen)
    corrupted = clean.clone()
    corrupted[:, 2] = (corrupted[:, 2] + 7) % cfg.d_vocab
    corrupted[:, 4] = 3
    _, clean_cache = model.run_with_cache(clean)
    twin = tl_twin(model)
    _, tl_cache = twin.run_with_cache(clean)
    return model, twin, clean, corrupted, clean_cache, tl_cache


@pytest.fixture(scope="module")
def tiny():
    """2 layers, d_model 32, 4 heads, 6 positions; weights 15x GPT-2's init so patches move the metric."""
    model, twin, clean, corrupted, clean_cache, tl_cache = setup(
        GPTConfig(n_layers=2, d_model=32, n_heads=4, d_vocab=50, n_ctx=16, init_range=0.3, seed=0))
    with torch.no_grad():
        expected = {name: getattr(tlp, name)(twin, corrupted, tl_cache, metric) for name in SINGLE}
    return model, clean, corrupted, clean_cache, expected


@pytest.mark.parametrize("batch_size", [1, 3, None])
@pytest.mark.parametrize("name", SINGLE)
def test_equal_to_transformer_lens(tiny, name, batch_size):
    model, _, corrupted, clean_cache, expected = tiny
    got = getattr(ours, name)(model, corrupted, clean_cache, metric, batch_size=batch_size, progress=False)
    assert got.shape == expected[name].shape
    assert expected[name].std() > 0.05  # the patches do move the metric
    torch.testing.assert_close(got, expected[name], atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", EVERY)
def test_stacked_functions(tiny, name):
    model, _, corrupted, clean_cache, expected = tiny
    parts = [expected[part] for part in EVERY[name]]
    if name.endswith("by_pos_every"):
        parts[-1] = parts[-1].transpose(1, 2)  # pattern: [n_layers n_heads pos] -> [n_layers pos n_heads]
    got = getattr(ours, name)(model, corrupted, clean_cache, metric, progress=False)
    torch.testing.assert_close(got, torch.stack(parts), atol=1e-4, rtol=0)


def test_odd_geometry_attention_only():
    """Attention only, 3 heads of d_head 5 in d_model 32 (not d_model / n_heads)."""
    model, twin, _, corrupted, clean_cache, tl_cache = setup(
        GPTConfig(n_layers=2, d_model=32, n_heads=3, d_head=5, d_vocab=40, n_ctx=8, attn_only=True,
                  init_range=0.4, seed=3))
    for name in ("get_act_patch_resid_pre", "get_act_patch_attn_head_q_by_pos", "get_act_patch_attn_head_k_by_pos",
                 "get_act_patch_attn_head_pattern_by_pos"):
        with torch.no_grad():
            expected = getattr(tlp, name)(twin, corrupted, tl_cache, metric)
        got = getattr(ours, name)(model, corrupted, clean_cache, metric, batch_size=4, progress=False)
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_hand_checked_case(tiny):
    """Clean and corrupted differ at positions 2 and 4 only. Patching layer 0's input there gives the
    corrupted run back at every other position; patching both positions at once gives the clean run."""
    model, clean, corrupted, clean_cache, _ = tiny
    with torch.no_grad():
        clean_value, corrupted_value = metric(model(clean)).item(), metric(model(corrupted)).item()
    grid = get_act_patch_resid_pre(model, corrupted, clean_cache, metric, progress=False)
    for pos in (0, 1, 3, 5):
        assert grid[0, pos].item() == pytest.approx(corrupted_value, abs=1e-5)

    def both_positions(activation, index, clean_activation):  # a caller's own setter: index = [layer]
        activation[:, [2, 4]] = clean_activation[:, [2, 4]]
        return activation

    restored = generic_activation_patch(model, corrupted, clean_cache, metric, both_positions, "resid_pre",
                                        index_axis_names=("layer",), progress=False)
    assert restored.shape == (2,)
    assert restored[0].item() == pytest.approx(clean_value, abs=1e-5)


def half(activation, index, clean_activation):  # a caller's own setter: half of d_model at one position
    _, pos = index
    activation[:, pos, :16] = clean_activation[:, pos, :16]
    return activation


def test_own_setter(tiny):
    """A setter the runs know nothing about: no position is skipped, the results still agree."""
    from minigpt.testing import tl_twin

    model, clean, corrupted, clean_cache, _ = tiny
    twin = tl_twin(model)
    _, tl_cache = twin.run_with_cache(clean)
    with torch.no_grad():
        expected = tlp.generic_activation_patch(twin, corrupted, tl_cache, metric, half, "resid_mid",
                                                index_axis_names=("layer", "pos"))
    got = generic_activation_patch(model, corrupted, clean_cache, metric, half, "resid_mid",
                                   index_axis_names=("layer", "pos"), batch_size=5, progress=False)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_hook_outside_the_blocks(tiny):
    """A full hook name outside every block (TransformerLens's generic cannot take one): whole runs,
    batched, equal to one run per index."""
    model, _, corrupted, clean_cache, _ = tiny
    got = generic_activation_patch(model, corrupted, clean_cache, metric, ours.layer_pos_patch_setter, "hook_embed",
                                   index_axis_names=("layer", "pos"), batch_size=5, progress=False)
    for layer in range(2):
        for pos in range(6):
            def patch(activation, hook, index=(layer, pos)):
                return ours.layer_pos_patch_setter(activation.clone(), index, clean_cache[hook.name])

            with torch.no_grad():
                one = metric(model.run_with_hooks(corrupted, fwd_hooks=[("hook_embed", patch)]))
            assert got[layer, pos].item() == pytest.approx(one.item(), abs=1e-5)


def test_index_df_gives_one_value_per_row(tiny):
    model, _, corrupted, clean_cache, expected = tiny
    rows = [(1, 5, 2), (0, 0, 0), (1, 2, 3)]  # (layer, pos, head), in any order
    want = torch.stack([expected["get_act_patch_attn_head_out_by_pos"][row] for row in rows])
    got = ours.get_act_patch_attn_head_out_by_pos(model, corrupted, clean_cache, metric, index_df=rows,
                                                  progress=False)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(rows, columns=["layer", "pos", "head"])
    got, index_df = ours.get_act_patch_attn_head_out_by_pos(model, corrupted, clean_cache, metric, index_df=df,
                                                            return_index_df=True, progress=False)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)
    assert index_df.values.tolist() == [list(row) for row in rows]
    _, grid_df = get_act_patch_resid_pre(model, corrupted, clean_cache, metric, return_index_df=True,
                                         progress=False)
    assert list(grid_df.columns) == ["layer", "pos"] and len(grid_df) == 2 * 6


def test_the_metric_sees_one_run_of_the_batch(tiny):
    model, _, corrupted, clean_cache, _ = tiny
    shapes = []
    get_act_patch_resid_pre(model, corrupted, clean_cache, lambda logits: shapes.append(logits.shape) or 0.0,
                            batch_size=5, progress=False)
    assert shapes == [torch.Size([2, 6, 50])] * 12


def test_errors(tiny):
    model, _, corrupted, clean_cache, _ = tiny
    with pytest.raises(ValueError, match="index_axis_names"):
        generic_activation_patch(model, corrupted, clean_cache, metric, ours.layer_pos_patch_setter, "resid_pre")
    with pytest.raises(ValueError, match="unknown index axes"):
        generic_activation_patch(model, corrupted, clean_cache, metric, ours.layer_pos_patch_setter, "resid_pre",
                                 index_axis_names=("layer", "position"))


def test_benchmark_runs(monkeypatch, tmp_path):
    """benchmarks/patching.py at the tiny size: both libraries, the same grid."""
    import json
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import patching as benchmark

    out = tmp_path / "patching.json"
    rows = benchmark.main(["--models", "tiny", "--batches", "2", "--pos", "6", "--repeats", "1",
                           "--fns", "resid_pre,attn_head_v_by_pos", "--json", str(out)])
    assert json.loads(out.read_text()) == rows
    assert [row["function"] for row in rows] == ["get_act_patch_resid_pre", "get_act_patch_attn_head_v_by_pos"]
    assert all(row["max_abs_diff"] < 1e-4 and row["minigpt_s"] > 0 for row in rows)
