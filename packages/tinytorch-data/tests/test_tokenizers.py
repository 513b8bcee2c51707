"""Character and byte-level BPE tokenizers: round trips, training, special tokens, JSON."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch.data.tokenizers import BPETokenizer, CharTokenizer, load_tokenizer
from tinytorch.data.tokenizers.bpe import PATTERN, _merge

CORPUS = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak."
          "\n\nFirst Citizen:\nYou are all resolved rather to die than to famish?\n") * 3
ALPHABET = sorted(set(CORPUS))


def naive_bpe(corpus: str, vocab_size: int, min_frequency: int = 2) -> list[tuple[int, int]]:
    """Textbook BPE: recount every pair of every chunk before each merge."""
    import re

    words = Counter(re.findall(PATTERN, corpus))
    seqs = {w: list(w.encode("utf-8")) for w in words}
    merges = []
    for k in range(vocab_size - 256):
        counts = Counter()
        for w, f in words.items():
            for p in zip(seqs[w], seqs[w][1:]):
                counts[p] += f
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        if counts[best] < min_frequency:
            break
        merges.append(best)
        seqs = {w: _merge(s, best, 256 + k) for w, s in seqs.items()}
    return merges


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=ALPHABET, max_size=200))
def test_char_round_trip_for_text_in_its_vocabulary(text):
    tok = CharTokenizer().train(CORPUS)
    assert tok.decode(tok.encode(text)) == text


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200))
def test_bpe_round_trip_for_any_text(text):
    tok = _trained_bpe()
    assert tok.decode(tok.encode(text)) == text


_BPE: list[BPETokenizer] = []


def _trained_bpe() -> BPETokenizer:
    if not _BPE:
        _BPE.append(BPETokenizer(["<|endoftext|>"]).train(CORPUS, 330))
    return _BPE[0]


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=120))
def test_chunk_pattern_covers_every_character(text):
    import re

    assert "".join(re.findall(PATTERN, text)) == text


@settings(max_examples=25, deadline=None)
@given(corpus=st.text(alphabet="ab c\nd'é", min_size=1, max_size=300),
       vocab_size=st.integers(256, 300))
def test_incremental_training_learns_the_same_merges_as_recounting(corpus, vocab_size):
    assert BPETokenizer().train(corpus, vocab_size).merges == naive_bpe(corpus, vocab_size)


def test_bpe_reaches_the_requested_vocabulary_and_compresses():
    tok = _trained_bpe()
    assert tok.vocab_size == 330
    ids = tok.encode(CORPUS)
    assert len(ids) < len(CORPUS.encode("utf-8")) / 2
    assert tok.token_bytes(256) == b"".join(tok.token_bytes(i) for i in tok.merges[0])


def test_special_tokens_map_to_their_own_ids():
    tok = _trained_bpe()
    eot = tok.special_tokens["<|endoftext|>"]
    assert eot == 329
    ids = tok.encode("Speak<|endoftext|>die")
    assert ids.count(eot) == 1
    assert tok.decode(ids) == "Speak<|endoftext|>die"
    char = CharTokenizer(["<pad>"]).train(CORPUS)
    assert char.encode("<pad>a") == [char.vocab_size - 1, char.vocab.index("a")]


def test_char_tokenizer_unknown_characters():
    tok = CharTokenizer().train("abc")
    with pytest.raises(ValueError, match=r"characters \['z'\] are not in the vocabulary"):
        tok.encode("abz")
    unk = CharTokenizer(unk_token="<unk>").train("abc")
    assert unk.decode(unk.encode("abz")) == "ab<unk>"


def test_char_vocab_size_keeps_the_most_frequent_characters():
    tok = CharTokenizer(["<pad>"]).train("aaabbc", vocab_size=3)
    assert tok.vocab == ["a", "b"] and tok.vocab_size == 3


def test_batch_encode_and_decode():
    tok = CharTokenizer().train(CORPUS)
    texts = ["Speak", "", "die?"]
    assert tok.decode_batch(tok.encode_batch(texts)) == texts


def test_decode_rejects_out_of_range_ids():
    with pytest.raises(ValueError, match=r"token ids \[999\] out of range"):
        _trained_bpe().decode([1, 999])


@pytest.mark.parametrize("make", [lambda: _trained_bpe(),
                                  lambda: CharTokenizer(["<s>"], unk_token="<unk>").train(CORPUS)])
def test_save_load_round_trip(tmp_path, make):
    tok = make()
    path = tmp_path / "tok.json"
    tok.save(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["type"] == tok.kind and doc["version"] == 1
    again = load_tokenizer(path)
    assert type(again) is type(tok) and again.vocab_size == tok.vocab_size
    assert again.special_tokens == tok.special_tokens
    text = "First<s>Citizen: speak, speak!" if tok.kind == "char" else "Citizen<|endoftext|>x"
    assert again.encode(text) == tok.encode(text)


def test_load_rejects_other_kinds_and_versions(tmp_path):
    path = tmp_path / "tok.json"
    CharTokenizer().train("ab").save(path)
    with pytest.raises(ValueError, match="a 'char' tokenizer file, expected 'bpe'"):
        BPETokenizer.load(path)
    path.write_text(json.dumps({"type": "bpe", "version": 9, "special_tokens": {},
                                "merges": []}))
    with pytest.raises(ValueError, match="format version 9"):
        load_tokenizer(path)
    path.write_text(json.dumps({"type": "bpe", "version": 1, "special_tokens": {},
                                "merges": [[300, 1]]}))
    with pytest.raises(ValueError, match=r"merge 0 \[300, 1\] must pair two ids below 256"):
        load_tokenizer(path)


def test_vocab_size_too_small_is_an_error():
    with pytest.raises(ValueError, match="smaller than the 256 byte tokens plus 1 special"):
        BPETokenizer(["<s>"]).train("abc", 256)


def _bpe_doc(**fields):
    return {"type": "bpe", "version": 1, "special_tokens": {}, "merges": [], **fields}


def test_a_file_pattern_outside_the_tokenizers_own_is_refused_naming_file_and_allowed(tmp_path):
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(_bpe_doc(pattern="(a+)+$")))
    with pytest.raises(ValueError) as e:
        load_tokenizer(path)
    message = str(e.value)
    assert str(path) in message and "'(a+)+$'" in message and "'words'" in message


@pytest.mark.parametrize("pattern", ["words", PATTERN])
def test_the_tokenizers_own_pattern_loads_by_name_or_exact_string(tmp_path, pattern):
    path = tmp_path / "tok.json"
    path.write_text(json.dumps(_bpe_doc(pattern=pattern, merges=[[104, 105]])))
    tok = BPETokenizer.load(path)
    assert tok.pattern == PATTERN and tok.encode("hi hi") == [256, 32, 256]


def test_the_constructor_accepts_only_the_tokenizers_own_patterns():
    assert BPETokenizer(pattern="words").pattern == PATTERN
    with pytest.raises(ValueError, match="allowed: 'words'"):
        BPETokenizer(pattern=r"\w+")


@pytest.mark.parametrize("content", ['{"type": "bpe", "merges": [', "\xff\xfe not text", "[1, 2]",
                                     '"bpe"'])
def test_a_malformed_file_raises_value_error_naming_it(tmp_path, content):
    path = tmp_path / "broken.json"
    path.write_bytes(content.encode("latin-1"))
    for load in (load_tokenizer, BPETokenizer.load, CharTokenizer.load):
        with pytest.raises(ValueError, match="not a tokenizer file") as e:
            load(path)
        assert not isinstance(e.value, json.JSONDecodeError) and str(path) in str(e.value)


@pytest.mark.parametrize("doc, message", [
    ({"type": "bpe", "version": 1, "merges": []}, "field 'special_tokens' is missing"),
    (_bpe_doc(special_tokens=["<s>"]), "field 'special_tokens' must be dict, got list"),
    (_bpe_doc(special_tokens={"<s>": "256"}), "must map strings to integer ids"),
    ({"type": "bpe", "version": 1, "special_tokens": {}}, "field 'merges' is missing"),
    (_bpe_doc(merges="ab"), "field 'merges' must be list, got str"),
    (_bpe_doc(merges=[[1, "2"]]), r"merge 0 \[1, '2'\] must pair two ids below 256"),
    (_bpe_doc(merges=[[1, 2, 3]]), "merge 0 .* must pair two ids"),
    (_bpe_doc(merges=[5]), "merge 0 5 must pair two ids"),
    (_bpe_doc(pattern=5), "field 'pattern' must be str, got int"),
    ({"type": "char", "version": 1, "special_tokens": {}}, "field 'vocab' is missing"),
    ({"type": "char", "version": 1, "special_tokens": {}, "vocab": "ab"},
     "field 'vocab' must be list, got str"),
    ({"type": "char", "version": 1, "special_tokens": {}, "vocab": ["a"], "unk_token": 3},
     "field 'unk_token' must be str or null, got int"),
])
def test_missing_fields_and_wrong_types_raise_value_error_naming_file_and_field(
        tmp_path, doc, message):
    path = tmp_path / "tok.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=message) as e:
        load_tokenizer(path)
    assert str(e.value).startswith(f"{path}: ")


def test_save_through_a_symlink_updates_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "real.json"
    CharTokenizer().train("ab").save(target)
    link = tmp_path / "tok.json"
    link.symlink_to(target)
    CharTokenizer().train("xyz").save(link)
    assert link.is_symlink() and load_tokenizer(target).vocab == ["x", "y", "z"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real.json", "tok.json"]
