"""The words of a diagnosis: numbers by their names, axes, and steps as a learner wrote them.

>>> number_name(2.2360679, {"d_head": 5.0, "sqrt(d_head)": 2.2360679})
'sqrt(d_head)'
>>> number_name(0.5, {})
'1/2'
>>> dim_text(-1, 3), dim_text(-3, 3)
('dim -1 (the last)', 'dim 0')
"""

from __future__ import annotations

from .trace import Step

SMALL = {"2": 2.0, "3": 3.0, "4": 4.0, "1/2": 0.5, "1/3": 1 / 3, "1/4": 0.25, "-1": -1.0}
BINARY_VERBS = {"add": "adding", "sub": "subtracting", "mul": "multiplying by", "div": "dividing by"}
SYMBOLS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def close(a: float, b: float, rel: float = 1e-4) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


def number_name(value: float, constants: dict[str, float], rel: float = 1e-4) -> str | None:
    """A name for ``value``: a named constant, its reciprocal, or a small number; None if none fits."""
    for name, v in constants.items():
        if close(value, v, rel):
            return name
    for name, v in SMALL.items():
        if close(value, v, rel):
            return name
    for name, v in constants.items():
        if v and close(value, 1 / v, rel):
            return f"1/{name}"
    return None


def fmt(value: float) -> str:
    return f"{value:.4g}"


def dim_text(dim: int, ndim: int) -> str:
    """An axis counted from the end, in words: dim -1 is 'the last'."""
    if dim == -1:
        return "dim -1 (the last)"
    return f"dim {dim + ndim}" if ndim else f"dim {dim}"


def operand_text(step: Step, i: int) -> str:
    """Operand ``i`` of a step: its label, or its value when it is a number."""
    if step.labels[i] is not None:
        return step.labels[i]
    return fmt(step.scalars[i]) if step.scalars[i] is not None else "a tensor"


NOUNS = {"add": "addition", "sub": "subtraction", "mul": "multiplication", "div": "division",
         "masked_fill": "mask (masked_fill)", "pow": "power"}


def describe(step: Step, operand: int | None = None, entry: str | None = None) -> str:
    """The step as a learner would name it: ``the softmax``, ``adding `b```, ```ln1```.

    A step inside a helper (not the exercise's ``entry`` function) says where: ``the mul in `gelu_new```.
    """
    if step.op == "module":
        return f"`{step.module}`"
    if step.op in BINARY_VERBS and operand is not None:
        text = f"{BINARY_VERBS[step.op]} `{operand_text(step, operand)}`"
    else:
        text = f"the {NOUNS.get(step.op, step.op)}"
    if entry is not None and step.function not in (entry, "<genexpr>", "<listcomp>", "<lambda>"):
        text += f" in `{step.function}`"
    return text
