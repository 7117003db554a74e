"""One typed configuration for every model minigpt builds.

Field names follow TransformerLens (``n_layers``, ``d_model``, ``n_heads``,
``d_head``, ``d_mlp``, ``d_vocab``, ``n_ctx``, ``act_fn``, ``attn_only``, ...)
so that course material transfers. Derived fields are computed, never
repeated: leave ``d_head`` or ``d_mlp`` out and they follow from ``d_model``.

>>> cfg = GPTConfig(n_layers=2, d_model=64, n_heads=4, d_vocab=128, n_ctx=32)
>>> cfg.d_head, cfg.d_mlp
(16, 256)
>>> GPTConfig.from_name("gpt2").n_params_non_embedding
85056000
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field

ACT_FNS = ("gelu_new", "gelu", "relu", "silu")
NORMS = ("LN", "LNPre", None)  # LNPre: LayerNorm without weights (see processing.fold_ln)

# The Hugging Face GPT-2 family: (n_layers, d_model, n_heads).
_GPT2_FAMILY = {
    "gpt2": (12, 768, 12),
    "gpt2-medium": (24, 1024, 16),
    "gpt2-large": (36, 1280, 20),
    "gpt2-xl": (48, 1600, 25),
    "distilgpt2": (6, 768, 12),
}


@dataclass
class GPTConfig:
    """Hyper-parameters of a GPT-2-style decoder.

    The defaults are GPT-2 small's; the chapters' toy models switch pieces off:
    ``attn_only=True`` drops the MLPs, ``normalization_type=None`` drops every
    LayerNorm, ``positional_embedding=False`` drops ``W_pos``,
    ``tie_embeddings=False`` gives the unembedding its own ``W_U``.
    """

    n_layers: int = 12
    d_model: int = 768
    n_heads: int = 12
    d_head: int | None = None  # derived: d_model // n_heads
    d_mlp: int | None = None  # derived: 4 * d_model (None also when attn_only)
    d_vocab: int = 50257
    n_ctx: int = 1024
    act_fn: str = "gelu_new"
    attn_only: bool = False
    normalization_type: str | None = "LN"
    layer_norm_eps: float = 1e-5
    positional_embedding: bool = True
    tie_embeddings: bool = True
    unembed_bias: bool = False
    attn_scale: float | None = None  # derived: sqrt(d_head); scores are divided by it
    init_range: float = 0.02
    seed: int | None = None
    eos_token_id: int | None = None
    name: str = "custom"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("n_layers", "d_model", "n_heads", "d_vocab", "n_ctx"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"GPTConfig.{name} must be a positive int, got {value!r}")
        if self.d_head is None:
            if self.d_model % self.n_heads:
                raise ValueError(
                    f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}: "
                    "pass d_head explicitly or choose n_heads that divides d_model"
                )
            self.d_head = self.d_model // self.n_heads
        if self.d_mlp is None and not self.attn_only:
            self.d_mlp = 4 * self.d_model
        if self.act_fn not in ACT_FNS:
            raise ValueError(f"unknown act_fn {self.act_fn!r}; choose one of {ACT_FNS}")
        if self.normalization_type not in NORMS:
            raise ValueError(
                f"unknown normalization_type {self.normalization_type!r}; choose one of {NORMS}"
            )
        if self.attn_scale is None:
            self.attn_scale = float(self.d_head) ** 0.5

    @classmethod
    def from_name(cls, name: str, **overrides) -> GPTConfig:
        """A named preset (``gpt2``, ``gpt2-medium``, ``gpt2-large``, ``gpt2-xl``, ``distilgpt2``)."""
        if name not in _GPT2_FAMILY:
            close = difflib.get_close_matches(name, list(_GPT2_FAMILY), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown model name {name!r}; known: {sorted(_GPT2_FAMILY)}.{hint}")
        n_layers, d_model, n_heads = _GPT2_FAMILY[name]
        kwargs = dict(
            n_layers=n_layers, d_model=d_model, n_heads=n_heads, eos_token_id=50256, name=name
        )
        kwargs.update(overrides)
        return cls(**kwargs)

    @staticmethod
    def preset_names() -> list[str]:
        return sorted(_GPT2_FAMILY)

    def replace(self, **changes) -> GPTConfig:
        """A copy with some fields changed; derived fields are derived again."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        depends_on = {
            "d_head": {"d_model", "n_heads"},
            "d_mlp": {"d_model", "attn_only"},
            "attn_scale": {"d_model", "n_heads", "d_head"},
        }
        for name, inputs in depends_on.items():
            if name not in changes and inputs & set(changes):
                fields[name] = None
        fields.update(changes)
        return GPTConfig(**fields)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GPTConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown GPTConfig fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    @property
    def n_params_non_embedding(self) -> int:
        """Parameters besides the token and position embeddings, as nanoGPT counts them."""
        d, h, e = self.d_model, self.n_heads, self.d_head
        attn = 3 * (h * d * e + h * e) + h * e * d + d
        mlp = 0 if self.attn_only else 2 * d * self.d_mlp + self.d_mlp + d
        ln = 0 if self.normalization_type != "LN" else (2 if self.attn_only else 4) * d  # LNPre: no weights
        ln_final = 0 if self.normalization_type != "LN" else 2 * d
        return self.n_layers * (attn + mlp + ln) + ln_final
