"""Chapter 1 checks: the causal mask, attention, GELU, the MLP and the block."""

from __future__ import annotations

import math

import einops
import torch
import torch.nn.functional as F
from torch import Tensor

from ...registry import Case, Mutant
from .._shared import INF, _randn
from ._common import register_exercise
from ....components import Attention as _LibAttention
from ....components import Block as _LibBlock


# ---------------------------------------------------------------------------
# apply_causal_mask
# ---------------------------------------------------------------------------


def causal_mask_cases() -> list[Case]:
    g = torch.Generator().manual_seed(104)
    return [dict(scores=_randn(g, *shape)) for shape in ((2, 3, 4, 4), (1, 2, 3, 5), (2, 2, 6, 6))]


def _masked(scores, diagonal_from_end, fill=-INF, align_end=True):
    """Mask keys from ``diagonal`` above query i's own position (end-aligned unless told)."""
    q, k = scores.shape[-2:]
    offset = k - q if align_end else 0
    future = torch.ones(q, k, dtype=torch.bool).triu(diagonal=offset + diagonal_from_end)
    return scores.masked_fill(future, fill)


def _mask_diagonal(scores):
    return _masked(scores, 0)


def _mask_one_future(scores):
    return _masked(scores, 2)


def _mask_zero(scores):
    return _masked(scores, 1, fill=0.0)


def _mask_past(scores):
    q, k = scores.shape[-2:]
    return scores.masked_fill(torch.ones(q, k, dtype=torch.bool).tril(diagonal=k - q - 1), -INF)


def _mask_top_left(scores):
    return _masked(scores, 1, align_end=False)


register_exercise(
    id="ch01.apply_causal_mask", name="apply_causal_mask", title="Causal mask", points=2, difficulty=2,
    hints=["A query sees its own position and earlier ones: mask key k when k > q (square case).",
           "torch.ones(q, k, dtype=torch.bool).triu(diagonal=1) is True strictly above the diagonal; "
           "with fewer queries than keys, shift the diagonal by key_pos - query_pos."],
    make_cases=causal_mask_cases,
    mutants=[
        Mutant("diagonal-masked", "the diagonal is masked too: a query must see its own key. Mask only "
               "keys strictly after the query (triu(diagonal=1), not diagonal=0).", _mask_diagonal),
        Mutant("one-future-visible", "each query can still see the next key: mask every key after the "
               "query's own position (triu(diagonal=1), not 2).", _mask_one_future),
        Mutant("fill-zero", "masked scores are set to 0, which still gets weight after the softmax; "
               "use float('-inf').", _mask_zero),
        Mutant("past-masked", "the past is masked instead of the future (tril instead of triu): a query "
               "attends to itself and *earlier* keys.", _mask_past),
        Mutant("top-left-aligned", "with fewer queries than keys the mask must line up with the *last* "
               "keys: query i is at position key_pos - query_pos + i; shift the diagonal by "
               "key_pos - query_pos.", _mask_top_left),
    ],
)


# ---------------------------------------------------------------------------
# Attention (a module)
# ---------------------------------------------------------------------------


def _attention_state(g: torch.Generator, h: int, d: int, e: int) -> dict[str, Tensor]:
    w = 1.5 / math.sqrt(d)
    return {
        "W_Q": _randn(g, h, d, e, scale=w), "W_K": _randn(g, h, d, e, scale=w),
        "W_V": _randn(g, h, d, e, scale=w), "W_O": _randn(g, h, e, d, scale=1 / math.sqrt(e)),
        "b_Q": _randn(g, h, e, scale=0.5), "b_K": _randn(g, h, e, scale=0.5),
        "b_V": _randn(g, h, e, scale=0.5), "b_O": _randn(g, d, scale=0.5),
    }


