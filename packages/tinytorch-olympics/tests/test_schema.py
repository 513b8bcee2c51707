"""submission.json schema 1: every field's type and range, all problems reported at once."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinytorch.olympics.schema import BundleError, validate_submission


def valid() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "entrant": "ada",
        "event": "latency-sprint",
        "division": "closed",
        "model_sha256": "ab" * 32,
        "claims": {"accuracy": 0.8921, "latency_ms": 0.021, "speedup": 1.42,
                   "model_bytes": 245123},
        "techniques": ["int8 static quantization"],
        "description": "free text",
        "created_utc": "2026-12-04T16:00:00+00:00",
        "software": {"tinytorch-core": "0.2.0"},
    }


def problems_of(obj: Any) -> str:
    with pytest.raises(BundleError) as info:
        validate_submission(obj)
    return str(info.value)


def test_a_valid_submission_is_returned_equal_as_a_copy() -> None:
    obj = valid()
    clean = validate_submission(obj)
    assert clean == obj
    clean["claims"]["accuracy"] = 0.0
    assert obj["claims"]["accuracy"] == 0.8921


def test_optional_fields_may_be_absent_or_null() -> None:
    obj = valid()
    del obj["created_utc"]
    obj["software"] = None
    assert validate_submission(obj) == {k: v for k, v in obj.items() if k != "software"}


def test_a_non_object_is_refused_naming_its_type() -> None:
    assert "expected a JSON object" in problems_of([1, 2])


def test_an_unknown_top_level_key_is_an_error() -> None:
    obj = valid() | {"divison": "open"}
    message = problems_of(obj)
    assert "'divison': unknown key" in message


def test_every_missing_required_field_is_named() -> None:
    message = problems_of({})
    for key in ("schema_version", "entrant", "event", "division", "model_sha256", "claims",
                "techniques", "description"):
        assert f"{key}: missing" in message
    assert "8 problems" in message


def test_all_problems_are_reported_at_once_with_field_value_and_expectation() -> None:
    obj = valid()
    obj["entrant"] = ""
    obj["event"] = "Latency Sprint"
    obj["division"] = "closd"
    obj["claims"]["accuracy"] = 89.2
    with pytest.raises(BundleError) as info:
        validate_submission(obj)
    assert len(info.value.problems) == 4
    message = str(info.value)
    assert "4 problems" in message
    assert "entrant: expected a string of 1..80 printable characters" in message
    assert "event: expected 1..64 characters of a-z, 0-9 and '-', got 'Latency Sprint'" in message
    assert "division: expected one of 'closed', 'open', got 'closd'" in message
    assert "claims.accuracy: expected a number in [0, 1]" in message and "89.2" in message


@pytest.mark.parametrize("value", [1, 2, "1", True, 1.0])
def test_schema_version_must_be_the_integer_1(value: Any) -> None:
    obj = valid() | {"schema_version": value}
    if value == 1 and type(value) is int:
        validate_submission(obj)
    else:
        assert "schema_version: expected 1" in problems_of(obj)


@pytest.mark.parametrize("key", ["accuracy", "latency_ms", "speedup", "model_bytes"])
@pytest.mark.parametrize("value", [True, False, math.nan, math.inf, -math.inf, "0.5", None])
def test_a_claim_must_be_a_finite_number_never_a_boolean(key: str, value: Any) -> None:
    obj = valid()
    obj["claims"][key] = value
    assert f"claims.{key}: expected" in problems_of(obj)


@pytest.mark.parametrize(("key", "value"), [("latency_ms", 0), ("speedup", -1.0),
                                            ("model_bytes", 0), ("model_bytes", 12.5),
                                            ("accuracy", -0.01), ("accuracy", 1.01)])
def test_claims_out_of_range_are_refused(key: str, value: Any) -> None:
    obj = valid()
    obj["claims"][key] = value
    assert f"claims.{key}: expected" in problems_of(obj)


def test_claims_must_be_complete_and_have_no_extra_keys() -> None:
    obj = valid()
    del obj["claims"]["speedup"]
    obj["claims"]["acuracy"] = 0.5
    message = problems_of(obj)
    assert "claims.speedup: missing" in message
    assert "claims.acuracy: unknown key" in message


def test_a_huge_integer_claim_is_a_number_not_a_crash() -> None:
    obj = valid()
    obj["claims"]["model_bytes"] = 10**400
    assert validate_submission(obj)["claims"]["model_bytes"] == 10**400


@pytest.mark.parametrize("entrant", ["a" * 81, "tab\there", "new\nline", "   ", 7])
def test_entrant_must_be_1_to_80_printable_characters(entrant: Any) -> None:
    assert "entrant: expected" in problems_of(valid() | {"entrant": entrant})


def test_event_may_not_exceed_64_characters() -> None:
    validate_submission(valid() | {"event": "a" * 64})
    assert "event: expected" in problems_of(valid() | {"event": "a" * 65})


@pytest.mark.parametrize("digest", ["AB" * 32, "ab" * 31, "zz" * 32, None])
def test_model_sha256_must_be_64_lowercase_hex_digits(digest: Any) -> None:
    assert "model_sha256: expected 64 lowercase hex digits" in problems_of(
        valid() | {"model_sha256": digest})


def test_techniques_are_limited_in_number_and_length() -> None:
    assert "techniques: expected" in problems_of(valid() | {"techniques": ["x"] * 21})
    message = problems_of(valid() | {"techniques": ["ok", "", "y" * 201, 3]})
    assert "techniques[1]" in message and "techniques[2]" in message
    assert "techniques[3]" in message
    assert "techniques: expected" in problems_of(valid() | {"techniques": "pruning"})
    validate_submission(valid() | {"techniques": []})


def test_description_is_at_most_4000_characters() -> None:
    validate_submission(valid() | {"description": "d" * 4000})
    assert "description: expected" in problems_of(valid() | {"description": "d" * 4001})


@pytest.mark.parametrize("when", ["2026-12-04T16:00:00+00:00", "2026-12-04T16:00:00Z",
                                  "2026-12-04T16:00:00.123456+00:00"])
def test_created_utc_accepts_iso_times_in_utc(when: str) -> None:
    validate_submission(valid() | {"created_utc": when})


@pytest.mark.parametrize("when", ["yesterday", "2026-12-04T16:00:00", 1700000000,
                                  "2026-12-04T16:00:00+02:00"])
def test_created_utc_refuses_anything_but_a_utc_iso_time(when: Any) -> None:
    assert "created_utc: expected" in problems_of(valid() | {"created_utc": when})


@pytest.mark.parametrize("software", [["numpy"], {"numpy": 2}, {"": "1"},
                                      {f"p{i}": "1" for i in range(51)}])
def test_software_must_map_package_names_to_version_strings(software: Any) -> None:
    assert "software" in problems_of(valid() | {"software": software})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=90),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=8)


@given(key=st.sampled_from(sorted(valid())), value=json_values)
def test_any_value_in_any_field_either_passes_or_raises_bundle_error(key: str,
                                                                     value: Any) -> None:
    obj = valid() | {key: value}
    try:
        clean = validate_submission(obj)
    except BundleError as e:
        assert key in str(e)
    else:
        assert clean.get(key) == value


@given(accuracy=st.floats(0, 1), latency=st.floats(1e-6, 1e6), speedup=st.floats(1e-6, 1e6),
       size=st.integers(1, 2**40), entrant=st.text(min_size=1, max_size=80).filter(
           lambda s: s.isprintable() and s.strip() != ""),
       event=st.from_regex(r"[a-z0-9-]{1,64}", fullmatch=True),
       division=st.sampled_from(["closed", "open"]))
def test_every_submission_inside_the_ranges_is_accepted(accuracy: float, latency: float,
                                                       speedup: float, size: int, entrant: str,
                                                       event: str, division: str) -> None:
    obj = copy.deepcopy(valid())
    obj.update(entrant=entrant, event=event, division=division)
    obj["claims"] = {"accuracy": accuracy, "latency_ms": latency, "speedup": speedup,
                     "model_bytes": size}
    assert validate_submission(obj) == obj
