"""The residual stream taken apart: the analysis methods of :class:`~minigpt.cache.ActivationCache`.

Every block *adds* to the residual stream, so what layer ``L`` reads is a sum of
what came before it, and each sum can be cut finer:

    resid_pre[L] = embed + pos_embed + Σ_{l<L} (attn_out[l] + mlp_out[l])
    attn_out[l]  = Σ_h result[l, h] + b_O[l]                 (one term per head)
    mlp_out[l]   = Σ_n post[l, n] · W_out[l, n] + b_out[l]    (one term per neuron)

- :meth:`~CacheAnalysis.accumulated_resid`: the running sums themselves,
  ``[0_pre, 1_pre, ..., final_post]`` (the logit lens reads these);
- :meth:`~CacheAnalysis.decompose_resid`: the terms of the first line, one per sub-layer;
- :meth:`~CacheAnalysis.stack_head_results` / :meth:`~CacheAnalysis.stack_neuron_results`:
  the per-head / per-neuron terms (biases left out);
- :meth:`~CacheAnalysis.get_full_resid_decomposition`: heads, neurons (or whole MLPs),
  ``embed``, ``pos_embed`` and one ``bias`` row (all ``b_O`` and ``b_out`` so far): it sums
  to the residual stream exactly.

A LayerNorm is not linear, but with its *scale* frozen at the value the forward pass
measured (``hook_scale``, one number per position) it is: ``(x - mean(x)) / scale``
distributes over a sum. :meth:`~CacheAnalysis.apply_ln_to_stack` does that to every
term of a stack (before ``w`` and ``b``), so the terms still sum to the normalised
residual, and :meth:`~CacheAnalysis.logit_attrs` dots them with ``W_U[:, token]``:
direct logit attribution. The names, arguments, labels and results are
TransformerLens 3.9's (``tests/test_cache_analysis.py`` holds them equal).

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=2, d_model=16, n_heads=2, d_mlp=8, d_vocab=20, n_ctx=8, seed=0))
>>> _, cache = model.run_with_cache(torch.tensor([[1, 2, 3, 4]]))
>>> parts, labels = cache.decompose_resid(return_labels=True)
>>> labels
['embed', 'pos_embed', '0_attn_out', '0_mlp_out', '1_attn_out', '1_mlp_out']
>>> torch.allclose(parts.sum(0), cache["resid_post", -1], atol=1e-5)
True
>>> parts, labels = cache.get_full_resid_decomposition(return_labels=True)
>>> parts.shape, labels[:3], labels[4:6], labels[-3:]   # 2x2 heads, 2x8 neurons, 3 more
(torch.Size([23, 1, 4, 16]), ['L0H0', 'L0H1', 'L1H0'], ['L0N0', 'L0N1'], ['embed', 'pos_embed', 'bias'])
>>> torch.allclose(parts.sum(0), cache["resid_post", -1], atol=1e-5)
True
>>> cache.accumulated_resid(layer=1, incl_mid=True, return_labels=True)[1]
['0_pre', '0_mid', '1_pre']
"""

from __future__ import annotations

import einops
import torch
from torch import Tensor

from .cache_readout import CacheReadout, LayerOutOfRange, accumulated_bias, tokens_to_residual_directions
from .slice import Slice

__all__ = ["CacheAnalysis", "LayerOutOfRange", "accumulated_bias", "tokens_to_residual_directions"]