def attention_cases() -> list[Case]:
    g = torch.Generator().manual_seed(105)
    cases = []
    for cfg, batch, pos, scale in (
        (dict(n_layers=1, d_model=12, n_heads=3, d_head=5, d_vocab=11, n_ctx=16), 2, 5, 1.0),
        (dict(n_layers=1, d_model=10, n_heads=2, d_vocab=11, n_ctx=16), 3, 4, 1.0),
        (dict(n_layers=1, d_model=8, n_heads=4, d_head=3, d_vocab=11, n_ctx=16), 1, 6, 1.0),
        # stability: scores in the hundreds, where exp overflows unless the softmax subtracts the max
        (dict(n_layers=1, d_model=8, n_heads=2, d_head=4, d_vocab=11, n_ctx=16), 2, 5, 8.0),
    ):
        h, d = cfg["n_heads"], cfg["d_model"]
        state = _attention_state(g, h, d, cfg.get("d_head", d // h))
        cases.append(dict(cfg=cfg, state_dict=state, x=_randn(g, batch, pos, d, scale=scale)))
    return cases


class _WrongAttention(_LibAttention):
    """minigpt's Attention parameters with a hand-written forward that makes one mistake."""

    mistake = ""

    def __init__(self, cfg) -> None:
        super().__init__(cfg, kernel="naive")

    def forward(self, x: Tensor) -> Tensor:
        m, (h, d, e) = self.mistake, self.W_Q.shape
        batch, pos, _ = x.shape
        q, k, v = (einops.einsum(x, W, "b p d, h d e -> b h p e") for W in (self.W_Q, self.W_K, self.W_V))
        if m != "no-qkv-bias":
            q, k, v = q + self.b_Q[:, None], k + self.b_K[:, None], v + self.b_V[:, None]
        scale = {"no-scale": 1.0, "sqrt-d-model": math.sqrt(d)}.get(m, math.sqrt(e))
        scores = einops.einsum(q, k, "b h q e, b h k e -> b h q k") / scale
        future = torch.ones(pos, pos, dtype=torch.bool).triu({"diagonal-masked": 0, "one-future-visible": 2}.get(m, 1))
        if m == "mask-after-softmax":
            pattern = scores.softmax(dim=-1).masked_fill(future, 0.0)
        else:
            scores = scores.masked_fill(future, 0.0 if m == "mask-with-zero" else -INF)
            pattern = scores.softmax(dim=-2 if m == "softmax-over-queries" else -1)
        z = einops.einsum(pattern, v, "b h q k, b h k e -> b h q e")
        if m == "heads-reshaped":  # [batch n_heads pos d_head] flattened as if it were [batch pos n_heads d_head]
            out = z.reshape(batch, pos, h * e) @ self.W_O.reshape(h * e, d)
        else:
            per_head = einops.einsum(z, self.W_O, "b h q e, h e d -> b q h d")
            out = per_head.mean(dim=2) if m == "heads-averaged" else per_head.sum(dim=2)
        return out if m == "no-b-O" else out + self.b_O


def _attention_mutant(mistake: str) -> type:
    return type(f"Attention_{mistake.replace('-', '_')}", (_WrongAttention,), {"mistake": mistake})


register_exercise(
    id="ch01.attention", name="Attention", title="Multi-head causal self-attention", points=5, difficulty=3,
    hints=["Write it with einops.einsum and named axes: q, k, v are [batch pos n_heads d_head].",
           "scores / sqrt(d_head), apply_causal_mask, then softmax over the keys (dim=-1).",
           "Each head writes z_h @ W_O[h]; sum over the heads, then add b_O once."],
    make_cases=attention_cases,
    mutants=[
        Mutant("no-scale", "the scores are not divided by sqrt(d_head): scale q.k by 1 / sqrt(d_head) "
               "before the softmax.", _attention_mutant("no-scale")),
        Mutant("sqrt-d-model", "the scores are divided by sqrt(d_model); the scale is per head: "
               "1 / sqrt(d_head).", _attention_mutant("sqrt-d-model")),
        Mutant("softmax-over-queries", "the softmax runs over the query axis; each query's weights over "
               "the keys must sum to 1: softmax(dim=-1) on [batch n_heads query_pos key_pos].",
               _attention_mutant("softmax-over-queries")),
        Mutant("diagonal-masked", "the diagonal is masked: a query must attend to its own position "
               "(mask only the keys after it).", _attention_mutant("diagonal-masked")),
        Mutant("one-future-visible", "each query can see one future key: the mask is off by one "
               "(mask every key after the query).", _attention_mutant("one-future-visible")),
        Mutant("mask-with-zero", "masked scores are set to 0 instead of -inf, so future keys still get "
               "weight after the softmax.", _attention_mutant("mask-with-zero")),
        Mutant("mask-after-softmax", "the mask is applied after the softmax (the weights no longer sum to "
               "1): mask the scores with -inf, then take the softmax.", _attention_mutant("mask-after-softmax")),
        Mutant("heads-reshaped", "the heads are mixed up: z of shape [batch n_heads pos d_head] was reshaped "
               "to [batch pos n_heads*d_head] without moving the heads axis first (transpose, or einsum "
               "with named axes).", _attention_mutant("heads-reshaped")),
        Mutant("heads-averaged", "the heads' outputs are averaged; they are summed (each head writes its own "
               "z_h @ W_O[h] into the residual stream).", _attention_mutant("heads-averaged")),
        Mutant("no-b-O", "the output bias b_O is missing: add it once, after summing over heads.",
               _attention_mutant("no-b-O")),
        Mutant("no-qkv-bias", "b_Q, b_K and b_V are not added: q = x @ W_Q + b_Q, and likewise for k, v.",
               _attention_mutant("no-qkv-bias")),
    ],
    depends_on=["ch01.apply_causal_mask"], kind="module",
)


# ---------------------------------------------------------------------------
# gelu_new, mlp
# ---------------------------------------------------------------------------


def gelu_cases() -> list[Case]:
    g = torch.Generator().manual_seed(106)
    return [dict(x=_randn(g, 3, 5, scale=3.0)), dict(x=_randn(g, 2, 4, 7, scale=2.0)),
            dict(x=torch.linspace(-4.0, 4.0, 17))]


def _gelu_exact(x):
    return F.gelu(x)


def _gelu_no_half(x):
    return x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def _gelu_no_cubic(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * x))


def _gelu_sigmoid(x):
    return x * torch.sigmoid(1.702 * x)


register_exercise(
    id="ch01.gelu_new", name="gelu_new", title="GELU (GPT-2's tanh approximation)", points=1, difficulty=1,
    hints=["0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))."],
    make_cases=gelu_cases,
    mutants=[
        Mutant("exact-gelu", "this is the exact (erf) GELU, F.gelu(x); GPT-2 uses the tanh approximation "
               "(F.gelu(x, approximate='tanh') computes it).", _gelu_exact),
        Mutant("missing-half", "the factor 0.5 is missing: 0.5 * x * (1 + tanh(...)).", _gelu_no_half),
        Mutant("missing-cubic", "the cubic term is missing inside the tanh: "
               "sqrt(2/pi) * (x + 0.044715 * x**3).", _gelu_no_cubic),
        Mutant("sigmoid-approx", "this is the sigmoid approximation x * sigmoid(1.702 x); GPT-2 uses the "
               "tanh one.", _gelu_sigmoid),
    ],
)


def mlp_cases() -> list[Case]:
    g = torch.Generator().manual_seed(107)
    cases = []
    for b, p, d, m in ((2, 3, 6, 10), (1, 4, 5, 7), (3, 2, 4, 9)):
        cases.append(dict(x=_randn(g, b, p, d), W_in=_randn(g, d, m, scale=2 / math.sqrt(d)),
                          b_in=_randn(g, m, scale=0.5), W_out=_randn(g, m, d, scale=1 / math.sqrt(m)),
                          b_out=_randn(g, d, scale=0.5)))
    return cases


def _mlp_relu(x, W_in, b_in, W_out, b_out):
    return torch.relu(x @ W_in + b_in) @ W_out + b_out


def _mlp_exact_gelu(x, W_in, b_in, W_out, b_out):
    return F.gelu(x @ W_in + b_in) @ W_out + b_out


def _mlp_bias_after(x, W_in, b_in, W_out, b_out):
    pre = x @ W_in
    return (0.5 * pre * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (pre + 0.044715 * pre.pow(3)))) + b_in) @ W_out + b_out


