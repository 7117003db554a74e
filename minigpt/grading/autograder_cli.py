"""The sub-commands of Gradescope's autograder: ``minigpt autograder build`` and ``minigpt autograder run``."""

from __future__ import annotations

import sys

COMMANDS: tuple[str, ...] = ("autograder",)


def add_parsers(sub) -> None:
    from .gradescope import VISIBILITIES

    autograder = sub.add_parser("autograder", help="a Gradescope autograder that grades with minigpt's sandbox")
    ag_sub = autograder.add_subparsers(dest="autograder_command", required=True)
    build = ag_sub.add_parser(
        "build", help="write the autograder zip to upload to Gradescope",
        description="Write Gradescope's autograder zip: setup.sh (Python, torch CPU, minigpt), run_autograder "
        "(grades the submission in the sandbox, writes results.json), the exercises and limits, and minigpt "
        "itself as a wheel.")
    build.add_argument("--out", default="autograder.zip", help="the zip to write (default: autograder.zip)")
    build.add_argument("--exercise", nargs="+", action="extend", metavar="ID",
                       help="grade only these exercises (an id like ch01.layer_norm, or a chapter like ch01)")
    build.add_argument("--wheelhouse", metavar="DIR",
                       help="a folder of wheels (torch and minigpt's dependencies): copied into the zip, "
                       "and setup.sh installs from them offline")
    build.add_argument("--torch", metavar="REQ", help="the torch to install (default: this one's version)")
    build.add_argument("--timeout", type=float, default=None, metavar="S",
                       help="seconds of the student's code per exercise (default: each exercise's own)")
    build.add_argument("--memory", type=int, default=None, metavar="MB",
                       help="memory per exercise beyond what Python and torch take (default 1024)")
    build.add_argument("--jobs", type=int, default=None, metavar="N",
                       help="sandboxes at once (default: the CPUs Gradescope gives, at most 4)")
    build.add_argument("--visibility", choices=VISIBILITIES, default="visible",
                       help="when students see each exercise's result (default: visible)")
    run = ag_sub.add_parser("run", help="grade a Gradescope submission (what run_autograder does)")
    run.add_argument("--root", default=None,
                     help="Gradescope's folder (default: $GRADESCOPE_ROOT, else /autograder)")


def run(args) -> int:
    if args.autograder_command == "build":
        return _build(args)
    from .gradescope import run_submission

    results = run_submission(args.root)
    print(results.get("output", ""))
    for test in results["tests"]:
        print(f"  {test['score']:g}/{test['max_score']:g}  {test['name']}")
    return 0


def _build(args) -> int:
    from .autograder import build_autograder

    try:
        build = build_autograder(args.out, exercise_ids=args.exercise, wheelhouse=args.wheelhouse, torch=args.torch,
                                 timeout=args.timeout, memory_mb=args.memory, visibility=args.visibility,
                                 jobs=args.jobs)
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"minigpt autograder build: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    size = build.path.stat().st_size / 1e6
    print(f"wrote {build.path} ({size:.1f} MB, {len(build.exercises)} exercises)")
    for member in build.members:
        print(f"  {member}")
    for note in build.notes:
        print(note)
    print("Upload it in Gradescope (Configure Autograder, zip file upload) on an Ubuntu 22.04 or newer base "
          "image; give the autograder 2 GB of memory or more.")
    return 0
