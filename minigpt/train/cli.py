"""``minigpt train RECIPE [--out DIR] [--device ...] [--seed N] [--steps N] [--resume] [--no-progress]``.

Also ``python -m minigpt.train RECIPE ...``, so that ``torchrun --nproc_per_node N -m minigpt.train
RECIPE ...`` trains data-parallel (see :mod:`minigpt.train.distributed`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

COMMANDS: tuple[str, ...] = ("train",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", nargs="?", help="the recipe to run (see --list)")
    parser.add_argument("--list", action="store_true", help="list the recipes and exit")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="the checkpoint folder to write (default: checkpoints/RECIPE)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    parser.add_argument("--seed", type=int, default=0, help="seeds the initial weights and the data (default 0)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
    parser.add_argument("--dtype", default=None, help="auto, float32, bfloat16 or float16 (default: the recipe's)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: the recipe's)")
    parser.add_argument("--resume", action="store_true", help="continue from DIR/resume.pt when it exists")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_parsers(sub) -> None:
    train = sub.add_parser("train", help="train a model with a named recipe (see `minigpt train --list`)",
                           description="Train a model with a named recipe and write a checkpoint folder that "
                           "minigpt.checkpoints.load_checkpoint(DIR) loads.")
    add_arguments(train)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m minigpt.train", description="Train a model with a named recipe "
                                     "(under torchrun: data-parallel over the launched processes).")
    add_arguments(parser)
    return parser


def _print_recipes(file=None) -> None:
    from .recipes import list_recipes

    recipes = list_recipes()
    width = max((len(r.name) for r in recipes), default=0)
    for recipe in recipes:
        print(f"  {recipe.name:<{width}}  {recipe.help}", file=file or sys.stdout)


def run(args) -> int:
    from ..device import pick_device
    from .distributed import env_info
    from .recipes import get_recipe

    if args.list:
        _print_recipes()
        return 0
    if not args.recipe:
        print("minigpt train: name a recipe; the recipes are:", file=sys.stderr)
        _print_recipes(sys.stderr)
        return 2
    try:
        recipe = get_recipe(args.recipe)
    except KeyError as exc:
        print(f"minigpt train: {exc.args[0]}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("checkpoints") / recipe.name
    overrides = {k: v for k, v in (("steps", args.steps), ("dtype", args.dtype), ("threads", args.threads))
                 if v is not None}
    if args.resume:
        overrides["resume"] = True
    try:
        pick_device(args.device)  # fail early and clearly on a device this machine lacks
    except RuntimeError as exc:
        print(f"minigpt train: {exc}", file=sys.stderr)
        return 2
    main = env_info().is_main
    recipe.run(out, device=args.device, seed=args.seed, progress=not args.no_progress, **overrides)
    if main:
        loader = "minigpt.sae.load_sae" if (Path(out) / "sae_weights.safetensors").is_file() else \
            "minigpt.checkpoints.load_checkpoint"
        print(f"wrote {out} (load it with {loader}({str(out)!r}))")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
