"""Chapter 1: a transformer from scratch, GPT-2 piece by piece.

Fill in every ``raise NotImplementedError(...)`` below. Check each piece as
soon as it is written, in the notebook or a Python shell::

    from minigpt.grading import check
    check("ch01.layer_norm", layer_norm)

and grade the whole file with ``minigpt grade``. Shapes use minigpt's axis
names (``batch pos d_model n_heads d_head d_mlp d_vocab query_pos key_pos``)
and its parameter shapes, which are TransformerLens's:

    W_E: [d_vocab, d_model]       W_pos: [n_ctx, d_model]      W_U: [d_model, d_vocab]
    W_Q, W_K, W_V: [n_heads, d_model, d_head]   b_Q, b_K, b_V: [n_heads, d_head]
    W_O: [n_heads, d_head, d_model]             b_O: [d_model]
    W_in: [d_model, d_mlp]  b_in: [d_mlp]       W_out: [d_mlp, d_model]  b_out: [d_model]

Later pieces call earlier ones (``Attention`` uses ``apply_causal_mask``,
``Block`` uses ``layer_norm``, ``Attention`` and ``mlp``, ``Transformer`` uses
``Block`` and the embeddings, ``training_step`` uses ``cross_entropy_per_token``).
When grading, each piece is run with the reference versions of the pieces it
uses, so one bug costs the points of one exercise only.
"""

from __future__ import annotations

import math

import einops
import torch
import torch.nn.functional as F  # noqa: F401  (yours to use)
from torch import Tensor, nn

from minigpt.config import GPTConfig

# ---------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------


def bpe_merge_word(word: str, merges: list[tuple[str, str]]) -> list[str]:
    """Split one word into BPE tokens: start from its characters, then glue the best-ranked pair, again and again.

    ``merges`` lists pairs of adjacent symbols, best first: ``merges[0]`` has
    rank 0 and was learned first. Each round, among the adjacent pairs of the
    current symbols, find the pair with the *lowest rank*; merge every
    occurrence of it, left to right, into one symbol; stop when no adjacent
    pair is in ``merges``. (GPT-2 writes a space as ``"Ġ"``, so ``" Paris"``
    is the word ``"ĠParis"``.)

    >>> merges = [("i", "s"), ("a", "r"), ("Ġ", "P"), ("ĠP", "ar"), ("ĠPar", "is")]   # GPT-2's, in order
    >>> bpe_merge_word("ĠParis", merges)
    ['ĠParis']
    >>> bpe_merge_word("Paris", merges)              # no ("P", "ar") in this list
    ['P', 'ar', 'is']
    """
    raise NotImplementedError("ranks = {pair: i for i, pair in enumerate(merges)}; each round, min over zip(symbols, symbols[1:]) by rank")


# ---------------------------------------------------------------------------
# Normalisation and embeddings
# ---------------------------------------------------------------------------


def layer_norm(x: Tensor, w: Tensor, b: Tensor, eps: float = 1e-5) -> Tensor:
    """LayerNorm over the last axis: ``(x - mean) / sqrt(var + eps) * w + b``.

    ``x: [batch pos d_model]`` (any leading axes), ``w, b: [d_model]`` -> same shape as ``x``.

    Mean and variance are taken over ``d_model`` only, separately at every
    position. The variance is the *biased* one (divide by ``d_model``, not
    ``d_model - 1``) and ``eps`` goes *inside* the square root, as in GPT-2
    and ``torch.nn.LayerNorm``.

    >>> x = torch.tensor([[1.0, 2.0, 3.0]])           # mean 2, variance 2/3
    >>> layer_norm(x, torch.ones(3), torch.zeros(3), eps=0.0)
    tensor([[-1.2247,  0.0000,  1.2247]])
    >>> layer_norm(x, torch.tensor([2.0, 2.0, 2.0]), torch.tensor([0.0, 1.0, 0.0]), eps=0.0)
    tensor([[-2.4495,  1.0000,  2.4495]])
    """
    raise NotImplementedError("mean and variance over dim=-1 with keepdim=True; biased variance; eps inside the sqrt")


