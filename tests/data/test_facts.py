"""The facts world: people, relations, wordings, the held-out wording never trained, batches and recall."""

from __future__ import annotations

import collections
import re

import pytest
import torch

from minigpt.data import facts as F


def test_the_world():
    people, table = F.subjects(), F.fact_table()
    assert len(people) == len(set(people)) == F.N_SUBJECTS == 300
    assert {len(p.split()) for p in people} == {2, 3}
    assert len(table) == 300 * len(F.RELATIONS) and F.fact_table(40) == table[:160]
    for r in F.RELATIONS:
        counts = collections.Counter(f.object for f in table if f.relation == r.name)
        assert set(counts) == set(r.objects) and min(counts.values()) >= 10  # every object is someone's
    # neither name alone tells a fact: guessing a city from the first name (or the surname) mostly fails
    cities = [(f.subject.split(), f.object) for f in table if f.relation == "lives in"]
    for part in (0, -1):
        by_name = collections.defaultdict(collections.Counter)
        for words, city in cities:
            by_name[words[part]][city] += 1
        best = sum(c.most_common(1)[0][1] for c in by_name.values())
        assert best / len(cities) < 0.35


def test_tokens_are_words_and_prompts_end_before_the_object():
    tok = F.tokenizer()
    assert tok.words[0] == "<bos>" and tok.eot_token == 0 and tok.n_vocab < 200
    assert all(len(tok.encode(o)) == 1 for r in F.RELATIONS for o in r.objects)
    subject = "Ivo van Pellow"
    assert tok.encode(subject) == [tok.words.index(w) for w in ("Ivo", "van", "Pellow")]
    assert F.prompt(subject, "works as") == "Ivo van Pellow works as a"
    assert F.prompt(subject, "speaks", 4) == "asked about the language , Ivo van Pellow said"
    with pytest.raises(ValueError, match="no relation 'sings'"):
        F.prompt(subject, "sings")
    with pytest.raises(ValueError, match="not in this model's vocabulary"):
        tok.encode("Ivo lives in Paris")


def test_one_frame_per_relation_is_held_out():
    held = {r.name: F.frames(r.name, "test") for r in F.RELATIONS}
    assert sorted(f for [f] in held.values()) == [1, 2, 3, 4]  # a different wording for each relation
    for r in F.RELATIONS:
        assert sorted(F.frames(r.name, "train") + held[r.name]) == F.frames(r.name, "all") == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="split must be"):
        F.frames("speaks", "val")


def test_batches_are_seeded_and_never_use_a_held_out_wording():
    a = F.facts_batch(torch.Generator().manual_seed(3), 64, n_ctx=48)
    b = F.facts_batch(torch.Generator().manual_seed(3), 64, n_ctx=48)
    assert a.shape == (64, 48) and torch.equal(a, b) and (a[:, 0] == 0).all() and a.max() < F.tokenizer().n_vocab
    text = " ".join(F.tokenizer().decode(row.tolist()) for row in a)
    name = r"(\w+ ){2,3}"
    held_out = ["the city of", "whose job is", f"we know that {name}speaks", "asked about the instrument"]
    trained = ["the job of", "whose city is", f"we know that {name}lives in", "asked about the city"]
    for pattern in held_out + trained:
        assert bool(re.search(pattern, text)) == (pattern in trained), pattern


class Oracle(torch.nn.Module):
    """Knows every answer: one-hot logits on the object after each recall prompt (zeros elsewhere)."""

    device = torch.device("cpu")

    def __init__(self, split: str, wrong: bool = False):
        super().__init__()
        tokens, last, answers = F.recall_prompts(split)
        self.answers = {tuple(t[:n + 1].tolist()): int(a) + wrong for t, n, a in zip(tokens, last, answers)}

    def forward(self, batch):  # [batch pos] -> [batch pos d_vocab]
        logits = torch.zeros(*batch.shape, F.tokenizer().n_vocab)
        for i, row in enumerate(batch.tolist()):
            for n in range(len(row)):
                if tuple(row[:n + 1]) in self.answers:
                    logits[i, n, self.answers[tuple(row[:n + 1])]] = 1.0
        return logits


def test_recall_prompts_and_an_oracle():
    tokens, last, answers = F.recall_prompts("test")
    assert tokens.shape[0] == len(F.fact_table()) and (tokens[:, 0] == 0).all()
    tok = F.tokenizer()
    fact = F.fact_table()[6]  # the second person's language: held out in frame 3
    assert tok.decode(tokens[6, :last[6] + 1].tolist()) == "<bos> we know that " + fact.subject + " speaks"
    assert tok.words[answers[6]] == fact.object
    for split in ("train", "test"):
        assert F.recall_accuracy(Oracle(split), split, n_subjects=10, batch_size=7) == 1.0
        assert F.recall_accuracy(Oracle(split, wrong=True), split, n_subjects=10) == 0.0


def test_edit_cases():
    case = F.edit_case("Ivo Birchley", "plays", seed=1)
    assert case.prompt == "Ivo Birchley plays the" and case.old_target == " " + F.answer("Ivo Birchley", "plays")
    assert case.new_target != case.old_target and case.new_target.strip() in F.RELATIONS[3].objects
    assert case.paraphrases[3] == "asked about the instrument , Ivo Birchley said"  # the held-out wording
    sharing = [t for _, t in case.neighbours if t == case.old_target]
    assert sharing and case.neighbours[:len(sharing)] == [n for n in case.neighbours if n[1] == case.old_target]
    assert all("Ivo Birchley" not in p for p, _ in case.neighbours) and len(case.same_subject) == 3
    with pytest.raises(ValueError, match="other than"):
        F.edit_case("Ivo Birchley", "plays", case.old_target.strip())
    prefixes = F.context_prefixes(4, seed=2)
    assert len(prefixes) == 4 and all(p.endswith(".") for p in prefixes)
    assert all(F.tokenizer().encode(p) for p in prefixes)
