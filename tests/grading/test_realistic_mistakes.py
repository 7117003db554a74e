"""Chapter 1's realistic mistakes (realistic_mistakes/ch01.py): none passes, most are named, none is named wrongly.

The mistakes are written apart from the registry's mutants, as learners write them, and
tagged with the family a person would name. A mistake is *named* when the check gives a
diagnosis: a registered mutant's, or a generic family's (``minigpt.grading.diagnosers``).
A generic name must be of the tagged family: a wrong name is worse than none.
"""

from __future__ import annotations

import pytest

from minigpt.grading import check
from minigpt.grading.diagnosers import FAMILIES
from tests.grading.realistic_mistakes.ch01 import MISTAKES

pytestmark = pytest.mark.slow  # about fifty checks, some of whole models


@pytest.fixture(scope="module")
def results():
    return {m.name: check(m.exercise, m.impl) for m in MISTAKES}


def test_the_set_covers_chapter_1():
    assert len(MISTAKES) >= 25
    assert len({m.exercise for m in MISTAKES}) >= 10
    assert {m.family for m in MISTAKES} - {None} <= set(FAMILIES)


def test_no_realistic_mistake_passes(results):
    passed = [name for name, r in results.items() if r.status == "pass"]
    assert not passed


def test_most_realistic_mistakes_are_named(results):
    named = [r for r in results.values() if r.diagnosis]
    by_mutants = sum(r.family == "mutant" for r in named)
    figure = (f"realistic chapter-1 mistakes named: {len(named)}/{len(results)} "
              f"({by_mutants} by a registered mutant, {len(named) - by_mutants} by a generic family)")
    print(figure)
    assert len(named) >= 0.8 * len(results), figure


def test_a_generic_diagnosis_is_of_the_family_a_person_would_name(results):
    wrong = [(m.name, m.family, results[m.name].family, results[m.name].diagnosis) for m in MISTAKES
             if results[m.name].family not in (None, "mutant") and results[m.name].family != m.family]
    assert not wrong
