"""The one map between Hugging Face GPT-2 weights and minigpt's.

GPT-2's linear layers are ``Conv1D`` modules whose weight is stored
``[d_in, d_out]`` (the transpose of ``nn.Linear``). ``c_attn`` holds Q, K and V
side by side: ``[d_model, 3 * n_heads * d_head]``; splitting its last axis in
three and then in heads gives ``[d_model, n_heads, d_head]``, which we show as
``[n_heads, d_model, d_head]``.

Two layouts exist in the wild: the hub's own ``gpt2`` files hold ``GPT2Model``
keys (``h.0.attn.c_attn.weight``, no ``lm_head``, plus the causal-mask buffers
``h.N.attn.bias``/``masked_bias`` in ``.bin`` files), while
``GPT2LMHeadModel.save_pretrained`` writes ``transformer.h.0...`` and
``lm_head.weight``. Both are read here.

:func:`weight_table` is the whole map: for every Hugging Face tensor, its
expected shape and the minigpt parameters it fills. The loader reads one
tensor at a time through it, so loading needs no second copy of the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import einops
import torch
from torch import Tensor

from ..config import GPTConfig
from .safetensors import TensorSource

SKIPPED_SUFFIXES = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers, not weights


@dataclass(frozen=True)
class Entry:
    """One Hugging Face tensor: its shape, and ``(our_name, transform)`` for each parameter it fills."""

    shape: tuple[int, ...]
    targets: tuple[tuple[str, Callable[[Tensor], Tensor]], ...]


def _same(t: Tensor) -> Tensor:
    return t


def _qkv_weight(i: int, n_heads: int) -> Callable[[Tensor], Tensor]:
    """Part ``i`` (0=Q, 1=K, 2=V) of ``c_attn.weight [d_model, 3*n_heads*d_head]`` as ``[n_heads, d_model, d_head]``."""
    return lambda w: einops.rearrange(
        w.chunk(3, dim=-1)[i], "d_model (n_heads d_head) -> n_heads d_model d_head", n_heads=n_heads
    )


def _qkv_bias(i: int, n_heads: int) -> Callable[[Tensor], Tensor]:
    """Part ``i`` of ``c_attn.bias [3*n_heads*d_head]`` as ``[n_heads, d_head]``."""
    return lambda b: einops.rearrange(b.chunk(3)[i], "(n_heads d_head) -> n_heads d_head", n_heads=n_heads)


def _per_head_rows(n_heads: int) -> Callable[[Tensor], Tensor]:
    """``c_proj.weight [n_heads*d_head, d_model]`` as ``W_O [n_heads, d_head, d_model]``."""
    return lambda w: einops.rearrange(w, "(n_heads d_head) d_model -> n_heads d_head d_model", n_heads=n_heads)


def weight_table(cfg: GPTConfig) -> dict[str, Entry]:
    """Every ``GPT2Model`` key (no ``transformer.`` prefix) → its shape and our parameters."""
    d_model, n_heads, d_head, d_mlp, d_vocab = cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp, cfg.d_vocab
    table = {
        "wte.weight": Entry((d_vocab, d_model), (("embed.W_E", _same),)),
        "wpe.weight": Entry((cfg.n_ctx, d_model), (("pos_embed.W_pos", _same),)),
        "ln_f.weight": Entry((d_model,), (("ln_final.w", _same),)),
        "ln_f.bias": Entry((d_model,), (("ln_final.b", _same),)),
    }
    for L in range(cfg.n_layers):
        hf, our = f"h.{L}.", f"blocks.{L}."
        table.update({
            hf + "ln_1.weight": Entry((d_model,), ((our + "ln1.w", _same),)),
            hf + "ln_1.bias": Entry((d_model,), ((our + "ln1.b", _same),)),
            hf + "attn.c_attn.weight": Entry(  # Conv1D: [d_in, d_out]
                (d_model, 3 * n_heads * d_head),
                tuple((our + f"attn.W_{n}", _qkv_weight(i, n_heads)) for i, n in enumerate("QKV")),
            ),
            hf + "attn.c_attn.bias": Entry(
                (3 * n_heads * d_head,),
                tuple((our + f"attn.b_{n}", _qkv_bias(i, n_heads)) for i, n in enumerate("QKV")),
            ),
            hf + "attn.c_proj.weight": Entry(  # Conv1D: [n_heads*d_head, d_model] -> [n_heads, d_head, d_model]
                (n_heads * d_head, d_model), ((our + "attn.W_O", _per_head_rows(n_heads)),)
            ),
            hf + "attn.c_proj.bias": Entry((d_model,), ((our + "attn.b_O", _same),)),
            hf + "ln_2.weight": Entry((d_model,), ((our + "ln2.w", _same),)),
            hf + "ln_2.bias": Entry((d_model,), ((our + "ln2.b", _same),)),
            hf + "mlp.c_fc.weight": Entry((d_model, d_mlp), ((our + "mlp.W_in", _same),)),  # Conv1D = [d_model, d_mlp]
            hf + "mlp.c_fc.bias": Entry((d_mlp,), ((our + "mlp.b_in", _same),)),
            hf + "mlp.c_proj.weight": Entry((d_mlp, d_model), ((our + "mlp.W_out", _same),)),
            hf + "mlp.c_proj.bias": Entry((d_model,), ((our + "mlp.b_out", _same),)),
        })
    if not cfg.tie_embeddings:  # nn.Linear: [d_vocab, d_model]
        table["lm_head.weight"] = Entry((d_vocab, d_model), (("unembed.W_U", lambda w: w.T),))
    return table


def canonical_key(key: str) -> str:
    """``transformer.h.0.ln_1.weight`` and ``h.0.ln_1.weight`` name the same tensor."""
    return key.removeprefix("transformer.")


def check_keys(keys: Iterable[str], cfg: GPTConfig, source: str = "") -> dict[str, str]:
    """Map table keys to the file's own keys; raise listing what is missing or unexpected."""
    table = weight_table(cfg)
    found: dict[str, str] = {}
    unexpected = []
    for key in keys:
        canon = canonical_key(key)
        if canon.endswith(SKIPPED_SUFFIXES) or (canon == "lm_head.weight" and cfg.tie_embeddings):
            continue  # mask buffers; a tied lm_head is wte again
        (found.__setitem__(canon, key) if canon in table else unexpected.append(key))
    missing = sorted(set(table) - set(found))
    if missing or unexpected:
        raise WeightMismatchError(missing=missing, unexpected=sorted(unexpected), source=source)
    return found


