"""Chapter 1 as learners get it wrong: plain wrong answers, written apart from the registry's mutants.

Each entry is what a learner might hand in, written the way a learner writes it
(not as the inverse of any diagnoser), and tagged with the kind of diagnosis a
person reading the code would give:

- ``axis``: the right operation over the wrong axis;
- ``term``: a term or a step left out (a bias, a factor, a residual, a sub-layer), or one too many;
- ``shift``: positions or targets off by one;
- ``swap``: two operands swapped;
- ``order``: the right steps in the wrong order (or a result used where its input belonged);
- ``scale``: a missing, extra or wrong scale factor;
- ``constant``: some other constant is wrong (an exponent, a fill value);
- ``invert``: a condition selects the wrong side;
- ``stability``: right on ordinary inputs, overflows or loses precision on large ones;
- ``None``: no one family fits (two mistakes at once, or an idea of its own).

``tests/grading/test_realistic_mistakes.py`` grades every entry: none may
pass, most must be named, and a generic diagnosis must be of the tagged family.
Dependencies (``apply_causal_mask``, ``LayerNorm``, ...) are the reference
ones, as in a notebook whose earlier cells are right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import einops
import torch
import torch.nn.functional as F

from solutions.ch01_transformer import (
    Attention, Block, Transformer, apply_causal_mask, cross_entropy_per_token, gelu_new,
    top_k_filter, top_p_filter,
)


@dataclass(frozen=True)
class Mistake:
    exercise: str
    family: str | None
    impl: Any

    @property
    def name(self) -> str:
        return f"{self.exercise}:{self.impl.__name__}"


MISTAKES: list[Mistake] = []


def mistake(exercise: str, family: str | None):
    def add(impl):
        MISTAKES.append(Mistake(exercise, family, impl))
        return impl

    return add


# ---------------------------------------------------------------------------
# layer_norm
# ---------------------------------------------------------------------------


@mistake("ch01.layer_norm", "axis")
def ln_stats_over_batch(x, w, b, eps=1e-5):
    mean = x.mean(0, keepdim=True)
    var = x.var(0, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps) * w + b


@mistake("ch01.layer_norm", "axis")
def ln_variance_over_pos(x, w, b, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=1, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps) * w + b


@mistake("ch01.layer_norm", "stability")
def ln_var_from_squares(x, w, b, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = (x**2).mean(-1, keepdim=True) - mean**2  # E[x^2] - E[x]^2
    return (x - mean) / torch.sqrt(var + eps) * w + b


@mistake("ch01.layer_norm", "order")
def ln_bias_before_gain(x, w, b, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    normed = (x - mean) / torch.sqrt(var + eps)
    return (normed + b) * w


@mistake("ch01.layer_norm", "swap")
def ln_w_and_b_swapped(x, w, b, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * b + w


@mistake("ch01.layer_norm", None)
def ln_std_plus_eps(x, w, b, eps=1e-5):  # unbiased std, and eps outside the root
    return (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + eps) * w + b


# ---------------------------------------------------------------------------
# embed, pos_embed
# ---------------------------------------------------------------------------


@mistake("ch01.embed", "scale")
def embed_scaled_like_vaswani(tokens, W_E):
    return W_E[tokens] * math.sqrt(W_E.shape[1])


@mistake("ch01.pos_embed", None)
def pos_embed_last_rows(tokens, W_pos):
    batch, pos = tokens.shape
    return W_pos[-pos:].unsqueeze(0).repeat(batch, 1, 1)


# ---------------------------------------------------------------------------
# apply_causal_mask
# ---------------------------------------------------------------------------


@mistake("ch01.apply_causal_mask", "constant")
def mask_with_big_negative(scores):
    q, k = scores.shape[-2:]
    future = torch.triu(torch.ones(q, k, dtype=torch.bool), diagonal=k - q + 1)
    return scores.masked_fill(future, -1e9)


@mistake("ch01.apply_causal_mask", "invert")
def mask_keeps_the_future(scores):
    q, k = scores.shape[-2:]
    allowed = torch.tril(torch.ones(q, k, dtype=torch.bool), diagonal=k - q)
    return scores.masked_fill(allowed, float("-inf"))  # forgot the ~


@mistake("ch01.apply_causal_mask", None)
def mask_with_tril(scores):
    return torch.tril(scores)


# ---------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------


class _Attention(Attention):
    """The learner's class: the reference ``__init__`` (same parameters), their own ``forward``."""

    def qkv(self, x):
        return [einops.einsum(x, W, "batch pos d_model, n_heads d_model d_head -> batch pos n_heads d_head") + b
                for W, b in ((self.W_Q, self.b_Q), (self.W_K, self.b_K), (self.W_V, self.b_V))]

    def out(self, pattern, v):
        z = einops.einsum(pattern, v, "batch n_heads q k, batch k n_heads d_head -> batch q n_heads d_head")
        out = einops.einsum(z, self.W_O, "batch q n_heads d_head, n_heads d_head d_model -> batch q d_model")
        return out + self.b_O

    def scores(self, q, k):
        return einops.einsum(q, k, "batch q n_heads d_head, batch k n_heads d_head -> batch n_heads q k")


