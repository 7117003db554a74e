"""Text in and out of a model, with TransformerLens's semantics.

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, seed=0))  # GPT-2's vocabulary: 50257
>>> model.to_tokens("Hello world")          # <|endoftext|> first, as GPT-2 was trained
tensor([[50256, 15496,   995]])
>>> model.to_str_tokens("Hello world", prepend_bos=False)
['Hello', ' world']

A model whose config records its tokenizer (``GPTConfig.tokenizer``) finds it by itself:

>>> byte_model = GPT(GPTConfig(n_layers=1, d_model=16, n_heads=2, d_vocab=256, tokenizer="bytes"))
>>> byte_model.to_str_tokens("Hi", prepend_bos=False)
['H', 'i']
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


class TextMixin:
    """``to_tokens``, ``to_str_tokens``, ``to_string``, ``to_single_token`` for :class:`~minigpt.GPT`."""

    tokenizer = None

    def set_tokenizer(self, tokenizer) -> None:
        """Use ``tokenizer`` (anything with ``encode``/``decode``, e.g. ``get_tokenizer("gpt2")``)."""
        n_vocab = getattr(tokenizer, "n_vocab", None)
        if n_vocab is not None and n_vocab > self.cfg.d_vocab:
            raise ValueError(f"the tokenizer has {n_vocab} tokens but the model's d_vocab is {self.cfg.d_vocab}")
        self.tokenizer = tokenizer

    def _require_tokenizer(self):
        """The tokenizer set, else the one the config records (``cfg.tokenizer``), else GPT-2's for its vocabulary."""
        if self.tokenizer is None and (self.cfg.tokenizer is not None or self.cfg.d_vocab == 50257):
            from .tokenizer import get_tokenizer

            self.set_tokenizer(get_tokenizer(self.cfg.tokenizer or "gpt2"))
        if self.tokenizer is None:
            raise ValueError(
                f"this model (d_vocab={self.cfg.d_vocab}) has no tokenizer; set one with "
                "model.set_tokenizer(...), e.g. minigpt.tokenizer.get_tokenizer('bytes')"
            )
        return self.tokenizer

    @property
    def bos_token_id(self) -> int:
        """The config's ``bos_token_id``, else the tokenizer's end-of-text token, else ``eos_token_id``."""
        tok = self._require_tokenizer()
        bos = self.cfg.bos_token_id
        if bos is None:
            bos = getattr(tok, "eot_token", None)
        if bos is None:
            bos = self.cfg.eos_token_id
        if bos is None:
            raise ValueError("this model's tokenizer has no beginning-of-sequence token; use prepend_bos=False")
        return bos

    def to_tokens(self, text: str | Sequence[str], prepend_bos: bool = True, truncate: bool = True) -> Tensor:
        """Text → ``[batch, pos]`` token ids on the model's device.

        A list of texts is right-padded with the end-of-text token (TransformerLens's default).
        ``truncate`` keeps the first ``n_ctx`` tokens.
        """
        tok = self._require_tokenizer()
        texts = [text] if isinstance(text, str) else list(text)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise TypeError("to_tokens takes a string or a list of strings")
        rows = [([self.bos_token_id] if prepend_bos else []) + tok.encode(t, allowed_special="all") for t in texts]
        if truncate:
            rows = [r[: self.cfg.n_ctx] for r in rows]
        width = max(len(r) for r in rows)
        if width == 0:
            raise ValueError("the text is empty and prepend_bos=False: there are no tokens")
        pad = getattr(tok, "eot_token", None)
        pad = pad if pad is not None else (self.cfg.eos_token_id or 0)
        tokens = torch.full((len(rows), width), pad, dtype=torch.long)
        for i, r in enumerate(rows):
            tokens[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        return tokens.to(self.device)

    def to_str_tokens(self, input, prepend_bos: bool = True) -> list[str] | list[list[str]]:
        """Each token as its text: a string, a ``[pos]`` tensor or list, or ``[batch, pos]`` (a list per row)."""
        tok = self._require_tokenizer()
        if isinstance(input, str):
            input = self.to_tokens(input, prepend_bos=prepend_bos)[0]
        if isinstance(input, Tensor):
            if input.ndim == 2:
                return [self.to_str_tokens(row) for row in input]
            input = input.tolist()
        return [tok.decode([int(i)]) for i in input]

    def to_string(self, tokens) -> str | list[str]:
        """Token ids → text (a list of texts for ``[batch, pos]``); one id (an int or a 0-d tensor) gives its text."""
        tok = self._require_tokenizer()
        if isinstance(tokens, Tensor):
            if tokens.ndim == 2:
                return [tok.decode(row.tolist()) for row in tokens]
            tokens = tokens.reshape(-1).tolist()  # a 0-d tensor (one token, e.g. an argmax) reads as one id
        elif isinstance(tokens, int):
            tokens = [tokens]
        return tok.decode([int(t) for t in tokens])

    def to_single_token(self, text: str) -> int:
        """The id of ``text`` when it is exactly one token (e.g. ``" Paris"``); an error otherwise."""
        ids = self.to_tokens(text, prepend_bos=False)[0].tolist()
        if len(ids) != 1:
            pieces = self.to_str_tokens(text, prepend_bos=False)
            raise ValueError(f"{text!r} is {len(ids)} tokens, not one: {pieces}")
        return ids[0]