@torch.no_grad()
def load_hf_tensors(model, tensors, source: str = "") -> None:
    """Fill ``model`` from Hugging Face tensors, read one at a time (``tensors``: a ``TensorSource``).

    Every tensor's shape is checked against the config before it is copied. A tensor that
    goes to one parameter unchanged is read straight into that parameter's memory when the
    source can do so.
    """
    cfg = model.cfg
    table = weight_table(cfg)
    found = check_keys(list(tensors.keys), cfg, source)
    params = dict(model.named_parameters())
    filled = {name for entry in table.values() for name, _ in entry.targets}
    if set(params) != filled:
        raise WeightMismatchError(missing=sorted(set(params) - filled), source=f"{source} (the model's own parameters)")
    for canon, key in found.items():
        entry = table[canon]
        (name, transform), *rest = entry.targets
        if not rest and transform is _same and tensors.read_into(key, params[name]):
            continue
        tensor = tensors.get(key)
        if tuple(tensor.shape) != entry.shape:
            raise WeightMismatchError(misshapen=[(key, tuple(tensor.shape), entry.shape)], source=source)
        if not (tensor.dtype.is_floating_point):
            raise WeightMismatchError(misshapen=[(key, f"dtype {tensor.dtype}", "a floating-point tensor")], source=source)
        for name, transform in entry.targets:
            params[name].copy_(transform(tensor))
        del tensor


