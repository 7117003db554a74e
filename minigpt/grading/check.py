"""``check(exercise_id, fn)``: instant, in-process feedback in a notebook.

>>> from minigpt.grading import check
>>> from solutions.ch01_transformer import layer_norm
>>> check("ch01.layer_norm", layer_norm).status
'pass'

The result shows as HTML in Jupyter and as text elsewhere. ``minigpt grade``
uses the same comparisons, but runs the learner's code in a sandboxed process.
"""

from __future__ import annotations

import html
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ._child import call_with_model
from .compare import OK, Verdict, compare, compare_sample_rows
from .diagnosers import Diagnosis, diagnose_generic
from .diagnosers.stability import explain_error
from .reference import reference
from .registry import Case, Exercise, get_exercise

STATUSES = ("pass", "fail", "not_implemented", "error", "timeout", "memory", "crash")


@dataclass
class CheckResult:
    id: str
    status: str  # one of STATUSES
    score: float
    max_score: float
    message: str
    diagnosis: str | None = None
    hints: list[str] = field(default_factory=list)
    family: str | None = None  # who named the mistake: "mutant" (a registered one) or a generic family ("axis", ...)

    def __str__(self) -> str:
        mark = {"pass": "PASS", "fail": "FAIL", "not_implemented": "TODO"}.get(self.status, self.status.upper())
        lines = [f"[{mark}] {self.id}: {self.message}"]
        if self.diagnosis:
            lines.append(f"  likely mistake: {self.diagnosis}")
        if self.status != "pass" and self.hints:
            lines.append(f"  hint: {self.hints[0]}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        color = {"pass": "#1a7f37", "not_implemented": "#9a6700"}.get(self.status, "#cf222e")
        parts = [f'<div style="border-left:4px solid {color};padding:4px 10px;font-family:sans-serif">',
                 f'<b style="color:{color}">{html.escape(self.status.upper())}</b> <code>{html.escape(self.id)}</code>'
                 f" ({self.score:g}/{self.max_score:g}): {html.escape(self.message)}"]
        if self.diagnosis:
            parts.append(f"<br><b>Likely mistake:</b> {html.escape(self.diagnosis)}")
        if self.status != "pass" and self.hints:
            parts.append(f"<details><summary>Hint</summary>{html.escape(self.hints[0])}</details>")
        return "".join(parts) + "</div>"

    def to_dict(self) -> dict:
        return {"id": self.id, "status": self.status, "score": self.score, "max_score": self.max_score,
                "message": self.message + (f" Likely mistake: {self.diagnosis}" if self.diagnosis else "")}


def call(ex: Exercise, impl: Any, case: Case) -> Any:
    """Run ``impl`` (a function, or a class for module exercises) on one case."""
    kwargs = dict(case)
    if ex.kind == "module":
        from ..config import GPTConfig

        cfg, state_dict = GPTConfig(**kwargs.pop("cfg")), kwargs.pop("state_dict")
        module = impl(cfg)
        module.load_state_dict(state_dict)
        with torch.no_grad():
            return module(**kwargs)
    if ex.kind == "model":  # a function of a model (and an optimizer): see _child.call_with_model
        return call_with_model(impl, kwargs)
    if ex.kind == "sampler" and "seed" in kwargs:  # a generator is not data: the case carries its seed
        kwargs["generator"] = torch.Generator().manual_seed(kwargs.pop("seed"))
    with torch.no_grad():
        return impl(**kwargs)


def judge(ex: Exercise, case: Case, expected: Any, got: Any) -> Verdict:
    if ex.kind == "sampler":  # expected: the probability table [batch d_vocab]; got: samples [batch]
        return compare_sample_rows(expected, got)
    if ex.kind == "model":
        return _judge_model_calls(ex, expected, got)
    return compare(expected, got, atol=ex.atol, rtol=ex.rtol)


def _judge_model_calls(ex: Exercise, expected: Any, got: Any) -> Verdict:
    """``(returns, parameters)`` of :func:`call_with_model`: each call's return value, then each parameter."""
    (returns, params), ok = expected, isinstance(got, tuple) and len(got) == 2
    if not (ok and isinstance(got[0], list) and len(got[0]) == len(returns) and isinstance(got[1], dict)
            and set(got[1]) == set(params)):
        return Verdict(False, "type", "the calls did not return one result each (grader harness mismatch)")
    for i, (exp, out) in enumerate(zip(returns, got[0])):
        verdict = compare(exp, out, atol=ex.atol, rtol=ex.rtol, what=f"call {i + 1} returned" if len(returns) > 1
                          else "the call returned")
        if not verdict.passed:
            return verdict
    for name, exp in params.items():
        verdict = compare(exp, got[1][name], atol=ex.atol, rtol=ex.rtol, what=f"parameter {name} after the calls")
        if not verdict.passed:
            return verdict
    return OK


def expected_outputs(ex: Exercise, cases: list[Case]) -> list[Any]:
    ref = ex.expected_fn or reference(ex)
    return [call(ex, ref, case) for case in cases]


def diagnose(ex: Exercise, cases: list[Case], outputs: list[Any], expected: list[Any] | None = None,
             budget_s: float = 1.0) -> Diagnosis | None:
    """The mistake whose outputs equal the learner's on every case: a registered mutant, else a generic family.

    The generic families (:mod:`minigpt.grading.diagnosers`) run only when no mutant
    matched, and stop after ``budget_s`` seconds.
    """
    for mutant in ex.mutants:
        try:
            wrong = mutant.expected_fn or mutant.fn
            if all(judge(ex, c, call(ex, wrong, c), o).passed for c, o in zip(cases, outputs)):
                return Diagnosis(mutant.diagnosis, "mutant")
        except Exception:
            continue
    expected = expected_outputs(ex, cases) if expected is None else expected
    return diagnose_generic(ex, cases, outputs, expected, judge, budget_s)


@contextmanager
def one_thread():
    """Torch on one thread: the cases are tiny, and on a busy machine more threads make each op 10-20x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def grade_outputs(ex: Exercise, cases: list[Case], outputs: list[Any]) -> CheckResult:
    """Compare outputs (already computed, e.g. by a sandbox) with the reference's."""
    with one_thread():
        return _grade_outputs(ex, cases, outputs)


def _grade_outputs(ex: Exercise, cases: list[Case], outputs: list[Any]) -> CheckResult:
    expected = expected_outputs(ex, cases)
    for i, (case, exp, got) in enumerate(zip(cases, expected, outputs)):
        verdict = judge(ex, case, exp, got)
        if not verdict.passed:
            where = f"case {i + 1} of {len(cases)}: " if len(cases) > 1 else ""
            found = diagnose(ex, cases, outputs, expected)
            return CheckResult(ex.id, "fail", 0.0, ex.points, where + verdict.message,
                               found and found.text, ex.hints, found and found.family)
    return CheckResult(ex.id, "pass", ex.points, ex.points, f"all {len(cases)} cases match the reference")


def _explain_error(ex: Exercise, impl: Callable[..., Any], index: int, exc: Exception) -> Diagnosis | None:
    """An exception on the one case with large values, and every other case right: a stability problem."""
    try:
        return explain_error(ex, ex.make_cases(), index, exc, lambda case: call(ex, impl, case), judge)
    except Exception:  # the learner's code failing elsewhere too: the exception says enough
        return None


def check(exercise_id: str, impl: Callable[..., Any]) -> CheckResult:
    """Run ``impl`` on the exercise's seeded cases, in this process, and say what is wrong if anything.

    In a workspace that joined a live classroom (``minigpt classroom join``), the result also goes to
    the room, in the background: its status and diagnosis, never the code (:mod:`minigpt.classroom.report`).
    """
    from ..classroom.report import report_results

    with one_thread():  # the cases are tiny: torch's threads only add overhead (and much of it on a busy machine)
        result = _check(get_exercise(exercise_id), impl)
    report_results([result])  # nothing outside a joined workspace; never raises, never waits
    return result


def _check(ex: Exercise, impl: Callable[..., Any]) -> CheckResult:
    outputs = []
    for i, case in enumerate(ex.make_cases()):
        try:
            outputs.append(call(ex, impl, case))
        except NotImplementedError:
            return CheckResult(ex.id, "not_implemented", 0.0, ex.points, "not implemented yet", None, ex.hints)
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            found = _explain_error(ex, impl, i, exc)
            return CheckResult(ex.id, "error", 0.0, ex.points,
                               f"raised {type(exc).__name__}: {exc} (line {frame.lineno} of {frame.filename})",
                               found and found.text, ex.hints, found and found.family)
    return grade_outputs(ex, ex.make_cases(), outputs)  # fresh cases: impl may have changed its inputs in place