@mistake("ch01.attention", "axis")
class AttentionSoftmaxOverHeads(_Attention):
    def forward(self, x):
        q, k, v = self.qkv(x)
        scores = self.scores(q, k) / math.sqrt(self.cfg.d_head)
        return self.out(apply_causal_mask(scores).softmax(dim=1), v)


@mistake("ch01.attention", "scale")
class AttentionDividedByDHead(_Attention):
    def forward(self, x):
        q, k, v = self.qkv(x)
        scores = self.scores(q, k) / self.cfg.d_head
        return self.out(apply_causal_mask(scores).softmax(dim=-1), v)


@mistake("ch01.attention", "scale")
class AttentionScaleMultiplied(_Attention):
    def forward(self, x):
        q, k, v = self.qkv(x)
        scores = self.scores(q, k) * math.sqrt(self.cfg.d_head)
        return self.out(apply_causal_mask(scores).softmax(dim=-1), v)


@mistake("ch01.attention", "order")
class AttentionMaskAfterSoftmax(_Attention):
    def forward(self, x):
        q, k, v = self.qkv(x)
        scores = self.scores(q, k) / math.sqrt(self.cfg.d_head)
        return self.out(apply_causal_mask(scores.softmax(dim=-1)), v)


@mistake("ch01.attention", "order")
class AttentionScaleAfterSoftmax(_Attention):
    def forward(self, x):
        q, k, v = self.qkv(x)
        pattern = apply_causal_mask(self.scores(q, k)).softmax(dim=-1) / math.sqrt(self.cfg.d_head)
        return self.out(pattern, v)


@mistake("ch01.attention", "swap")
class AttentionKeysTimesQueries(_Attention):
    def forward(self, x):
        q, k, v = self.qkv(x)
        scores = self.scores(k, q) / math.sqrt(self.cfg.d_head)
        return self.out(apply_causal_mask(scores).softmax(dim=-1), v)


@mistake("ch01.attention", "stability")
class AttentionHandWrittenSoftmax(_Attention):
    def forward(self, x):
        q, k, v = self.qkv(x)
        scores = apply_causal_mask(self.scores(q, k) / math.sqrt(self.cfg.d_head))
        weights = torch.exp(scores)
        return self.out(weights / weights.sum(dim=-1, keepdim=True), v)


@mistake("ch01.attention", "term")
class AttentionNoValueBias(_Attention):
    def forward(self, x):
        q, k, _ = self.qkv(x)
        v = einops.einsum(x, self.W_V, "batch pos d_model, n_heads d_model d_head -> batch pos n_heads d_head")
        scores = self.scores(q, k) / math.sqrt(self.cfg.d_head)
        return self.out(apply_causal_mask(scores).softmax(dim=-1), v)


@mistake("ch01.attention", "term")
class AttentionBiasPerHead(_Attention):
    def forward(self, x):
        q, k, v = self.qkv(x)
        pattern = apply_causal_mask(self.scores(q, k) / math.sqrt(self.cfg.d_head)).softmax(dim=-1)
        z = einops.einsum(pattern, v, "batch n_heads q k, batch k n_heads d_head -> batch q n_heads d_head")
        per_head = einops.einsum(z, self.W_O, "b q n_heads d_head, n_heads d_head d_model -> b q n_heads d_model")
        return (per_head + self.b_O).sum(dim=2)


# ---------------------------------------------------------------------------
# gelu_new, mlp
# ---------------------------------------------------------------------------


@mistake("ch01.gelu_new", "constant")
def gelu_squared(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**2)))


@mistake("ch01.gelu_new", "term")
def gelu_forgot_x(x):
    return 0.5 * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


