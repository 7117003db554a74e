"""The IOI data: prompts and their ABC corruptions, the splits that hold out frames and name pairs."""

from __future__ import annotations

import re

import pytest
import torch

from minigpt.data import ioi


@pytest.fixture(scope="module")
def training_text() -> list[str]:
    """Decoded training rows (each BOS, then sentences, the first maybe cut)."""
    tok = ioi.tokenizer()
    rows = ioi.train_batch(torch.Generator().manual_seed(0), 400)
    return [tok.decode(row.tolist()) for row in rows]


def test_a_batch_has_the_documented_keys_shapes_and_answers():
    batch = ioi.ioi_batch(64, seed=0, split="test")
    n, width = batch["clean"].shape
    assert n == 64 and batch["corrupted"].shape == (n, width) and batch["clean"].dtype == torch.long
    assert all(batch[k].shape == (n,) for k in ("io", "s", "c", "io_pos", "s1_pos", "s2_pos", "end_pos"))
    rows = torch.arange(n)
    clean, corrupted = batch["clean"], batch["corrupted"]
    assert (clean[:, 0] == ioi.tokenizer().eot_token).all() and (batch["end_pos"] == width - 1).all()
    assert (clean[rows, batch["io_pos"]] == batch["io"]).all()
    assert (clean[rows, batch["s1_pos"]] == batch["s"]).all() and (clean[rows, batch["s2_pos"]] == batch["s"]).all()
    assert (corrupted[rows, batch["s2_pos"]] == batch["c"]).all()
    assert ((batch["c"] != batch["io"]) & (batch["c"] != batch["s"]) & (batch["io"] != batch["s"])).all()
    differ = clean != corrupted  # the ABC prompt changes S's second mention, nothing else
    assert (differ.sum(1) == 1).all() and differ[rows, batch["s2_pos"]].all()
    assert (batch["s1_pos"] < batch["s2_pos"]).all() and (batch["io_pos"] < batch["s2_pos"]).all()
    abba = batch["order"] == 0  # ABBA: IO named first; BABA: S first
    assert (batch["io_pos"][abba] < batch["s1_pos"][abba]).all()
    assert (batch["io_pos"][~abba] > batch["s1_pos"][~abba]).all() and 0 < abba.sum() < n


def test_batches_are_deterministic_in_the_seed():
    a, b, c = ioi.ioi_batch(16, seed=3), ioi.ioi_batch(16, seed=3), ioi.ioi_batch(16, seed=4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["clean"], c["clean"])
    g1, g2 = (torch.Generator().manual_seed(5) for _ in range(2))
    assert torch.equal(ioi.train_batch(g1, 4), ioi.train_batch(g2, 4))


def test_a_fixed_template_aligns_the_positions():
    batch = ioi.ioi_batch(32, seed=1, split="test", template=11, distractors=(2, 1))
    for key in ("io_pos", "s1_pos", "s2_pos"):  # IO and S1 swap with the order; S2 does not move
        assert len(set(batch[key].tolist())) == (1 if key == "s2_pos" else 2)
    assert set(batch["template"].tolist()) == {11} and (batch["distractors"] == torch.tensor([2, 1])).all()
    text = ioi.tokenizer().decode(batch["clean"][0].tolist())
    assert "After the lunch," in text and "As the sun went down," in text and ", who was tired, gave" in text


def test_rows_of_different_templates_are_filled_in_front_to_one_length():
    batch = ioi.ioi_batch(64, seed=2, split="train", length=40)
    assert batch["clean"].shape == (64, 40) and len(set(batch["template"].tolist())) > 3
    tok = ioi.tokenizer()
    names = {tok.encode(name)[0] for name in ioi.NAMES}
    for row, io_pos, s1_pos in zip(batch["clean"], batch["io_pos"], batch["s1_pos"]):
        before = row[1:min(io_pos, s1_pos)].tolist()
        assert not names & set(before)  # the filler in front names nobody


