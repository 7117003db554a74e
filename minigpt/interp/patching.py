"""Activation patching with TransformerLens's API (``transformer_lens.patching``), batched.

Activation patching (Meng et al. 2022; Wang et al. 2022) asks which activations carry the
difference between two prompts. Run the model on the **corrupted** prompt, put one activation
back to its value on the **clean** prompt, and measure how far the output moves back:
``patching_metric(patched_logits)``. Doing that for every layer and position (or head) gives
a map of where the information lives.

The functions keep TransformerLens's names, arguments, output shapes and index orders, and
give its results (to float rounding; ``tests/interp/test_patching.py`` holds them to 1e-4
against ``transformer_lens`` on the same weights), so ARENA-style code ports by changing the
import. ``patching_metric`` gets the logits of ONE patched run, ``[batch pos d_vocab]``, and
returns a scalar; the result holds one metric per patched index:

- ``get_act_patch_resid_pre``, ``_resid_mid``, ``_attn_out``, ``_mlp_out``: the residual stream
  or a sub-layer's output at one (layer, position): ``[n_layers pos]``;
- ``get_act_patch_attn_head_{out,q,k,v}_by_pos``: one head's ``z``/``q``/``k``/``v`` at one
  position: ``[n_layers pos n_heads]``; ``..._all_pos``: at every position, ``[n_layers n_heads]``;
- ``get_act_patch_attn_head_pattern_by_pos``: one query's row of a head's pattern,
  ``[n_layers n_heads dest_pos]``; ``..._all_pos``: the whole pattern, ``[n_layers n_heads]``;
  ``..._dest_src_pos``: one entry, ``[n_layers n_heads dest_pos src_pos]``;
- ``get_act_patch_block_every`` (``[3 n_layers pos]``), ``get_act_patch_attn_head_all_pos_every``
  (``[5 n_layers n_heads]``), ``get_act_patch_attn_head_by_pos_every`` (``[5 n_layers pos n_heads]``):
  several of the above, stacked;
- ``generic_activation_patch``: any activation, your own patch setter and indices.

TransformerLens runs the whole model once per index. The patched runs here share work
(:mod:`minigpt.interp.patch_runs`): many indices per forward pass, the layers before the
patched one run once, and positions before the patched one are taken from the corrupted run.

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=2, d_model=16, n_heads=2, d_vocab=10, n_ctx=8, seed=0))
>>> clean, corrupted = torch.tensor([[1, 2, 3, 4]]), torch.tensor([[1, 2, 5, 4]])
>>> _, clean_cache = model.run_with_cache(clean)
>>> metric = lambda logits: logits[0, -1, 4]          # one patched run's logits -> a number
>>> grid = get_act_patch_resid_pre(model, corrupted, clean_cache, metric, progress=False)
>>> grid.shape                                          # [n_layers pos]
torch.Size([2, 4])
>>> clean_value = metric(model(clean)).item()           # the clean residual at the only changed position ...
>>> bool(abs(grid[0, 2] - clean_value) < 1e-5)          # ... restores the clean run
True
>>> bool(abs(grid[0, 1] - metric(model(corrupted)).item()) < 1e-5)  # an unchanged position changes nothing
True
"""

from __future__ import annotations

import itertools
from typing import Callable, Sequence

import einops
import torch
from torch import Tensor

from ..cache import act_name
from .patch_runs import PatchSite, run_patches

__all__ = [
    "generic_activation_patch", "get_act_patch_attn_head_all_pos_every", "get_act_patch_attn_head_by_pos_every",
    "get_act_patch_attn_head_k_all_pos", "get_act_patch_attn_head_k_by_pos", "get_act_patch_attn_head_out_all_pos",
    "get_act_patch_attn_head_out_by_pos", "get_act_patch_attn_head_pattern_all_pos",
    "get_act_patch_attn_head_pattern_by_pos", "get_act_patch_attn_head_pattern_dest_src_pos",
    "get_act_patch_attn_head_q_all_pos", "get_act_patch_attn_head_q_by_pos", "get_act_patch_attn_head_v_all_pos",
    "get_act_patch_attn_head_v_by_pos", "get_act_patch_attn_out", "get_act_patch_block_every",
    "get_act_patch_mlp_out", "get_act_patch_resid_mid", "get_act_patch_resid_pre",
    "layer_head_dest_src_pos_pattern_patch_setter", "layer_head_pattern_patch_setter",
    "layer_head_pos_pattern_patch_setter", "layer_head_vector_patch_setter", "layer_pos_head_vector_patch_setter",
    "layer_pos_patch_setter",
]

