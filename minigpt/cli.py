"""The ``minigpt`` command."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minigpt", description="An educational GPT-2 for interpretability.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="build and briefly train a small model, then generate text (offline, <1 min)")
    demo.add_argument("--steps", type=int, default=600, help="training steps (default 600)")
    demo.add_argument("--prompt", default="    def ", help="text to continue")
    demo.add_argument("--new-tokens", type=int, default=120, help="bytes to generate")
    demo.add_argument("--attention", default="sdpa", help="attention kernel (see `minigpt kernels`)")
    sub.add_parser("kernels", help="list the attention kernels and whether each runs here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        run_demo(steps=args.steps, prompt=args.prompt, new_tokens=args.new_tokens, kernel=args.attention)
    elif args.command == "kernels":
        from .demo import print_kernels

        print_kernels()
    return 0


if __name__ == "__main__":
    sys.exit(main())
