"""Naming a mistake no registered mutant knows: families of mistakes, tried on the reference.

A registered :class:`~minigpt.grading.registry.Mutant` names one exercise's known
mistake. Learners make many more, and most belong to a few families that every
exercise shares: the right operation over the wrong axis, a term left out, positions
off by one, two operands swapped, steps in the wrong order, a scale missing or doubled,
a constant or a condition wrong, a formula that overflows on large values. Each family
is a *diagnoser*: a small function that, given the learner's outputs, proposes
:class:`Candidate` wrong versions of the reference ("the reference, with its softmax
over dim 1") with the sentence that would name each one. The first candidate that
reproduces the learner's output on every case is the diagnosis.

Candidates come from two sources:

- the reference's output itself, transformed (scaled, shifted, infinities filled):
  cheap, see :mod:`.outputs`;
- the reference run again with one step changed (:mod:`.trace` watches it run, and a
  :class:`~.trace.Rewrite` changes the step: another ``dim``, an addition dropped,
  a mask moved after the softmax): see :mod:`.axes`, :mod:`.terms`, :mod:`.constants`,
  :mod:`.order`, :mod:`.swaps`, :mod:`.shifts`.

The diagnosers run in the order of :data:`DIAGNOSERS` (cheap ones first) and only after
the exercise's own mutants failed to match; steps of the exercise's own code come before
steps inside its sub-modules, and the whole search stops at a time budget, so a check
stays instant. A candidate counts only if it matches *every* case within the grader's
tolerance: a wrong name is worse than none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable, Iterator

from torch import Tensor

from ..registry import Case, Exercise
from .probe import Probe
from .trace import Rewrite, Step

FAMILIES = ("axis", "term", "shift", "swap", "order", "scale", "constant", "invert", "stability")


@dataclass(frozen=True)
class Diagnosis:
    text: str
    family: str  # "mutant" (a registered mistake) or one of FAMILIES


@dataclass(frozen=True)
class Candidate:
    family: str
    text: str
    matches: Callable[[int], bool]  # does this wrong version give the learner's output on case i?
    # a simpler wrong version to try when this one matches: if it matches too, it is the diagnosis
    # (a mean over the wrong axis that a loss ignores is really a mean left out)
    null: Candidate | None = None


Diagnoser = Callable[["Context"], Iterable[Candidate]]
DIAGNOSERS: dict[str, Diagnoser] = {}


def register_diagnoser(name: str) -> Callable[[Diagnoser], Diagnoser]:
    """Add a diagnoser under ``name``; the registry's order is the order they are tried in."""

    def add(fn: Diagnoser) -> Diagnoser:
        if name in DIAGNOSERS:
            raise ValueError(f"diagnoser {name!r} is registered twice")
        DIAGNOSERS[name] = fn
        return fn

    return add


@dataclass
class Context:
    """What the diagnosers share: the exercise, its cases, the learner's and the reference's outputs."""

    ex: Exercise
    cases: list[Case]
    outputs: list[Any]  # the learner's
    expected: list[Any]  # the reference's
    judge: Callable[[Exercise, Case, Any, Any], Any]  # check.judge: (ex, case, expected, got) -> Verdict
    deep: bool = False  # second pass: also the steps inside sub-modules
    _runs: dict = field(default_factory=dict)

    @cached_property
    def probe(self) -> Probe:
        return Probe.of(self.ex)

    @cached_property
    def failing(self) -> list[int]:
        return [i for i, (c, e, o) in enumerate(zip(self.cases, self.expected, self.outputs))
                if not self.judge(self.ex, c, e, o).passed]

    @cached_property
    def order(self) -> list[int]:
        """Case indices, the first failing case first (most candidates are ruled out there)."""
        return self.failing[:1] + [i for i in range(len(self.cases)) if i not in self.failing[:1]]

    @cached_property
    def first(self) -> int:
        return self.order[0]

    @cached_property
    def trace(self) -> list[Step]:
        """The reference's steps on the first failing case (a step that runs again in a later call, once)."""
        steps = self.probe.run(self.cases[self.first])[1].steps
        return list({step.site: step for step in reversed(steps)}.values())[::-1]

    def steps(self) -> Iterator[Step]:
        """The steps of this pass: the exercise's own code first; inside its sub-modules on the second pass."""
        return (s for s in self.trace if (s.depth > 0) == self.deep)

    @cached_property
    def numeric(self) -> bool:
        """Are the reference's outputs numbers (floats), as opposed to indices, flags or token ids?"""

        def floats(obj: Any) -> bool:
            if isinstance(obj, Tensor):
                return obj.is_floating_point()
            if isinstance(obj, (list, tuple)):
                return all(floats(o) for o in obj)
            if isinstance(obj, dict):
                return all(floats(o) for o in obj.values())
            return isinstance(obj, float)

        return all(floats(e) for e in self.expected)

    @cached_property
    def constants(self) -> list[dict[str, float]]:
        return [self.probe.constants(case) for case in self.cases]

    def matches(self, i: int, wrong: Any) -> bool:
        """Is ``wrong`` (a wrong version's output on case i) the learner's output?"""
        if self.ex.kind == "sampler" and isinstance(wrong, Tensor):  # a table: it must be a distribution
            if not (wrong.isfinite().all() and (wrong >= 0).all()):
                return False
        return self.judge(self.ex, self.cases[i], wrong, self.outputs[i]).passed

    def rewritten(self, family: str, text: str, make: Callable[[int], Rewrite] | None = None,
                  case_fn: Callable[[Case], Case] | None = None) -> Candidate:
        """A candidate that reruns the reference on case i with a fresh ``make(i)`` rewrite and/or ``case_fn(case)``."""

        def matches(i: int) -> bool:
            case = self.cases[i] if case_fn is None else case_fn(self.cases[i])
            return self.matches(i, self.probe.run(case, make(i) if make else None)[0])

        return Candidate(family, text, matches)


def _matches(candidate: Candidate, context: Context) -> bool:
    try:
        return all(candidate.matches(i) for i in context.order)
    except Exception:  # a wrong version that cannot run on some case is not the learner's
        return False


def diagnose_generic(ex: Exercise, cases: list[Case], outputs: list[Any], expected: list[Any],
                     judge: Callable, budget_s: float = 1.0) -> Diagnosis | None:
    """The first generic family whose candidate reproduces the learner's outputs on every case, within ``budget_s``."""
    deadline = time.perf_counter() + budget_s
    context = Context(ex, cases, outputs, expected, judge)
    if not context.failing:
        return None
    for deep in (False, True):
        context.deep = deep
        for diagnoser in DIAGNOSERS.values():
            try:
                for candidate in diagnoser(context):
                    if time.perf_counter() > deadline:
                        return None
                    if _matches(candidate, context):
                        simpler = candidate.null if candidate.null and _matches(candidate.null, context) else None
                        return Diagnosis((simpler or candidate).text, (simpler or candidate).family)
            except Exception:  # a diagnoser that cannot make sense of this exercise proposes nothing
                continue
    return None


# the families, registered in the order they are tried: rules on the outputs first, then reruns
from . import stability, outputs, counts, terms, axes, constants  # noqa: E402,F401,I001
from . import conditions, order, swaps, shifts  # noqa: E402,F401,I001