Metric = Callable[[Tensor], Tensor]  # logits [batch pos d_vocab] of one patched run -> a scalar
PatchSetter = Callable[[Tensor, Sequence[int], Tensor], Tensor]  # (corrupted act, index, clean act) -> patched


# -- patch setters: TransformerLens's, with its signature (corrupted_activation, index, clean_activation) -------
def layer_pos_patch_setter(corrupted_activation: Tensor, index: Sequence[int], clean_activation: Tensor) -> Tensor:
    """``index = [layer, pos]``, activation ``[batch pos ...]``: copy the clean position in."""
    _, pos = index
    corrupted_activation[:, pos, ...] = clean_activation[:, pos, ...]
    return corrupted_activation


def layer_pos_head_vector_patch_setter(corrupted_activation: Tensor, index: Sequence[int],
                                       clean_activation: Tensor) -> Tensor:
    """``index = [layer, pos, head]``, activation ``[batch pos n_heads ...]`` (``q k v z result``)."""
    _, pos, head = index
    corrupted_activation[:, pos, head] = clean_activation[:, pos, head]
    return corrupted_activation


def layer_head_vector_patch_setter(corrupted_activation: Tensor, index: Sequence[int],
                                   clean_activation: Tensor) -> Tensor:
    """``index = [layer, head]``, activation ``[batch pos n_heads ...]``: the head at every position."""
    _, head = index
    corrupted_activation[:, :, head] = clean_activation[:, :, head]
    return corrupted_activation


def layer_head_pattern_patch_setter(corrupted_activation: Tensor, index: Sequence[int],
                                    clean_activation: Tensor) -> Tensor:
    """``index = [layer, head]``, pattern ``[batch n_heads query_pos key_pos]``: the head's whole pattern."""
    _, head = index
    corrupted_activation[:, head] = clean_activation[:, head]
    return corrupted_activation


def layer_head_pos_pattern_patch_setter(corrupted_activation: Tensor, index: Sequence[int],
                                        clean_activation: Tensor) -> Tensor:
    """``index = [layer, head, dest_pos]``: one query's row of the pattern."""
    _, head, dest_pos = index
    corrupted_activation[:, head, dest_pos, :] = clean_activation[:, head, dest_pos, :]
    return corrupted_activation


def layer_head_dest_src_pos_pattern_patch_setter(corrupted_activation: Tensor, index: Sequence[int],
                                                 clean_activation: Tensor) -> Tensor:
    """``index = [layer, head, dest_pos, src_pos]``: one entry of the pattern."""
    _, head, dest_pos, src_pos = index
    corrupted_activation[:, head, dest_pos, src_pos] = clean_activation[:, head, dest_pos, src_pos]
    return corrupted_activation


# For the setters above, where the query position sits: (slot in the index, axis of the activation).
# Patching at query position p changes nothing before p, which lets the runs skip those positions.
# A setter not listed (a caller's own) is assumed to reach every position.
QUERY_POSITION = {
    layer_pos_patch_setter: (1, 1),
    layer_pos_head_vector_patch_setter: (1, 1),
    layer_head_pos_pattern_patch_setter: (2, 2),
    layer_head_dest_src_pos_pattern_patch_setter: (2, 2),
}


# -- the generic function --------------------------------------------------------------------------------------
def _axis_sizes(model, n_pos: int) -> dict[str, int]:
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    return {"layer": n_layers, "pos": n_pos, "src_pos": n_pos, "dest_pos": n_pos, "head_index": n_heads,
            "head": n_heads}


def _index_rows(index_df) -> list[tuple[int, ...]]:
    """The rows of a pandas DataFrame, a ``[n_rows n_axes]`` tensor/array or a list of tuples, as int tuples."""
    if hasattr(index_df, "to_numpy"):
        index_df = index_df.to_numpy()
    return [tuple(int(i) for i in row) for row in (index_df.tolist() if hasattr(index_df, "tolist") else index_df)]


