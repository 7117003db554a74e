"""How long ``minigpt grade`` takes: one student's chapter, and a room of submissions.

    python benchmarks/grading.py [--jobs 2] [--students 30] [--chapter ch01]

1. The sandbox's fixed cost: starting Python and importing torch (``python -I -c "import torch"``)
   against grading one exercise (its median over the chapter, run one at a time).
2. The whole chapter, graded from a copy of ``solutions/`` (everything passes), with
   ``--jobs 1`` and ``--jobs N``. Target: at most 20 s on a 2-core CPU.
3. A workshop: ``--students`` copies of the solutions, most with known mistakes (the
   exercise's mutants) swapped in, some with stubs left or a syntax error, graded with
   ``--jobs N``: submissions per minute, then the re-run that only reads the cache.
"""

from __future__ import annotations

import argparse
import inspect
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine
from minigpt.grading import all_exercises
from minigpt.grading.grade import grade_folder
from minigpt.grading.reference import solutions_module
from minigpt.grading.workshop import grade_submissions

ROOT = Path(__file__).resolve().parents[1]


def mutant_source(ex, fn) -> str | None:
    """Source that rebinds ``ex.name`` to the plain-function mutant ``fn`` (with the helpers it calls)."""
    module = sys.modules.get(getattr(fn, "__module__", ""), None)
    if module is None or not inspect.isfunction(fn) or getattr(module, fn.__name__, None) is not fn:
        return None  # a lambda, a closure or a class: not written as source
    sources, seen, todo = [], {fn}, [fn]
    while todo:
        f = todo.pop()
        sources.append(inspect.getsource(f))
        for name in f.__code__.co_names:
            obj = getattr(module, name, None)
            if inspect.isfunction(obj) and obj.__module__ == module.__name__ and obj not in seen:
                seen.add(obj)
                todo.append(obj)
    return ("\n\nINF = float('inf')\n\n" + "\n\n".join(reversed(sources))
            + f"\n\n{ex.name} = {fn.__name__}  # a known mistake, swapped in\n")


def make_room(room: Path, chapter: str, n: int, seed: int = 0) -> dict[str, str]:
    """``n`` student folders; returns what was done to each."""
    exercises = [ex for ex in all_exercises() if ex.id.startswith(chapter + ".")]
    file = exercises[0].file
    solution = Path(solutions_module(file).__file__).read_text()
    stub = (ROOT / "exercises" / file).read_text()
    swappable = [(ex, m) for ex in exercises for m in ex.mutants if mutant_source(ex, m.fn)]
    rng = random.Random(seed)
    kinds = {}
    for i in range(n):
        folder = room / f"student{i:02d}"
        folder.mkdir(parents=True)
        if i % 10 == 9:
            text, kinds[folder.name] = solution.replace("def ", "def def ", 1), "syntax error"
        elif i % 7 == 6:
            text, kinds[folder.name] = stub, "stubs only"
        else:
            picks = rng.sample(swappable, k=min(i % 4, len(swappable)))
            text = solution + "".join(mutant_source(ex, m.fn) for ex, m in picks)
            kinds[folder.name] = ", ".join(m.name for _, m in picks) or "all correct"
        (folder / file).write_text(text)
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--chapter", default="ch01")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    exercises = [ex for ex in all_exercises() if ex.id.startswith(args.chapter + ".")]
    if not exercises:
        sys.exit(f"no exercises registered for {args.chapter}")
    tmp = Path(tempfile.mkdtemp(prefix="minigpt-grading-bench-"))
    try:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", "import torch"], check=True)
        startup = time.perf_counter() - t0

        mine = tmp / "mine"
        mine.mkdir()
        shutil.copy(Path(solutions_module(exercises[0].file).__file__), mine / exercises[0].file)
        ids = [ex.id for ex in exercises]
        print(f"\nsandbox start-up (python -I + import torch): {startup:.2f} s")
        grade_folder(mine, exercise_ids=ids[:1])  # start the fork server: paid once per process
        for fork_server, how in ((True, "fork server"), (False, "spawn")):
            per_exercise = [grade_folder(mine, exercise_ids=[i], fork_server=fork_server).seconds for i in ids]
            serial = grade_folder(mine, exercise_ids=ids, jobs=1, fork_server=fork_server)
            parallel = grade_folder(mine, exercise_ids=ids, jobs=args.jobs, fork_server=fork_server)
            assert serial.score == serial.max_score, serial.table()
            print(f"[{how}] one exercise, end to end: median {statistics.median(per_exercise):.2f} s "
                  f"(min {min(per_exercise):.2f}, max {max(per_exercise):.2f}); {args.chapter}, {len(ids)} exercises, "
                  f"all passing: {serial.seconds:.1f} s with --jobs 1, {parallel.seconds:.1f} s with "
                  f"--jobs {args.jobs} (target <= 20 s)")

        room = tmp / "room"
        kinds = make_room(room, args.chapter, args.students)
        t0 = time.perf_counter()
        result = grade_submissions(room, tmp / "out" / "grades.csv", jobs=args.jobs, progress=False)
        wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = grade_submissions(room, tmp / "out" / "grades.csv", jobs=args.jobs, progress=False)
        rerun = time.perf_counter() - t0
        assert len(again.cached) == args.students
        scores = [rec["score"] for rec in result.records.values()]
        print(f"workshop, {args.students} submissions x {len(ids)} exercises, --jobs {args.jobs}: {wall:.1f} s, "
              f"{60 * args.students / wall:.1f} submissions/minute; the cached re-run {rerun:.2f} s")
        print(f"  mean score {statistics.mean(scores):.1f} / {result.records['student00']['max_score']:g}; "
              f"kinds: {sum(k == 'all correct' for k in kinds.values())} all correct, "
              f"{sum(k == 'stubs only' for k in kinds.values())} stubs, "
              f"{sum(k == 'syntax error' for k in kinds.values())} syntax errors, the rest with 1-3 mutants")
        diagnosed = sum(1 for rec in result.records.values() for e in rec["exercises"] if e.get("diagnosis"))
        print(f"  failures diagnosed by name: {diagnosed}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
