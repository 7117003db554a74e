"""The sub-commands of the course: ``minigpt start``, ``minigpt doctor``, ``minigpt chapters build``."""

from __future__ import annotations

import sys

COMMANDS: tuple[str, ...] = ("start", "doctor", "chapters")


def add_parsers(sub) -> None:
    start = sub.add_parser(
        "start", help="make a course workspace (the chapter notebooks and your exercise files), or update one",
        description="Make a course workspace in DIR: the chapter notebooks, your exercises/ and a README. "
        "Run again on the same folder, it adds what is new and updates the files you have not changed; "
        "a file you changed is never overwritten (it is listed).")
    start.add_argument("dir", nargs="?", default="course", help="the workspace folder (default: course)")
    doctor = sub.add_parser("doctor", help="check this environment for the course and say what to fix")
    doctor.add_argument("--grade", action="store_true", help="also grade one exercise stub in the sandbox")
    doctor.add_argument("--path", default=None, help="the workspace to look at (default: the current folder)")
    chapters = sub.add_parser("chapters", help="the chapter notebooks")
    ch_sub = chapters.add_subparsers(dest="chapters_command", required=True)
    build = ch_sub.add_parser("build", help="convert the chapter sources (jupytext .py) to notebooks (.ipynb)")
    build.add_argument("--out", default="notebooks", help="the folder to write them to (default: notebooks)")
    build.add_argument("chapter", nargs="*", help="only these chapters (a name like 02_attention, or 02)")
    ch_sub.add_parser("list", help="list the chapters and their exercise files")


def run(args) -> int:
    if args.command == "start":
        return _start(args)
    if args.command == "doctor":
        from .doctor import doctor

        return doctor(grade=args.grade, workspace=args.path)
    if args.command == "chapters":
        return _chapters(args)
    return 2


def _start(args) -> int:
    import os

    from .start import start_workspace

    try:
        report = start_workspace(args.dir)
    except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
        print(f"minigpt start: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    where = os.path.relpath(report.root)
    where = where if not where.startswith("..") else str(report.root)
    print("\nOpen the notebooks with: jupyter lab" + (f" {where}" if where != "." else ""))
    return 0


def _chapters(args) -> int:
    from .course import build_chapters, chapter_title_of, course_source

    try:
        source = course_source()
    except FileNotFoundError as exc:
        print(f"minigpt chapters: {exc}", file=sys.stderr)
        return 2
    if args.chapters_command == "list":
        for chapter in source.chapters():
            title = chapter_title_of(chapter.read_text(encoding="utf-8")) or ""
            files = ", ".join(p.name for p in source.exercises_of(chapter))
            print(f"{chapter.stem:32s} {title}" + (f"  [{files}]" if files else ""))
        return 0
    try:
        written = build_chapters(args.out, source, names=args.chapter or None)
    except KeyError as exc:
        print(f"minigpt chapters build: {exc.args[0]}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    if not written:
        print(f"no chapters in {source.chapters_dir}")
    return 0
