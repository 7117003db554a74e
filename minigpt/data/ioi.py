"""Indirect-object identification (IOI): the data of chapter 5's circuit-finding model.

"When Mary and John went to the store, John gave a drink to" → " Mary". Two people are
introduced together; one of them, the *subject* S, is named again; the sentence stops where the
other, the *indirect object* IO, comes next. Wang et al. (2022) found the circuit GPT-2 small
uses; chapter 5 finds the one a small model trained on this data uses.

A sentence is a *frame* (:data:`FRAMES`, after Wang et al.'s templates) filled with two names
in either order (ABBA: ``When A and B ..., B ... to A``; BABA: ``When B and A ..., B ... to A``),
a place, an object and optional *distractor clauses*, one before the second mention of S
(:data:`MIDS`: ``", after a long day,"``) and one right after it (:data:`RELS`: ``", who had
met Kate,"``); some of them name a third person D. Training text (:func:`train_batch`) is a
stream of such sentences, completed, mixed with filler (:data:`FILLER`) that teaches ordinary
next-word statistics and names people in other roles (``"Kate met Lisa at the park."``), so
that a name seen once is not always the answer.

Why the distractors name people (measured on the 3-layer attention-only model of
:mod:`minigpt.train.ioi`): without them S's second mention is always the last name before the
end, and the model learned a shortcut one layer can compute, a head at the end that attends to
the most recent name and pushes it down; it reached 10.2 nats and 100 % on the training frames
but 82 % on the held-out ones (66 % in the BABA order). With a name after S the most recent name
is often D: a 1-layer model trained on this data prefers S (-0.9 nats, 37 % after 4,000 steps),
while three layers compose a circuit that generalises.

The test split holds out what a memorising model could not know: the frames of
:data:`HELD_OUT_FRAMES` never appear in training, and neither does any of the unordered name
pairs of :func:`name_pairs` ``("test")`` as IO and S together (every name is still an answer in
training: a name never trained as an IO is not copied, see DESIGN.md's pitfalls).

:func:`ioi_batch` gives the prompts for measuring and patching: ``clean`` (ending on the token
before IO), ``corrupted`` (the "ABC" prompt: S's second mention replaced by a third name C, so
no name is repeated) and the answer ids. Rows shorter than the batch's length get filler in
front (the end of a filler sentence, after the BOS token), so the answer is always predicted at
the last position; fix ``template`` and ``distractors`` and every row has IO, S1 and S2 at the
same positions.

>>> batch = ioi_batch(2, seed=0, split="test", template=10, distractors=(0, 0))
>>> batch["clean"].shape, batch["io"].shape                    # [n pos], [n]
(torch.Size([2, 16]), torch.Size([2]))
>>> tok = tokenizer()
>>> tok.decode(batch["clean"][0].tolist())
'<bos> While Hugo and Sarah were commuting to the hospital, Sarah gave a cake to'
>>> tok.decode(batch["corrupted"][0].tolist())
'<bos> While Hugo and Sarah were commuting to the hospital, Tina gave a cake to'
>>> tok.decode([batch["io"][0].item(), batch["s"][0].item()])
'Hugo Sarah'
>>> int(batch["io_pos"][0]), int(batch["s1_pos"][0]), int(batch["s2_pos"][0]), int(batch["end_pos"][0])
(2, 4, 11, 15)
"""

from __future__ import annotations

import functools
import itertools
import random
import re

import torch
from torch import Tensor

from ..tokenizer import WordTokenizer
from ..tokenizer.words import split_words

__all__ = ["FILLER", "FRAMES", "HELD_OUT_FRAMES", "MIDS", "NAMES", "RELS", "frames", "ioi_batch", "logit_diff",
           "name_pairs", "train_batch", "train_stream", "tokenizer"]

BOS = "<bos>"
PAIR_SEED = 16  # fixes which name pairs are held out (the data, not a training run)
TEST_PAIR_FRACTION = 0.2

