"""Chapter 4's checks: seeded cases and the mistakes learners make, one ``register`` per exercise.

The exercises themselves are in ``solutions/ch04_grokking.py``. Every mutant
is a real wrong answer with a diagnosis a learner can act on, and the cases
tell every mutant apart from the reference and from the other mutants
(``tests/grading/test_ch04_exercises.py`` holds both facts).
"""

from . import basis, transforms, neurons, progress  # noqa: F401  (registration order: chapter order)
from . import weights  # noqa: F401  (added later: the SVD of W_E, W_neur and W_logit, ablating a frequency)