@mistake("ch01.gelu_new", "constant")
def gelu_sqrt_two_pi(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 * math.pi) * (x + 0.044715 * x**3)))


@mistake("ch01.mlp", "term")
def mlp_no_b_in(x, W_in, b_in, W_out, b_out):
    return gelu_new(x @ W_in) @ W_out + b_out


@mistake("ch01.mlp", "term")
def mlp_gelu_twice(x, W_in, b_in, W_out, b_out):
    return gelu_new(gelu_new(x @ W_in + b_in) @ W_out + b_out)


# ---------------------------------------------------------------------------
# Block
# ---------------------------------------------------------------------------


@mistake("ch01.block", "term")
class BlockNoLn1(Block):
    def forward(self, resid):
        resid = resid + self.attn(resid)
        return resid + self.mlp(self.ln2(resid))


@mistake("ch01.block", "order")
class BlockNormAfterAttention(Block):
    def forward(self, resid):
        resid = resid + self.ln1(self.attn(resid))
        return resid + self.mlp(self.ln2(resid))


@mistake("ch01.block", "order")
class BlockNormalisesTheStream(Block):
    def forward(self, resid):
        resid = resid + self.attn(self.ln1(resid))
        resid = self.ln2(resid)
        return resid + self.mlp(resid)


@mistake("ch01.block", "term")
class BlockNoMlpResidual(Block):
    def forward(self, resid):
        resid = resid + self.attn(self.ln1(resid))
        return self.mlp(self.ln2(resid))


# ---------------------------------------------------------------------------
# cross_entropy_per_token
# ---------------------------------------------------------------------------


@mistake("ch01.cross_entropy_per_token", "stability")
def ce_log_of_softmax(logits, tokens):
    probs = logits[:, :-1].softmax(dim=-1)
    return -probs.log().gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)


@mistake("ch01.cross_entropy_per_token", "stability")
def ce_hand_written_logsumexp(logits, tokens):
    logits = logits[:, :-1]
    target = logits.gather(-1, tokens[:, 1:, None]).squeeze(-1)
    return logits.exp().sum(dim=-1).log() - target


@mistake("ch01.cross_entropy_per_token", "shift")
def ce_targets_not_shifted(logits, tokens):
    log_probs = logits[:, :-1].log_softmax(dim=-1)
    return -log_probs.gather(-1, tokens[:, :-1, None]).squeeze(-1)


@mistake("ch01.cross_entropy_per_token", "shift")
def ce_logits_shifted_too(logits, tokens):
    log_probs = logits[:, 1:].log_softmax(dim=-1)
    return -log_probs.gather(-1, tokens[:, 1:, None]).squeeze(-1)


@mistake("ch01.cross_entropy_per_token", "axis")
def ce_log_softmax_over_batch(logits, tokens):
    log_probs = F.log_softmax(logits[:, :-1], dim=0)
    return -log_probs.gather(-1, tokens[:, 1:, None]).squeeze(-1)


# ---------------------------------------------------------------------------
# top_k_filter, top_p_filter, sample_next_token
# ---------------------------------------------------------------------------


@mistake("ch01.top_k_filter", "shift")
def top_k_one_too_many(logits, k):
    threshold = torch.topk(logits, k + 1, dim=-1).values[..., -1:]
    return torch.where(logits >= threshold, logits, torch.full_like(logits, float("-inf")))


@mistake("ch01.top_k_filter", None)
def top_k_ascending_sort(logits, k):
    threshold = logits.sort(dim=-1).values[..., k - 1 : k]  # the k-th *smallest*
    return logits.masked_fill(logits < threshold, float("-inf"))


@mistake("ch01.top_p_filter", "invert")
def top_p_keeps_the_tail(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    cum = probs.cumsum(dim=-1)
    drop = cum - probs < p
    return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))


@mistake("ch01.top_p_filter", "term")
def top_p_cumsum_of_logits(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    cum = sorted_logits.cumsum(dim=-1)
    drop = cum - sorted_logits >= p
    return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))


@mistake("ch01.top_p_filter", "stability")
def top_p_hand_written_softmax(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.exp() / sorted_logits.exp().sum(dim=-1, keepdim=True)
    drop = probs.cumsum(dim=-1) - probs >= p
    return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))


@mistake("ch01.top_p_filter", "term")
def top_p_mask_left_sorted(logits, p):
    sorted_logits, _ = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    drop = probs.cumsum(dim=-1) - probs >= p
    return logits.masked_fill(drop, float("-inf"))