@torch.no_grad()
def generic_activation_patch(
    model,
    corrupted_tokens: Tensor,
    clean_cache,
    patching_metric: Metric,
    patch_setter: PatchSetter,
    activation_name: str,
    index_axis_names: Sequence[str] | None = None,
    index_df=None,
    return_index_df: bool = False,
    *,
    batch_size: int | None = None,
    progress: bool = True,
):
    """Patch ``activation_name`` at every index, one run per index, and return the metric of each run.

    As TransformerLens's: each index is a list of ints whose first entry is the layer (the hook
    is ``act_name(activation_name, layer)``); ``patch_setter(corrupted_activation, index,
    clean_activation)`` writes the clean part into the corrupted activation (of one run, batch
    as ``corrupted_tokens``) and returns it. The indices are either every combination of
    ``index_axis_names`` (``"layer" "pos" "head_index"/"head" "src_pos" "dest_pos"``, the last
    axis fastest), giving a result of shape ``[size of each axis]``, or the rows of ``index_df``
    (a pandas DataFrame, as in TransformerLens, or a ``[n_rows n_axes]`` tensor or list of
    tuples), giving one value per row. ``return_index_df=True`` also returns the indices as a
    pandas DataFrame (it needs pandas).

    minigpt's own arguments: ``batch_size``, patched runs per forward pass (default: as many
    as fit in about 512 MiB of activations); ``progress``, a tqdm bar over the patched runs.
    """
    tokens = corrupted_tokens[None] if corrupted_tokens.ndim == 1 else corrupted_tokens
    if index_df is None:
        if index_axis_names is None:
            raise ValueError("give index_axis_names (e.g. ('layer', 'pos')) or index_df")
        sizes = _axis_sizes(model, tokens.shape[-1])
        unknown = [axis for axis in index_axis_names if axis not in sizes]
        if unknown:
            raise ValueError(f"unknown index axes {unknown}; known: {sorted(sizes)}")
        shape = [sizes[axis] for axis in index_axis_names]
        rows = list(itertools.product(*(range(size) for size in shape)))
    else:
        if index_axis_names is not None:
            raise ValueError("give index_axis_names or index_df, not both")
        rows = _index_rows(index_df)
        shape = [len(rows)]
    site = PatchSite(activation_name=activation_name, setter=patch_setter,
                     query_position=QUERY_POSITION.get(patch_setter))
    values = run_patches(model, tokens, clean_cache, patching_metric, site, rows, batch_size=batch_size,
                         progress=progress)
    result = values.view(shape)
    if not return_index_df:
        return result
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("return_index_df=True returns a pandas DataFrame: pip install pandas") from None
    columns = list(index_axis_names) if index_df is None else list(index_df.columns)
    return result, pd.DataFrame(rows, columns=columns)


# -- the named functions ---------------------------------------------------------------------------------------
def _named(activation_name: str, axes: tuple[str, ...], setter: PatchSetter, what: str, shape: str):
    def patch(model, corrupted_tokens, clean_cache, patching_metric, *, index_df=None, return_index_df=False,
              batch_size=None, progress=True):
        return generic_activation_patch(
            model, corrupted_tokens, clean_cache, patching_metric, setter, activation_name,
            index_axis_names=None if index_df is not None else axes, index_df=index_df,
            return_index_df=return_index_df, batch_size=batch_size, progress=progress)

    patch.__doc__ = (f"Patch {what} (hook ``{act_name(activation_name, 0).replace('.0.', '.{L}.')}``) "
                     f"from the clean run into the corrupted one: ``{shape}``.\n\n"
                     "    See :func:`generic_activation_patch` for the arguments.\n    ")
    return patch


get_act_patch_resid_pre = _named("resid_pre", ("layer", "pos"), layer_pos_patch_setter,
                                 "the residual stream before each block, one position at a time", "[n_layers pos]")
get_act_patch_resid_mid = _named("resid_mid", ("layer", "pos"), layer_pos_patch_setter,
                                 "the residual stream between attention and MLP", "[n_layers pos]")
get_act_patch_attn_out = _named("attn_out", ("layer", "pos"), layer_pos_patch_setter,
                                "each attention layer's output", "[n_layers pos]")
get_act_patch_mlp_out = _named("mlp_out", ("layer", "pos"), layer_pos_patch_setter,
                               "each MLP's output", "[n_layers pos]")
