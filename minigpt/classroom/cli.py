"""``minigpt classroom``: serve a live classroom, or join one from a workspace.

    minigpt classroom serve --db classroom.sqlite           # the instructor: prints the join and instructor URLs
                                                            # (--host H --allow-remote, --workers, --exercise, --timeout)
    minigpt classroom join http://HOST:PORT/join/CODE --name NAME   # a learner, in the workspace
    minigpt classroom status                                # the room joined; sends what waits
    minigpt classroom submit [--yes] [--wait]               # upload exercises/ch*_*.py for grading
    minigpt classroom leave
"""

from __future__ import annotations

import sys

COMMANDS: tuple[str, ...] = ("classroom",)
INSTALL = 'pip install "minigpt-interp[classroom]" (from the repository: pip install -e ".[classroom]")'


def add_parsers(sub) -> None:
    from .serve_cli import add_serve_arguments  # the server's options, without importing the server
    classroom = sub.add_parser(
        "classroom", help="a live classroom: the instructor sees each check as it happens",
        description="The instructor serves a room; learners join it from their workspace, and from then on "
        "every check() and `minigpt grade` sends its status and diagnosis (never the code) to the room.")
    cs = classroom.add_subparsers(dest="classroom_command", required=True)
    add_serve_arguments(cs.add_parser("serve", help="serve a room (needs the extra minigpt-interp[classroom])"))
    join = cs.add_parser("join", help="join a room from this workspace")
    join.add_argument("url", help="the join URL your instructor gives: http://HOST:PORT/join/CODE")
    join.add_argument("--name", required=True, help="your name, as the instructor will see it")
    cs.add_parser("leave", help="leave the room: stop reporting and forget the secret")
    cs.add_parser("status", help="the room this workspace joined; sends the results that wait")
    submit = cs.add_parser("submit", help="upload your exercise files to the room for grading")
    submit.add_argument("--yes", action="store_true", help="do not ask before uploading")
    submit.add_argument("--wait", action="store_true", help="wait for the grade and print it")
    submit.add_argument("--timeout", type=float, default=600.0, metavar="S",
                        help="with --wait: seconds to wait for the grade (default 600)")


def run(args) -> int:
    from ._http import ClassroomError

    command = {"serve": _serve, "join": _join, "leave": _leave, "status": _status, "submit": _submit}
    try:
        return command[args.classroom_command](args)
    except (ClassroomError, FileNotFoundError, ValueError, TimeoutError) as exc:
        print(f"minigpt classroom {args.classroom_command}: {exc}", file=sys.stderr)
        return 2


def _serve(args) -> int:
    from .serve_cli import serve_from_args

    try:
        return serve_from_args(args)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("starlette", "uvicorn"):
            raise
        print(f"minigpt classroom serve needs starlette and uvicorn ({exc.name} is missing): {INSTALL}",
              file=sys.stderr)
        return 2


def _join(args) -> int:
    from .client import join

    membership = join(args.url, args.name)
    print(f"joined room {membership.room} at {membership.server} as {membership.name!r}")
    print("from now on every check() and `minigpt grade` here sends its status and diagnosis (never your code) "
          "to the room; `minigpt classroom leave` stops it")
    return 0


def _leave(args) -> int:
    from .client import leave

    left = leave()
    if left.membership is None:
        print("this workspace had not joined a room")
        return 0
    print(f"left room {left.membership.room} at {left.membership.server}"
          + (f"; sent {left.sent} waiting results" if left.sent else "")
          + (f"; dropped {left.dropped} results the server never got" if left.dropped else ""))
    return 0


def _status(args) -> int:
    from ._http import ClassroomError
    from .client import status, submission

    membership, delivery = status()
    print(f"room {membership.room} at {membership.server}, as {membership.name!r} (learner {membership.learner_id})")
    print(f"results: {delivery.line()}")
    if membership.submissions:
        latest = membership.submissions[-1]
        try:
            print(f"submission {latest}: {_grade_line(submission(latest))}")
        except ClassroomError as exc:
            print(f"submission {latest}: could not ask ({exc})")
    return 0 if delivery.error is None else 1


def _submit(args) -> int:
    from .client import exercise_files, joined, submit, wait_for_grade

    _, membership = joined()
    files = exercise_files()
    names = ", ".join(p.name for p in files) or "none"
    print(f"to room {membership.room} at {membership.server} as {membership.name!r}: {names}")
    if files and not args.yes and not _confirm(f"upload these {len(files)} files? [y/N] "):
        print("nothing uploaded (--yes uploads without asking)")
        return 1
    submission_id = submit(files)
    print(f"submitted: {submission_id}")
    if args.wait:
        state = wait_for_grade(submission_id, timeout_s=args.timeout)
        print(f"submission {submission_id}: {_grade_line(state)}")
        return 0 if state.get("status") == "done" else 1
    return 0


def _confirm(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:  # no terminal to answer on
        return False


def _grade_line(state: dict) -> str:
    status = state.get("status", "?")
    if status != "done":
        return status + (f": {state['error']}" if state.get("error") else "")
    score, max_score = state.get("score"), state.get("max_score")
    if not isinstance(score, (int, float)):
        return "graded"
    return f"graded: {score:g}" + (f" / {max_score:g}" if isinstance(max_score, (int, float)) else "") + " points"
