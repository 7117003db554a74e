"""Imports run one way: from the applications down to the model, never back up.

Every module under ``minigpt/`` is read with ``ast`` (nothing is imported): each ``import`` and
``from ... import`` statement, at the top of a module or inside a function, relative or absolute
(``if TYPE_CHECKING:`` blocks never run and are skipped). Every module maps to a layer of
:data:`LAYERS`; an import of a module in a higher layer is a wrong-way edge, and the test lists
them all. The ``>>>`` examples of docstrings are code a reader copies, so they are read too, with
one allowance: a doctest may import the package itself (``from minigpt import GPT``), the public
surface that is imported before any module of the package anyway.

Two kinds of exception, each listed here with its reason and checked to be what it says:

- deprecation shims (:data:`SHIMS`): a module left at an old path that re-exports its new home
  and warns; it may sit in a lower layer than the code it forwards to;
- :data:`FACADE_METHODS`: methods the public surface puts on ``GPT`` (``GPT.from_pretrained``,
  ``model.save_pretrained``, as in TransformerLens and transformers) whose work is the weights
  layer's. They import it inside the method, at call time, never at the top of ``model.py``.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import warnings
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1] / "minigpt"

# The layers, lowest first. A module may import its own layer and the layers below it, never one
# above. A module belongs to the layer of its longest matching prefix ("minigpt.weights" holds
# minigpt.weights.pretrained); "minigpt" alone is the package's __init__ (GPT, GPTConfig, ...) and
# holds nothing else, so a new top-level module must be placed here by hand.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # Pieces that import nothing of minigpt above them: the config, tensor maths, input checks,
    # devices and precisions, tokenizers.
    ("config/functional", ("minigpt.config", "minigpt.functional", "minigpt.validation", "minigpt.device",
                           "minigpt.tokenizer")),
    ("attention, hooks", ("minigpt.attention", "minigpt.hooks", "minigpt.cache", "minigpt.cache_analysis",
                          "minigpt.cache_readout", "minigpt.slice")),
    ("components", ("minigpt.components",)),
    # The model and what its own methods run: text in and out (model.to_tokens), the KV cache,
    # sampling and beam search (model.generate); the grokking model's preset, init and fused forward; the package.
    ("model", ("minigpt.model", "minigpt.text", "minigpt.kv_cache", "minigpt.generate", "minigpt.beam_search",
               "minigpt.grokking_model", "minigpt")),
    # Weights in and out: Hugging Face files and maps, weight processing, checkpoint folders
    # (the minigpt.weights package and the old flat paths, now its shims); minigpt.testing builds
    # a Hugging Face twin of a GPT through the weight map.
    ("weights/generation", ("minigpt.weights", "minigpt.pretrained", "minigpt.processing", "minigpt.hf_weights",
                            "minigpt.checkpoint_files", "minigpt.checkpoints", "minigpt.testing")),
    ("data", ("minigpt.data",)),
    ("interp, viz", ("minigpt.interp", "minigpt.viz", "minigpt.sae")),
    ("train", ("minigpt.train",)),
    # The applications: the grader, the course workspace, the live classroom, the command line and its demo.
    ("grading, workspace, cli", ("minigpt.grading", "minigpt.workspace", "minigpt.classroom", "minigpt.cli",
                                 "minigpt.demo")),
]

# Deprecation shims that import upward: old path -> new home.
SHIMS: dict[str, str] = {
    "minigpt.train.grokking_step": "minigpt.grokking_model",
    "minigpt.train.device": "minigpt.device",
    "minigpt.interp.fourier_plots": "minigpt.viz.fourier_plots",
}

# (module, imported): GPT.from_pretrained and GPT.save_pretrained call minigpt.weights.pretrained.
FACADE_METHODS: set[tuple[str, str]] = {("minigpt.model", "minigpt.weights.pretrained")}


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of ``module`` (its longest matching prefix)."""
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            nested = prefix != "minigpt" and module.startswith(prefix + ".")
            if (module == prefix or nested) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None:
        raise KeyError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    """Whether ``name`` is a module or package under minigpt/ (``from pkg import sub`` imports ``pkg.sub``)."""
    path = ROOT.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


class Edge(NamedTuple):
    module: str
    line: int
    imported: str
    where: str  # "top" (runs on import), "function" (runs when called) or "doctest"


def imports_of(tree: ast.AST, module: str, package: bool) -> list[tuple[int, str, bool]]:
    """``(line, imported module, inside a function)`` for every import in ``tree`` of a module in minigpt."""
    base = module.split(".") if package else module.split(".")[:-1]
    found = []

    def visit(node: ast.AST, local: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, local) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                target = ".".join(anchor + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{alias.name}" for alias in node.names if is_module(f"{target}.{alias.name}")]
            found.extend((node.lineno, name, local) for name in subs or [target])
        local = local or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, local)

    visit(tree, False)
    return [(line, name, local) for line, name, local in found if name == "minigpt" or name.startswith("minigpt.")]