get_act_patch_attn_head_out_by_pos = _named("z", ("layer", "pos", "head"), layer_pos_head_vector_patch_setter,
                                            "each head's output z at one position", "[n_layers pos n_heads]")
get_act_patch_attn_head_q_by_pos = _named("q", ("layer", "pos", "head"), layer_pos_head_vector_patch_setter,
                                          "each head's query at one position", "[n_layers pos n_heads]")
get_act_patch_attn_head_k_by_pos = _named("k", ("layer", "pos", "head"), layer_pos_head_vector_patch_setter,
                                          "each head's key at one position", "[n_layers pos n_heads]")
get_act_patch_attn_head_v_by_pos = _named("v", ("layer", "pos", "head"), layer_pos_head_vector_patch_setter,
                                          "each head's value at one position", "[n_layers pos n_heads]")
get_act_patch_attn_head_pattern_by_pos = _named(
    "pattern", ("layer", "head_index", "dest_pos"), layer_head_pos_pattern_patch_setter,
    "each head's attention pattern, one query (destination) row at a time", "[n_layers n_heads dest_pos]")
get_act_patch_attn_head_pattern_dest_src_pos = _named(
    "pattern", ("layer", "head_index", "dest_pos", "src_pos"), layer_head_dest_src_pos_pattern_patch_setter,
    "each entry of each head's attention pattern", "[n_layers n_heads dest_pos src_pos]")
get_act_patch_attn_head_out_all_pos = _named("z", ("layer", "head"), layer_head_vector_patch_setter,
                                             "each head's output z at every position", "[n_layers n_heads]")
get_act_patch_attn_head_q_all_pos = _named("q", ("layer", "head"), layer_head_vector_patch_setter,
                                           "each head's queries at every position", "[n_layers n_heads]")
get_act_patch_attn_head_k_all_pos = _named("k", ("layer", "head"), layer_head_vector_patch_setter,
                                           "each head's keys at every position", "[n_layers n_heads]")
get_act_patch_attn_head_v_all_pos = _named("v", ("layer", "head"), layer_head_vector_patch_setter,
                                           "each head's values at every position", "[n_layers n_heads]")
get_act_patch_attn_head_pattern_all_pos = _named(
    "pattern", ("layer", "head_index"), layer_head_pattern_patch_setter, "each head's whole attention pattern",
    "[n_layers n_heads]")


def get_act_patch_block_every(model, corrupted_tokens, clean_cache, metric, **kwargs) -> Tensor:
    """``resid_pre``, ``attn_out`` and ``mlp_out`` patched by (layer, position), stacked: ``[3 n_layers pos]``."""
    return torch.stack([fn(model, corrupted_tokens, clean_cache, metric, **kwargs)
                        for fn in (get_act_patch_resid_pre, get_act_patch_attn_out, get_act_patch_mlp_out)])


def get_act_patch_attn_head_all_pos_every(model, corrupted_tokens, clean_cache, metric, **kwargs) -> Tensor:
    """Each head's ``z``, ``q``, ``k``, ``v`` and pattern, patched at every position, stacked.

    ``[5 n_layers n_heads]``, in that order.
    """
    fns = (get_act_patch_attn_head_out_all_pos, get_act_patch_attn_head_q_all_pos, get_act_patch_attn_head_k_all_pos,
           get_act_patch_attn_head_v_all_pos, get_act_patch_attn_head_pattern_all_pos)
    return torch.stack([fn(model, corrupted_tokens, clean_cache, metric, **kwargs) for fn in fns])


def get_act_patch_attn_head_by_pos_every(model, corrupted_tokens, clean_cache, metric, **kwargs) -> Tensor:
    """The same by position, stacked: ``[5 n_layers pos n_heads]`` (the pattern's rows moved to that order)."""
    fns = (get_act_patch_attn_head_out_by_pos, get_act_patch_attn_head_q_by_pos, get_act_patch_attn_head_k_by_pos,
           get_act_patch_attn_head_v_by_pos)
    results = [fn(model, corrupted_tokens, clean_cache, metric, **kwargs) for fn in fns]
    pattern = get_act_patch_attn_head_pattern_by_pos(model, corrupted_tokens, clean_cache, metric, **kwargs)
    results.append(einops.rearrange(pattern, "n_layers n_heads pos -> n_layers pos n_heads"))
    return torch.stack(results)
