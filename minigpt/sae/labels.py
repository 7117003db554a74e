"""Labels for every byte of Python source, from Python's own tokenizer: the ground truth a feature is tested on.

A latent that seems to mean "inside a string" from its top contexts is a hypothesis; labelling every byte of
held-out source (is it inside a string literal? a comment? how deep is its line indented?) turns it into a
measurement: how often the latent fires on the labelled bytes and how often elsewhere.

>>> labels = python_byte_labels("x = 'ab'  # c\\n")
>>> "".join("s" if s else "." for s in labels["string"].tolist())
'....ssss......'
>>> "".join("c" if c else "." for c in labels["comment"].tolist())
'..........ccc.'

The labels (each a tensor with one entry per UTF-8 byte of ``text``):

- ``string``: the byte is part of a string literal (quotes and prefix included);
- ``docstring``: part of a string literal that stands alone as a statement (a docstring, mostly);
- ``comment``: part of a ``#`` comment;
- ``def_name``: part of the name that follows ``def`` or ``class``;
- ``number``: part of a number literal;
- ``indent``: the indentation of the byte's line, in spaces (``[n_bytes]`` long);
- ``leading_space``: the byte is a space in its line's indentation;
- ``bracket_depth``: how many ``( [ {`` are open at the byte.
"""

from __future__ import annotations

import io
import tokenize

import torch
from torch import Tensor

__all__ = ["python_byte_labels"]


def python_byte_labels(text: str) -> dict[str, Tensor]:
    """Per-byte labels of Python source ``text`` (see the module doc); ``tokenize`` must accept the text."""
    lines = text.splitlines(keepends=True)
    starts = [0]  # the character offset of each line
    for line in lines:
        starts.append(starts[-1] + len(line))
    n_chars = len(text)
    chars = {name: [False] * n_chars for name in ("string", "docstring", "comment", "def_name", "number")}
    depth_change = [0] * (n_chars + 1)  # +1 after an opening bracket, -1 at a closing one

    def span(start: tuple[int, int], end: tuple[int, int]) -> range:
        return range(starts[start[0] - 1] + start[1], starts[end[0] - 1] + end[1])

    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    previous = None  # the previous significant token
    for index, tok in enumerate(tokens):
        where = span(tok.start, tok.end)
        if tok.type == tokenize.STRING:
            alone = previous is None or previous.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
            alone = alone and _next_significant(tokens, index).type in (tokenize.NEWLINE, tokenize.ENDMARKER)
            for i in where:
                chars["string"][i] = True
                chars["docstring"][i] = alone
        elif tok.type == tokenize.COMMENT:
            for i in where:
                chars["comment"][i] = True
        elif tok.type == tokenize.NUMBER:
            for i in where:
                chars["number"][i] = True
        elif tok.type == tokenize.NAME and previous is not None and previous.string in ("def", "class"):
            for i in where:
                chars["def_name"][i] = True
        if tok.type == tokenize.OP and tok.string in "([{":
            depth_change[where.stop] += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth_change[where.start] -= 1
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            previous = tok
    indent, leading = [0] * n_chars, [False] * n_chars
    for row, line in enumerate(lines):
        width = len(line) - len(line.lstrip(" "))
        for i in range(starts[row], starts[row + 1]):
            indent[i] = width
            leading[i] = i - starts[row] < width
    per_byte = [len(c.encode("utf-8")) for c in text]  # a character's label goes to each of its bytes
    out = {name: _expand(values, per_byte, torch.bool) for name, values in chars.items()}
    out["indent"] = _expand(indent, per_byte, torch.long)
    out["leading_space"] = _expand(leading, per_byte, torch.bool)
    out["bracket_depth"] = _expand(torch.tensor(depth_change[:-1]).cumsum(0).tolist(), per_byte, torch.long)
    return out


def _next_significant(tokens: list, index: int):
    for tok in tokens[index + 1:]:
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            return tok
    return tokens[-1]


def _expand(values: list, per_byte: list[int], dtype: torch.dtype) -> Tensor:
    return torch.tensor(values, dtype=dtype).repeat_interleave(torch.tensor(per_byte, dtype=torch.long))