def _scaled_and_filtered(logits, temperature, top_k, top_p):  # the learner's (right) first half of a sampler
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    return logits if top_p is None else top_p_filter(logits, top_p)


@mistake("ch01.sample_next_token", "stability")
def sample_hand_written_softmax(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = _scaled_and_filtered(logits, temperature, top_k, top_p)
    probs = torch.exp(logits) / torch.exp(logits).sum(dim=-1, keepdim=True)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@mistake("ch01.sample_next_token", "axis")
def sample_softmax_over_batch(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = _scaled_and_filtered(logits, temperature, top_k, top_p)
    return torch.multinomial(F.softmax(logits, dim=0), 1, generator=generator).squeeze(-1)


@mistake("ch01.sample_next_token", "order")
def sample_temperature_on_probs(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = logits.softmax(dim=-1) / temperature
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


# ---------------------------------------------------------------------------
# count_parameters
# ---------------------------------------------------------------------------


def _count(n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx, tie_embeddings, attn_biases, ln_per_block,
           unembed_always=False):
    embeddings = d_vocab * d_model + n_ctx * d_model
    attention = 4 * n_heads * d_model * d_head + attn_biases
    mlp = d_model * d_mlp + d_mlp + d_mlp * d_model + d_model
    unembed = d_model * d_vocab if unembed_always or not tie_embeddings else 0
    return embeddings + n_layers * (attention + mlp + ln_per_block) + 2 * d_model + unembed


@mistake("ch01.count_parameters", "term")
def count_without_b_O(n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx, tie_embeddings=True):
    return _count(n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx, tie_embeddings,
                  attn_biases=3 * n_heads * d_head, ln_per_block=4 * d_model)


@mistake("ch01.count_parameters", "term")
def count_one_layer_norm_per_block(n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx, tie_embeddings=True):
    return _count(n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx, tie_embeddings,
                  attn_biases=3 * n_heads * d_head + d_model, ln_per_block=2 * d_model)


@mistake("ch01.count_parameters", "term")
def count_unembedding_always(n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx, tie_embeddings=True):
    return _count(n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx, tie_embeddings,
                  attn_biases=3 * n_heads * d_head + d_model, ln_per_block=4 * d_model, unembed_always=True)


# ---------------------------------------------------------------------------
# Transformer, greedy_generate, training_step, bpe_merge_word
# ---------------------------------------------------------------------------


@mistake("ch01.transformer", None)
class TransformerLnFinalInTheLoop(Transformer):
    def forward(self, tokens):
        resid = self.embed(tokens) + self.pos_embed(tokens)
        for block in self.blocks:
            resid = self.ln_final(block(resid))
        return self.unembed(resid)


@mistake("ch01.transformer", "order")
class TransformerPositionsAddedLast(Transformer):
    def forward(self, tokens):
        resid = self.embed(tokens)
        for block in self.blocks:
            resid = block(resid)
        return self.unembed(self.ln_final(resid + self.pos_embed(tokens)))


@mistake("ch01.greedy_generate", None)
def greedy_feeds_last_token_only(model, tokens, max_new_tokens):
    for _ in range(max_new_tokens):
        next_token = model(tokens[:, -1:])[:, -1].argmax(dim=-1)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
    return tokens


@mistake("ch01.training_step", "scale")
def train_loss_summed_over_positions(model, optimizer, tokens, max_grad_norm=None):
    optimizer.zero_grad()
    loss = cross_entropy_per_token(model(tokens), tokens).sum(dim=-1).mean()
    loss.backward()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    return loss.item()


@mistake("ch01.training_step", "order")
def train_clips_before_backward(model, optimizer, tokens, max_grad_norm=None):
    optimizer.zero_grad()
    loss = cross_entropy_per_token(model(tokens), tokens).mean()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    loss.backward()
    optimizer.step()
    return loss.item()


@mistake("ch01.bpe_merge_word", None)
def bpe_no_stop(word, merges):
    ranks = {tuple(pair): rank for rank, pair in enumerate(merges)}
    symbols = list(word)
    while len(symbols) > 1:  # forgot to stop when the best pair is not a merge at all
        pairs = list(zip(symbols, symbols[1:]))
        best = min(pairs, key=lambda pair: ranks.get(pair, math.inf))
        i = pairs.index(best)
        symbols = symbols[:i] + [best[0] + best[1]] + symbols[i + 2 :]
    return symbols