def load_hf_state_dict(model, hf_sd: dict[str, Tensor], source: str = "") -> None:
    """Copy a Hugging Face GPT-2 state dict (either layout) into ``model``."""
    load_hf_tensors(model, TensorSource(list(hf_sd), hf_sd.__getitem__), source)


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
    missing = [k for k in ("n_layer", "n_embd", "n_head", "vocab_size", "n_positions") if k not in hf]
    if missing:
        raise ValueError(f"config.json lacks {missing}: is it a GPT-2 config (model_type 'gpt2')?")
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
        raise ValueError(
            "only GPT-2-shaped models (MLPs, LayerNorm with weights, learned positions) export to "
            f"Hugging Face's GPT2LMHeadModel; this one has attn_only={cfg.attn_only}, "
            f"normalization_type={cfg.normalization_type!r}, positional_embedding={cfg.positional_embedding}"
        )
    if cfg.d_head * cfg.n_heads != cfg.d_model or cfg.unembed_bias:
        raise ValueError("Hugging Face GPT-2 needs d_head * n_heads == d_model and no unembedding bias")
    if abs(cfg.attn_scale - cfg.d_head**0.5) > 1e-9:
        raise ValueError("Hugging Face GPT-2 scales attention scores by 1/sqrt(d_head) only")
    eos = cfg.eos_token_id if cfg.eos_token_id is not None else cfg.d_vocab - 1
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "n_layer": cfg.n_layers,
        "n_embd": cfg.d_model,
        "n_head": cfg.n_heads,
        "n_inner": cfg.d_mlp,
        "vocab_size": cfg.d_vocab,
        "n_positions": cfg.n_ctx,
        "activation_function": cfg.act_fn,
        "layer_norm_epsilon": cfg.layer_norm_eps,
        "tie_word_embeddings": cfg.tie_embeddings,
        "bos_token_id": eos,
        "eos_token_id": eos,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
    }


def minigpt_to_hf(sd: dict[str, Tensor], cfg: GPTConfig) -> dict[str, Tensor]:
    """minigpt state dict → ``GPT2LMHeadModel`` keys (contiguous tensors, ready to save)."""
    out = {"transformer.wte.weight": sd["embed.W_E"], "transformer.wpe.weight": sd["pos_embed.W_pos"]}
    for L in range(cfg.n_layers):
        hf, our = f"transformer.h.{L}.", f"blocks.{L}."
        qkv = [
            einops.rearrange(sd[our + f"attn.W_{n}"], "n_heads d_model d_head -> d_model (n_heads d_head)")
            for n in "QKV"
        ]
        out[hf + "attn.c_attn.weight"] = torch.cat(qkv, dim=1)
        out[hf + "attn.c_attn.bias"] = torch.cat(
            [einops.rearrange(sd[our + f"attn.b_{n}"], "n_heads d_head -> (n_heads d_head)") for n in "QKV"])
        out[hf + "attn.c_proj.weight"] = einops.rearrange(
            sd[our + "attn.W_O"], "n_heads d_head d_model -> (n_heads d_head) d_model")
        out[hf + "attn.c_proj.bias"] = sd[our + "attn.b_O"]
        for our_ln, hf_ln in (("ln1", "ln_1"), ("ln2", "ln_2")):
            out[hf + hf_ln + ".weight"], out[hf + hf_ln + ".bias"] = sd[our + our_ln + ".w"], sd[our + our_ln + ".b"]
        out[hf + "mlp.c_fc.weight"], out[hf + "mlp.c_fc.bias"] = sd[our + "mlp.W_in"], sd[our + "mlp.b_in"]
        out[hf + "mlp.c_proj.weight"], out[hf + "mlp.c_proj.bias"] = sd[our + "mlp.W_out"], sd[our + "mlp.b_out"]
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
    return ", ".join(map(str, items[:n])) + (f", ... ({len(items) - n} more)" if len(items) > n else "")
