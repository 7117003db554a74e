"""Data sets of the chapters: synthetic tasks and a real-text corpus.

- :mod:`minigpt.data.repeated`: repeated random tokens (induction heads: evaluation and training);
- :mod:`minigpt.data.modular`: modular arithmetic (grokking);
- :mod:`minigpt.data.corpus`: the Python standard library's source (offline), random windows.
"""

from .corpus import Corpus, fixed_windows, random_windows, stdlib_corpus, stdlib_text
from .modular import OPERATIONS, ModularData, all_pairs, modular_data, modular_labels
from .repeated import induction_batch, random_tokens, repeated_tokens

__all__ = ["Corpus", "fixed_windows", "random_windows", "stdlib_corpus", "stdlib_text", "OPERATIONS", "ModularData",
           "all_pairs", "modular_data", "modular_labels", "induction_batch", "random_tokens", "repeated_tokens"]
