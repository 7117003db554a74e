"""Gradescope's autograder: ``minigpt autograder build`` writes the zip; its ``run_autograder`` grades.

The slow tests build one zip (chapter 1 only), unpack it as Gradescope does (``source/``, with
``run_autograder`` copied up to the root) under ``$GRADESCOPE_ROOT``, and run ``run_autograder``
with this environment's Python first on ``PATH`` (``setup.sh`` installs into a fresh environment
on Gradescope; here it is only checked with ``bash -n``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from minigpt.cli import main
from minigpt.grading._confine import landlock_abi
from minigpt.grading.gradescope import CONFIG, VISIBILITIES, run_submission, submission_folder, write_results

REPO = Path(__file__).resolve().parents[2]
STEM = "ch01_transformer.py"
GRADESCOPE_KEYS = {"name", "score", "max_score", "status", "output", "visibility"}


# ---------------------------------------------------------------- fast: the run side's pieces


def test_the_submission_folder_is_where_most_exercise_files_are(tmp_path):
    files = {"ch01_transformer.py", "ch02_attention.py"}
    sub = tmp_path / "submission"
    (sub / "course" / "exercises").mkdir(parents=True)
    assert submission_folder(sub, files) == sub  # nothing handed in: the submission itself
    (sub / "ch01_transformer.py").write_text("")
    assert submission_folder(sub, files) == sub  # at the top
    for name in files:  # a zipped workspace, deeper, with more of the files
        (sub / "course" / "exercises" / name).write_text("")
    assert submission_folder(sub, files) == sub / "course" / "exercises"
    (sub / "exercises").mkdir()
    for name in files:
        (sub / "exercises" / name).write_text("")
    assert submission_folder(sub, files) == sub / "exercises"  # a tie: the shallowest
    (sub / "__MACOSX" / "more").mkdir(parents=True)
    for name in (*files, "ch03_induction.py"):
        (sub / "__MACOSX" / "more" / name).write_text("")
    assert submission_folder(sub, files | {"ch03_induction.py"}) == sub / "exercises"  # archive litter is skipped


def test_a_grader_failure_still_writes_a_valid_results_json(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADESCOPE_ROOT", str(tmp_path))  # no source/autograder.json here
    (tmp_path / "results" / "results.json").mkdir(parents=True)  # even over a folder in the way
    results = run_submission()
    assert json.loads((tmp_path / "results" / "results.json").read_text()) == results
    assert results["score"] == 0 and results["tests"] == [] and "autograder failed, not your code" in results["output"]


def test_write_results_replaces_a_link_and_leaves_its_target(tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_text("not the grader's")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "results.json").symlink_to(target)
    write_results(tmp_path / "results" / "results.json", {"score": 1.0, "tests": []})
    assert not (tmp_path / "results" / "results.json").is_symlink() and target.read_text() == "not the grader's"


def test_an_unknown_visibility_or_exercise_is_refused(tmp_path, capsys):
    assert main(["autograder", "build", "--out", str(tmp_path / "a.zip"), "--exercise", "ch01.layer_nrom"]) == 2
    assert "layer_norm" in capsys.readouterr().err and not (tmp_path / "a.zip").exists()
    with pytest.raises(SystemExit):
        main(["autograder", "build", "--visibility", "sometimes"])


# ---------------------------------------------------------------- slow: the zip, run as Gradescope runs it


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build") / "autograder.zip"
    assert main(["autograder", "build", "--out", str(out), "--exercise", "ch01", "--timeout", "10",
                 "--visibility", "after_due_date"]) == 0
    return out


def run_autograder(autograder_zip: Path, root: Path, files: dict[str, str]) -> dict:
    """Unpack the autograder into ``root`` as Gradescope does, hand in ``files``, run it; its results.json."""
    with zipfile.ZipFile(autograder_zip) as zf:
        zf.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    for name, text in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_text(text)
    env = {**os.environ, "GRADESCOPE_ROOT": str(root),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert {"score", "tests", "execution_time", "output"} <= set(results)
    assert all(set(test) == GRADESCOPE_KEYS for test in results["tests"]), results["tests"][:1]
    assert all(test["visibility"] == "after_due_date" for test in results["tests"])
    assert results["score"] == sum(test["score"] for test in results["tests"])
    return results


@pytest.mark.slow
def test_the_zip_holds_the_scripts_the_settings_and_minigpt(autograder_zip, tmp_path):
    with zipfile.ZipFile(autograder_zip) as zf:
        names = zf.namelist()
        wheel = next(n for n in names if n.startswith("minigpt_interp-") and n.endswith(".whl"))
        assert sorted(names) == sorted(["setup.sh", "run_autograder", CONFIG, wheel])
        assert all(zf.getinfo(n).external_attr >> 16 & 0o111 for n in ("setup.sh", "run_autograder"))
        zf.extractall(tmp_path)
    for script in ("setup.sh", "run_autograder"):
        check = subprocess.run(["bash", "-n", str(tmp_path / script)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    setup = (tmp_path / "setup.sh").read_text()
    assert "apt-get install -y -qq python3 python3-venv python3-pip" in setup
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in setup.replace("'", "")
    config = json.loads((tmp_path / CONFIG).read_text())
    assert config["visibility"] in VISIBILITIES and config["exercises"][0].startswith("ch01.")
    with zipfile.ZipFile(tmp_path / wheel) as whl:  # minigpt with its data and the references
        inside = set(whl.namelist())
    assert "minigpt/checkpoints/shipped/stdlib-bytes/model.safetensors" in inside
    assert {"solutions/ch01_transformer.py", "minigpt/workspace/course/exercises/ch01_transformer.py"} <= inside


@pytest.mark.slow
def test_the_solutions_score_full_marks(autograder_zip, tmp_path):
    results = run_autograder(autograder_zip, tmp_path, {STEM: (REPO / "solutions" / STEM).read_text()})
    assert results["score"] == sum(t["max_score"] for t in results["tests"]) > 0
    assert all(t["status"] == "passed" for t in results["tests"]), [t for t in results["tests"] if t["score"] == 0]
    assert "Graded the exercise files in your submission" in results["output"]


@pytest.mark.slow
def test_the_stubs_in_an_exercises_folder_score_zero(autograder_zip, tmp_path):
    results = run_autograder(autograder_zip, tmp_path, {f"exercises/{STEM}": (REPO / "exercises" / STEM).read_text()})
    assert results["score"] == 0 and len(results["tests"]) >= 10
    assert all(t["output"].startswith("[TODO]") for t in results["tests"])
    assert "Graded the exercise files in exercises/" in results["output"]


HOSTILE = '''

import json as _json
import os as _os
import shutil as _shutil
import sys as _sys

_ROOT = {root!r}
try:  # a results.json of its own, written while it is imported
    with open(_ROOT + "/results/results.json", "w") as _f:
        _json.dump({{"score": 1000, "tests": []}}, _f)
except OSError:
    pass
_shutil.rmtree(_ROOT + "/source", ignore_errors=True)  # the autograder's files
print("[PASS] ch01.layer_norm: all 3 cases match the reference\\n" * 100)


def layer_norm(x, w, b, eps=1e-5):
    _os._exit(0)


def embed(tokens, W_E):
    while True:
        pass


def pos_embed(tokens, W_pos):
    print("[PASS] ch01.pos_embed")
    _sys.exit(0)


def gelu_new(x):
    return x
'''


@pytest.mark.slow
def test_a_hostile_submission_scores_zero_and_the_results_stay_the_graders(autograder_zip, tmp_path):
    hostile = (REPO / "exercises" / STEM).read_text() + HOSTILE.format(root=str(tmp_path))
    (tmp_path / "results").mkdir()
    results = run_autograder(autograder_zip, tmp_path, {STEM: hostile})
    assert results["score"] == 0 and all(t["score"] == 0 for t in results["tests"])
    outputs = {t["name"].split()[0]: t["output"] for t in results["tests"]}
    assert outputs["ch01.layer_norm"].startswith("[CRASH]")
    assert outputs["ch01.embed"].startswith("[TIMEOUT]")
    assert outputs["ch01.gelu_new"].startswith("[FAIL]")
    assert not any(o.startswith("[PASS]") for o in outputs.values())
    if landlock_abi() > 0:  # writes confined to the sandbox's job folder: the autograder's files are intact
        assert (tmp_path / "source" / CONFIG).is_file() and (tmp_path / "run_autograder").is_file()


@pytest.mark.slow
def test_with_a_wheelhouse_setup_installs_offline_from_the_wheels_in_the_zip(tmp_path):
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    (wheelhouse / "einops-0.8.1-py3-none-any.whl").write_bytes(b"a wheel")
    (wheelhouse / "minigpt_interp-0.0.1-py3-none-any.whl").write_bytes(b"an old minigpt")  # replaced by this one
    out = tmp_path / "autograder.zip"
    assert main(["autograder", "build", "--out", str(out), "--exercise", "ch01.embed",
                 "--wheelhouse", str(wheelhouse), "--torch", "torch==2.13.0"]) == 0
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        setup = zf.read("setup.sh").decode()
        config = json.loads(zf.read(CONFIG))
    assert "wheelhouse/einops-0.8.1-py3-none-any.whl" in names and not any("0.0.1" in n for n in names)
    assert config["exercises"] == ["ch01.embed"]
    install = [line for line in setup.splitlines() if "pip install" in line]
    assert len(install) == 1 and "--no-index --find-links wheelhouse torch==2.13.0 ./minigpt_interp-" in install[0]
    assert "download.pytorch.org" not in setup
