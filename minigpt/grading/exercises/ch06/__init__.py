"""Chapter 6's checks: seeded cases and the mistakes learners make, one ``register`` per exercise.

The exercises themselves are in ``solutions/ch06_superposition.py``. The cases are small seeded
tensors (toy-model weights and feature batches, SAE weights, activations) and, for the two
exercises that take a model, tiny seeded ``minigpt.GPT`` models (never the shipped checkpoints or
SAEs), so a check is fast and stands alone. Every mutant is a real wrong answer (a decoder
normalised over its columns, L1 on the pre-activations, no ``b_dec`` subtraction, TopK over the
batch, the variance measured around 0, the loss-recovered fraction upside down, ...) with a
diagnosis a learner can act on, and the cases tell every mutant apart from the reference and from
the other mutants (``tests/grading/test_ch06_exercises.py`` holds both facts).
"""

from . import toy, autoencoder, training, metrics, features, splicing  # noqa: F401  (registration order: chapter order)
