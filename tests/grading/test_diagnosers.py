"""The generic diagnosers: the tracer, one named mistake per family, the budget, and the stability cases.

test_realistic_mistakes.py measures them on a whole set of learner-style mistakes (slow);
here each family is held to one quick example, and the machinery to what it promises.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import solutions.ch01_transformer as sol
from minigpt import generate
from minigpt.components import Attention
from minigpt.grading import check, get_exercise
from minigpt.grading.check import call, diagnose, expected_outputs, grade_outputs, judge
from minigpt.grading.diagnosers import FAMILIES, diagnose_generic
from minigpt.grading.diagnosers.axes import Redim
from minigpt.grading.diagnosers.probe import Probe
from tests.grading.realistic_mistakes.ch01 import MISTAKES

# one quick learner-style mistake per family (function exercises: milliseconds each)
ONE_PER_FAMILY = ["ln_stats_over_batch", "mlp_no_b_in", "ce_targets_not_shifted", "ln_w_and_b_swapped",
                  "ln_bias_before_gain", "embed_scaled_like_vaswani", "mask_with_big_negative", "mask_keeps_the_future",
                  "ce_log_of_softmax", "count_without_b_O"]
BY_NAME = {m.impl.__name__: m for m in MISTAKES}


def _outputs(exercise_id, impl):
    ex = get_exercise(exercise_id)
    cases = ex.make_cases()
    return ex, cases, [call(ex, impl, case) for case in cases]


def test_the_tracer_sees_the_exercise_code_and_names_what_it_reads():
    ex = get_exercise("ch01.mlp")
    _, tracer = Probe.of(ex).run(ex.make_cases()[0])
    steps = [(s.op, s.labels) for s in tracer.steps if s.function == "mlp"]
    assert steps == [("matmul", ("x", "W_in")), ("add", ("x·W_in", "b_in")), ("matmul", (None, "W_out")),
                     ("add", (None, "b_out"))]
    assert {s.function for s in tracer.steps} == {"mlp", "gelu_new"}  # gelu_new is the reference's too


def test_a_rewrite_changes_its_step_in_every_case():
    ex = get_exercise("ch01.layer_norm")
    probe = Probe.of(ex)
    means = {s.site for s in probe.run(ex.make_cases()[0])[1].steps if s.op == "mean"}
    for case in ex.make_cases():
        out, _ = probe.run(case, Redim(means, -3))
        x, w, b, eps = case["x"], case["w"], case["b"], case["eps"]
        by_batch = (x - x.mean(0)) / (x.var(0, unbiased=False) + eps).sqrt() * w + b
        torch.testing.assert_close(out, by_batch)


@pytest.mark.parametrize("name", ONE_PER_FAMILY)
def test_each_family_names_a_mistake_of_its_kind(name):
    mistake = BY_NAME[name]
    result = check(mistake.exercise, mistake.impl)
    assert result.status == "fail" and result.family == mistake.family, str(result)
    assert result.family in FAMILIES


def test_a_family_that_fits_some_cases_only_names_nothing():
    def half_wrong(x, w, b, eps=1e-5):  # the wrong axis on the batched cases, a stray + 1 on the others
        if x.shape[0] > 1:
            return BY_NAME["ln_stats_over_batch"].impl(x, w, b, eps)
        return sol.layer_norm(x, w, b, eps) + 1.0

    result = check("ch01.layer_norm", half_wrong)
    assert result.status == "fail" and result.diagnosis is None


def test_the_search_stops_at_its_budget():
    ex, cases, outputs = _outputs("ch01.layer_norm", BY_NAME["ln_stats_over_batch"].impl)
    expected = expected_outputs(ex, cases)
    assert diagnose_generic(ex, cases, outputs, expected, judge, budget_s=0.0) is None
    assert diagnose(ex, cases, outputs, expected).family == "axis"


def test_outputs_graded_elsewhere_get_the_same_diagnosis():  # minigpt grade: the sandbox returns outputs only
    ex, cases, outputs = _outputs("ch01.mlp", BY_NAME["mlp_no_b_in"].impl)
    result = grade_outputs(ex, cases, outputs)
    assert result.diagnosis == check("ch01.mlp", BY_NAME["mlp_no_b_in"].impl).diagnosis
    assert "`b_in` is not added" in result.diagnosis


def test_a_mistake_seen_only_on_the_large_case_is_not_called_unstable():
    # top-k shows only in the sampler's second case, which also holds the large row: its mistake
    # is a top-k one; the outputs do not look like an overflow (and mutants are skipped here)
    ex = get_exercise("ch01.sample_next_token")
    mutant = next(m for m in ex.mutants if m.name == "top-k-keeps-k-plus-one")
    ex, cases, outputs = _outputs(ex.id, mutant.fn)
    found = diagnose_generic(ex, cases, outputs, expected_outputs(ex, cases), judge)
    assert found is None or found.family != "stability"


def test_an_overflow_that_raises_is_named_by_the_error():
    result = check("ch01.sample_next_token", BY_NAME["sample_hand_written_softmax"].impl)
    assert result.status == "error" and result.family == "stability"
    assert "case 2" in result.diagnosis and "subtract each row's max" in result.diagnosis


STABLE_ANSWERS = [
    ("ch01.layer_norm", lambda x, w, b, eps=1e-5: F.layer_norm(x, x.shape[-1:], w, b, eps)),
    ("ch01.layer_norm", lambda x, w, b, eps=1e-5: (x - x.mean(-1, keepdim=True))
     / (x.var(-1, keepdim=True, unbiased=False) + eps).sqrt() * w + b),
    ("ch01.cross_entropy_per_token", lambda logits, tokens: F.cross_entropy(
        logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none")),
    ("ch01.cross_entropy_per_token", lambda logits, tokens: logits[:, :-1].logsumexp(-1)
     - logits[:, :-1].gather(-1, tokens[:, 1:, None]).squeeze(-1)),
    ("ch01.attention", lambda cfg: Attention(cfg, kernel="sdpa")),
    ("ch01.attention", lambda cfg: Attention(cfg, kernel="naive")),
    ("ch01.top_p_filter", generate.top_p_filter),
    ("ch01.sample_next_token", generate.sample_next_token),
]


@pytest.mark.parametrize("exercise_id, answer", STABLE_ANSWERS, ids=[f"{e}-{i}" for i, (e, _) in
                                                                     enumerate(STABLE_ANSWERS)])
def test_the_stability_cases_pass_every_stable_answer(exercise_id, answer):
    result = check(exercise_id, answer)
    assert result.status == "pass", str(result)
