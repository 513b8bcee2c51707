"""Result records and the JSON-lines store: strict shape, atomic appends, loud corruption."""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch.olympics import results
from tinytorch.olympics.results import ResultStore, validate_record


def verified(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schema": 1, "bundle": "entries/ada.zip", "bundle_sha256": "1" * 64,
        "model_sha256": "a" * 64, "entrant": "ada", "event": "latency-sprint",
        "division": "closed", "techniques": ["int8"], "description": "",
        "status": "verified", "reasons": [],
        "claims": {"accuracy": 0.89, "latency_ms": 0.02, "speedup": 1.4, "model_bytes": 1000},
        "measured": {"accuracy": 0.88, "latency_ms": 0.021, "latency_runs_ms": [0.02, 0.022],
                     "peak_memory_bytes": 123456, "model_bytes": 1000, "repeat_speedup": 1.01,
                     "outputs_match": True},
        "baseline": {"name": "mlp", "accuracy": 0.89, "latency_ms": 0.03, "model_bytes": 4000},
        "ratios": {"speedup": 1.43, "compression": 4.0, "accuracy": 0.99},
        "score": 1.42,
        "checks": [{"name": "onnx checker", "passed": True, "detail": "ok"}],
        "environment": {"python": "3.11.7"},
        "verified_at": "2026-12-04T16:00:00+00:00",
        "verifier": {"version": "0.1.0", "onnxruntime": "1.17.0", "seed": 0,
                     "heldout_samples": 10000},
    }
    record.update(changes)
    return record


def rejected(**changes: Any) -> dict[str, Any]:
    base = verified(status="rejected", reasons=["model.onnx is missing"], score=None,
                    measured=None, baseline=None, ratios=None, claims=None, entrant=None,
                    event=None, division=None, bundle_sha256=None, model_sha256=None)
    base.update(changes)
    return base


def problems(record: Any) -> str:
    with pytest.raises(ValueError) as info:
        validate_record(record)
    return str(info.value)


# --- validate_record ----------------------------------------------------------------------------

def test_a_complete_verified_record_and_a_bare_rejected_record_are_valid() -> None:
    assert validate_record(verified()) == verified()
    assert validate_record(rejected()) == rejected()


def test_a_record_that_is_not_an_object_is_refused() -> None:
    assert "expected a JSON object" in problems(["verified"])


def test_missing_and_unknown_keys_are_named() -> None:
    record = verified(scor=1.0)
    del record["score"]
    message = problems(record)
    assert "score: missing" in message and "'scor': unknown key" in message


def test_status_must_be_verified_or_rejected() -> None:
    assert "status: expected one of verified, rejected, got 'pending'" in problems(
        verified(status="pending"))


def test_a_verified_record_must_have_no_reasons() -> None:
    assert "reasons: expected [] for a verified record" in problems(verified(reasons=["slow"]))


def test_a_rejected_record_must_say_why() -> None:
    assert "reasons: expected at least one reason" in problems(rejected(reasons=[]))


def test_the_score_is_null_exactly_when_rejected() -> None:
    assert "score: expected null for a rejected record" in problems(rejected(score=0.0))
    assert "score: expected a finite number for a verified record" in problems(
        verified(score=None))


@pytest.mark.parametrize("score", [True, math.nan, math.inf, "1.4"])
def test_a_verified_score_is_a_finite_number_never_a_boolean(score: Any) -> None:
    assert "score: expected a finite number" in problems(verified(score=score))


@pytest.mark.parametrize("key", ["model_sha256", "event", "division", "measured", "baseline",
                                 "ratios", "claims", "entrant", "bundle_sha256"])
def test_a_verified_record_carries_its_identity_and_measurements(key: str) -> None:
    assert f"{key}: expected a value for a verified record, got null" in problems(
        verified(**{key: None}))


@pytest.mark.parametrize(("field", "key", "value"), [
    ("measured", "accuracy", 1.5), ("measured", "latency_ms", 0.0),
    ("measured", "latency_runs_ms", [0.1, -1.0]), ("measured", "peak_memory_bytes", -1),
    ("measured", "model_bytes", 10.0), ("measured", "outputs_match", 1),
    ("measured", "repeat_speedup", False), ("baseline", "name", 3),
    ("baseline", "accuracy", None), ("ratios", "speedup", math.nan),
    ("verifier", "seed", "0"), ("verifier", "onnxruntime", 1.17),
    ("verifier", "heldout_samples", True),
])
def test_nested_fields_are_type_and_range_checked(field: str, key: str, value: Any) -> None:
    record = verified()
    record[field][key] = value
    assert f"{field}.{key}: expected" in problems(record)


@pytest.mark.parametrize("field", ["measured", "baseline", "ratios", "verifier"])
def test_nested_objects_have_exactly_their_keys(field: str) -> None:
    record = verified()
    first = sorted(record[field])[0]
    del record[field][first]
    record[field]["extra"] = 1
    message = problems(record)
    assert f"{field}.extra: unknown key" in message
    assert f"{field}.{first}: missing" in message


