"""The one map between Hugging Face GPT-2 weights and minigpt's.

GPT-2's linear layers are ``Conv1D`` modules whose weight is stored
``[d_in, d_out]`` (the transpose of ``nn.Linear``), so ``x @ W`` needs no
transpose and neither do ours. ``c_attn`` holds Q, K and V side by side:
``[d_model, 3 * n_heads * d_head]``; splitting the last axis in three and then
in heads gives ``[d_model, n_heads, d_head]``, which we expose as
``[n_heads, d_model, d_head]``.

Two layouts exist in the wild: the hub's own ``gpt2`` files hold ``GPT2Model``
keys (``h.0.attn.c_attn.weight``, no ``lm_head``, plus the causal-mask buffers
``h.N.attn.bias``/``masked_bias`` in ``.bin`` files), while
``GPT2LMHeadModel.save_pretrained`` writes ``transformer.h.0...`` and
``lm_head.weight``. Both are read here.
"""

from __future__ import annotations

from typing import Iterator

import einops
import torch
from torch import Tensor

from .config import GPTConfig

_SKIPPED_SUFFIXES = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers, not weights


def config_from_hf(hf: dict, name: str = "custom") -> GPTConfig:
    """A ``GPTConfig`` from a Hugging Face GPT-2 ``config.json`` dictionary."""
    unsupported = {
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "scale_attn_weights": True,
        "add_cross_attention": False,
    }
    for key, ok in unsupported.items():
        if hf.get(key, ok) != ok:
            raise ValueError(f"config.json sets {key}={hf[key]!r}, which minigpt does not implement")
    act = hf.get("activation_function", "gelu_new")
    act = {"gelu_pytorch_tanh": "gelu_new", "gelu_fast": "gelu_new"}.get(act, act)
    return GPTConfig(
        n_layers=hf["n_layer"],
        d_model=hf["n_embd"],
        n_heads=hf["n_head"],
        d_mlp=hf.get("n_inner") or 4 * hf["n_embd"],
        d_vocab=hf["vocab_size"],
        n_ctx=hf["n_positions"],
        act_fn=act,
        layer_norm_eps=hf.get("layer_norm_epsilon", 1e-5),
        tie_embeddings=hf.get("tie_word_embeddings", True),
        eos_token_id=hf.get("eos_token_id"),
        name=name,
    )


def config_to_hf(cfg: GPTConfig) -> dict:
    """The ``config.json`` of a Hugging Face ``GPT2LMHeadModel`` with ``cfg``'s geometry."""
    if cfg.attn_only or cfg.normalization_type != "LN" or not cfg.positional_embedding:
        raise ValueError("only GPT-2-shaped models (MLPs, LayerNorm, learned positions) export to HF")
    if cfg.d_head * cfg.n_heads != cfg.d_model or cfg.unembed_bias:
        raise ValueError("HF GPT-2 needs d_head * n_heads == d_model and no unembedding bias")
    if abs(cfg.attn_scale - cfg.d_head**0.5) > 1e-9:
        raise ValueError("HF GPT-2 scales attention scores by 1/sqrt(d_head) only")
    act = {"gelu_new": "gelu_new", "gelu": "gelu", "relu": "relu", "silu": "silu"}[cfg.act_fn]
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "n_layer": cfg.n_layers,
        "n_embd": cfg.d_model,
        "n_head": cfg.n_heads,
        "n_inner": cfg.d_mlp,
        "vocab_size": cfg.d_vocab,
        "n_positions": cfg.n_ctx,
        "activation_function": act,
        "layer_norm_epsilon": cfg.layer_norm_eps,
        "tie_word_embeddings": cfg.tie_embeddings,
        "bos_token_id": cfg.eos_token_id if cfg.eos_token_id is not None else cfg.d_vocab - 1,
        "eos_token_id": cfg.eos_token_id if cfg.eos_token_id is not None else cfg.d_vocab - 1,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
    }


