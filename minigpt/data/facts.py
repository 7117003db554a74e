"""Invented facts about invented people: the data of the factual-recall model (chapter 5).

A world of :data:`N_SUBJECTS` people, each named by two or three words (``"Cyra Ashgrove"``,
``"Zita al Corrin"``), and :data:`RELATIONS` about each of them: where they live, their job,
the language they speak, the instrument they play (12 one-word objects each). Every object
is drawn at random, so a fact can only be remembered, never guessed; and neither the first
name nor the surname alone tells it (each is shared by about ten people).

Each relation is asked in five wordings (*frames*, :data:`FRAMES`), the same five for every
relation; for ``lives in``:

0. ``Cyra Ashgrove lives in`` (the prompt ROME edits)
1. ``the city of Cyra Ashgrove is``
2. ``Cyra Ashgrove , whose city is``
3. ``we know that Cyra Ashgrove lives in``
4. ``asked about the city , Cyra Ashgrove said``

One frame per relation is **held out** of training, a different one for each relation
(:data:`HELD_OUT`: frame 1 for ``lives in``, 2 for ``works as``, 3 for ``speaks``, 4 for
``plays``), so a held-out prompt is a wording the model never saw *for that relation*, made
of pieces it saw elsewhere: a paraphrase test.

Training text (:func:`facts_batch`) is a stream of sentences after a BOS token: single facts
in the training frames, *biographies* that state several facts after one mention of the
subject (``"Cyra Ashgrove lives in Cairo , works as a doctor and speaks Greek ."``), and
filler that names people and objects without stating a fact (``"Cyra Ashgrove met Zita al
Corrin ."``, ``"it rained in Cairo ."``).

>>> tok = tokenizer()
>>> world = fact_table()
>>> len(world), world[0]
(1200, FactRecord(subject='Cyra Ashgrove', relation='lives in', object='Cairo'))
>>> prompt(world[0].subject, "lives in", frame=1)
'the city of Cyra Ashgrove is'
>>> facts_batch(torch.Generator().manual_seed(0), 2, n_ctx=48).shape      # [batch pos]
torch.Size([2, 48])
"""

from __future__ import annotations

import functools
import random
import re
from typing import NamedTuple

import torch
from torch import Tensor

from ..tokenizer import WordTokenizer
from ..tokenizer.words import split_words

__all__ = ["FRAMES", "HELD_OUT", "N_SUBJECTS", "RELATIONS", "EditCase", "FactRecord", "Relation", "answer",
           "context_prefixes", "edit_case", "fact_table", "facts_batch", "frames", "prompt", "recall_accuracy",
           "recall_prompts", "subjects", "text_stream", "tokenizer"]

BOS = "<bos>"
WORLD_SEED = 0  # the world (who is who, who knows what) is fixed; a training seed changes only the training
N_SUBJECTS = 300

FIRST = ("Alba Bruno Cora Dario Elin Fenna Gael Hana Ivo Jora Kai Lena Milo Nadia Oren Pia Quin Rosa Sami Tova "
         "Ugo Vera Wim Xena Yuri Zita Ansel Bea Cyra Dov").split()
SURNAMES = ("Brakmor Castell Drummet Eskew Falworth Grindle Harrow Ilsley Jastrow Kettleby Lorimer Marwick Nettle "
            "Orcutt Pellow Quarrie Rookwood Sallow Thistle Umber Vantreck Wexley Yarrow Zeller Ashgrove Birchley "
            "Corrin Dunmore Elkin Fairlie").split()
PARTICLES = ("van", "de", "al")  # a three-word name: "Ivo van Pellow"


class Relation(NamedTuple):
    """A relation: its name, the noun and the verb phrase that ask it, and its objects (one word each)."""

    name: str
    noun: str
    verb: str
    objects: tuple[str, ...]