class CacheAnalysis(CacheReadout):
    """The analysis methods, mixed into :class:`~minigpt.cache.ActivationCache`.

    Besides what :class:`~minigpt.cache_readout.CacheReadout` reads, they store computed head
    results in ``self._store``.
    """

    # -- helpers -------------------------------------------------------------------------
    @property
    def has_embed(self) -> bool:
        return "hook_embed" in self

    @property
    def has_pos_embed(self) -> bool:
        return "hook_pos_embed" in self
    def _resid_into(self, layer: int) -> Tensor:
        """What block ``layer`` reads (``resid_post`` of the block before it)."""
        return self._read("resid_post", layer - 1) if layer > 0 else self._read("resid_pre", 0)

    def _empty_stack(self, pos_slice: Slice) -> Tensor:
        embed = pos_slice.apply(self._read("hook_embed"), dim=-2)
        return embed.new_zeros(0, *embed.shape)

    @staticmethod
    def _stack(parts: list[Tensor], what: str) -> Tensor:
        if not parts:
            raise RuntimeError(f"{what}: nothing to stack (no layers and no embeddings were asked for)")
        return torch.stack(parts)

    def _per_component(self, parts, labels, layer, pos_slice, incl_remainder, apply_ln, return_labels):
        """Per-layer ``[... n d_model]`` pieces → ``[(layer n) ... d_model]``, then the common options.

        ``incl_remainder`` appends ``"remainder"``, what ``layer`` reads minus the stack's sum.
        """
        if parts:
            stack = einops.rearrange(torch.cat(parts, dim=-2), "... component d_model -> component ... d_model")
        else:
            stack = self._empty_stack(pos_slice)
        if incl_remainder:
            total = pos_slice.apply(self._resid_into(layer), dim=-2)
            stack, labels = torch.cat([stack, (total - stack.sum(0))[None]]), labels + ["remainder"]
        if apply_ln:
            stack = self.apply_ln_to_stack(stack, layer, pos_slice=pos_slice)
        return (stack, labels) if return_labels else stack

    # -- the residual stream, summed and taken apart -------------------------------------
    def accumulated_resid(
        self, layer=None, incl_mid: bool = False, apply_ln: bool = False, pos_slice=None,
        mlp_input: bool = False, return_labels: bool = False,
    ):
        """The residual stream as it stands before each block: ``[layers_covered *batch_and_pos d_model]``.

        Rows ``0_pre .. {layer}_pre`` (``resid_pre`` of each block up to ``layer``),
        ``final_post`` when ``layer`` is ``n_layers``, ``-1`` or ``None``; ``incl_mid`` adds
        ``{l}_mid`` after each earlier block's ``_pre``, ``mlp_input`` adds ``{layer}_mid``.
        ``apply_ln`` normalises the rows as ``layer`` would read them: at the unembedding
        every row goes through ``ln_final`` with its own statistics (and ``w``, ``b``: the
        logit lens); before a block, with that block's cached scale (see :meth:`apply_ln_to_stack`).
        """
        pos_slice, layer, n_layers = Slice.of(pos_slice), self._layer(layer), self._cfg.n_layers
        parts, labels = [], []
        for l in range(layer + 1):
            if l == n_layers:
                parts.append(self._read("resid_post", n_layers - 1))
                labels.append("final_post")
                continue
            parts.append(self._read("resid_pre", l))
            labels.append(f"{l}_pre")
            if (incl_mid and l < layer) or (mlp_input and l == layer):
                parts.append(self._read("resid_mid", l))
                labels.append(f"{l}_mid")
        stack = torch.stack([pos_slice.apply(part, dim=-2) for part in parts])
        if apply_ln:
            stack = self.apply_ln_to_stack(
                stack, layer, mlp_input=mlp_input, pos_slice=pos_slice,
                has_batch_dim=self.has_batch_dim, recompute_ln=layer == n_layers,
            )
        return (stack, labels) if return_labels else stack

    def decompose_resid(
        self, layer=None, mlp_input: bool = False, mode: str = "all", apply_ln: bool = False,
        pos_slice=None, incl_embeds: bool = True, return_labels: bool = False,
    ):
        """What each sub-layer wrote before ``layer``: ``embed``, ``pos_embed``, ``{l}_attn_out``, ``{l}_mlp_out``.

        ``[n_components *batch_and_pos d_model]``; the rows sum to what ``layer`` reads
        (``n_layers``, ``-1`` or ``None``: the final residual stream). ``mode``: ``"all"``,
        ``"attn"`` or ``"mlp"`` keeps only those sub-layers; ``mlp_input`` adds
        ``{layer}_attn_out``; ``incl_embeds=False`` drops the embeddings.
        """
        if mode not in ("all", "attn", "mlp"):
            raise ValueError(f"mode must be 'all', 'attn' or 'mlp', got {mode!r}")
        pos_slice, layer = Slice.of(pos_slice), self._layer(layer)
        incl_attn, incl_mlp = mode != "mlp", mode != "attn" and not self._cfg.attn_only
        parts, labels = [], []
        for name, present in (("embed", self.has_embed), ("pos_embed", self.has_pos_embed)):
            if incl_embeds and present:
                parts.append(self._read(f"hook_{name}"))
                labels.append(name)
        for l in range(layer):
            for name, wanted in (("attn_out", incl_attn), ("mlp_out", incl_mlp)):
                if wanted:
                    parts.append(self._read(name, l))
                    labels.append(f"{l}_{name}")
        if mlp_input and incl_attn:
            parts.append(self._read("attn_out", layer))
            labels.append(f"{layer}_attn_out")
        stack = self._stack([pos_slice.apply(part, dim=-2) for part in parts], "decompose_resid")
        if apply_ln:
            stack = self.apply_ln_to_stack(stack, layer, mlp_input=mlp_input, pos_slice=pos_slice)
        return (stack, labels) if return_labels else stack

    def compute_head_results(self) -> None:
        """Cache each head's write to the residual, ``result[l] = z[l] @ W_O[l]`` per head, where missing.

        ``blocks.{l}.attn.hook_result``: ``[batch pos n_heads d_model]``; summed over heads
        plus ``b_O`` it is ``attn_out``. Uses the model's current ``W_O``.
        """
        for l in range(self._cfg.n_layers):
            name = f"blocks.{l}.attn.hook_result"
            if name not in self:
                z = self._read("z", l)  # [*batch pos n_heads d_head]
                W_O = self.model.blocks[l].attn.W_O.detach().to(z)  # [n_heads d_head d_model]
                self._store[name] = torch.einsum("...hd,hdm->...hm", z, W_O)

    def stack_head_results(
        self, layer=-1, return_labels: bool = False, incl_remainder: bool = False, pos_slice=None,
        apply_ln: bool = False,
    ):
        """Each head's write before ``layer``, labelled ``L{l}H{h}``: ``[layer*n_heads *batch_and_pos d_model]``.

        ``b_O`` is left out. ``incl_remainder`` appends ``"remainder"``, the rest of what
        ``layer`` reads (embeddings, MLPs, biases), so the rows sum to it.
        """
        pos_slice, layer = Slice.of(pos_slice), self._layer(layer)
        self.compute_head_results()
        parts = [pos_slice.apply(self._read("result", l), dim=-3) for l in range(layer)]  # [... n_heads d_model]
        labels = [f"L{l}H{h}" for l in range(layer) for h in range(self._cfg.n_heads)]
        return self._per_component(parts, labels, layer, pos_slice, incl_remainder, apply_ln, return_labels)

    def stack_activation(self, activation_name: str, layer=-1, sublayer_type: str | None = None) -> Tensor:
        """One activation of every block before ``layer``, stacked: ``[layer, ...]``.

        ``stack_activation("scale", sublayer_type="ln2")`` stacks ``blocks.{l}.ln2.hook_scale``.
        """
        layer = self._layer(layer)
        parts = [self[activation_name, l, sublayer_type] for l in range(layer)]
        return self._stack(parts, f"stack_activation({activation_name!r}, layer=0)")

    def get_neuron_results(self, layer: int, neuron_slice=None, pos_slice=None) -> Tensor:
        """Each neuron's write in block ``layer``, ``post[n] * W_out[n]``: ``[*batch_and_pos n_neurons d_model]``."""
        neuron_slice, pos_slice = Slice.of(neuron_slice, keep_dim=True), Slice.of(pos_slice)
        post = neuron_slice.apply(pos_slice.apply(self._read("post", layer), dim=-2), dim=-1)  # [... d_mlp]
        W_out = neuron_slice.apply(self.model.blocks[layer].mlp.W_out.detach().to(post), dim=0)
        return post[..., None] * W_out  # [... d_mlp d_model]

    def stack_neuron_results(
        self, layer, pos_slice=None, neuron_slice=None, return_labels: bool = False,
        incl_remainder: bool = False, apply_ln: bool = False,
    ):
        """Each neuron's write before ``layer``, labelled ``L{l}N{n}``: ``[layer*n_neurons *batch_and_pos d_model]``.

        ``b_out`` is left out. Large: ``layer * d_mlp`` copies of the residual stream.
        ``incl_remainder`` appends the rest of what ``layer`` reads, as in :meth:`stack_head_results`.
        """
        pos_slice, layer, cfg = Slice.of(pos_slice), self._layer(layer), self._cfg
        if cfg.attn_only or not cfg.d_mlp:
            raise ValueError("this model is attention-only: it has no MLP neurons")
        neuron_slice = Slice.of(neuron_slice, keep_dim=True)
        neurons = neuron_slice.apply(torch.arange(cfg.d_mlp)).tolist()
        labels = [f"L{l}N{n}" for l in range(layer) for n in neurons]
        parts = [self.get_neuron_results(l, neuron_slice, pos_slice) for l in range(layer)]
        return self._per_component(parts, labels, layer, pos_slice, incl_remainder, apply_ln, return_labels)

    def get_full_resid_decomposition(
        self, layer=None, mlp_input: bool = False, expand_neurons: bool = True, apply_ln: bool = False,
        pos_slice=None, return_labels: bool = False,
    ):
        """Every head, every neuron (or whole MLP), ``embed``, ``pos_embed``, ``bias``: summing to what ``layer`` reads.

        Rows in this order: ``L{l}H{h}`` (with ``mlp_input``, layer ``layer``'s heads too),
        ``L{l}N{n}`` (or ``{l}_mlp_out`` with ``expand_neurons=False``, whose ``b_out`` then
        stays inside), ``embed``, ``pos_embed``, ``bias`` (:func:`accumulated_bias`).
        """
        pos_slice, layer, cfg = Slice.of(pos_slice), self._layer(layer), self._cfg
        if mlp_input and layer == cfg.n_layers:
            raise LayerOutOfRange(f"mlp_input reads a block's MLP: layer must be in 0..{cfg.n_layers - 1}")
        stack, labels = self.stack_head_results(layer + int(mlp_input), pos_slice=pos_slice, return_labels=True)
        parts = [stack]
        if not cfg.attn_only and layer > 0:
            if expand_neurons:
                mlp, mlp_labels = self.stack_neuron_results(layer, pos_slice=pos_slice, return_labels=True)
            else:
                mlp, mlp_labels = self.decompose_resid(
                    layer, mlp_input=mlp_input, mode="mlp", pos_slice=pos_slice, incl_embeds=False, return_labels=True
                )
            parts.append(mlp)
            labels = labels + mlp_labels
        for name, present in (("embed", self.has_embed), ("pos_embed", self.has_pos_embed)):
            if present:
                parts.append(pos_slice.apply(self._read(f"hook_{name}"), dim=-2)[None])
                labels = labels + [name]
        bias = accumulated_bias(self.model, layer, mlp_input, include_mlp_biases=expand_neurons).to(stack)
        parts.append(bias.expand(1, *stack.shape[1:]))
        stack = torch.cat(parts)
        if apply_ln:
            stack = self.apply_ln_to_stack(stack, layer, mlp_input=mlp_input, pos_slice=pos_slice)
        return (stack, labels + ["bias"]) if return_labels else stack