def embed(tokens: Tensor, W_E: Tensor) -> Tensor:
    """Token embedding: row ``W_E[t]`` for every token id ``t``.

    ``tokens: [batch pos]`` (int64), ``W_E: [d_vocab, d_model]`` -> ``[batch pos d_model]``.

    Multiplying a one-hot vector by ``W_E`` picks one of its rows; indexing
    does the same without building the one-hot vectors.

    >>> W_E = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])   # d_vocab=3, d_model=2
    >>> embed(torch.tensor([[2, 0]]), W_E)
    tensor([[[4., 5.],
             [0., 1.]]])
    """
    raise NotImplementedError("index the rows of W_E with the token ids")


def pos_embed(tokens: Tensor, W_pos: Tensor) -> Tensor:
    """Learned position embedding: row ``W_pos[p]`` at every position ``p = 0 .. pos-1``.

    ``tokens: [batch pos]``, ``W_pos: [n_ctx, d_model]`` -> ``[batch pos d_model]``.

    Only the *shape* of ``tokens`` matters: every sequence of the batch gets
    the same vectors, whatever its tokens are.

    >>> W_pos = torch.tensor([[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]])   # n_ctx=3, d_model=2
    >>> pos_embed(torch.tensor([[7, 7], [1, 2]]), W_pos)
    tensor([[[0.0000, 0.5000],
             [1.0000, 1.5000]],
    <BLANKLINE>
            [[0.0000, 0.5000],
             [1.0000, 1.5000]]])
    """
    raise NotImplementedError("take the first pos rows of W_pos, then repeat (or expand) them over the batch")


# ---------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------


def apply_causal_mask(scores: Tensor) -> Tensor:
    """Hide the future: ``-inf`` wherever a key comes after its query.

    ``scores: [batch n_heads query_pos key_pos]`` (any leading axes) -> a new
    tensor of the same shape; ``scores`` itself is left unchanged.

    A query may attend to its own position and every earlier one. With fewer
    queries than keys (generation with a KV cache: the queries are the *last*
    ``query_pos`` positions), query ``i`` sits at position
    ``key_pos - query_pos + i`` and sees keys up to that one. After the
    softmax, ``-inf`` becomes a weight of exactly 0.

    >>> apply_causal_mask(torch.zeros(3, 3))
    tensor([[0., -inf, -inf],
            [0., 0., -inf],
            [0., 0., 0.]])
    >>> apply_causal_mask(torch.zeros(2, 3))          # 2 queries: positions 1 and 2
    tensor([[0., 0., -inf],
            [0., 0., 0.]])
    """
    raise NotImplementedError("a boolean [query_pos, key_pos] mask from torch.ones(...).triu(diagonal=...), then masked_fill")


