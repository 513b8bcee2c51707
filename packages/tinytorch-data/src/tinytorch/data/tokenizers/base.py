"""What every tokenizer shares: special tokens, batch encode/decode, JSON save/load.

Special tokens are whole strings (``"<|endoftext|>"``, ``"<pad>"``) with ids of their own,
placed after the learned vocabulary. ``encode`` first splits the text at every occurrence of
a special token (one regular expression, longest token first) so they map to their ids and
never to their characters; the pieces in between go through the tokenizer proper.

The JSON file written by ``save`` is one object: ``{"type": "char" | "bpe", "version": 1,
"special_tokens": {token: id}, ...}`` plus the fields of that tokenizer (documented in its
module). ``tinytorch.data.tokenizers.load_tokenizer(path)`` reads either kind.

A tokenizer file is data, possibly from someone else, so loading checks it before use: invalid
JSON, a missing field or a field of the wrong type raises a ValueError naming the file and the
field, and a BPE file may only name one of the chunking patterns BPETokenizer defines (a
regular expression from a file could take exponential time on ordinary text).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from tinytorch.core.atomic import atomic_write

FORMAT_VERSION = 1


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON object in a tokenizer file; a ValueError naming the file if it is not one."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{os.fspath(path)}: not a tokenizer file: invalid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{os.fspath(path)}: not a tokenizer file: expected a JSON object, got "
                         f"{type(doc).__name__}")
    return doc


def checked_field(fields: dict[str, Any], key: str, kind: type | tuple[type, ...],
          default: Any = ...) -> Any:
    """``fields[key]`` checked against ``kind`` (bool never counts as int); a ValueError names
    the field when it is missing (and has no ``default``) or has another type."""
    if key not in fields:
        if default is ...:
            raise ValueError(f"field {key!r} is missing")
        return default
    value = fields[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
        raise ValueError(f"field {key!r} must be {names}, got {type(value).__name__}")
    return value


class Tokenizer:
    """Base class: subclasses define ``_encode_ordinary``, ``_decode_bytes``,
    ``base_vocab_size``, ``_fields`` and ``_from_fields``."""

    kind = ""

    def __init__(self, special_tokens: Sequence[str] = ()) -> None:
        if len(set(special_tokens)) != len(special_tokens) or any(not s for s in special_tokens):
            raise ValueError(f"special tokens must be distinct non-empty strings, got "
                             f"{list(special_tokens)}")
        self._specials = list(special_tokens)
        ordered = sorted(self._specials, key=len, reverse=True)
        self._special_re = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None

    # ------------------------------------------------------------------ vocabulary
    @property
    def base_vocab_size(self) -> int:
        raise NotImplementedError

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special token -> id; ids follow the learned vocabulary."""
        return {s: self.base_vocab_size + i for i, s in enumerate(self._specials)}

    @property
    def vocab_size(self) -> int:
        return self.base_vocab_size + len(self._specials)

    # ------------------------------------------------------------------ encode / decode
    def _encode_ordinary(self, text: str) -> list[int]:
        raise NotImplementedError

    def _decode_bytes(self, ids: Sequence[int]) -> bytes:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        """Text -> token ids; special tokens in the text map to their own ids."""
        if self._special_re is None:
            return self._encode_ordinary(text)
        ids: list[int] = []
        specials = self.special_tokens
        pos = 0
        for m in self._special_re.finditer(text):
            ids += self._encode_ordinary(text[pos:m.start()])
            ids.append(specials[m.group()])
            pos = m.end()
        ids += self._encode_ordinary(text[pos:])
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Token ids -> text. Byte sequences that are not valid UTF-8 decode to U+FFFD."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token ids {bad[:5]} out of range for a vocabulary of "
                             f"{self.vocab_size}")
        base = self.base_vocab_size
        if not any(i >= base for i in ids):
            return self._decode_bytes(ids).decode("utf-8", errors="replace")
        parts: list[bytes] = []
        run: list[int] = []
        for i in ids:
            if i < base:
                run.append(i)
                continue
            parts.append(self._decode_bytes(run))
            parts.append(self._specials[i - base].encode("utf-8"))
            run = []
        parts.append(self._decode_bytes(run))
        return b"".join(parts).decode("utf-8", errors="replace")

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def decode_batch(self, batch: Iterable[Iterable[int]]) -> list[str]:
        return [self.decode(ids) for ids in batch]

    def __call__(self, text: str) -> list[int]:
        return self.encode(text)

    # ------------------------------------------------------------------ persistence
    def _fields(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def _from_fields(cls, fields: dict[str, Any], specials: list[str]) -> Tokenizer:
        raise NotImplementedError

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the tokenizer as JSON, atomically (``tinytorch.core.atomic``)."""
        doc = {"type": self.kind, "version": FORMAT_VERSION,
               "special_tokens": self.special_tokens, **self._fields()}
        with atomic_write(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Tokenizer:
        """Read a tokenizer written by ``save``; a malformed file raises a ValueError naming
        it."""
        doc = read_document(path)
        kind = doc.get("type")
        if kind != cls.kind:
            raise ValueError(f"{path}: a '{kind}' tokenizer file, expected '{cls.kind}'")
        if doc.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path}: tokenizer format version {doc.get('version')}, this "
                             f"version of tinytorch-data reads {FORMAT_VERSION}")
        try:
            specials = checked_field(doc, "special_tokens", dict)
            if not all(isinstance(s, str) and type(i) is int for s, i in specials.items()):
                raise ValueError("field 'special_tokens' must map strings to integer ids")
            by_id = sorted(specials.items(), key=lambda kv: kv[1])
            tok = cls._from_fields(doc, [s for s, _ in by_id])
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        if tok.special_tokens != dict(by_id):
            raise ValueError(f"{path}: special token ids {dict(by_id)} do not follow the "
                             f"vocabulary of {tok.base_vocab_size}")
        return tok

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(vocab_size={self.vocab_size}, "
                f"special_tokens={self._specials})")

