"""What a chapter must execute with the untouched stubs to show that it works with them.

CI executes every chapter in full with ``MINIGPT_EXERCISES=solutions/``; every
exercise then passes its check. Executing each chapter again in full with the
stubs would double the chapters' share of CI (each takes 1-3 minutes on 2
cores), so the stubs run executes only what can behave differently:

- The statements that touch the learner's code: the module ``load_exercises``
  returns, names bound from it (``ln = ex.layer_norm``), functions and classes
  whose bodies read such names.
- Among them, ``mine_or_reference(id, impl)`` returns the solution in one run
  and the reference in the other: the same code (the reference *is* the
  solution, ``minigpt.grading.reference``), so what the chapter does with its
  result is the same in both runs and the solutions run has executed it.
- A ``check(...)`` or ``x = mine_or_reference(...)`` statement whose only free
  names are the chapter's imports and exercise modules does not depend on the
  cells in between: run right after the imports it computes what it computes
  in a full stubs run. When every learner statement is of that form (the form
  the chapters use), the stubs run is the chapter's imports plus those
  statements, one cell each: seconds instead of minutes (``how="statements"``).
- Otherwise the stubs run executes every cell up to the last one that touches
  learner code (``how="prefix"``); the cells after it read nothing the
  learner's code produced. Anything a static reading cannot follow
  (``globals()``, ``exec``, a star import of the exercises) makes that the
  whole chapter.

>>> imports = "from minigpt.grading import check\\nfrom minigpt.workspace import load_exercises, mine_or_reference"
>>> cells = [imports, "ex = load_exercises('ch01_transformer')",
...          "check('ch01.f', ex.f)", "f = mine_or_reference('ch01.f', ex.f)\\nprint(f(1))", "print(f(2))"]
>>> learner_cells(cells)
[1, 2, 3]
>>> plan = stub_run(cells)
>>> plan.how, plan.checks, plan.fallbacks
('statements', 1, 1)
>>> print(plan.cells[0])
from minigpt.grading import check
from minigpt.workspace import load_exercises, mine_or_reference
ex = load_exercises('ch01_transformer')
>>> plan.cells[1:]
["check('ch01.f', ex.f)", "f = mine_or_reference('ch01.f', ex.f)"]
>>> learner_checks(cells)
{'ch01.f'}
>>> stub_run(cells + ["g = ex.g", "print(g(1))", "print(3)"]).how, learner_cells(cells + ["g = ex.g", "print(g(1))"])
('prefix', [1, 2, 3, 5, 6])
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass

ESCAPES = {"globals", "locals", "vars", "exec", "eval", "__import__"}  # dynamic access we cannot follow
LOADERS = {"load_exercises"}
NEUTRAL = {"mine_or_reference"}  # its result passes its check in both runs: the same code either way
CHECKS = {"check"}


@dataclass
class StubRun:
    cells: list[str]  # the code cells to execute with the stubs
    how: str  # "statements": imports + learner statements; "prefix": the chapter up to its last learner cell
    checks: int | None = None  # check results the run shows (each must be TODO); None: not counted
    fallbacks: int | None = None  # mine_or_reference notes it prints


def python_of(cell_source: str) -> str:
    """A code cell as plain Python (IPython magics become calls), for :mod:`ast`."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return cell_source
    return TransformerManager().transform_cell(cell_source)


