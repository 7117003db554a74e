"""Prompts, subjects and answers as token ids, for causal tracing and model editing.

Strings go through the model's tokenizer (``model.to_tokens``); token ids (a tensor, a
list, an int) are taken as they are. A subject is found in the prompt as a run of tokens:

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=1, d_model=8, n_heads=2, d_vocab=256, n_ctx=32, tokenizer="bytes",
...                       bos_token_id=0))
>>> tokens = as_tokens(model, "Paris is in")            # BOS first
>>> tokens.tolist()[:3], subject_positions(model, tokens, "Paris")
([0, 80, 97], [1, 2, 3, 4, 5])
"""

from __future__ import annotations

from typing import Sequence, Union

import torch
from torch import Tensor

__all__ = ["as_tokens", "subject_positions"]

TokensLike = Union[str, Tensor, Sequence[int], int]


def as_tokens(model, x: TokensLike, prepend_bos: bool = True) -> Tensor:
    """``x`` as a 1-D long tensor ``[pos]`` on the model's device: text is tokenised, ids kept as given."""
    if isinstance(x, str):
        return model.to_tokens(x, prepend_bos=prepend_bos)[0]
    if isinstance(x, int):
        x = [x]
    tokens = torch.as_tensor(x, dtype=torch.long, device=model.device)
    if tokens.ndim == 2 and tokens.shape[0] == 1:
        tokens = tokens[0]
    if tokens.ndim != 1 or tokens.numel() == 0:
        raise ValueError(f"expected one sequence of token ids [pos] (or [1, pos]), got shape {list(tokens.shape)}")
    return tokens


def _find_run(tokens: list[int], run: list[int]) -> int | None:
    """The start of the last occurrence of ``run`` in ``tokens``."""
    for start in range(len(tokens) - len(run), -1, -1):
        if tokens[start:start + len(run)] == run:
            return start
    return None


def subject_positions(model, tokens: Tensor, subject: TokensLike) -> list[int]:
    """The positions of ``subject`` in ``tokens: [pos]`` (its last occurrence).

    A text subject is tried as tokenised alone and with a leading space (a BPE tokenizer
    writes ``" Tower"`` mid-sentence); a missing subject is an error that shows both.
    """
    have = tokens.tolist()
    if isinstance(subject, str):
        candidates = [as_tokens(model, subject, prepend_bos=False).tolist()]
        if not subject.startswith(" "):
            candidates.append(as_tokens(model, " " + subject, prepend_bos=False).tolist())
    else:
        candidates = [as_tokens(model, subject).tolist()]
    for run in candidates:
        start = _find_run(have, run)
        if start is not None:
            return list(range(start, start + len(run)))
    try:
        shown = f"{model.to_str_tokens(tokens)} (ids {have})"
    except ValueError:  # no tokenizer: ids only
        shown = str(have)
    raise ValueError(f"the subject {subject!r} (tokens {candidates}) is not in the prompt's tokens {shown}")