def test_the_splits_hold_out_frames_and_name_pairs():
    train, test = ioi.ioi_batch(300, seed=0, split="train"), ioi.ioi_batch(300, seed=0, split="test")
    assert set(train["template"].tolist()) == set(ioi.frames("train"))
    assert set(test["template"].tolist()) == set(ioi.HELD_OUT_FRAMES) == set(ioi.frames("test"))
    tok = ioi.tokenizer()
    test_pairs, train_pairs = set(ioi.name_pairs("test")), set(ioi.name_pairs("train"))
    assert not test_pairs & train_pairs and len(test_pairs) == 245
    for batch, pairs in ((train, train_pairs), (test, test_pairs)):
        for io, s in zip(batch["io"].tolist(), batch["s"].tolist()):
            assert tuple(sorted(tok.decode([io, s]).split())) in pairs
    trained_io = {name for pair in train_pairs for name in pair}
    assert trained_io == set(ioi.NAMES)  # every name is an answer in training: only pairs are new


def test_training_text_never_shows_a_held_out_frame_or_pair(training_text):
    text = " ".join(training_text)
    for frame in ioi.HELD_OUT_FRAMES:  # the frame up to its first distractor slot, as a regex
        head = ioi.FRAMES[frame].split("{mid}")[0].split("{Mid}")[0]
        pattern = re.escape(head).replace(r"\{A\}", r"\w+").replace(r"\{B\}", r"\w+").replace(r"\{place\}", r"\w+")
        assert not re.search(pattern, text), head
    names = "|".join(ioi.NAMES)
    intros = re.findall(rf"\b({names}) and ({names})\b", text)  # only IOI sentences introduce two names so
    assert len(intros) > 300
    assert all(tuple(sorted(pair)) in set(ioi.name_pairs("train")) for pair in intros)


def test_every_word_of_the_test_prompts_is_seen_in_training(training_text):
    tok = ioi.tokenizer()
    seen = {w for row in training_text for w in tok.str_tokens(tok.encode(row.removeprefix("<bos>")))}
    test = ioi.ioi_batch(200, seed=0, split="test")
    used = {w for row in test["clean"] for w in tok.str_tokens(row[1:].tolist())}
    assert used <= seen, used - seen


def test_training_sentences_complete_the_prompt_with_the_io(training_text):
    names = rf"\b(?:{'|'.join(ioi.NAMES)})\b"
    completed = []
    for row in training_text:
        sentences = re.split(r"(?<=\.) ", row)
        for i, sentence in enumerate(sentences[:-2]):
            intro = re.search(rf"({names}) and ({names})", sentence)
            if intro is None:
                continue
            if not sentence.endswith(" to " + sentence.split()[-1]):  # frames with a full stop before S2
                sentence += " " + sentences[i + 1]
            completed.append((*intro.groups(), *re.findall(names, sentence[intro.end():])))
    assert len(completed) > 200
    for a, b, *later in completed:  # S named again, then the answer: the introduced name not repeated
        *middle, answer = later
        again = [name for name in middle if name in (a, b)]  # the rest are distractor names
        assert len(again) == 1 and {a, b} == {again[0], answer}, (a, b, later)
    assert any(len(later) > 2 for _, _, *later in completed)  # some distractor clauses name a third person


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="split must be"):
        ioi.ioi_batch(2, split="valid")
    with pytest.raises(ValueError, match="template must be a frame index"):
        ioi.ioi_batch(2, template=99)
    with pytest.raises(ValueError, match="distractors"):
        ioi.ioi_batch(2, distractors=(9, 0))
    with pytest.raises(ValueError, match="too short"):
        ioi.ioi_batch(2, template=4, distractors=(1, 1), length=10)


def test_logit_diff_reads_the_last_position_and_checks_its_input():
    logits = torch.zeros(2, 4, 10)
    logits[0, -1, 3], logits[1, -1, 5], logits[0, 2, 3] = 1.5, 4.0, 9.0  # position 2 is not read
    batch = {"io": torch.tensor([3, 7]), "s": torch.tensor([7, 5])}
    assert ioi.logit_diff(logits, batch, per_prompt=True).tolist() == [1.5, -4.0]
    assert ioi.logit_diff(logits, batch).item() == -1.25
    with pytest.raises(ValueError, match=r"logits \[n pos d_vocab\]"):
        ioi.logit_diff(logits[:, -1], batch)
