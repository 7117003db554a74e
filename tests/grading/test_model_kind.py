"""``kind="model"`` exercises: a function of a model (and an optimizer), judged by its returns and the parameters after.

The harness (``_child.call_with_model``) is shared by the in-process ``check`` and the sandbox;
these tests hold both to the same verdicts, with chapter 1's ``training_step`` and ``greedy_generate``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import solutions.ch01_transformer as sol
from minigpt.grading import check, get_exercise
from minigpt.grading._child import call_with_model
from minigpt.grading.check import judge
from minigpt.grading.sandbox import Limits, run_exercise

ROOT = Path(__file__).resolve().parents[2]
LIMITS = Limits(timeout_s=60)


def test_the_harness_builds_the_model_and_optimizer_and_enables_gradients():
    case = get_exercise("ch01.training_step").make_cases()[0]
    seen = []

    def spy(model, optimizer, tokens, max_grad_norm=None):
        seen.append((type(model).__name__, type(optimizer).__name__, torch.is_grad_enabled(), tokens.shape))
        return 1.5

    with torch.no_grad():  # as the sandbox and check() call it
        returns, params = call_with_model(spy, case)
    assert returns == [1.5, 1.5]
    assert seen == [("GPT", "SGD", True, torch.Size([3, 7]))] * 2
    assert params.keys() == case["state_dict"].keys()
    assert all(torch.equal(params[k], case["state_dict"][k]) for k in params)
    assert "optimizer" in case and "calls" in case  # the case itself is not consumed
    assert call_with_model(spy, case)[0] == [1.5, 1.5]


def test_messages_name_the_call_and_the_parameter():
    ex = get_exercise("ch01.training_step")
    case = ex.make_cases()[0]
    expected = call_with_model(sol.training_step, case)

    def wrong_loss(model, optimizer, tokens, max_grad_norm=None):
        return sol.training_step(model, optimizer, tokens, max_grad_norm) + (0.5 if tokens[0, 0] >= 0 else 0)

    verdict = judge(ex, case, expected, call_with_model(wrong_loss, case))
    assert not verdict.passed and verdict.message.startswith("call 1 returned"), verdict.message

    def frozen_embedding(model, optimizer, tokens, max_grad_norm=None):
        model.embed.W_E.requires_grad_(False)
        return sol.training_step(model, optimizer, tokens, max_grad_norm)

    case = dict(case, calls=case["calls"][:1])  # one call: its loss is right, the parameters are not
    expected = call_with_model(sol.training_step, case)
    verdict = judge(ex, case, expected, call_with_model(frozen_embedding, case))
    assert not verdict.passed and "parameter embed.W_E after the calls" in verdict.message, verdict.message
    assert not judge(ex, case, expected, ([1.0], {})).passed


def test_a_step_that_detaches_the_loss_is_an_error_not_a_pass():
    def detached(model, optimizer, tokens, max_grad_norm=None):
        with torch.no_grad():
            loss = model(tokens, return_type="loss")
        loss.backward()
        return loss.item()

    result = check("ch01.training_step", detached)
    assert result.status == "error" and "RuntimeError" in result.message, str(result)


def _edited_solutions(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "submission"
    folder.mkdir()
    text = (ROOT / "solutions" / "ch01_transformer.py").read_text()
    assert text.count(old) == 1, old
    (folder / "ch01_transformer.py").write_text(text.replace(old, new))
    return folder


@pytest.mark.parametrize("exercise_id", ["ch01.training_step", "ch01.greedy_generate"])
def test_in_the_sandbox_solution_passes_and_stub_is_not_implemented(exercise_id):
    ex = get_exercise(exercise_id)
    assert run_exercise(ex, ROOT / "solutions", LIMITS).status == "pass"
    assert run_exercise(ex, ROOT / "exercises", LIMITS).status == "not_implemented"


def test_in_the_sandbox_a_missing_zero_grad_is_diagnosed(tmp_path):
    folder = _edited_solutions(tmp_path, "    optimizer.zero_grad()\n    loss = cross_entropy_per_token",
                               "    loss = cross_entropy_per_token")
    result = run_exercise(get_exercise("ch01.training_step"), folder, LIMITS)
    assert result.status == "fail" and result.diagnosis and "zero_grad" in result.diagnosis, str(result)


def test_in_the_sandbox_the_dependency_is_the_reference(tmp_path):
    """A wrong cross_entropy_per_token costs its own points, not training_step's."""
    folder = _edited_solutions(tmp_path, "    return -log_probs.gather(-1, tokens[:, 1:, None]).squeeze(-1)",
                               "    return log_probs.gather(-1, tokens[:, 1:, None]).squeeze(-1)")
    assert run_exercise(get_exercise("ch01.cross_entropy_per_token"), folder, LIMITS).status == "fail"
    assert run_exercise(get_exercise("ch01.training_step"), folder, LIMITS).status == "pass"


def test_in_the_sandbox_text_exercises_round_trip(tmp_path):
    ex = get_exercise("ch01.bpe_merge_word")
    assert run_exercise(ex, ROOT / "solutions", LIMITS).status == "pass"
    folder = _edited_solutions(tmp_path, "key=lambda pair: ranks.get(pair, math.inf))",
                               "key=lambda pair: -ranks.get(pair, -math.inf))")
    result = run_exercise(ex, folder, LIMITS)
    assert result.status == "fail" and "highest" in (result.diagnosis or ""), str(result)

