"""The ``minigpt`` command: a dispatcher over sub-command plugins.

Each sub-command lives with the code it drives. A plugin module defines ``COMMANDS`` (the names
it handles), ``add_parsers(sub)`` and ``run(args) -> int``; ``minigpt --help`` lists the
commands in the order of :data:`PLUGINS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

PLUGINS = ("minigpt.demo", "minigpt.grading.cli", "minigpt.grading.autograder_cli", "minigpt.train.cli",
           "minigpt.workspace.cli", "minigpt.classroom.cli")


def _plugins():
    return [importlib.import_module(name) for name in PLUGINS]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minigpt", description="An educational GPT-2 for interpretability.")
    sub = parser.add_subparsers(dest="command", required=True)
    for plugin in _plugins():
        plugin.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for plugin in _plugins():
        if args.command in plugin.COMMANDS:
            return plugin.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
