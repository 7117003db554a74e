"""The exercise registry: what each exercise is, how it is checked, which mistakes it knows.

An exercise is written once, in ``solutions/<file>``, between ``# BEGIN SOLUTION``
and ``# END SOLUTION`` lines; its *check* lives in ``minigpt/grading/exercises/``,
registered with keywords through its chapter's registrar:

    register_exercise = exercise_registrar(chapter=1, file="ch01_transformer.py")
    register_exercise(
        id="ch01.layer_norm", name="layer_norm", title="LayerNorm", points=2, difficulty=1,
        hints=["Normalise over the last axis (d_model) only."],
        make_cases=layer_norm_cases,          # seeded inputs: list[Case]
        mutants=[Mutant("eps-outside-sqrt", "...", wrong_fn), ...],
        depends_on=[],                        # and any other field of Exercise
    )

A ``Case`` is the keyword arguments of one call (tensors, numbers, strings,
lists of numbers), so that a sandboxed process can receive it as data. For a
``kind="module"`` exercise the case also carries ``cfg`` (a dict for
``GPTConfig``) and ``state_dict``; the grader builds ``Class(GPTConfig(**cfg))``,
loads the reference's weights with ``load_state_dict`` and calls it with the
remaining arguments. For ``kind="sampler"`` the outputs are samples and are
compared by their distribution (see ``compare.compare_sample_rows``): the
exercise's ``expected_fn`` gives the reference's probability table, and each
mutant's ``expected_fn`` the table its wrong samples are drawn from. A
sampler case may carry ``seed`` (an int): the call gets
``generator=torch.Generator().manual_seed(seed)``. For ``kind="model"`` the
exercise is a function of a model (a training step, a generation loop): the
case carries ``cfg``, ``state_dict``, optionally ``optimizer``
(``{"type": "SGD", "lr": ...}``) and ``calls`` (a list of keyword-argument
dicts); the grader builds a ``minigpt.GPT`` and calls the function once per
dict, and judges what each call returned and the parameters afterwards (see
``_child.call_with_model``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

Case = dict[str, Any]


@dataclass(frozen=True)
class Mutant:
    """A known-wrong implementation: what the mistake is called, and what to tell the learner."""

    name: str  # "eps-outside-sqrt"
    diagnosis: str  # "It looks like epsilon is added outside the square root: ..."
    fn: Callable[..., Any]  # same signature as the exercise (a class for module exercises)
    # kind="sampler" only: the probability table [batch d_vocab] that ``fn`` samples from
    expected_fn: Callable[..., Any] | None = None


@dataclass
class Exercise:
    id: str  # "ch01.layer_norm"
    chapter: int
    title: str
    file: str  # "ch01_transformer.py", in solutions/ and exercises/
    name: str  # the function or class defined in that file
    points: float
    difficulty: int  # 1 (warm-up) .. 3 (hard)
    hints: list[str]
    make_cases: Callable[[], list[Case]]
    depends_on: list[str] = field(default_factory=list)
    mutants: list[Mutant] = field(default_factory=list)
    kind: str = "function"  # "function" | "module" | "sampler" | "model"
    atol: float = 1e-5
    rtol: float = 1e-4
    timeout_s: float = 30.0
    # kind="sampler" only: the reference's probability table [batch d_vocab], used instead of its samples
    expected_fn: Callable[..., Any] | None = None


_EXERCISES: dict[str, Exercise] = {}


def register(ex: Exercise) -> Exercise:
    if ex.id in _EXERCISES:
        raise ValueError(f"exercise {ex.id!r} is registered twice")
    missing = [d for d in ex.depends_on if d not in _EXERCISES]
    if missing:
        raise ValueError(f"{ex.id} depends on {missing}, which must be registered first")
    _EXERCISES[ex.id] = ex
    return ex


def exercise_registrar(*, chapter: int, file: str) -> Callable[..., Exercise]:
    """The ``register_exercise`` of one chapter: it fills in ``chapter`` and ``file`` and takes the rest by keyword.

    An id must name its chapter, so that a check cannot land in the wrong one:

    >>> register_exercise = exercise_registrar(chapter=9, file="ch09_demo.py")
    >>> register_exercise(id="ch01.demo", name="demo", title="Demo", points=1, difficulty=1, hints=[],
    ...                   make_cases=list, mutants=[])
    Traceback (most recent call last):
    ValueError: exercise 'ch01.demo' is registered for ch09_demo.py: its id must start with 'ch09.'
    """
    prefix = f"ch{chapter:02d}."

    def register_exercise(*, id: str, name: str, title: str, points: float, difficulty: int, hints: list[str],
                          make_cases: Callable[[], list[Case]], mutants: list[Mutant], **fields: Any) -> Exercise:
        """Register one exercise; ``fields`` are Exercise's optional ones (depends_on, kind, atol, ...)."""
        if not id.startswith(prefix):
            raise ValueError(f"exercise {id!r} is registered for {file}: its id must start with {prefix!r}")
        return register(Exercise(id=id, chapter=chapter, title=title, file=file, name=name, points=points,
                                 difficulty=difficulty, hints=hints, make_cases=make_cases, mutants=mutants,
                                 **fields))

    return register_exercise


def _load_all() -> None:
    from . import exercises  # noqa: F401  (each chapter module registers its exercises)


def get_exercise(exercise_id: str) -> Exercise:
    _load_all()
    if exercise_id not in _EXERCISES:
        import difflib

        close = difflib.get_close_matches(exercise_id, list(_EXERCISES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"no exercise {exercise_id!r}.{hint} Known: {', '.join(_EXERCISES)}")
    return _EXERCISES[exercise_id]


def all_exercises(chapter: int | None = None) -> list[Exercise]:
    _load_all()
    return [ex for ex in _EXERCISES.values() if chapter is None or ex.chapter == chapter]
