"""Tokenizers: ``CharTokenizer`` (one id per character) and ``BPETokenizer`` (byte-level BPE),
with ``train``, ``encode``/``decode`` (single and batch), special tokens and JSON save/load."""

from __future__ import annotations

import os

from tinytorch.data.tokenizers.base import Tokenizer, read_document
from tinytorch.data.tokenizers.bpe import BPETokenizer
from tinytorch.data.tokenizers.char import CharTokenizer

__all__ = ["BPETokenizer", "CharTokenizer", "Tokenizer", "load_tokenizer"]


def load_tokenizer(path: str | os.PathLike[str]) -> Tokenizer:
    """Read a tokenizer JSON file of either kind (its ``"type"`` field says which); a malformed
    file raises a ValueError naming it."""
    kind = read_document(path).get("type")
    for cls in (CharTokenizer, BPETokenizer):
        if cls.kind == kind:
            return cls.load(path)
    raise ValueError(f"{path}: unknown tokenizer type {kind!r}; expected 'char' or 'bpe'")
