"""Chapter 5's checks: seeded cases and the mistakes learners make, one ``register`` per exercise.

The exercises themselves are in ``solutions/ch05_interventions.py``. The cases build tiny seeded
models (``_common.random_state``), never the shipped ``ioi`` and ``facts`` checkpoints, so a
check is fast and stands alone. Every mutant is a real wrong answer (patching in the wrong
direction, every position at once, the other heads left unfrozen, probabilities for logits,
ROME without ``C⁻¹``, ...) with a diagnosis a learner can act on, and the cases tell every
mutant apart from the reference and from the other mutants
(``tests/grading/test_ch05_exercises.py`` holds both facts).
"""

from . import lens, metrics, patching, paths, tracing, editing  # noqa: F401  (registration order: chapter order)