NAMES = ("Mary John Alice Bob Kate Tom Anna Paul Lisa Mark Emma James Sarah David Laura Peter Julia Daniel Grace "
         "Sam Rose Jack Lucy Adam Clara Ben Nora Luke Emily Oscar Helen Max Sophie Leo Alan Ruth Chris Amy Dan "
         "Ella Fred Ivy Hugo Jane Carl Eva Ian Tina Harry Nina").split()
PLACES = "store garden park school restaurant office hospital station house market beach library".split()
OBJECTS = "drink book ring bone cake kiss computer necklace bag basketball letter snack".split()

# {A} and {B}: the two names as introduced; {S}: the subject named again; {mid} / {Mid}: a distractor clause
# before S's second mention (lower / upper case); {rel}: one right after it. The prompt ends on the token before IO.
FRAMES = (
    "Then, {A} and {B} went to the {place}.{Mid} {S}{rel} gave a {object} to",
    "When {A} and {B} went to the {place},{mid} {S}{rel} gave a {object} to",
    "Then, {A} and {B} had a lot of fun at the {place}.{Mid} {S}{rel} gave a {object} to",
    "Then, {A} and {B} were working at the {place}.{Mid} {S}{rel} decided to give a {object} to",
    "Then, {A} and {B} were thinking about going to the {place}.{Mid} {S}{rel} wanted to give a {object} to",
    "Then, {A} and {B} had a long argument, and afterwards {S}{rel} said to",
    "After {A} and {B} went to the {place},{mid} {S}{rel} gave a {object} to",
    "When {A} and {B} got a {object} at the {place},{mid} {S}{rel} decided to give it to",
    "Friends {A} and {B} found a {object} at the {place}.{Mid} {S}{rel} gave it to",
    "The {place} {A} and {B} went to had a {object}.{Mid} {S}{rel} gave it to",
    # held out of training (their words appear in training text, in other sentences)
    "While {A} and {B} were commuting to the {place},{mid} {S}{rel} gave a {object} to",
    "After the lunch, {A} and {B} went to the {place}.{Mid} {S}{rel} gave a {object} to",
    "When {A} and {B} arrived at the {place},{mid} {S}{rel} decided to give a {object} to",
)
HELD_OUT_FRAMES = (10, 11, 12)
MIDS = ("after a long day", "as the sun went down", "because it was late", "on the next morning",
        "while it was raining", "after {D} had left")
RELS = ("who was tired", "who was happy", "who had a plan", "who was very kind", "who had met {D}", "who knew {D}")
P_MID, P_REL = 0.4, 0.5  # how often a sampled sentence has each distractor clause; {D}: a fourth name

FILLER = (
    "{n} liked the {place}.", "{n} was at the {place} all day.", "The {object} was on the table.",
    "It was a sunny day at the {place}.", "{n} brought a {object} to the {place}.",
    "Everyone was commuting to the {place}.", "After the lunch, the {place} was quiet.",
    "{n} arrived at the {place} early.", "The {place} was very busy.", "{n} found a {object}.",
    "{n} wanted to go home.", "Some people were working at the {place}.", "{n} met {n2} at the {place}.",
    "The weather was nice, and the {place} was open.", "{n} said that the {object} was old.",
    "{n} had a {object} and a {object2}.", "It was late, so {n} went home.",
)
_NAME_FREE = tuple(f for f in FILLER if "{n}" not in f)  # the filler put in front of a measured prompt
_SLOT = re.compile(r"\{(\w+)\}")


def _capital(clause: str) -> str:
    return clause[0].upper() + clause[1:]


@functools.lru_cache(maxsize=1)
def tokenizer() -> WordTokenizer:
    """The word-level tokenizer of the IOI data: BOS, the names, then every other word in order of appearance.

    The order follows the lists above, so editing them renumbers the words of the shipped ``ioi`` model
    (its ``vocab.json`` is this list, as a test checks).
    """
    words = [BOS, *NAMES]
    texts = [*FRAMES, *MIDS, *map(_capital, MIDS), *RELS, *FILLER, *PLACES, *OBJECTS, ". ,"]
    for text in texts:
        for word in split_words(_SLOT.sub(" ", text)):
            if word not in words:
                words.append(word)
    return WordTokenizer(words, bos=BOS)


