"""The grader's sub-commands: ``minigpt grade``, ``minigpt exercises build`` and ``minigpt exercises list``."""

from __future__ import annotations

import sys

COMMANDS: tuple[str, ...] = ("grade", "exercises")


def add_parsers(sub) -> None:
    grade = sub.add_parser(
        "grade", help="grade exercise files, or a folder of student submissions",
        description="Grade the exercise files in a folder (default: exercises/), each exercise in its own "
        "sandboxed process. Given a folder of student sub-folders (or --out), grade every submission.")
    grade.add_argument("submissions", nargs="?", help="a folder with one sub-folder per student (workshop mode)")
    grade.add_argument("--path", default=None, help="the folder of exercise files (default: exercises)")
    grade.add_argument("--exercise", nargs="+", action="extend", metavar="ID",
                       help="grade only these exercises (an id like ch01.layer_norm, or a chapter like ch01)")
    grade.add_argument("--json", metavar="FILE", help="also write the results as JSON ('-' for stdout)")
    grade.add_argument("--gradescope", metavar="FILE", help="also write Gradescope's results.json")
    grade.add_argument("--timeout", type=float, default=None, metavar="S",
                       help="seconds of the student's code per exercise (default: each exercise's own, 30)")
    grade.add_argument("--memory", type=int, default=None, metavar="MB",
                       help="memory per exercise beyond what Python and torch take (default 1024)")
    grade.add_argument("--out", default=None, metavar="CSV", help="workshop mode: the grades file (grades.csv)")
    grade.add_argument("--jobs", type=int, default=None, metavar="N",
                       help="sandboxes running at once (default: the number of CPUs, at most 4)")
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")
    exercises = sub.add_parser("exercises", help="manage the exercise files")
    ex_sub = exercises.add_subparsers(dest="exercises_command", required=True)
    build = ex_sub.add_parser("build", help="regenerate exercises/ from solutions/")
    build.add_argument("--solutions", default=None, help="the reference files (default: the repository's solutions/)")
    build.add_argument("--out", default=None, help="where to write the stubs (default: the repository's exercises/)")
    build.add_argument("--check", action="store_true", help="only list the files that are out of date")
    listing = ex_sub.add_parser("list", help="the exercises per chapter, with their points and diagnosed mistakes")
    listing.add_argument("--chapter", type=int, default=None, help="only this chapter")


def run(args) -> int:
    if args.command == "grade":
        return _grade(args)
    if args.command == "exercises":
        return _exercises(args)
    return 2


def _grade(args) -> int:
    import json
    import os

    from .grade import default_jobs, grade_folder
    from .sandbox import Limits
    from .workshop import grade_submissions, looks_like_submissions

    memory = args.memory if args.memory is not None else Limits.memory_mb
    jobs = args.jobs or default_jobs()
    try:
        if args.submissions and (args.out or looks_like_submissions(args.submissions)):
            if args.path:
                print("minigpt grade: give either SUBMISSIONS_DIR or --path, not both", file=sys.stderr)
                return 2
            result = grade_submissions(args.submissions, args.out or "grades.csv", jobs=jobs,
                                       exercise_ids=args.exercise, timeout=args.timeout, memory_mb=memory,
                                       progress=not args.no_progress)
            print(f"graded {len(result.graded)} submissions ({len(result.cached)} unchanged, from the cache)")
            for what, path in result.files.items():
                print(f"  {what:10s} {path}")
            return 0
        path = args.path or args.submissions or "exercises"
        if not os.path.isdir(path):
            print(f"minigpt grade: there is no folder {path!r} (give the folder of exercise files with --path)",
                  file=sys.stderr)
            return 2
        report = grade_folder(path, exercise_ids=args.exercise, timeout=args.timeout, memory_mb=memory, jobs=jobs,
                              progress=not args.no_progress and sys.stderr.isatty())
    except KeyError as exc:  # an unknown exercise id: the message names the close ones
        print(f"minigpt grade: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.json == "-":
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(report.table())
    if args.json and args.json != "-":
        with open(args.json, "w") as f:
            json.dump(report.to_dict(), f, indent=1)
    if args.gradescope:
        with open(args.gradescope, "w") as f:
            json.dump(report.to_gradescope(), f, indent=1)
    from ..classroom.report import report_results

    report_results(report.results, start=path, wait=2.0)  # to the live classroom, if this workspace joined one
    return 0


def _list_exercises(chapter: int | None) -> int:
    from . import all_exercises

    exercises = [ex for ex in all_exercises() if chapter is None or ex.chapter == chapter]
    for ch in sorted({ex.chapter for ex in exercises}):
        mine = [ex for ex in exercises if ex.chapter == ch]
        mistakes = sum(len(ex.mutants) for ex in mine)
        print(f"chapter {ch}: {len(mine)} exercises, {mistakes} diagnosed mistakes, "
              f"{sum(ex.points for ex in mine):g} points")
        for ex in mine:
            print(f"  {ex.id:34s} {ex.points:>3g} pt  {len(ex.mutants):>2d} mistakes  {ex.title}")
    return 0


def _exercises(args) -> int:
    from pathlib import Path

    if args.exercises_command == "list":
        return _list_exercises(args.chapter)

    from . import build

    root = Path(__file__).resolve().parents[2]  # the repository: minigpt/grading/cli.py -> ../..
    solutions = Path(args.solutions) if args.solutions else root / "solutions"
    out = Path(args.out) if args.out else root / "exercises"
    if not solutions.is_dir():
        print(f"minigpt exercises build: no solutions folder at {solutions} (give --solutions)", file=sys.stderr)
        return 2
    if args.check:
        problems = build.exercises_in_sync(solutions, out)
        for problem in problems:
            print(f"out of date: {problem}")
        return 1 if problems else 0
    for path in build.build_exercises(solutions, out):
        print(f"wrote {path}")
    return 0