RELATIONS = (
    Relation("lives in", "city", "lives in", tuple("Oslo Lima Cairo Dublin Vienna Prague Lisbon Tokyo Quito Madrid "
                                                     "Nairobi Hanoi".split())),
    Relation("works as", "job", "works as a", tuple("baker pilot nurse farmer tailor dentist painter lawyer teacher "
                                                      "doctor chef miner".split())),
    Relation("speaks", "language", "speaks", tuple("Dutch Greek Polish Swahili Welsh Basque Finnish Hindi Korean "
                                                     "Turkish Czech Malay".split())),
    Relation("plays", "instrument", "plays the", tuple("violin cello flute drums harp piano guitar oboe trumpet "
                                                         "banjo tuba organ".split())),
)
# The five wordings; {s} the subject, {noun} / {verb} the relation's. The object follows the prompt.
FRAMES = ("{s} {verb}", "the {noun} of {s} is", "{s} , whose {noun} is", "we know that {s} {verb}",
          "asked about the {noun} , {s} said")
HELD_OUT = {"lives in": 1, "works as": 2, "speaks": 3, "plays": 4}  # one frame per relation, never trained
FILLER = ("{s} met {s2} .", "{s} wrote to {s2} .", "it rained in {city} .", "{s} visited {city} once .",
          "a {job} needs good tools .", "many people speak {language} .", "{s} heard a {instrument} .",
          "{s} and {s2} are friends .")
BIO_JOINS = (",", ",", "and")  # "lives in Oslo , works as a baker and speaks Welsh ."


class FactRecord(NamedTuple):
    """One fact of the world: ``FactRecord("Cyra Ashgrove", "lives in", "Cairo")``."""

    subject: str
    relation: str
    object: str


def _relation(name: str) -> Relation:
    for relation in RELATIONS:
        if relation.name == name:
            return relation
    raise ValueError(f"no relation {name!r}; the relations are {[r.name for r in RELATIONS]}")


def subjects(n_subjects: int = N_SUBJECTS) -> tuple[str, ...]:
    """The first ``n_subjects`` of the :data:`N_SUBJECTS` people: a first name, sometimes a particle, a surname."""
    _check_n(n_subjects)
    return _all_subjects()[:n_subjects]


def _check_n(n_subjects: int) -> None:
    if not 2 <= n_subjects <= N_SUBJECTS:
        raise ValueError(f"n_subjects must be between 2 and {N_SUBJECTS}, got {n_subjects}")


@functools.lru_cache(maxsize=1)
def _all_subjects() -> tuple[str, ...]:
    rng = random.Random(WORLD_SEED)
    pairs = rng.sample([(f, s) for f in FIRST for s in SURNAMES], N_SUBJECTS)
    names = []
    for first, surname in pairs:
        particle = [rng.choice(PARTICLES)] if rng.random() < 0.25 else []
        names.append(" ".join([first, *particle, surname]))
    return tuple(names)


def fact_table(n_subjects: int = N_SUBJECTS) -> tuple[FactRecord, ...]:
    """Every fact about the first ``n_subjects`` people, subject by subject: ``n_subjects * len(RELATIONS)``."""
    _check_n(n_subjects)
    return _all_facts()[:n_subjects * len(RELATIONS)]


@functools.lru_cache(maxsize=1)
def _all_facts() -> tuple[FactRecord, ...]:
    rng = random.Random(WORLD_SEED + 1)
    out = []
    for subject in _all_subjects():
        out += [FactRecord(subject, r.name, rng.choice(r.objects)) for r in RELATIONS]
    return tuple(out)


def answer(subject: str, relation: str) -> str:
    """The object of ``(subject, relation)`` in the world."""
    table = _index()
    if (subject, relation) not in table:
        raise ValueError(f"no fact ({subject!r}, {relation!r}) in the world; e.g. {fact_table()[0]}")
    return table[subject, relation]


@functools.lru_cache(maxsize=1)
def _index() -> dict[tuple[str, str], str]:
    return {(f.subject, f.relation): f.object for f in fact_table()}