def test_checks_are_a_list_of_name_passed_detail_objects() -> None:
    assert "checks[0].passed: expected bool" in problems(
        verified(checks=[{"name": "x", "passed": "yes", "detail": ""}]))
    assert "checks: expected a list" in problems(verified(checks={"x": True}))


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("schema", 2, "schema: expected 1"), ("schema", True, "schema: expected 1"),
    ("bundle", None, "bundle: expected a string"),
    ("model_sha256", "A" * 64, "model_sha256: expected 64 lowercase hex digits"),
    ("division", "mixed", "division: expected one of closed, open or null"),
    ("techniques", "int8", "techniques: expected a list of strings"),
    ("reasons", "slow", "reasons: expected a list of strings"),
    ("description", None, "description: expected a string"),
    ("claims", [1], "claims: expected an object or null"),
    ("environment", None, "environment: expected an object"),
    ("verified_at", "2026-12-04T16:00:00", "verified_at: expected an ISO 8601 time in UTC"),
    ("verified_at", 1700000000, "verified_at: expected an ISO 8601 time in UTC"),
])
def test_top_level_fields_are_type_checked(key: str, value: Any, expected: str) -> None:
    assert expected in problems(verified(**{key: value}))


def test_free_form_fields_must_still_be_plain_json() -> None:
    assert "not plain JSON data" in problems(verified(environment={"x": math.nan}))
    assert "not plain JSON data" in problems(verified(claims={"x": object()}))


def test_every_problem_is_listed_at_once() -> None:
    message = problems(verified(status="verified", reasons=["x"], score=None, bundle=1))
    assert message.count("\n  - ") == 3


# --- ResultStore --------------------------------------------------------------------------------

def test_a_store_without_a_file_has_no_records(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.jsonl")
    assert store.records() == []
    assert store.verified() == []
    assert store.duplicate_of("a" * 64, "latency-sprint") is None


def test_appended_records_come_back_in_order_one_per_line(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.jsonl")
    store.append([verified(), rejected()])
    store.append(iter([verified(entrant="bob", model_sha256="b" * 64)]))
    assert [r["entrant"] for r in store.records()] == ["ada", None, "bob"]
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["verified", "rejected", "verified"]


def test_append_refuses_an_invalid_record_and_writes_nothing(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.jsonl")
    store.append([verified()])
    before = store.path.read_bytes()
    with pytest.raises(ValueError, match=r"(?s)record 1 to append .*score"):
        store.append([rejected(), verified(score=None)])
    assert store.path.read_bytes() == before


def test_a_malformed_line_raises_naming_the_file_and_line(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.jsonl")
    store.append([verified(), verified(entrant="bob")])
    with open(store.path, "a") as f:
        f.write('{"schema": 1, "bund')          # half a line, as a crash would leave
    with pytest.raises(ValueError, match=rf"{store.path}, line 3: not a valid result record"):
        store.records()


@pytest.mark.parametrize("line", ["", "[]", '{"schema": 1}', "NaN", "\udcff"],
                         ids=["blank", "not-object", "incomplete", "nan", "bad-utf8"])
def test_any_bad_line_makes_reading_fail_loudly(tmp_path: Path, line: str) -> None:
    path = tmp_path / "results.jsonl"
    good = json.dumps(verified())
    path.write_bytes(f"{good}\n{line}\n{good}\n".encode("utf-8", "surrogateescape"))
    with pytest.raises(ValueError, match="line 2"):
        ResultStore(path).records()


def test_append_refuses_to_extend_a_corrupted_store(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text('{"schema": 1, "bund\n')
    with pytest.raises(ValueError, match="line 1"):
        ResultStore(path).append([verified()])
    assert path.read_text() == '{"schema": 1, "bund\n'


def test_a_crash_while_writing_leaves_the_old_file_whole(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store = ResultStore(tmp_path / "results.jsonl")
    store.append([verified()])
    before = store.path.read_bytes()

    def crash(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        store.append([rejected()])
    assert store.path.read_bytes() == before
    assert os.listdir(tmp_path) == ["results.jsonl"]


def test_append_uses_the_atomic_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = results.atomic_write

    def spy(path: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(results, "atomic_write", spy)
    ResultStore(tmp_path / "r.jsonl").append([verified()])
    assert calls == [tmp_path / "r.jsonl"]


def test_verified_filters_by_status_and_event(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.jsonl")
    store.append([verified(), rejected(event="latency-sprint"),
                  verified(event="tiny-model", model_sha256="c" * 64)])
    assert len(store.verified()) == 2
    assert [r["event"] for r in store.verified("tiny-model")] == ["tiny-model"]
    assert store.verified("no-such-event") == []


def test_duplicate_of_matches_verified_records_of_the_same_model_and_event(
        tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.jsonl")
    store.append([rejected(model_sha256="d" * 64, event="latency-sprint"),
                  verified(entrant="first"), verified(entrant="second")])
    assert store.duplicate_of("a" * 64, "latency-sprint")["entrant"] == "first"
    assert store.duplicate_of("a" * 64, "tiny-model") is None
    assert store.duplicate_of("d" * 64, "latency-sprint") is None   # rejected does not count


texts = st.text(max_size=30)


@settings(max_examples=30, deadline=None)
@given(entrants=st.lists(texts, min_size=1, max_size=5), description=texts,
       environment=st.dictionaries(texts, texts | st.integers() | st.floats(allow_nan=False,
                                                                            allow_infinity=False),
                                   max_size=3))
def test_any_valid_records_round_trip_through_the_store(
        tmp_path_factory: pytest.TempPathFactory, entrants: list[str], description: str,
        environment: dict[str, Any]) -> None:
    store = ResultStore(tmp_path_factory.mktemp("store") / "results.jsonl")
    new = [verified(entrant=e, description=description, environment=copy.deepcopy(environment))
           for e in entrants]
    store.append(new)
    store.append([rejected(description=description)])
    assert store.records() == [*new, rejected(description=description)]
    assert len(store.path.read_bytes().splitlines()) == len(entrants) + 1
