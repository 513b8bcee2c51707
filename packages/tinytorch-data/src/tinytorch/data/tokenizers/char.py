"""``CharTokenizer``: one token per Unicode character (the character-level GPT's vocabulary).

Encoding is vectorized: the text becomes an array of code points (``str.encode('utf-32')``,
4 bytes per character) and one ``searchsorted`` against the sorted vocabulary maps them all to
ids, O(L log V) for L characters; decoding gathers code points and decodes them back. The
1.1 M characters of TinyShakespeare encode in a few tens of milliseconds.

JSON fields (besides ``type``, ``version`` and ``special_tokens``): ``"vocab"``, the list of
characters, where a character's position is its id; ``"unk_token"``, the special token that
unknown characters map to, or null (then they are an error).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tinytorch.data.tokenizers.base import Tokenizer, checked_field


class CharTokenizer(Tokenizer):
    """``CharTokenizer(special_tokens=(), unk_token=None).train(corpus)``, then ``encode`` and
    ``decode``. Ids: the characters in code-point order, then the special tokens."""

    kind = "char"

    def __init__(self, special_tokens: Sequence[str] = (), unk_token: str | None = None) -> None:
        specials = list(special_tokens)
        if unk_token is not None and unk_token not in specials:
            specials.append(unk_token)
        super().__init__(specials)
        self.unk_token = unk_token
        self._codes = np.zeros(0, np.uint32)  # sorted code points; position = id

    @property
    def base_vocab_size(self) -> int:
        return len(self._codes)

    @property
    def vocab(self) -> list[str]:
        """The characters, by id."""
        return [chr(c) for c in self._codes.tolist()]

    def train(self, corpus: str | Iterable[str], vocab_size: int | None = None) -> CharTokenizer:
        """Learn the characters of ``corpus``; with ``vocab_size``, keep the most frequent
        ``vocab_size - len(special_tokens)`` (ties broken by code point)."""
        texts = [corpus] if isinstance(corpus, str) else list(corpus)
        counts: Counter[str] = Counter()
        for t in texts:  # special tokens are not made of vocabulary characters
            counts.update(self._special_re.sub("", t) if self._special_re else t)
        chars = list(counts)
        if vocab_size is not None:
            keep = vocab_size - len(self._specials)
            if keep < 1:
                raise ValueError(f"vocab_size {vocab_size} leaves no room for characters after "
                                 f"{len(self._specials)} special tokens")
            chars = sorted(chars, key=lambda c: (-counts[c], ord(c)))[:keep]
        self._codes = np.array(sorted(ord(c) for c in chars), dtype=np.uint32)
        return self

    def _encode_ordinary(self, text: str) -> list[int]:
        if not text:
            return []
        points = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
        ids = np.searchsorted(self._codes, points)
        known = ids < len(self._codes)
        known[known] = self._codes[ids[known]] == points[known]
        if not known.all():
            if self.unk_token is None:
                missing = sorted({chr(p) for p in points[~known].tolist()})
                raise ValueError(f"characters {missing[:10]} are not in the vocabulary of "
                                 f"{self.base_vocab_size} characters (pass unk_token=... to "
                                 f"map them to a special token)")
            ids[~known] = self.special_tokens[self.unk_token]
        return ids.tolist()

    def _decode_bytes(self, ids: Sequence[int]) -> bytes:
        return self._codes[np.asarray(ids, dtype=np.int64)].astype("<u4").tobytes().decode(
            "utf-32-le").encode("utf-8")

    def _fields(self) -> dict[str, Any]:
        return {"vocab": self.vocab, "unk_token": self.unk_token}

    @classmethod
    def _from_fields(cls, fields: dict[str, Any], specials: list[str]) -> CharTokenizer:
        unk = checked_field(fields, "unk_token", (str, type(None)), None)
        tok = cls(specials, unk)
        vocab = checked_field(fields, "vocab", list)
        if any(not isinstance(c, str) or len(c) != 1 for c in vocab):
            raise ValueError("a char tokenizer's vocab must be a list of single characters")
        tok._codes = np.array([ord(c) for c in vocab], dtype=np.uint32)
        if np.any(np.diff(tok._codes.astype(np.int64)) <= 0):
            raise ValueError("a char tokenizer's vocab must be in increasing code-point order")
        return tok
