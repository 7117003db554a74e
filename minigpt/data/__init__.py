"""Data sets of the chapters: synthetic tasks and a real-text corpus.

- :mod:`minigpt.data.repeated`: repeated random tokens (induction heads: evaluation and training);
- :mod:`minigpt.data.modular`: modular arithmetic (grokking);
- :mod:`minigpt.data.corpus`: the Python standard library's source (offline), random windows;
- :mod:`minigpt.data.facts`: invented facts about invented people (factual recall: causal tracing, ROME);
- :mod:`minigpt.data.ioi`: indirect-object identification sentences and their ABC corruptions (circuits, patching).
"""

from .corpus import Corpus, fixed_windows, random_windows, stdlib_corpus, stdlib_text
from .facts import fact_table, facts_batch
from .ioi import ioi_batch
from .modular import OPERATIONS, ModularData, all_pairs, modular_data, modular_labels
from .repeated import induction_batch, random_tokens, repeated_tokens

__all__ = ["Corpus", "fixed_windows", "random_windows", "stdlib_corpus", "stdlib_text", "OPERATIONS", "ModularData",
           "all_pairs", "modular_data", "modular_labels", "induction_batch", "random_tokens", "repeated_tokens",
           "fact_table", "facts_batch", "ioi_batch"]