def frames(split: str = "train") -> list[int]:
    """The frame indices of ``split``: ``"train"``, ``"test"`` (:data:`HELD_OUT_FRAMES`) or ``"all"``."""
    if split == "train":
        return [i for i in range(len(FRAMES)) if i not in HELD_OUT_FRAMES]
    if split == "test":
        return list(HELD_OUT_FRAMES)
    if split == "all":
        return list(range(len(FRAMES)))
    raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")


@functools.lru_cache(maxsize=3)
def name_pairs(split: str = "train") -> tuple[tuple[str, str], ...]:
    """Unordered pairs of names (each sorted) that may be IO and S together in ``split``.

    A fixed fifth of all pairs (:data:`PAIR_SEED`) is the test split, the rest the train split.

    >>> len(name_pairs("train")) + len(name_pairs("test")) == len(NAMES) * (len(NAMES) - 1) // 2
    True
    """
    pairs = list(itertools.combinations(sorted(NAMES), 2))
    random.Random(PAIR_SEED).shuffle(pairs)
    n_test = round(TEST_PAIR_FRACTION * len(pairs))
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return tuple(sorted(pairs[:n_test] if split == "test" else pairs[n_test:]))


@functools.lru_cache(maxsize=None)
def _parts(text: str) -> tuple:
    """A frame or filler text as token-id tuples and slot names, in order."""
    pieces = _SLOT.split(text)
    return tuple(piece if i % 2 else tuple(tokenizer().encode(piece)) for i, piece in enumerate(pieces)
                 if i % 2 or piece)


def _render(text: str, fills: dict[str, tuple[int, ...]]) -> tuple[list[int], dict[str, int]]:
    """Token ids of ``text`` with its slots filled, and where each slot starts."""
    ids, where = [], {}
    for part in _parts(text):
        if isinstance(part, str):
            where[part] = len(ids)
            ids += fills[part]
        else:
            ids += part
    return ids, where


@functools.lru_cache(maxsize=None)
def _id(word: str) -> tuple[int]:
    """The one token of a name or word: ``(id,)``."""
    ids = tokenizer().encode(word)
    if len(ids) != 1:
        raise ValueError(f"{word!r} is {len(ids)} tokens, not one")
    return tuple(ids)


def _clause(text: str, d: str) -> tuple[int, ...]:
    """A distractor clause as ids, its ``{D}`` (if any) filled with the name ``d``."""
    return tuple(_render(text, {"D": _id(d)})[0]) if text else ()


def _sentence(rng: random.Random, frame: int, io: str, s: str, order: int, mid: int, rel: int,
              others: tuple[str, ...], s2: str | None = None) -> tuple[list[int], dict[str, int]]:
    """An IOI prompt (without its answer): ids and the positions of A, B, S (the second mention).

    ``mid``, ``rel``: the distractors (0: none, i: ``MIDS[i - 1]`` / ``RELS[i - 1]``); a ``{D}`` in
    them is ``others[0]`` before S2 and ``others[1]`` after it: names that are neither IO nor S.
    """
    first, second = (io, s) if order == 0 else (s, io)
    mid_text = f" {MIDS[mid - 1]}," if mid else ""
    fills = {"A": _id(first), "B": _id(second), "S": _id(s2 or s), "place": _id(rng.choice(PLACES)),
             "object": _id(rng.choice(OBJECTS)), "mid": _clause(mid_text, others[0]),
             "Mid": _clause(mid_text[:1] + _capital(mid_text[1:]) if mid else "", others[0]),
             "rel": _clause(f", {RELS[rel - 1]}," if rel else "", others[1])}
    return _render(FRAMES[frame], fills)


