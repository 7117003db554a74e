"""Named training recipes: ``minigpt train RECIPE --out DIR``.

A recipe is a function ``run(out: Path, *, device: str, seed: int, progress: bool, **overrides) -> Path``
that trains a model and writes a checkpoint folder (see :mod:`minigpt.checkpoints`) to ``out``.
Modules that define recipes call :func:`register_recipe` when imported; :data:`_RECIPE_MODULES`
lists them so that :func:`get_recipe` finds every recipe without importing all of minigpt up front.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Callable

_RECIPE_MODULES = ("minigpt.train.induction", "minigpt.train.grokking", "minigpt.train.stdlib", "minigpt.train.sae",
                  "minigpt.train.facts", "minigpt.train.ioi")
_RECIPES: dict[str, "Recipe"] = {}


@dataclass(frozen=True)
class Recipe:
    name: str
    run: Callable
    help: str


def register_recipe(name: str, run: Callable, help: str) -> Recipe:
    _RECIPES[name] = recipe = Recipe(name, run, help)
    return recipe


def _load_all() -> None:
    for module in _RECIPE_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # the module exists but something it imports does not
                raise


def list_recipes() -> list[Recipe]:
    _load_all()
    return [_RECIPES[k] for k in sorted(_RECIPES)]


def get_recipe(name: str) -> Recipe:
    _load_all()
    if name not in _RECIPES:
        close = difflib.get_close_matches(name, _RECIPES, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no recipe {name!r}; known: {', '.join(sorted(_RECIPES)) or 'none'}.{hint}")
    return _RECIPES[name]
