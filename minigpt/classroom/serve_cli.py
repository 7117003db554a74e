"""The arguments of ``minigpt classroom serve`` (and ``python -m minigpt.classroom.server``), without the server.

This module imports neither starlette nor uvicorn, so ``minigpt --help`` can list the options
on a machine without the extra ``minigpt-interp[classroom]``; they are imported to serve.

>>> parser = argparse.ArgumentParser()
>>> add_serve_arguments(parser)
>>> args = parser.parse_args(["--db", "room.sqlite", "--port", "0", "--exercise", "ch01"])
>>> args.db, args.host, args.port, args.allow_remote, args.exercise
('room.sqlite', '127.0.0.1', 0, False, ['ch01'])
"""

from __future__ import annotations

import argparse
import sys


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default="classroom.sqlite", help="the room's SQLite file (default: classroom.sqlite)")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: this "
                        "machine only)")
    parser.add_argument("--port", type=int, default=8765, help="the port (default 8765; 0: any free one)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a --host other than loopback")
    parser.add_argument("--workers", type=int, default=None, help="submissions graded at once (default: the CPUs, "
                        "at most 4)")
    parser.add_argument("--exercise", nargs="+", action="extend", metavar="ID", help="grade and show only these "
                        "exercises (ids like ch01.layer_norm, or chapters like ch01)")
    parser.add_argument("--timeout", type=float, default=None, metavar="S", help="seconds per exercise in the "
                        "sandbox (default: each exercise's own)")


def serve_from_args(args: argparse.Namespace) -> int:
    """Run :func:`minigpt.classroom.server.serve` with the parsed arguments; 2 and a message for bad input."""
    from .server import serve  # here: starlette and uvicorn are imported only to serve

    try:
        serve(args.db, host=args.host, port=args.port, allow_remote=args.allow_remote, workers=args.workers,
              exercises=args.exercise, timeout_s=args.timeout)
    except (ValueError, OSError, KeyError) as exc:
        print(f"minigpt classroom serve: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minigpt.classroom.server",
                                     description="Serve a live minigpt classroom (see minigpt.classroom.server).")
    add_serve_arguments(parser)
    return serve_from_args(parser.parse_args(argv))