def _mlp_no_b_out(x, W_in, b_in, W_out, b_out):
    pre = x @ W_in + b_in
    return 0.5 * pre * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (pre + 0.044715 * pre.pow(3)))) @ W_out


register_exercise(
    id="ch01.mlp", name="mlp", title="MLP", points=1, difficulty=1,
    hints=["gelu_new(x @ W_in + b_in) @ W_out + b_out."],
    make_cases=mlp_cases,
    mutants=[
        Mutant("relu", "the activation is ReLU; GPT-2's MLP uses gelu_new.", _mlp_relu),
        Mutant("exact-gelu", "the activation is the exact GELU (F.gelu); GPT-2 uses gelu_new, the tanh "
               "approximation.", _mlp_exact_gelu),
        Mutant("b-in-after-activation", "b_in is added after the activation; it belongs inside: "
               "gelu_new(x @ W_in + b_in).", _mlp_bias_after),
        Mutant("no-b-out", "the output bias b_out is missing: ... @ W_out + b_out.", _mlp_no_b_out),
    ],
    depends_on=["ch01.gelu_new"],
)


# ---------------------------------------------------------------------------
# Block (a module)
# ---------------------------------------------------------------------------


def block_cases() -> list[Case]:
    g = torch.Generator().manual_seed(108)
    cases = []
    for cfg, batch, pos in (
        (dict(n_layers=1, d_model=12, n_heads=3, d_head=5, d_mlp=20, d_vocab=11, n_ctx=16), 2, 5),
        (dict(n_layers=1, d_model=8, n_heads=2, d_mlp=12, d_vocab=11, n_ctx=16), 3, 4),
    ):
        h, d, m = cfg["n_heads"], cfg["d_model"], cfg["d_mlp"]
        state = {}
        for ln in ("ln1", "ln2"):
            state[f"{ln}.w"], state[f"{ln}.b"] = _randn(g, d, scale=0.3, shift=1.0), _randn(g, d, scale=0.3)
        state.update({f"attn.{k}": v for k, v in _attention_state(g, h, d, cfg.get("d_head", d // h)).items()})
        state.update({"mlp.W_in": _randn(g, d, m, scale=2 / math.sqrt(d)), "mlp.b_in": _randn(g, m, scale=0.5),
                      "mlp.W_out": _randn(g, m, d, scale=1 / math.sqrt(m)), "mlp.b_out": _randn(g, d, scale=0.5)})
        cases.append(dict(cfg=cfg, state_dict=state, resid=_randn(g, batch, pos, d, shift=0.3)))
    return cases


class _WrongBlock(_LibBlock):
    """minigpt's Block (same sub-modules and parameter names) with a forward that makes one mistake."""

    mistake = ""

    def __init__(self, cfg) -> None:
        super().__init__(cfg, layer=0, kernel="naive")

    def forward(self, resid: Tensor) -> Tensor:
        m = self.mistake
        if m == "post-ln":
            resid = self.ln1(resid + self.attn(resid))
            return self.ln2(resid + self.mlp(resid))
        if m == "no-residual":
            return self.mlp(self.ln2(self.attn(self.ln1(resid))))
        if m == "parallel":
            return resid + self.attn(self.ln1(resid)) + self.mlp(self.ln2(resid))
        if m == "ln1-twice":
            resid = resid + self.attn(self.ln1(resid))
            return resid + self.mlp(self.ln1(resid))
        if m == "residual-normalised":
            x = self.ln1(resid)
            x = x + self.attn(x)
            x = self.ln2(x)
            return x + self.mlp(x)
        raise AssertionError(m)


def _block_mutant(mistake: str) -> type:
    return type(f"Block_{mistake.replace('-', '_')}", (_WrongBlock,), {"mistake": mistake})


register_exercise(
    id="ch01.block", name="Block", title="Transformer block", points=3, difficulty=2,
    hints=["Pre-LayerNorm: resid = resid + attn(ln1(resid)); resid = resid + mlp(ln2(resid)).",
           "The sub-modules must be named ln1, attn, ln2, mlp so the state dict loads."],
    make_cases=block_cases,
    mutants=[
        Mutant("post-ln", "the LayerNorms come after the residual additions (post-LN, the original "
               "Transformer); GPT-2 is pre-LN: resid + attn(ln1(resid)).", _block_mutant("post-ln")),
        Mutant("no-residual", "the residual connections are missing: add each sub-layer's output to its "
               "input, resid = resid + attn(ln1(resid)).", _block_mutant("no-residual")),
        Mutant("parallel", "attention and MLP both read the block's input (in parallel); the MLP reads "
               "resid_mid, after the attention output has been added.", _block_mutant("parallel")),
        Mutant("ln1-twice", "ln1 is used before the MLP too; the MLP has its own LayerNorm, ln2.",
               _block_mutant("ln1-twice")),
        Mutant("residual-normalised", "the outputs are added to the *normalised* stream; normalise a copy "
               "for each sub-layer and add its output to the un-normalised residual.",
               _block_mutant("residual-normalised")),
    ],
    depends_on=["ch01.layer_norm", "ch01.attention", "ch01.mlp"], kind="module",
)