def _filler(rng: random.Random, names: bool = True) -> list[int]:
    text = rng.choice(FILLER if names else _NAME_FREE)
    n, n2 = rng.sample(NAMES, 2)
    object, object2 = rng.sample(OBJECTS, 2)
    fills = {"n": _id(n), "n2": _id(n2), "place": _id(rng.choice(PLACES)), "object": _id(object),
             "object2": _id(object2)}
    return _render(text, fills)[0]


def _draw(rng: random.Random, split: str) -> tuple[str, str, int]:
    """IO, S and the order (0: ABBA, IO first; 1: BABA) of a sentence of ``split``."""
    io, s = rng.sample(rng.choice(name_pairs(split)), 2)
    return io, s, rng.randrange(2)


def _distractor(rng: random.Random) -> tuple[int, int]:
    mid = rng.randrange(1, len(MIDS) + 1) if rng.random() < P_MID else 0
    rel = rng.randrange(1, len(RELS) + 1) if rng.random() < P_REL else 0
    return mid, rel


def train_stream(rng: random.Random, n_words: int, p_ioi: float = 0.5) -> list[int]:
    """``n_words`` token ids of training text: BOS, then sentences, IOI ones (completed) with probability ``p_ioi``.

    Half of the rows start inside a sentence (its first words cut), as a measured prompt's filler does.
    """
    ids = [tokenizer().eot_token]
    cut = rng.randrange(12) if rng.random() < 0.5 else 0
    while len(ids) < n_words + cut:
        if rng.random() < p_ioi:
            io, s, order = _draw(rng, "train")
            others = rng.sample([name for name in NAMES if name not in (io, s)], 2)
            sentence, _ = _sentence(rng, rng.choice(frames("train")), io, s, order, *_distractor(rng), others)
            sentence += [*_id(io), *_id(".")]
        else:
            sentence = _filler(rng)
        ids += sentence
    return [ids[0], *ids[1 + cut:n_words + cut]]


def train_batch(generator: torch.Generator, n: int, n_ctx: int = 48, **mix) -> Tensor:
    """A training batch ``[n n_ctx]`` (see :func:`train_stream`; ``mix``: ``p_ioi``).

    >>> train_batch(torch.Generator().manual_seed(0), 3).shape
    torch.Size([3, 48])
    """
    rng = random.Random(int(torch.randint(0, 2**62, (1,), generator=generator)))
    return torch.tensor([train_stream(rng, n_ctx, **mix) for _ in range(n)], dtype=torch.long)


def _check(split: str, template: int | None, distractors: tuple[int, int] | None) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if template is not None and not 0 <= template < len(FRAMES):
        raise ValueError(f"template must be a frame index 0..{len(FRAMES) - 1} (see FRAMES), got {template}")
    if distractors is not None:
        mid, rel = distractors
        if not (0 <= mid <= len(MIDS) and 0 <= rel <= len(RELS)):
            raise ValueError(f"distractors=(mid, rel) with 0 (none) <= mid <= {len(MIDS)} and rel <= {len(RELS)}, "
                             f"got {distractors}")