def _call_name(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    return None


def _bound(stmt: ast.stmt) -> set[str]:
    """The names a top-level statement binds."""
    names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names.add(stmt.name)
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        names |= {(a.asname or a.name).split(".")[0] for a in stmt.names}
    return names


def _used(stmt: ast.stmt) -> tuple[set[str], set[str]]:
    """Names read at top level, and names read inside function or class bodies (read when called)."""
    deferred: set[str] = set()
    for node in ast.walk(stmt):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            deferred |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    direct = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return direct, deferred


def _from_exercises(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.ImportFrom):
        return (stmt.module or "").split(".")[0] in {"exercises", "solutions"}
    if isinstance(stmt, ast.Import):
        return any(a.name.split(".")[0] in {"exercises", "solutions"} for a in stmt.names)
    return False


def _aliases(trees: list[ast.Module], names: set[str]) -> set[str]:
    """``names`` and what the chapter imports them as."""
    found = set(names)
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                found |= {a.asname for a in node.names if a.name in names and a.asname}
    return found


class _Chapter:
    def __init__(self, code_cells: list[str]):
        self.sources = [python_of(source) for source in code_cells]
        self.trees = [ast.parse(source) for source in self.sources]  # SyntaxError: the caller falls back
        self.opaque = any(
            (isinstance(node, ast.Name) and node.id in ESCAPES)
            or (isinstance(node, ast.ImportFrom) and _from_exercises(node) and any(a.name == "*" for a in node.names))
            for tree in self.trees for node in ast.walk(tree))
        self.neutral, self.checks = _aliases(self.trees, NEUTRAL), _aliases(self.trees, CHECKS)
        self.ever = self._ever_tainted()

    def touches(self, stmt: ast.stmt, tainted: set[str], ever: set[str]) -> bool:
        direct, deferred = _used(stmt)
        loads = any(_call_name(n) in LOADERS for n in ast.walk(stmt))
        return loads or _from_exercises(stmt) or bool(direct & tainted) or bool(deferred & ever)

    def neutral_assignment(self, stmt: ast.stmt) -> bool:
        return isinstance(stmt, (ast.Assign, ast.AnnAssign)) and _call_name(stmt.value) in self.neutral

    def _ever_tainted(self) -> set[str]:
        # Every name that is at some point bound from learner code, in any order (a function defined
        # early may read a global that a later cell binds): a fixed point over the whole chapter.
        ever: set[str] = set()
        while True:
            grown = set(ever)
            for tree in self.trees:
                for stmt in tree.body:
                    if self.touches(stmt, grown, grown) and not self.neutral_assignment(stmt):
                        grown |= _bound(stmt)
            if grown == ever:
                return ever
            ever = grown

    def learner_statements(self) -> list[tuple[int, ast.stmt]]:
        """``(cell index, statement)`` for every top-level statement that touches learner code, in order."""
        tainted: set[str] = set()
        found = []
        for index, tree in enumerate(self.trees):
            for stmt in tree.body:
                if self.touches(stmt, tainted, self.ever):
                    found.append((index, stmt))
                    if self.neutral_assignment(stmt):
                        tainted -= _bound(stmt)
                    else:
                        tainted |= _bound(stmt)
                elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom)):
                    tainted -= _bound(stmt)  # rebound to something that does not come from the learner
        return found


def learner_cells(code_cells: list[str]) -> list[int]:
    """The indices (into ``code_cells``) of the cells that can behave differently with the stubs."""
    try:
        chapter = _Chapter(code_cells)
    except SyntaxError:
        return list(range(len(code_cells)))
    if chapter.opaque:
        return list(range(len(code_cells)))
    return sorted({index for index, _ in chapter.learner_statements()})


def stub_run(code_cells: list[str]) -> StubRun:
    """What to execute with the stubs (see the module docstring)."""
    cells = learner_cells(code_cells)
    prefix = StubRun(code_cells[: cells[-1] + 1] if cells else [], "prefix")
    try:
        chapter = _Chapter(code_cells)
    except SyntaxError:
        return prefix
    if chapter.opaque or not cells:
        return prefix
    imports = [(i, s) for i, tree in enumerate(chapter.trees) for s in tree.body
               if isinstance(s, (ast.Import, ast.ImportFrom))]
    available = set(dir(builtins)).union(*(_bound(s) for _, s in imports))
    setup, statements, checks, fallbacks = [], [], 0, 0
    for index, stmt in chapter.learner_statements():
        value = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign, ast.AnnAssign)) else None
        simple_target = not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or all(
            isinstance(t, ast.Name) for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]))
        kind = _call_name(value)
        if not (simple_target and (kind in LOADERS or (kind in chapter.checks and isinstance(stmt, ast.Expr))
                                   or (kind in chapter.neutral and isinstance(stmt, (ast.Assign, ast.AnnAssign))))):
            return prefix  # learner code used some other way: run the chapter up to there
        if not _used(stmt)[0] <= available:
            return prefix  # it reads something the chapter computed
        source = ast.get_source_segment(chapter.sources[index], stmt)
        if kind in LOADERS:
            setup.append(source)
            available |= _bound(stmt)
        else:
            statements.append(source)
            checks += kind in chapter.checks
            if kind in chapter.neutral and fallbacks is not None:
                quiet = [k.value for k in value.keywords if k.arg == "quiet"] + value.args[2:3]
                if quiet and not isinstance(quiet[0], ast.Constant):
                    fallbacks = None  # cannot tell whether it prints its note
                elif not (quiet and quiet[0].value):
                    fallbacks += 1
    first = [ast.get_source_segment(chapter.sources[i], s) for i, s in imports] + setup
    return StubRun(["\n".join(first), *statements], "statements", checks, fallbacks)


def learner_checks(code_cells: list[str]) -> set[str]:
    """The exercise ids the chapter checks on the learner's code (``check("ch01.x", ex.x)``)."""
    try:
        chapter = _Chapter(code_cells)
    except SyntaxError:
        return set()
    return {call.args[0].value for _, stmt in chapter.learner_statements() for call in ast.walk(stmt)
            if _call_name(call) in chapter.checks and call.args and isinstance(call.args[0], ast.Constant)}
