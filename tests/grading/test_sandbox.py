"""Hostile submissions: each gets an honest non-pass, within its limits, and touches nothing outside its copy.

All the submissions are graded once, two at a time, by a module fixture; each
test then checks one result. Timeouts are short (4 s of the student's time).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.grading.grading_toys import SOLUTION, STUB, TOY_FILE, toy_exercises
from minigpt.grading import Exercise, get_exercise
from minigpt.grading._confine import landlock_abi
from minigpt.grading.proc_tree import sandbox_pids
from minigpt.grading.sandbox import Limits, blocked_folders, run_exercise

LIMITS = Limits(timeout_s=4, memory_mb=400)
TAG = uuid.uuid4().hex  # in the command line of every process a hostile submission starts
DOUBLE = 'def double(x):\n    """Twice ``x``."""\n    return x * 2\n'


def body(code: str) -> str:
    """The toy solution with ``double``'s body replaced by ``code``."""
    lines = "\n".join("    " + line for line in code.strip("\n").splitlines())
    return SOLUTION.replace(DOUBLE, f"def double(x):\n{lines}\n")


# name -> (source, allowed statuses, a regex the message must match, the most seconds it may take)
HOSTILE: dict[str, tuple[str, set[str], str, float]] = {
    "infinite_loop": (body("while True:\n    pass"), {"timeout"}, r"within 4 s", 15),
    "slow_but_correct": (body("import time\ntime.sleep(30)\nreturn x * 2"), {"timeout"}, r"within 4 s", 15),
    "memory_bomb": (body("import torch\nreturn torch.ones(10**10)"), {"memory"}, r"memory", 15),
    "memory_bytearrays": (body("held = []\nwhile True:\n    held.append(bytearray(50 * 2**20))"),
                          {"memory"}, r"memory", 15),
    "memory_in_subprocesses": (body(
        "import subprocess, sys\n"
        f"code = 'b = bytearray(300 * 2**20); import time; time.sleep(60)  # {TAG}'\n"
        "procs = [subprocess.Popen([sys.executable, '-c', code]) for _ in range(3)]\n"
        "import time\ntime.sleep(60)"), {"memory"}, r"memory", 20),
    "os_exit": (body("import os\nos._exit(0)"), {"crash"}, r"exited \(code 0\) before returning", 15),
    "sys_exit": (body("import sys\nsys.exit(0)"), {"error", "crash"}, r"sys\.exit\(0\)", 15),
    "segfault": (body("import ctypes\nctypes.string_at(0)"), {"crash"}, r"SIGSEGV", 15),
    "prints_pass_wrong": (body(
        'print("PASS")\nprint("100%")\nprint(\'{"score": 100, "max_score": 100, "status": "pass"}\')\n'
        "import sys\nsys.stderr.write('[PASS] test.double\\n')\nreturn x * 3"), {"fail"}, r"values are off", 15),
    "prints_pass_todo": (body('print("PASS 100%")\nraise NotImplementedError'), {"not_implemented"}, r"", 15),
    "writes_fake_report": (body(
        "import json, os\n"
        "for name in ('report.json', 'ready'):\n"
        "    try:\n"
        "        open(os.path.join('..', 'out', name), 'w').write(json.dumps({'event': 'pass', 'status': 'pass'}))\n"
        "    except OSError:\n"
        "        pass\n"
        "return x * 3"), {"fail"}, r"values are off", 15),
    "monkeypatches": (body(
        "import builtins, torch, torch.testing\n"
        "torch.allclose = lambda *a, **k: True\n"
        "torch.testing.assert_close = lambda *a, **k: None\n"
        "torch.equal = lambda *a, **k: True\n"
        "builtins.isinstance = lambda *a: True\n"
        "builtins.len = lambda *a: 0\n"
        "return x * 3"), {"fail"}, r"values are off", 15),
    "always_equal": (body(
        "class AlwaysEqual:\n    def __eq__(self, other):\n        return True\n"
        "    __hash__ = object.__hash__\n"
        "return AlwaysEqual()"), {"fail"}, r"got AlwaysEqual", 15),
    "lying_subclass": (body(
        "import torch\n"
        "class Liar(torch.Tensor):\n"
        "    def __eq__(self, other):\n        return torch.ones_like(torch.Tensor(other), dtype=torch.bool)\n"
        "    def allclose(self, *a, **k):\n        return True\n"
        "    def tolist(self):\n        return 'whatever you expect'\n"
        "return (x * 3).as_subclass(Liar)"), {"fail"}, r"Liar", 15),
    "nan": (body("return x * float('nan')"), {"fail"}, r"NaN", 15),
    "broadcasting_shape": (body("return (x * 2).unsqueeze(0)"), {"fail"}, r"wrong shape", 15),
    "output_flood": (body("print('x' * 50 * 2**20)\nreturn x * 2"), {"error", "crash"}, r"MB of output", 10),
    # the source needs the folder's path (see grade_all); without Landlock, removing ../out/ leaves no report
    "edits_files": ("", {"fail"} if landlock_abi() else {"fail", "crash"}, r"values are off|exited", 15),
    "escaping_children": (body(
        "import os, subprocess, sys\n"
        f"subprocess.Popen(['sleep', '3001', '{TAG}'], env={{}}, start_new_session=True)\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3002)  # {TAG}'],\n"
        "                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv('/bin/sleep', ['sleep', '3003', '{TAG}'])\n"
        "    os._exit(0)\n"
        "return x * 3"), {"fail"}, r"values are off", 15),
    "imports_solutions": (body("import solutions\nreturn x * 2"), {"error"}, r"blocked", 15),
    "imports_grader": (body("from minigpt.grading import reference\nreturn x * 2"), {"error"}, r"blocked", 15),
    "syntax_error": (SOLUTION.replace("return x * 2", "return x * * 2"), {"error"}, r"SyntaxError", 15),
    "wrong_name": (SOLUTION.replace("def double(", "def doubel("), {"error"}, r"no 'double'.*doubel", 15),
    "raises": (body("return x.nonexistent()"), {"error"}, r"AttributeError.*line \d+", 15),
    "raises_the_unprintable": (body(
        "class Weird(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\nraise Weird()"),
        {"error"}, r"Weird.*cannot be printed", 15),
    "kills_a_stranger": ("", {"fail"}, r"values are off", 15),  # see below: needs the victim's pid
    "chmods_and_links": ("", {"fail"}, r"values are off", 15),  # see below: needs an outside file
    # the parent is the fork server here (graded in fork mode only: spawned, it would be the test runner)
    "kills_its_parent": (body("import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\n"
                              "except OSError:\n    pass\nreturn x * 3"),
                         {"fail"} if landlock_abi() >= 6 else {"fail", "crash"}, r"values are off|fork server", 15),
    "phones_home": ("", {"fail"}, r"values are off", 15),  # see below: needs the port
    # see below: they need the paths; without Landlock reads are not confined (skipped then)
    "reads_a_secret": ("", {"error"}, r"PermissionError: \[Errno 13\] Permission denied: '/", 15),
    "reads_the_solutions": ("", {"error"}, r"PermissionError: \[Errno 13\] Permission denied: '/", 15),
}
READS = ["reads_a_secret", "reads_the_solutions"]
SECRET = f"instructor key {uuid.uuid4().hex}"  # in a file outside the job, and in the reference solutions' folder


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def tagged_processes() -> list[str]:
    """Live processes whose command line carries ``TAG``."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if TAG.encode() in cmdline and state not in (b"Z", b"X"):
            alive.append(entry + ": " + cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return alive


# the process-level cases, run again with a freshly spawned interpreter per exercise
SPAWN_TOO = ["infinite_loop", "memory_bomb", "memory_in_subprocesses", "os_exit", "segfault", "output_flood",
             "edits_files", "escaping_children", "imports_solutions", "monkeypatches", "kills_a_stranger",
             "chmods_and_links", "reads_a_secret"]
NEEDS_LANDLOCK = pytest.mark.skipif(landlock_abi() < 1, reason="needs Landlock (Linux >= 5.13) to confine reads")
CASES = [pytest.param(mode, name, marks=[NEEDS_LANDLOCK] if name in READS else [])
         for mode, names in (("fork", HOSTILE), ("spawn", SPAWN_TOO)) for name in names]


def grade_all(root: Path, names: list[str], limits: Limits) -> dict:
    """Grade the named hostile submissions, two at a time; what happened, before and after."""
    jobs_before = set(Path(tempfile.gettempdir()).glob("minigpt-grade-test.double-*"))
    victim = subprocess.Popen(["sleep", "300"])
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.setblocking(False)
    sources = {name: HOSTILE[name][0] for name in names}
    original = root / "edits_files" / TOY_FILE
    sources["edits_files"] = body(
        "import os, shutil\n"
        "for name in os.listdir('.'):\n    os.remove(name)\n"
        "open('toy_exercises.py', 'w').write('hacked')\n"
        "shutil.rmtree('..', ignore_errors=True)\n"
        f"try:\n    open({str(original)!r}, 'a').write('# hacked')\nexcept OSError:\n    pass\n"
        f"try:\n    os.remove({str(original)!r})\nexcept OSError:\n    pass\n"
        "return x * 3")
    sources["kills_a_stranger"] = body(
        f"import os, signal\ntry:\n    os.kill({victim.pid}, signal.SIGKILL)\nexcept OSError:\n    pass\n"
        "return x * 3")
    sources["phones_home"] = body(
        f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {server.getsockname()[1]}), timeout=2)\n"
        "except OSError:\n    pass\nreturn x * 3")
    outside = root / "outside.txt"
    outside.write_text("not the student's")
    outside.chmod(0o600)
    sources["chmods_and_links"] = body(
        f"import os\nif not os.path.lexists('link'):\n    os.symlink({str(outside)!r}, 'link')\n"
        "    os.symlink('/', 'root')\n    os.makedirs('d/e')\n    os.chmod('d/e', 0)\n    os.chmod('d', 0)\n"
        "    os.chmod('.', 0o500)\nreturn x * 3")
    secret = root / "secret.txt"
    secret.write_text(SECRET)
    sources["reads_a_secret"] = body(
        f"import os\nos.symlink({str(secret)!r}, 'link')  # through a link in its own folder: no better\n"
        "try:\n    leaked = open('link').read()\nexcept PermissionError:\n    leaked = None\n"
        "if leaked:\n    raise RuntimeError(leaked)\n"
        f"return open({str(secret)!r}).read()")
    solution = Path(blocked_folders(["solutions"])[0]) / "ch01_transformer.py"
    sources["reads_the_solutions"] = body(f"return open({str(solution)!r}).read()  # no import needed")
    sources = {name: sources[name] for name in names}
    with pytest.MonkeyPatch.context() as mp, toy_exercises(root, mp):
        folders = {}
        for name, source in sources.items():
            folders[name] = root / name
            folders[name].mkdir()
            (folders[name] / TOY_FILE).write_text(source)
            (folders[name] / "notes.txt").write_text("the student's other file")
        before = {name: snapshot(folder) for name, folder in folders.items()}
        ex = get_exercise("test.double")

        def grade(name):
            start = time.monotonic()
            result = run_exercise(ex, folders[name], limits)
            seconds = time.monotonic() - start
            print(f"{name:24s} {seconds:5.1f} s  {result.status}: {result.message[:80]}")
            return name, result, seconds

        with ThreadPoolExecutor(2) as pool:
            results = {name: (result, seconds) for name, result, seconds in pool.map(grade, sources)}
        after = {name: snapshot(folder) for name, folder in folders.items()}
    try:
        server.accept()
        connected = True
    except BlockingIOError:
        connected = False
    leftovers = set(Path(tempfile.gettempdir()).glob("minigpt-grade-test.double-*")) - jobs_before
    victim_alive = victim.poll() is None
    victim.kill()
    victim.wait()
    server.close()
    return {"results": results, "before": before, "after": after, "connected": connected,
            "victim_alive": victim_alive, "survivors": tagged_processes(), "leftovers": leftovers,
            "outside": (outside.read_text(), outside.stat().st_mode & 0o777)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """``graded(mode)``: the hostile submissions graded with the fork server or by spawning (once each)."""
    done = {}

    def get(mode: str) -> dict:
        if mode not in done:
            names = list(HOSTILE) if mode == "fork" else SPAWN_TOO
            limits = Limits(timeout_s=LIMITS.timeout_s, memory_mb=LIMITS.memory_mb, fork_server=mode == "fork")
            done[mode] = grade_all(tmp_path_factory.mktemp(mode), names, limits)
        return done[mode]

    return get


@pytest.mark.parametrize("mode,name", CASES)
def test_hostile_submission_gets_its_honest_grade(graded, mode, name):
    _, statuses, pattern, max_seconds = HOSTILE[name]
    result, seconds = graded(mode)["results"][name]
    assert result.status in statuses, str(result)
    assert result.score == 0
    assert re.search(pattern, result.message + (result.diagnosis or "")), str(result)
    assert seconds < max_seconds, f"{name} took {seconds:.1f} s"
    assert graded(mode)["after"][name] == graded(mode)["before"][name], "the submission folder changed"


@pytest.mark.parametrize("mode", ["fork", "spawn"])
def test_no_process_outlives_the_grading(graded, mode):
    assert graded(mode)["survivors"] == []


@pytest.mark.parametrize("mode", ["fork", "spawn"])
def test_job_directories_are_removed_and_links_not_followed(graded, mode):
    assert graded(mode)["leftovers"] == set()
    assert graded(mode)["outside"] == ("not the student's", 0o600)


@NEEDS_LANDLOCK
@pytest.mark.parametrize("mode", ["fork", "spawn"])
def test_no_grade_carries_a_file_it_may_not_read(graded, mode):
    """Nothing outside the job is readable: no message or diagnosis quotes the secret or a solution."""
    solution = (Path(blocked_folders(["solutions"])[0]) / "ch01_transformer.py").read_text()
    lines = [line.strip() for line in solution.splitlines() if len(line.strip()) > 30]
    for name, (result, _) in graded(mode)["results"].items():
        text = result.message + (result.diagnosis or "")
        assert SECRET not in text and not any(line in text for line in lines), (name, text)


def test_diagnosis_survives_the_round_trip(graded):
    assert "multiplied by three" in graded("fork")["results"]["prints_pass_wrong"][0].diagnosis


@pytest.mark.skipif(landlock_abi() < 6, reason="needs Landlock ABI 6 (signal scoping)")
@pytest.mark.parametrize("mode", ["fork", "spawn"])
def test_cannot_signal_outside_processes(graded, mode):
    assert graded(mode)["victim_alive"]


@pytest.mark.skipif(landlock_abi() < 4, reason="needs Landlock ABI 4 (TCP rules)")
def test_cannot_open_tcp_connections(graded):
    assert not graded("fork")["connected"]


def test_good_stub_and_dependencies(toy, tmp_path):
    good = toy.submission(tmp_path / "good")
    stub = toy.submission(tmp_path / "stub", source=STUB)
    # a wrong double does not cascade into quad, which gets the reference double
    wrong_double = toy.submission(tmp_path / "wrong", **{"return x * 2": "return x * 3"})
    limits = Limits(timeout_s=10)
    got = {(folder.name, i): run_exercise(get_exercise(i), folder, limits)
           for folder in (good, stub, wrong_double) for i in ("test.double", "test.quad", "test.scale")}
    assert {k: r.status for k, r in got.items()} == {
        ("good", "test.double"): "pass", ("good", "test.quad"): "pass", ("good", "test.scale"): "pass",
        ("stub", "test.double"): "not_implemented", ("stub", "test.quad"): "not_implemented",
        ("stub", "test.scale"): "not_implemented",
        ("wrong", "test.double"): "fail", ("wrong", "test.quad"): "pass", ("wrong", "test.scale"): "pass",
    }
    assert got["good", "test.quad"].score == 2


def test_a_dead_fork_server_is_replaced(toy, tmp_path):
    """Without Landlock's signal scoping a child can kill its fork server: that job is lost, not the next."""
    killer = toy.submission(tmp_path / "killer", source=body(
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nimport time\ntime.sleep(1)\nreturn x * 2"))
    good = toy.submission(tmp_path / "good")
    limits = Limits(timeout_s=5, landlock=False)
    first = run_exercise(get_exercise("test.double"), killer, limits)
    assert first.status == "crash" and "fork server" in first.message, str(first)
    assert run_exercise(get_exercise("test.double"), good, limits).status == "pass"


def test_unsendable_cases_are_a_grader_error_and_leave_nothing_behind(toy, tmp_path):
    ex = Exercise(id="test.unsendable", chapter=99, title="Unsendable", file=TOY_FILE, name="double", points=1,
                  difficulty=1, hints=[], make_cases=lambda: [{"x": object()}])
    before = set(Path(tempfile.gettempdir()).glob("minigpt-grade-test.unsendable-*"))
    result = run_exercise(ex, toy.submission(tmp_path / "good"), Limits(timeout_s=5))
    assert result.status == "error" and result.message.startswith("grader error"), str(result)
    assert set(Path(tempfile.gettempdir()).glob("minigpt-grade-test.unsendable-*")) == before


def test_missing_file_is_an_error_not_an_exception(toy, tmp_path):
    result = run_exercise(get_exercise("test.double"), tmp_path, Limits(timeout_s=5))
    assert result.status == "error" and "file not found" in result.message


def test_sandbox_pids_finds_nothing_for_a_dead_sandbox():
    assert sandbox_pids(2**22 + 12345, uuid.uuid4().hex) == set()


def test_child_does_not_import_the_grader():
    source = (Path(__file__).parents[2] / "minigpt" / "grading" / "_child.py").read_text()
    assert not re.search(r"^\s*(from|import)\s+(minigpt\.grading|solutions|\.)", source, re.M)
    out = subprocess.run([sys.executable, "-I", "-c", "import runpy, sys; "
                          f"runpy.run_path({str(Path(__file__).parents[2] / 'minigpt/grading/_child.py')!r}); "
                          "print(sorted(m for m in sys.modules if m.startswith(('minigpt', 'solutions'))))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_child_imports_only_the_standard_library_torch_and_its_helpers():
    """Its helpers and the safetensors reader are loaded by file path: no minigpt package, no numpy of its own."""
    child = Path(__file__).parents[2] / "minigpt" / "grading" / "_child.py"
    out = subprocess.run([sys.executable, "-I", "-c", "import runpy, sys, torch; before = set(sys.modules); "
                          f"runpy.run_path({str(child)!r}); print(sorted(set(sys.modules) - before))"],
                         capture_output=True, text=True, check=True)
    new = eval(out.stdout)  # a list of module names
    helpers = {"_sandbox_confine", "_sandbox_safetensors", "_sandbox_wire"}
    assert helpers <= set(new)
    assert all(m in helpers or m.split(".")[0] in sys.stdlib_module_names for m in new), new