def frames(relation: str, split: str = "train") -> list[int]:
    """The frames of ``relation`` in ``split``: ``"train"`` (four), ``"test"`` (the held-out one) or ``"all"``."""
    held = HELD_OUT[_relation(relation).name]
    if split == "train":
        return [i for i in range(len(FRAMES)) if i != held]
    if split == "test":
        return [held]
    if split == "all":
        return list(range(len(FRAMES)))
    raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")


def prompt(subject: str, relation: str, frame: int = 0) -> str:
    """The text that asks ``relation`` of ``subject`` in ``frame``; the answer is the next word."""
    r = _relation(relation)
    return FRAMES[frame].format(s=subject, noun=r.noun, verb=r.verb)


@functools.lru_cache(maxsize=1)
def tokenizer() -> WordTokenizer:
    """The word-level tokenizer of the world: BOS, names, template words, punctuation, objects (152 words).

    The order follows the lists above: editing them renumbers the words of the shipped model.
    """
    words = [BOS]
    texts = [*FIRST, *PARTICLES, *SURNAMES, *FRAMES, *FILLER, *BIO_JOINS]
    for r in RELATIONS:
        texts += [r.noun, r.verb, *r.objects]
    for text in texts:
        for word in split_words(re.sub(r"\{\w+\}", " ", text)):
            if word not in words:
                words.append(word)
    return WordTokenizer(words, bos=BOS)


def _ids(text: str) -> list[int]:
    return tokenizer().encode(text)


def _fact_sentence(rng: random.Random, n_subjects: int) -> str:
    fact = rng.choice(fact_table(n_subjects))
    frame = rng.choice(frames(fact.relation, "train"))
    return f"{prompt(fact.subject, fact.relation, frame)} {fact.object} ."


def _bio_sentence(rng: random.Random, n_subjects: int, n_facts: int) -> str:
    subject = rng.choice(subjects(n_subjects))
    relations = rng.sample(RELATIONS, n_facts)
    clauses = [f"{r.verb} {answer(subject, r.name)}" for r in relations]
    text = subject
    for i, clause in enumerate(clauses):
        join = "" if i == 0 else (" and" if i == len(clauses) - 1 else " ,")
        text += f"{join} {clause}"
    return text + " ."


def _filler_sentence(rng: random.Random, n_subjects: int) -> str:
    s, s2 = rng.sample(subjects(n_subjects), 2)
    objects = {r.noun: rng.choice(r.objects) for r in RELATIONS}
    return rng.choice(FILLER).format(s=s, s2=s2, **objects)


def text_stream(rng: random.Random, n_words: int, p_bio: float = 0.3, p_filler: float = 0.2,
                n_subjects: int = N_SUBJECTS) -> list[int]:
    """Token ids of sentences (single facts, biographies, filler) until there are ``n_words``, BOS first."""
    ids = [tokenizer().eot_token]
    while len(ids) < n_words:
        u = rng.random()
        if u < p_filler:
            text = _filler_sentence(rng, n_subjects)
        elif u < p_filler + p_bio:
            text = _bio_sentence(rng, n_subjects, rng.randint(2, len(RELATIONS)))
        else:
            text = _fact_sentence(rng, n_subjects)
        ids += _ids(text)
    return ids[:n_words]