def _skip_type_checking(tree: ast.Module) -> None:
    """Drop ``if TYPE_CHECKING:`` blocks: they never run."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = [ast.Pass()]


def doctests_of(tree: ast.Module) -> list[tuple[int, ast.Module]]:
    """``(line, parsed example)`` for the ``>>>`` examples of every docstring in the module."""
    parser, found = doctest.DocTestParser(), []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if not doc:
                continue
            for example in parser.get_examples(doc):
                try:
                    found.append((node.body[0].lineno + example.lineno, ast.parse(example.source)))
                except SyntaxError:  # an example that shows an error, or a continuation
                    continue
    return found


def all_edges() -> list[Edge]:
    """Every import inside minigpt, in code and in doctests."""
    edges = []
    for path in sorted(ROOT.rglob("*.py")):
        module, package = module_name(path), path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        _skip_type_checking(tree)
        for line, imported, local in imports_of(tree, module, package):
            edges.append(Edge(module, line, imported, "function" if local else "top"))
        for line, example in doctests_of(tree):
            for _, imported, _ in imports_of(example, module, package):
                edges.append(Edge(module, line, imported, "doctest"))
    return edges


def upward(edge: Edge) -> bool:
    if edge.where == "doctest" and edge.imported == "minigpt":
        return False  # the public surface (see the module docstring)
    return layer_of(edge.imported) > layer_of(edge.module)


def describe(edge: Edge) -> str:
    return (f"{edge.module}:{edge.line} ({LAYERS[layer_of(edge.module)][0]}) imports {edge.imported} "
            f"({LAYERS[layer_of(edge.imported)][0]}){' in a doctest' if edge.where == 'doctest' else ''}")


def test_every_module_has_a_layer():
    missing = []
    for path in sorted(ROOT.rglob("*.py")):
        try:
            layer_of(module_name(path))
        except KeyError:
            missing.append(module_name(path))
    assert not missing, f"modules in no layer (add them to LAYERS): {missing}"


def test_imports_run_one_way():
    wrong = [describe(e) for e in all_edges()
             if upward(e) and e.module not in SHIMS and (e.module, e.imported) not in FACADE_METHODS]
    assert not wrong, "imports that run the wrong way (a lower layer importing a higher one):\n" + "\n".join(wrong)


def test_analysis_never_imports_training_or_applications():
    """The rule of the design page, spelled out: interp and viz never import train, grading, workspace or cli."""
    banned = ("minigpt.train", "minigpt.grading", "minigpt.workspace", "minigpt.cli")
    wrong = [describe(e) for e in all_edges()
             if e.module.startswith(("minigpt.interp", "minigpt.viz")) and e.module not in SHIMS
             and any(e.imported == b or e.imported.startswith(b + ".") for b in banned)]
    assert not wrong, "\n".join(wrong)


def test_the_facade_methods_reach_up_only_when_called():
    """Each listed facade edge exists (no stale entry), runs upward, and only inside a method."""
    edges = [e for e in all_edges() if (e.module, e.imported) in FACADE_METHODS]
    assert {(e.module, e.imported) for e in edges} == FACADE_METHODS
    assert all(upward(e) and e.where == "function" for e in edges), [describe(e) for e in edges]


@pytest.mark.parametrize("old", sorted(SHIMS))
def test_shims_warn_and_re_export_their_new_home(old):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        shim = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=SHIMS[old]):
        importlib.reload(shim)  # the warning comes on import; reload imports it again
    new = importlib.import_module(SHIMS[old])
    assert shim.__all__ and all(getattr(shim, name) is getattr(new, name) for name in shim.__all__)
    source = ROOT.parent.joinpath(*old.split(".")).with_suffix(".py").read_text(encoding="utf-8")
    assert {name for _, name, _ in imports_of(ast.parse(source), old, False)} == {SHIMS[old]}  # nothing else


def test_the_layer_table_holds_the_known_edges():
    """A hand-checked case of the mapping itself, so a typo in LAYERS cannot make every edge pass."""
    order = [name for name, _ in LAYERS]
    assert order.index("interp, viz") < order.index("train") < order.index("grading, workspace, cli")
    assert layer_of("minigpt.weights.pretrained") == layer_of("minigpt.pretrained") == order.index("weights/generation")
    assert layer_of("minigpt.interp.grok") == order.index("interp, viz")
    assert layer_of("minigpt") == order.index("model")
    with pytest.raises(KeyError, match="in no layer"):
        layer_of("minigpt.something_new")  # not silently the package's layer
    tree = ast.parse("from ..train.loop import train\nfrom . import fourier\nimport minigpt.viz.plots\n"
                     "def f():\n    from ..grading import check\n")
    assert imports_of(tree, "minigpt.interp.grok", False) == [
        (1, "minigpt.train.loop", False), (2, "minigpt.interp.fourier", False), (3, "minigpt.viz.plots", False),
        (5, "minigpt.grading.check", True)]  # check is a module of grading
    assert imports_of(ast.parse("from . import fourier"), "minigpt.interp", True) == [
        (1, "minigpt.interp.fourier", False)]