class Attention(nn.Module):
    """Multi-head causal self-attention, one set of weights per head.

    Parameters (create them in ``__init__`` with exactly these names and shapes,
    so that ``load_state_dict`` can fill them):

    - ``W_Q, W_K, W_V: [n_heads, d_model, d_head]``, ``b_Q, b_K, b_V: [n_heads, d_head]``
    - ``W_O: [n_heads, d_head, d_model]``, ``b_O: [d_model]``

    ``forward(x: [batch pos d_model]) -> [batch pos d_model]``:

    1. ``q, k, v = x @ W + b`` per head: ``[batch pos n_heads d_head]``;
    2. scores ``q . k / sqrt(d_head)``: ``[batch n_heads query_pos key_pos]``;
    3. :func:`apply_causal_mask`, then softmax over the *keys* (the last axis);
    4. ``z`` = the pattern's weighted sum of ``v``: ``[batch pos n_heads d_head]``;
    5. each head writes ``z_h @ W_O[h]``; the heads are *summed*, plus ``b_O``.

    Use ``cfg.n_heads``, ``cfg.d_model`` and ``cfg.d_head`` (``d_head`` need not
    be ``d_model // n_heads``). Initialise weights with
    ``torch.randn(...) * cfg.init_range`` and biases with zeros.

    >>> attn = Attention(GPTConfig(d_model=4, n_heads=2, n_layers=1, d_vocab=5, n_ctx=8))
    >>> sorted((name, tuple(p.shape)) for name, p in attn.named_parameters())[:2]
    [('W_K', (2, 4, 2)), ('W_O', (2, 2, 4))]
    >>> attn(torch.randn(3, 6, 4)).shape
    torch.Size([3, 6, 4])
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        raise NotImplementedError("self.cfg = cfg; nn.Parameter(torch.randn(n_heads, d_model, d_head) * cfg.init_range) for W_Q, ...")

    def forward(self, x: Tensor) -> Tensor:
        """``x: [batch pos d_model] -> [batch pos d_model]``."""
        raise NotImplementedError("einops.einsum with named axes keeps the heads straight; softmax(dim=-1) is over the keys")


# ---------------------------------------------------------------------------
# MLP and the transformer block
# ---------------------------------------------------------------------------


def gelu_new(x: Tensor) -> Tensor:
    """GPT-2's GELU, the tanh approximation: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    Elementwise; any shape. (``torch.nn.functional.gelu(x)`` is the *exact*
    GELU, ``x * Phi(x)`` with the normal CDF: close, but not GPT-2's.)

    >>> gelu_new(torch.tensor([-1.0, 0.0, 1.0, 3.0]))
    tensor([-0.1588,  0.0000,  0.8412,  2.9964])
    """
    raise NotImplementedError("write the formula out with torch.tanh and math.sqrt(2 / math.pi)")


def mlp(x: Tensor, W_in: Tensor, b_in: Tensor, W_out: Tensor, b_out: Tensor) -> Tensor:
    """The MLP of a block: ``gelu_new(x @ W_in + b_in) @ W_out + b_out``, at every position.

    ``x: [batch pos d_model]``, ``W_in: [d_model d_mlp]``, ``b_in: [d_mlp]``,
    ``W_out: [d_mlp d_model]``, ``b_out: [d_model]`` -> ``[batch pos d_model]``.

    >>> x = torch.tensor([[[1.0, -1.0]]])                          # d_model=2, d_mlp=2
    >>> mlp(x, torch.eye(2), torch.zeros(2), torch.eye(2), torch.tensor([0.0, 10.0]))
    tensor([[[0.8412, 9.8412]]])
    """
    raise NotImplementedError("the bias b_in goes in before the activation, b_out after the second matrix")


class LayerNorm(nn.Module):
    """:func:`layer_norm` with its parameters ``w, b: [d_model]`` (given: not an exercise)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.eps = cfg.layer_norm_eps
        self.w = nn.Parameter(torch.ones(cfg.d_model))
        self.b = nn.Parameter(torch.zeros(cfg.d_model))

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.w, self.b, self.eps)