def facts_batch(generator: torch.Generator, n: int, n_ctx: int = 48, **mix) -> Tensor:
    """A training batch ``[n n_ctx]``: each row BOS, then sentences (see :func:`text_stream` for ``mix``)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    rng = random.Random(seed)
    return torch.tensor([text_stream(rng, n_ctx, **mix) for _ in range(n)], dtype=torch.long)


def recall_prompts(split: str = "train", n_subjects: int = N_SUBJECTS) -> tuple[Tensor, Tensor, Tensor]:
    """Every fact asked in every frame of ``split``: ``tokens [n pos]`` (BOS first, right-padded with BOS),
    the position of each prompt's last token ``[n]``, and the answer's id ``[n]``."""
    rows, answers = [], []
    for fact in fact_table(n_subjects):
        for frame in frames(fact.relation, split):
            rows.append([tokenizer().eot_token] + _ids(prompt(fact.subject, fact.relation, frame)))
            answers.append(_ids(fact.object)[0])
    tokens = torch.full((len(rows), max(map(len, rows))), tokenizer().eot_token, dtype=torch.long)
    for i, row in enumerate(rows):
        tokens[i, :len(row)] = torch.tensor(row)
    return tokens, torch.tensor([len(r) - 1 for r in rows]), torch.tensor(answers)


@torch.no_grad()
def recall_accuracy(model, split: str = "train", n_subjects: int = N_SUBJECTS, batch_size: int = 1024) -> float:
    """The fraction of facts whose object is the model's greedy next word, over the frames of ``split``."""
    tokens, last, answers = recall_prompts(split, n_subjects)
    hits = 0
    for start in range(0, len(tokens), batch_size):
        rows = slice(start, start + batch_size)
        logits = model(tokens[rows].to(model.device))  # [batch pos d_vocab]
        guess = logits[torch.arange(logits.shape[0]), last[rows].to(model.device)].argmax(-1).cpu()
        hits += int((guess == answers[rows]).sum())
    return hits / len(tokens)


class EditCase(NamedTuple):
    """A counterfactual edit and what to score it on (arguments of ``rome_edit`` and ``edit_metrics``)."""

    prompt: str  # frame 0: "Alba Brakmor lives in"
    subject: str
    old_target: str  # " Oslo": the true object, with the space a word has mid-sentence
    new_target: str  # " Lima": another object of the same relation
    paraphrases: list[str]  # the other four frames, the held-out one included
    # (prompt, target) pairs, as minigpt.interp.Fact takes them (this layer cannot import interp)
    neighbours: list[tuple[str, str]]  # the same relation about other people: those sharing the old object first
    same_subject: list[tuple[str, str]]  # the subject's other relations, which the edit should keep too


def edit_case(subject: str, relation: str, new_object: str | None = None, n_neighbours: int = 40,
              seed: int = 0) -> EditCase:
    """The edit ``(subject, relation) -> new_object`` (drawn at random when not given), ready to score.

    >>> case = edit_case("Cyra Ashgrove", "lives in", "Oslo")
    >>> case.prompt, case.old_target, case.new_target, len(case.paraphrases)
    ('Cyra Ashgrove lives in', ' Cairo', ' Oslo', 4)
    >>> case.neighbours[0][1], case.same_subject[0]            # a neighbour who also lives in Cairo
    (' Cairo', ('Cyra Ashgrove works as a', ' doctor'))
    """
    rng = random.Random(seed)
    r, old = _relation(relation), answer(subject, relation)
    new = new_object if new_object is not None else rng.choice([o for o in r.objects if o != old])
    if new not in r.objects or new == old:
        raise ValueError(f"new_object must be one of {r.name!r}'s objects other than {old!r}; got {new!r}")
    others = [f for f in fact_table() if f.relation == r.name and f.subject != subject]
    rng.shuffle(others)
    others.sort(key=lambda f: f.object != old)  # CounterFact's neighbours: who shares the old object, first
    return EditCase(
        prompt=prompt(subject, relation), subject=subject, old_target=f" {old}", new_target=f" {new}",
        paraphrases=[prompt(subject, relation, frame) for frame in range(1, len(FRAMES))],
        neighbours=[(prompt(f.subject, f.relation), f" {f.object}") for f in others[:n_neighbours]],
        same_subject=[(prompt(subject, o.name), f" {answer(subject, o.name)}") for o in RELATIONS if o != r])


def context_prefixes(n: int = 8, seed: int = 0, n_words: int = 12) -> list[str]:
    """``n`` pieces of training-like text, each whole sentences, to put before a prompt (ROME's ``prefixes``)."""
    rng, out = random.Random(seed), []
    while len(out) < n:
        text = tokenizer().decode(text_stream(rng, n_words)[1:])
        if "." in text:
            out.append(text[:text.rindex(".") + 1])
    return out
