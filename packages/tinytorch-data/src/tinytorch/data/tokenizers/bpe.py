"""``BPETokenizer``: byte-level byte-pair encoding (Sennrich et al. 2016; GPT-2's byte variant).

The base vocabulary is the 256 byte values, so any text can be encoded and
``decode(encode(text)) == text`` always holds. Text is first cut into chunks (words with their
leading space, numbers, runs of punctuation, runs of whitespace; ``PATTERN``) so merges never
cross a chunk boundary. Training repeats V - 256 times: merge the most frequent adjacent pair
of tokens into a new token.

Training cost. A naive trainer recounts every pair of every word for each merge: O(M * W)
for M merges over W word tokens. Here the pair counts are kept incrementally: each distinct
chunk is stored once with its frequency, ``where[pair]`` lists the chunks that (may) contain
the pair, and a merge visits only those chunks and adjusts only the pairs around each merged
occurrence: ``(prev, a)`` and ``(b, next)`` lose the chunk's frequency, ``(prev, new)`` and
``(new, next)`` gain it. The most frequent pair comes off a heap with lazy deletion (an entry
whose count is stale is skipped), O(log P) per pop. Ties go to the smallest pair of ids, so
training is deterministic.

Encoding applies the learned merges to each distinct chunk in rank order, once (results are
cached), then concatenates the chunks' ids with C-level iteration.

JSON fields (besides ``type``, ``version`` and ``special_tokens``): ``"pattern"``, the chunking
regular expression; ``"merges"``, a list of ``[a, b]`` id pairs where merge ``i`` creates id
``256 + i``.

Only the chunking patterns in ``PATTERNS`` are accepted, by name or as their exact expression,
in the constructor and in files alike. Python's regular expressions backtrack: a pattern such
as ``(a+)+$`` takes time exponential in the length of a run of ``a``, so an expression read from
a file could stall ``encode`` on ordinary text. The patterns here have no nested repetition and
run in linear time.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any

from tinytorch.data.tokenizers.base import Tokenizer, checked_field

# contractions | letters | digits | other symbols (with "_") | whitespace; every character of
# any string matches exactly one branch, so the chunks concatenate back to the text
PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""
PATTERNS = {"words": PATTERN}  # the chunking patterns a tokenizer may use, by name
CACHE_LIMIT = 1 << 18  # distinct chunks remembered by encode


def known_pattern(pattern: str) -> str:
    """The regular expression for ``pattern``, a name in ``PATTERNS`` or one of its values."""
    if isinstance(pattern, str) and pattern in PATTERNS:
        return PATTERNS[pattern]
    if isinstance(pattern, str) and pattern in PATTERNS.values():
        return pattern
    allowed = ", ".join(f"{name!r} ({expr!r})" for name, expr in PATTERNS.items())
    raise ValueError(f"chunking pattern {pattern!r:.100} is not one of BPETokenizer's own "
                     f"patterns; allowed: {allowed} (other regular expressions are refused: one "
                     "with nested repetition can take exponential time to match)")


def _merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every non-overlapping occurrence of ``pair`` (left to right) by ``new_id``."""
    a, b = pair
    out = []
    i, n = 0, len(ids)
    while i < n:
        if i + 1 < n and ids[i] == a and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class BPETokenizer(Tokenizer):
    """``BPETokenizer(special_tokens=()).train(corpus, vocab_size)``, then ``encode``/``decode``.
    Ids: bytes 0-255, merged tokens 256.., then the special tokens."""

    kind = "bpe"

    def __init__(self, special_tokens: Sequence[str] = (), pattern: str = "words") -> None:
        super().__init__(special_tokens)
        self.pattern = known_pattern(pattern)
        self._chunk_re = re.compile(self.pattern)
        self._set_merges([])

    def _set_merges(self, merges: list[tuple[int, int]]) -> None:
        self.merges = merges
        self._ranks = {pair: rank for rank, pair in enumerate(merges)}
        self._bytes = [bytes([i]) for i in range(256)]
        for a, b in merges:
            self._bytes.append(self._bytes[a] + self._bytes[b])
        self._cache: dict[str, list[int]] = {}

    @property
    def base_vocab_size(self) -> int:
        return 256 + len(self.merges)

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes a (non-special) token stands for."""
        return self._bytes[token_id]

    def _chunks(self, corpus: str | Iterable[str]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for text in [corpus] if isinstance(corpus, str) else corpus:
            pieces = self._special_re.split(text) if self._special_re else [text]
            for piece in pieces:
                counts.update(self._chunk_re.findall(piece))
        return counts

    def train(self, corpus: str | Iterable[str], vocab_size: int,
              min_frequency: int = 2) -> BPETokenizer:
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``corpus``; stops early
        when no pair occurs ``min_frequency`` times."""
        n_merges = vocab_size - 256 - len(self._specials)
        if n_merges < 0:
            raise ValueError(f"vocab_size {vocab_size} is smaller than the 256 byte tokens plus "
                             f"{len(self._specials)} special tokens")
        chunks = self._chunks(corpus)
        words = [list(w.encode("utf-8")) for w in chunks]
        freqs = list(chunks.values())
        counts: dict[tuple[int, int], int] = defaultdict(int)
        where: dict[tuple[int, int], set[int]] = defaultdict(set)
        for w, ids in enumerate(words):
            for pair in zip(ids, ids[1:]):
                counts[pair] += freqs[w]
                where[pair].add(w)
        heap = [(-c, pair) for pair, c in counts.items()]
        heapq.heapify(heap)
        merges: list[tuple[int, int]] = []
        while len(merges) < n_merges and heap:
            neg, pair = heapq.heappop(heap)
            if counts.get(pair) != -neg:  # stale entry: the count changed since it was pushed
                continue
            if -neg < min_frequency:
                break
            new_id = 256 + len(merges)
            merges.append(pair)
            touched = self._apply_merge(pair, new_id, where.pop(pair), words, freqs, counts,
                                        where)
            for p in touched:
                if counts[p] > 0:
                    heapq.heappush(heap, (-counts[p], p))
                else:
                    del counts[p]
                    where.pop(p, None)
        self._set_merges(merges)
        return self

    @staticmethod
    def _apply_merge(pair: tuple[int, int], new_id: int, candidates: set[int],
                     words: list[list[int]], freqs: list[int],
                     counts: dict[tuple[int, int], int],
                     where: dict[tuple[int, int], set[int]]) -> set[tuple[int, int]]:
        """Merge ``pair`` in the candidate words, updating the pair counts around each merged
        occurrence; returns the pairs whose counts changed."""
        a, b = pair
        touched = {pair}
        for w in candidates:
            ids, f = words[w], freqs[w]
            out: list[int] = []
            i, n = 0, len(ids)
            while i < n:
                if i + 1 < n and ids[i] == a and ids[i + 1] == b:
                    counts[pair] -= f
                    if out:  # (prev, a) -> (prev, new)
                        left, left_new = (out[-1], a), (out[-1], new_id)
                        counts[left] -= f
                        counts[left_new] += f
                        where[left_new].add(w)
                        touched.update((left, left_new))
                    if i + 2 < n:  # (b, next) -> (new, next)
                        right, right_new = (b, ids[i + 2]), (new_id, ids[i + 2])
                        counts[right] -= f
                        counts[right_new] += f
                        where[right_new].add(w)
                        touched.update((right, right_new))
                    out.append(new_id)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            words[w] = out
        return touched

    def _encode_chunk(self, chunk: str) -> list[int]:
        ids = self._cache.get(chunk)
        if ids is not None:
            return ids
        ids = list(chunk.encode("utf-8"))
        ranks, never = self._ranks, len(self.merges)
        while len(ids) > 1:
            best = min(zip(ids, ids[1:]), key=lambda p: ranks.get(p, never))
            rank = ranks.get(best)
            if rank is None:
                break
            ids = _merge(ids, best, 256 + rank)
        if len(self._cache) < CACHE_LIMIT:
            self._cache[chunk] = ids
        return ids

    def _encode_ordinary(self, text: str) -> list[int]:
        chunks = self._chunk_re.findall(text)
        table = {c: self._encode_chunk(c) for c in set(chunks)}
        return list(chain.from_iterable(map(table.__getitem__, chunks)))

    def _decode_bytes(self, ids: Sequence[int]) -> bytes:
        table = self._bytes
        return b"".join([table[i] for i in ids])

    def _fields(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "merges": [list(p) for p in self.merges]}

    @classmethod
    def _from_fields(cls, fields: dict[str, Any], specials: list[str]) -> BPETokenizer:
        tok = cls(specials, checked_field(fields, "pattern", str, PATTERN))
        merges = checked_field(fields, "merges", list)
        for rank, m in enumerate(merges):
            if (not isinstance(m, list) or len(m) != 2
                    or not all(type(i) is int and 0 <= i < 256 + rank for i in m)):
                raise ValueError(f"merge {rank} {m!r:.40} must pair two ids below {256 + rank}")
        tok._set_merges([(a, b) for a, b in merges])
        return tok