def strip_prefix(hf_sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """``GPT2Model`` keys from either layout; mask buffers dropped."""
    out = {}
    for key, value in hf_sd.items():
        if key.endswith(_SKIPPED_SUFFIXES):
            continue
        out[key.removeprefix("transformer.")] = value
    return out


def _split_qkv(w: Tensor, cfg: GPTConfig) -> Iterator[Tensor]:
    """``c_attn.weight [d_model, 3 h e]`` → three ``[n_heads, d_model, d_head]`` views."""
    for part in w.chunk(3, dim=-1):
        yield einops.rearrange(part, "d_model (n_heads d_head) -> n_heads d_model d_head", n_heads=cfg.n_heads)


def hf_to_minigpt(hf_sd: dict[str, Tensor], cfg: GPTConfig) -> dict[str, Tensor]:
    """Hugging Face GPT-2 state dict (either layout) → minigpt names, shapes unchecked (see ``expected_shapes``)."""
    sd = strip_prefix(hf_sd)
    h, e = cfg.n_heads, cfg.d_head
    out: dict[str, Tensor] = {}

    def take(key: str) -> Tensor:
        if key not in sd:
            raise KeyError(key)
        return sd.pop(key)

    missing: list[str] = []

    def get(key: str) -> Tensor | None:
        try:
            return take(key)
        except KeyError:
            missing.append(key)
            return None

    out["embed.W_E"] = get("wte.weight")
    out["pos_embed.W_pos"] = get("wpe.weight")
    for L in range(cfg.n_layers):
        p, q = f"h.{L}.", f"blocks.{L}."
        out[q + "ln1.w"], out[q + "ln1.b"] = get(p + "ln_1.weight"), get(p + "ln_1.bias")
        w_qkv, b_qkv = get(p + "attn.c_attn.weight"), get(p + "attn.c_attn.bias")
        if w_qkv is not None and w_qkv.ndim == 2 and w_qkv.shape[1] == 3 * h * e:
            out[q + "attn.W_Q"], out[q + "attn.W_K"], out[q + "attn.W_V"] = _split_qkv(w_qkv, cfg)
        else:
            out[q + "attn.W_QKV (from c_attn.weight)"] = w_qkv
        if b_qkv is not None and b_qkv.numel() == 3 * h * e:
            for name, part in zip("QKV", b_qkv.chunk(3)):
                out[q + f"attn.b_{name}"] = part.reshape(h, e)
        else:
            out[q + "attn.b_QKV (from c_attn.bias)"] = b_qkv
        w_o = get(p + "attn.c_proj.weight")
        out[q + "attn.W_O"] = w_o.reshape(h, e, -1) if w_o is not None and w_o.numel() % (h * e) == 0 else w_o
        out[q + "attn.b_O"] = get(p + "attn.c_proj.bias")
        out[q + "ln2.w"], out[q + "ln2.b"] = get(p + "ln_2.weight"), get(p + "ln_2.bias")
        out[q + "mlp.W_in"], out[q + "mlp.b_in"] = get(p + "mlp.c_fc.weight"), get(p + "mlp.c_fc.bias")
        out[q + "mlp.W_out"], out[q + "mlp.b_out"] = get(p + "mlp.c_proj.weight"), get(p + "mlp.c_proj.bias")
    out["ln_final.w"], out["ln_final.b"] = get("ln_f.weight"), get("ln_f.bias")
    lm_head = sd.pop("lm_head.weight", None)
    if not cfg.tie_embeddings:
        if lm_head is None:
            missing.append("lm_head.weight")
        out["unembed.W_U"] = lm_head.T if lm_head is not None else None
    if missing or sd:
        raise WeightMismatchError(missing=missing, unexpected=sorted(sd))
    return out


def minigpt_to_hf(sd: dict[str, Tensor], cfg: GPTConfig) -> dict[str, Tensor]:
    """minigpt state dict → ``GPT2LMHeadModel`` keys (contiguous tensors, ready to save)."""
    out = {"transformer.wte.weight": sd["embed.W_E"], "transformer.wpe.weight": sd["pos_embed.W_pos"]}
    for L in range(cfg.n_layers):
        p, q = f"transformer.h.{L}.", f"blocks.{L}."
        qkv = [
            einops.rearrange(sd[q + f"attn.W_{n}"], "n_heads d_model d_head -> d_model (n_heads d_head)")
            for n in "QKV"
        ]
        out[p + "attn.c_attn.weight"] = torch.cat(qkv, dim=1)
        out[p + "attn.c_attn.bias"] = torch.cat([sd[q + f"attn.b_{n}"].reshape(-1) for n in "QKV"])
        out[p + "attn.c_proj.weight"] = sd[q + "attn.W_O"].reshape(cfg.n_heads * cfg.d_head, -1)
        out[p + "attn.c_proj.bias"] = sd[q + "attn.b_O"]
        for ours, theirs in (("ln1", "ln_1"), ("ln2", "ln_2")):
            out[p + theirs + ".weight"], out[p + theirs + ".bias"] = sd[q + ours + ".w"], sd[q + ours + ".b"]
        out[p + "mlp.c_fc.weight"], out[p + "mlp.c_fc.bias"] = sd[q + "mlp.W_in"], sd[q + "mlp.b_in"]
        out[p + "mlp.c_proj.weight"], out[p + "mlp.c_proj.bias"] = sd[q + "mlp.W_out"], sd[q + "mlp.b_out"]
    out["transformer.ln_f.weight"], out["transformer.ln_f.bias"] = sd["ln_final.w"], sd["ln_final.b"]
    out["lm_head.weight"] = sd["embed.W_E"] if cfg.tie_embeddings else sd["unembed.W_U"].T
    return {k: v.contiguous() for k, v in out.items()}


class WeightMismatchError(ValueError):
    """A checkpoint whose tensors do not match the model: lists what is missing, unexpected or misshapen."""

    def __init__(self, missing=(), unexpected=(), misshapen=(), source: str = "") -> None:
        self.missing, self.unexpected, self.misshapen = list(missing), list(unexpected), list(misshapen)
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensors: {_head(missing)}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensors: {_head(unexpected)}")
        if misshapen:
            parts.append("wrong shapes: " + _head([f"{k} is {got}, expected {want}" for k, got, want in misshapen]))
        where = f" in {source}" if source else ""
        super().__init__(
            f"the weights{where} do not match the model's config: " + "; ".join(parts)
            + ". Is config.json the one these weights were saved with?"
        )


def _head(items: list[str], n: int = 6) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items) - n} more)" if len(items) > n else "")


@torch.no_grad()
def load_hf_state_dict(model, hf_sd: dict[str, Tensor], source: str = "") -> None:
    """Copy a Hugging Face GPT-2 state dict into ``model``, one shape assert per tensor."""
    try:
        ours = hf_to_minigpt(hf_sd, model.cfg)
    except WeightMismatchError as err:
        raise WeightMismatchError(err.missing, err.unexpected, source=source) from None
    params = dict(model.named_parameters())
    misshapen = []
    for name, value in ours.items():
        target = params.get(name)
        if target is None or value is None or target.shape != value.shape:
            want = tuple(target.shape) if target is not None else "(no such parameter)"
            got = tuple(value.shape) if value is not None else None
            misshapen.append((name, got, want))
    if misshapen:
        raise WeightMismatchError(misshapen=misshapen, source=source)
    unloaded = set(params) - set(ours)
    if unloaded:
        raise WeightMismatchError(missing=sorted(unloaded), source=source)
    for name, value in ours.items():
        params[name].copy_(value)
