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

A checkpoint's ``config.json`` is ``to_dict()``; ``from_dict`` reads it back, older files
included: keys they kept in ``extra`` before they became fields move into their fields.

>>> GPTConfig.from_dict({"d_vocab": 114, "n_ctx": 3, "extra": {"p": 113}}).modulus
113
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field

ACT_FNS = ("gelu_new", "gelu", "relu", "silu")
NORMS = ("LN", "LNPre", None)  # LNPre: LayerNorm without weights (see weights.processing.fold_ln)

# Keys that older checkpoints kept in ``extra`` before they were fields: extra key -> field.
LEGACY_EXTRA = {"bos_token_id": "bos_token_id", "bos": "bos_token_id", "tokenizer": "tokenizer", "p": "modulus"}

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

    What a trained model records about its data: ``eos_token_id`` and ``bos_token_id`` (the
    token a sequence starts with; head detectors leave it out of their averages), ``tokenizer``
    (the name :func:`minigpt.tokenizer.get_tokenizer` knows, e.g. ``"bytes"``; ``model.to_tokens``
    uses it) and, for modular arithmetic (grokking), ``modulus``: the ``p`` of ``a + b mod p``,
    tokens ``0 .. p-1`` being the residues. ``extra`` holds free-form notes no code relies on.
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
    bos_token_id: int | None = None
    tokenizer: str | None = None  # a get_tokenizer name: "gpt2", "bytes"
    modulus: int | None = None  # modular-arithmetic models: p (tokens 0..p-1 are the residues)
    name: str = "custom"
    extra: dict = field(default_factory=dict)  # free-form notes: no code reads them

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
        """The config of ``to_dict()``; the legacy ``extra`` keys of :data:`LEGACY_EXTRA` move into their fields."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown GPTConfig fields {sorted(unknown)}; known: {sorted(known)}")
        d, extra = dict(d), dict(d.get("extra") or {})
        for key, name in LEGACY_EXTRA.items():
            if key not in extra:
                continue
            value = extra.pop(key)
            if d.get(name) is not None and d[name] != value:
                raise ValueError(f"the config gives {name}={d[name]!r} and extra[{key!r}]={value!r}: which one?")
            d[name] = value
        return cls(**{**d, "extra": extra})

    @property
    def n_params_non_embedding(self) -> int:
        """Parameters besides the token and position embeddings, as nanoGPT counts them."""
        d, h, e = self.d_model, self.n_heads, self.d_head
        attn = 3 * (h * d * e + h * e) + h * e * d + d
        mlp = 0 if self.attn_only else 2 * d * self.d_mlp + self.d_mlp + d
        ln = 0 if self.normalization_type != "LN" else (2 if self.attn_only else 4) * d  # LNPre: no weights
        ln_final = 0 if self.normalization_type != "LN" else 2 * d
        return self.n_layers * (attn + mlp + ln) + ln_final