def ioi_batch(n: int, seed: int = 0, split: str = "train", *, template: int | None = None,
              distractors: tuple[int, int] | None = None, length: int | None = None) -> dict[str, Tensor]:
    """``n`` IOI prompts of ``split`` and their "ABC" corruptions, deterministic in ``seed``.

    ``template``: one frame for every row (default: random among the split's frames, see
    :func:`frames`; any frame may be asked for, with the split's name pairs); ``distractors``:
    ``(mid, rel)``, each 0 (none) or ``i`` for ``MIDS[i - 1]`` / ``RELS[i - 1]`` (default: random);
    ``length``: the rows' length (default: the longest prompt plus BOS). Returns:

    - ``clean``, ``corrupted``: ``[n pos]``, BOS, name-free filler, the prompt; the answer comes
      after the last position; ``corrupted`` has a third name C at S's second mention;
    - ``io``, ``s``, ``c``: ``[n]`` the names' token ids;
    - ``io_pos``, ``s1_pos``, ``s2_pos``, ``end_pos``: ``[n]`` where IO, S (twice) and the last token are;
    - ``template``, ``order`` (0: ABBA, 1: BABA): ``[n]``; ``distractors``: ``[n 2]``.
    """
    _check(split, template, distractors)
    rng = random.Random(f"ioi {split} {seed}")  # a str seed is hashed with sha512: the same on every run
    rows = []
    for _ in range(n):
        io, s, order = _draw(rng, split)
        c, *others = rng.sample([name for name in NAMES if name not in (io, s)], 3)
        frame = rng.choice(frames(split)) if template is None else template
        mid, rel = _distractor(rng) if distractors is None else distractors
        state = rng.getstate()  # the corrupted prompt draws the same place and object
        clean, where = _sentence(rng, frame, io, s, order, mid, rel, others)
        rng.setstate(state)
        corrupted, _ = _sentence(rng, frame, io, s, order, mid, rel, others, s2=c)
        rows.append(dict(clean=clean, corrupted=corrupted, io=_id(io)[0], s=_id(s)[0], c=_id(c)[0], where=where,
                         template=frame, order=order, distractors=(mid, rel)))
    width = length or 1 + max(len(r["clean"]) for r in rows)
    out = {k: torch.empty(n, width, dtype=torch.long) for k in ("clean", "corrupted")}
    for k in ("io", "s", "c", "io_pos", "s1_pos", "s2_pos", "end_pos", "template", "order"):
        out[k] = torch.empty(n, dtype=torch.long)
    out["distractors"] = torch.empty(n, 2, dtype=torch.long)
    for i, row in enumerate(rows):
        gap = width - 1 - len(row["clean"])
        if gap < 0:
            raise ValueError(f"length={width} is too short for a prompt of {len(row['clean']) + 1} tokens")
        prefix = [tokenizer().eot_token, *_prefix(rng, gap)]
        out["clean"][i] = torch.tensor(prefix + row["clean"])
        out["corrupted"][i] = torch.tensor(prefix + row["corrupted"])
        a, b = len(prefix) + row["where"]["A"], len(prefix) + row["where"]["B"]
        io_pos, s1_pos = (a, b) if row["order"] == 0 else (b, a)
        for k, v in dict(io=row["io"], s=row["s"], c=row["c"], io_pos=io_pos, s1_pos=s1_pos,
                         s2_pos=len(prefix) + row["where"]["S"], end_pos=width - 1, template=row["template"],
                         order=row["order"]).items():
            out[k][i] = v
        out["distractors"][i] = torch.tensor(row["distractors"])
    return out


def _prefix(rng: random.Random, gap: int) -> list[int]:
    """The last ``gap`` tokens of name-free filler sentences."""
    ids: list[int] = []
    while len(ids) < gap:
        ids = _filler(rng, names=False) + ids
    return ids[len(ids) - gap:]


def logit_diff(logits: Tensor, batch: dict[str, Tensor], per_prompt: bool = False) -> Tensor:
    """``logit(io) - logit(s)`` at the last position: ``logits [n pos d_vocab]`` → a scalar (or ``[n]``).

    >>> logits = torch.zeros(2, 3, 5); logits[:, -1, 1] = 2.0
    >>> logit_diff(logits, {"io": torch.tensor([1, 2]), "s": torch.tensor([2, 1])}, per_prompt=True)
    tensor([ 2., -2.])
    """
    if logits.ndim != 3 or logits.shape[0] != len(batch["io"]) or len(batch["io"]) != len(batch["s"]):
        raise ValueError(f"logit_diff takes logits [n pos d_vocab] and n answers; got logits of shape "
                         f"{tuple(logits.shape)}, {len(batch['io'])} io and {len(batch['s'])} s")
    last = logits[:, -1]  # [n d_vocab]
    rows = torch.arange(last.shape[0], device=last.device)
    diff = last[rows, batch["io"].to(last.device)] - last[rows, batch["s"].to(last.device)]  # [n]
    return diff if per_prompt else diff.mean()