class MLP(nn.Module):
    """:func:`mlp` with its parameters ``W_in, b_in, W_out, b_out`` (given: not an exercise)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.W_in = nn.Parameter(torch.randn(cfg.d_model, cfg.d_mlp) * cfg.init_range)
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = nn.Parameter(torch.randn(cfg.d_mlp, cfg.d_model) * cfg.init_range)
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model))

    def forward(self, x: Tensor) -> Tensor:
        return mlp(x, self.W_in, self.b_in, self.W_out, self.b_out)


class Block(nn.Module):
    """One GPT-2 block, *pre*-LayerNorm: each sub-layer reads a normalised copy of the residual stream and adds its output back.

    ``resid_mid = resid_pre + attn(ln1(resid_pre))``
    ``resid_post = resid_mid + mlp(ln2(resid_mid))``

    Sub-modules (these names, so that the parameters are called ``ln1.w``,
    ``attn.W_Q``, ``mlp.W_in``, ... as in ``minigpt``'s ``Block``):
    ``ln1`` and ``ln2`` (:class:`LayerNorm`), ``attn`` (:class:`Attention`),
    ``mlp`` (:class:`MLP`).

    ``forward(resid: [batch pos d_model]) -> [batch pos d_model]``.

    >>> cfg = GPTConfig(d_model=4, n_heads=2, n_layers=1, d_vocab=5, n_ctx=8)
    >>> [name for name, _ in Block(cfg).named_parameters()][:4]
    ['ln1.w', 'ln1.b', 'attn.W_Q', 'attn.W_K']
    >>> Block(cfg)(torch.randn(2, 3, 4)).shape
    torch.Size([2, 3, 4])
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        raise NotImplementedError("four sub-modules: self.ln1 = LayerNorm(cfg), self.attn = Attention(cfg), self.ln2, self.mlp")

    def forward(self, resid: Tensor) -> Tensor:
        """``resid: [batch pos d_model] -> [batch pos d_model]``."""
        raise NotImplementedError("normalise a copy for each sub-layer, but add its output to the un-normalised residual")


# ---------------------------------------------------------------------------
# Logits, loss and sampling
# ---------------------------------------------------------------------------


def unembed(x: Tensor, W_U: Tensor) -> Tensor:
    """Residual stream to logits: ``x @ W_U`` at every position.

    ``x: [batch pos d_model]``, ``W_U: [d_model d_vocab]`` -> ``[batch pos d_vocab]``.
    Logits are unnormalised: no softmax here.

    >>> unembed(torch.tensor([[[1.0, 2.0]]]), torch.tensor([[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]]))
    tensor([[[1., 2., 1.]]])
    """
    raise NotImplementedError("one matrix product; the result has one logit per vocabulary entry at every position")


def cross_entropy_per_token(logits: Tensor, tokens: Tensor) -> Tensor:
    """The next-token loss at each position: ``-log p(tokens[:, i+1] | tokens[:, :i+1])``.

    ``logits: [batch pos d_vocab]`` (the model's output on ``tokens``), ``tokens: [batch pos]``
    -> ``[batch pos-1]``. The logits at position ``i`` predict the token at ``i + 1``,
    so the last position has no target and the first token is never predicted.

    >>> logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0]]])   # p(0) = 1/2, then 3/4
    >>> cross_entropy_per_token(logits, torch.tensor([[1, 0]]))       # -log(1/2): first prediction
    tensor([[0.6931]])
    """
    raise NotImplementedError("log_softmax over d_vocab, drop the last position's logits and the first token, then gather")


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep the ``k`` largest logits of each row; set the others to ``-inf``.

    ``logits: [batch d_vocab]`` -> a new tensor of the same shape. (No ties in the
    checks: which of equal logits to keep does not matter.)

    >>> top_k_filter(torch.tensor([[1.0, 3.0, 2.0, 0.0]]), 2)
    tensor([[-inf, 3., 2., -inf]])
    """
    raise NotImplementedError("logits.topk(k, dim=-1).values[..., -1:] is each row's k-th largest logit")


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Nucleus filtering: keep the most likely tokens until their probabilities sum to at least ``p``.

    ``logits: [batch d_vocab]``, ``0 < p <= 1`` -> a new tensor of the same
    shape, ``-inf`` for the dropped tokens. Rank the tokens by probability;
    keep a token if the tokens ranked *above* it hold less than ``p`` in all.
    So the token that crosses ``p`` is kept, and the top token always is.

    >>> logits = torch.log(torch.tensor([[0.1, 0.5, 0.3, 0.1]]))
    >>> top_p_filter(logits, 0.7).exp()                # 0.5 < 0.7, 0.5 + 0.3 >= 0.7: keep two
    tensor([[0.0000, 0.5000, 0.3000, 0.0000]])
    """
    raise NotImplementedError("sort descending, softmax, cumsum; the mass *before* a token is cumsum - prob; scatter back to vocab order")


def sample_next_token(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw one token id per row from ``logits: [batch d_vocab]`` -> ``[batch]`` (int64).

    In this order: ``temperature == 0`` means greedy (the argmax, no
    randomness); otherwise divide the logits by ``temperature``, then apply
    :func:`top_k_filter` (when ``top_k`` is given), then :func:`top_p_filter`
    (when ``top_p`` is given), softmax, and draw with
    ``torch.multinomial(probs, 1, generator=generator)``.

    >>> sample_next_token(torch.tensor([[0.1, 3.0, -1.0], [5.0, 0.0, 0.0]]), temperature=0.0)
    tensor([1, 0])
    >>> g = torch.Generator().manual_seed(0)
    >>> sample_next_token(torch.tensor([[0.0, 9.0, 0.0]]), top_k=1, generator=g)   # one token left
    tensor([1])
    """
    raise NotImplementedError("handle temperature == 0 first (argmax); the filters work on the temperature-scaled logits")


# ---------------------------------------------------------------------------
# The whole model
# ---------------------------------------------------------------------------


class Embed(nn.Module):
    """:func:`embed` with its parameter ``W_E: [d_vocab, d_model]`` (given: not an exercise)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.W_E = nn.Parameter(torch.randn(cfg.d_vocab, cfg.d_model) * cfg.init_range)

    def forward(self, tokens: Tensor) -> Tensor:
        return embed(tokens, self.W_E)


class PosEmbed(nn.Module):
    """:func:`pos_embed` with its parameter ``W_pos: [n_ctx, d_model]`` (given: not an exercise)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.W_pos = nn.Parameter(torch.randn(cfg.n_ctx, cfg.d_model) * cfg.init_range)

    def forward(self, tokens: Tensor) -> Tensor:
        return pos_embed(tokens, self.W_pos)


class Unembed(nn.Module):
    """:func:`unembed` with its parameter ``W_U: [d_model, d_vocab]`` (given: not an exercise)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.W_U = nn.Parameter(torch.randn(cfg.d_model, cfg.d_vocab) * cfg.init_range)

    def forward(self, x: Tensor) -> Tensor:
        return unembed(x, self.W_U)


class Transformer(nn.Module):
    """The whole GPT-2: token + position embedding -> ``n_layers`` blocks -> final LayerNorm -> logits.

    Sub-modules (these names, so that a ``minigpt.GPT``'s weights load into it):
    ``embed`` (:class:`Embed`), ``pos_embed`` (:class:`PosEmbed`), ``blocks``
    (an ``nn.ModuleList`` of ``cfg.n_layers`` :class:`Block`), ``ln_final``
    (:class:`LayerNorm`) and ``unembed`` (:class:`Unembed`).

    ``forward(tokens: [batch pos]) -> logits [batch pos d_vocab]``:
    the residual stream starts as ``embed + pos_embed``, every block in turn
    reads it and returns the new stream, then ``ln_final`` and ``unembed``.

    GPT-2 (and ``minigpt.GPT`` by default) *ties* the unembedding to the
    embedding, ``W_U = W_E.T``; here ``W_U`` is a parameter of its own, so to
    load tied weights copy ``W_E.T`` into it.

    >>> cfg = GPTConfig(d_model=8, n_heads=2, n_layers=2, d_vocab=11, n_ctx=16)
    >>> [name for name, _ in Transformer(cfg).named_parameters()][:3]
    ['embed.W_E', 'pos_embed.W_pos', 'blocks.0.ln1.w']
    >>> Transformer(cfg)(torch.tensor([[1, 2, 3]])).shape
    torch.Size([1, 3, 11])
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        raise NotImplementedError("self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)]); the others take cfg too")

    def forward(self, tokens: Tensor) -> Tensor:
        """``tokens: [batch pos] -> logits [batch pos d_vocab]``."""
        raise NotImplementedError("resid = embed + pos_embed; resid = block(resid) for each block; then ln_final and unembed")


def count_parameters(
    n_layers: int, d_model: int, n_heads: int, d_head: int, d_mlp: int, d_vocab: int, n_ctx: int,
    tie_embeddings: bool = True,
) -> int:
    """How many numbers a GPT-2-style model of this shape learns: every weight and bias, every LayerNorm.

    Count ``W_E``, ``W_pos``; in each of the ``n_layers`` blocks ``ln1`` and
    ``ln2`` (a ``w`` and a ``b`` each), the attention's ``W_Q, W_K, W_V, W_O``
    and ``b_Q, b_K, b_V, b_O``, the MLP's ``W_in, b_in, W_out, b_out``; then
    ``ln_final``; and ``W_U`` only when it is *not* tied to ``W_E`` (tied, it is
    the same matrix, stored once). There is no unembedding bias. (The shapes are
    at the top of this file; ``n_heads * d_head`` need not equal ``d_model``.)

    >>> count_parameters(n_layers=12, d_model=768, n_heads=12, d_head=64, d_mlp=3072, d_vocab=50257, n_ctx=1024)
    124439808
    """
    raise NotImplementedError("add up the shapes: per block 2 LayerNorms, 4 attention matrices + 4 biases, 2 MLP matrices + 2 biases")


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------


def greedy_generate(model: nn.Module, tokens: Tensor, max_new_tokens: int) -> Tensor:
    """Continue ``tokens: [batch pos]`` by ``max_new_tokens`` tokens, always taking the most likely one.

    ``model(tokens)`` returns logits ``[batch pos d_vocab]``. At each step, run
    the model on everything so far, take the logits at the *last* position,
    their argmax is the next token; append it and go on. Returns
    ``[batch pos + max_new_tokens]``: the prompt followed by the new tokens.
    (Assume ``pos + max_new_tokens <= n_ctx``.)

    >>> class Next(nn.Module):          # a toy "model" that always predicts (last token + 1) % 5
    ...     def forward(self, tokens):
    ...         return torch.nn.functional.one_hot((tokens + 1) % 5, 5).float()
    >>> greedy_generate(Next(), torch.tensor([[0], [3]]), 3)
    tensor([[0, 1, 2, 3],
            [3, 4, 0, 1]])
    """
    raise NotImplementedError("loop max_new_tokens times: model(tokens)[:, -1].argmax(dim=-1), then torch.cat a [batch, 1] column")


def beam_search(model: nn.Module, tokens: Tensor, num_beams: int, max_new_tokens: int) -> Tensor:
    """Continue one prompt ``tokens: [pos]`` by the most likely sequence ``num_beams`` beams find.

    A *beam* is a sequence with a *score*, the sum of its tokens' log-probs. Start with
    one beam, the prompt, scored 0. At each step, run the model on all beams
    (``[beams, pos]``), take each beam's next-token log-probs ``[beams, d_vocab]``
    (``log_softmax`` of the last position), and add each beam's score: every one of the
    ``beams × d_vocab`` candidates now has its total. Keep the ``num_beams`` best of all
    of them at once (flatten, then ``topk``); a flat index ``i`` is beam
    ``i // d_vocab``, token ``i % d_vocab``. Each new beam is its parent's sequence
    followed by its token, with the candidate's total as its score. After
    ``max_new_tokens`` steps return the best beam, ``[pos + max_new_tokens]``.
    (Assume ``2 * num_beams <= d_vocab``; no end-of-text token.)

    >>> P = torch.tensor([[0.0, 0.6, 0.4], [0.4, 0.3, 0.3], [0.9, 0.05, 0.05]])
    >>> class Markov(nn.Module):  # a toy "model": the next token's probabilities are P[last token]
    ...     def forward(self, tokens):
    ...         return P.log()[tokens]
    >>> greedy_generate(Markov(), torch.tensor([[0]]), 2)  # 0.6 * 0.4 = 0.24
    tensor([[0, 1, 0]])
    >>> beam_search(Markov(), torch.tensor([0]), num_beams=2, max_new_tokens=2)  # 0.4 * 0.9 = 0.36
    tensor([0, 2, 0])
    """
    raise NotImplementedError("beams = tokens[None], scores = zeros(1); each step: total = scores[:, None] + log_probs, then total.flatten().topk(num_beams); beams = cat([beams[index // d_vocab], (index % d_vocab)[:, None]], 1)")


def apply_frequency_penalty(logits: Tensor, tokens: Tensor, penalty: float) -> Tensor:
    """Lower each token's logit by ``penalty`` times the number of times it already occurs.

    ``logits: [batch d_vocab]`` (the next token's), ``tokens: [batch pos]`` (the
    sequence so far, each row its own); returns ``[batch d_vocab]`` with
    ``logits[b, v] - penalty * count[b, v]``, where ``count[b, v]`` is how often token
    ``v`` appears in row ``b``. This is the frequency penalty of OpenAI's API (which also
    has a *presence* penalty, subtracted once for any token seen at all). A token used
    three times pays three times; one never used pays nothing.

    >>> apply_frequency_penalty(torch.zeros(1, 4), torch.tensor([[2, 0, 2]]), 0.5)
    tensor([[-0.5000,  0.0000, -1.0000,  0.0000]])
    """
    raise NotImplementedError("count = F.one_hot(tokens, d_vocab).sum(dim=1) (or scatter_add_ ones into zeros_like(logits) at tokens); return logits - penalty * count")


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


def training_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, tokens: Tensor, max_grad_norm: float | None = None
) -> float:
    """One optimisation step on the batch ``tokens: [batch pos]``; returns the loss before the step, as a float.

    1. clear the gradients left by the previous step (``optimizer.zero_grad()``);
    2. the loss: the mean next-token cross-entropy,
       ``cross_entropy_per_token(model(tokens), tokens).mean()``;
    3. ``loss.backward()`` fills each parameter's ``.grad``;
    4. when ``max_grad_norm`` is given, scale all the gradients together so that
       their global norm is at most ``max_grad_norm``
       (``torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)``);
    5. ``optimizer.step()`` updates the parameters;
    6. return ``loss.item()``.

    >>> model = nn.Sequential(nn.Embedding(5, 5))            # a bigram "model": logits from the current token
    >>> opt = torch.optim.SGD(model.parameters(), lr=1.0)
    >>> tokens = torch.tensor([[0, 1, 2, 3, 4]])
    >>> first, second = training_step(model, opt, tokens), training_step(model, opt, tokens)
    >>> second < first
    True
    """
    raise NotImplementedError("zero_grad, loss, backward, clip (only when max_grad_norm is not None), step; in that order")
