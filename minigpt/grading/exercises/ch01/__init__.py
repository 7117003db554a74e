"""Chapter 1's checks: seeded cases and the mistakes learners make, one ``register`` per exercise.

The exercises themselves are in ``solutions/ch01_transformer.py``. Every
mutant below is a real, common wrong answer; its diagnosis says what is wrong
and how to fix it. The cases are chosen so that every mutant fails and no two
mutants agree on all of them (``tests/grading`` holds both facts), so the
diagnosis a learner sees names their mistake and not a look-alike.

Nothing here imports ``solutions``: module mutants build on ``minigpt``'s own
components, which have the same parameter names, and the sampler's reference
probabilities come from ``minigpt.generate``'s filters.
"""

from . import tokens, embeddings, layers, output, assembly, generation, decoding, training  # noqa: F401  (chapter order)
