"""Result records (schema 1) and ``ResultStore``, the JSON-lines file that holds them.

One line per verification, verified or rejected, so the file is the history of every run and
the leaderboard is a filter over it (``status == "verified"``). The leaderboard must never rank
corrupted data, so both ends are strict:

- ``validate_record`` checks every field's type and range and the rules that tie fields
  together: reasons are empty exactly when the status is verified, the score is null exactly
  when it is rejected, and a verified record carries its identity and measurements;
- ``ResultStore.records`` refuses a malformed line, naming the file and line number, instead of
  skipping it;
- ``ResultStore.append`` validates the new records, then rewrites the whole file through
  ``atomic_write``, so a crash mid-write leaves the old file, never half a line.

Cost: an append reads, checks and rewrites the whole file, O(records): a record is about
1 kB, and appending one to a store of 5,000 takes about 0.7 s on one core. Appends are not
locked against each other: one process (the verifier run) writes the store at a time.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tinytorch.core.atomic import atomic_write
from tinytorch.olympics.schema import DIVISIONS, is_int, is_number, parse_utc, show

RECORD_SCHEMA = 1
STATUSES = ("verified", "rejected")

_SHA256 = re.compile(r"[0-9a-f]{64}")
_NUMBER = "a finite number"
_POSITIVE = "a finite number > 0"
_FRACTION = "a number in [0, 1]"
_COUNT = "an integer >= 0"
_SIZE = "an integer > 0"
_FIELDS: dict[str, dict[str, str]] = {
    "measured": {"accuracy": _FRACTION, "latency_ms": _POSITIVE,
                 "latency_runs_ms": "positive numbers", "peak_memory_bytes": _COUNT,
                 "model_bytes": _SIZE, "repeat_speedup": _POSITIVE, "outputs_match": "bool"},
    "baseline": {"name": "str", "accuracy": _FRACTION, "latency_ms": _POSITIVE,
                 "model_bytes": _SIZE},
    "ratios": {"speedup": _POSITIVE, "compression": _POSITIVE, "accuracy": _NUMBER},
    "verifier": {"version": "str", "onnxruntime": "str or null", "seed": "int",
                 "heldout_samples": _COUNT},
    "check": {"name": "str", "passed": "bool", "detail": "str"},
}
_OPTIONAL_STR = ("bundle_sha256", "model_sha256", "entrant", "event", "division")
_VERIFIED_NEEDS = ("bundle_sha256", "model_sha256", "entrant", "event", "division", "claims",
                   "measured", "baseline", "ratios")
_KEYS = ("schema", "bundle", "bundle_sha256", "model_sha256", "entrant", "event", "division",
         "techniques", "description", "status", "reasons", "claims", "measured", "baseline",
         "ratios", "score", "checks", "environment", "verified_at", "verifier")


def _fits(value: Any, expected: str) -> bool:
    """Whether ``value`` is what the short type description ``expected`` asks for."""
    if expected == _NUMBER:
        return is_number(value)
    if expected == _POSITIVE:
        return is_number(value) and value > 0
    if expected == _FRACTION:
        return is_number(value) and 0 <= value <= 1
    if expected == _COUNT:
        return is_int(value) and value >= 0
    if expected == _SIZE:
        return is_int(value) and value > 0
    if expected == "positive numbers":
        return isinstance(value, list) and all(is_number(v) and v > 0 for v in value)
    if expected == "str or null":
        return value is None or isinstance(value, str)
    return {"str": isinstance(value, str), "bool": isinstance(value, bool),
            "int": is_int(value)}[expected]


def _check_object(field: str, value: Any, shape: dict[str, str], problems: list[str]) -> None:
    """Append a problem for every key of ``value`` that is missing, unknown or mistyped."""
    if not isinstance(value, dict):
        problems.append(f"{field}: expected an object with keys {', '.join(shape)}, "
                        f"got {show(value)}")
        return
    for key in sorted(set(value) - set(shape), key=str):
        problems.append(f"{field}.{key}: unknown key (expected {', '.join(shape)})")
    for key, expected in shape.items():
        if key not in value:
            problems.append(f"{field}.{key}: missing (expected {expected})")
        elif not _fits(value[key], expected):
            problems.append(f"{field}.{key}: expected {expected}, got {show(value[key])}")


def _check_strings(field: str, value: Any, problems: list[str]) -> None:
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        problems.append(f"{field}: expected a list of strings, got {show(value)}")


def _check_identity(obj: dict[str, Any], problems: list[str]) -> None:
    if obj["schema"] != RECORD_SCHEMA or not is_int(obj["schema"]):
        problems.append(f"schema: expected {RECORD_SCHEMA}, got {show(obj['schema'])}")
    if not isinstance(obj["bundle"], str):
        problems.append(f"bundle: expected a string, got {show(obj['bundle'])}")
    for key in _OPTIONAL_STR:
        if obj[key] is not None and not isinstance(obj[key], str):
            problems.append(f"{key}: expected a string or null, got {show(obj[key])}")
    for key in ("bundle_sha256", "model_sha256"):
        if isinstance(obj[key], str) and not _SHA256.fullmatch(obj[key]):
            problems.append(f"{key}: expected 64 lowercase hex digits, got {show(obj[key])}")
    if isinstance(obj["division"], str) and obj["division"] not in DIVISIONS:
        problems.append(f"division: expected one of {', '.join(DIVISIONS)} or null, "
                        f"got {show(obj['division'])}")
    _check_strings("techniques", obj["techniques"], problems)
    if not isinstance(obj["description"], str):
        problems.append(f"description: expected a string, got {show(obj['description'])}")


def _check_outcome(obj: dict[str, Any], problems: list[str]) -> None:
    status = obj["status"]
    if status not in STATUSES:
        problems.append(f"status: expected one of {', '.join(STATUSES)}, got {show(status)}")
    _check_strings("reasons", obj["reasons"], problems)
    if status == "verified" and obj["reasons"]:
        problems.append(f"reasons: expected [] for a verified record, got {show(obj['reasons'])}")
    if status == "rejected" and not obj["reasons"]:
        problems.append("reasons: expected at least one reason for a rejected record, got []")
    if status == "verified" and not is_number(obj["score"]):
        problems.append(f"score: expected a finite number for a verified record, "
                        f"got {show(obj['score'])}")
    if status == "rejected" and obj["score"] is not None:
        problems.append(f"score: expected null for a rejected record, got {show(obj['score'])}")
    if status == "verified":
        problems += [f"{key}: expected a value for a verified record, got null"
                     for key in _VERIFIED_NEEDS if obj[key] is None]


def _check_details(obj: dict[str, Any], problems: list[str]) -> None:
    if obj["claims"] is not None and not isinstance(obj["claims"], dict):
        problems.append(f"claims: expected an object or null, got {show(obj['claims'])}")
    for key in ("measured", "baseline", "ratios"):
        if obj[key] is not None:
            _check_object(key, obj[key], _FIELDS[key], problems)
    if not isinstance(obj["checks"], list):
        problems.append(f"checks: expected a list of objects, got {show(obj['checks'])}")
    else:
        for i, check in enumerate(obj["checks"]):
            _check_object(f"checks[{i}]", check, _FIELDS["check"], problems)
    if not isinstance(obj["environment"], dict):
        problems.append(f"environment: expected an object, got {show(obj['environment'])}")
    if parse_utc(obj["verified_at"]) is None:
        problems.append(f"verified_at: expected an ISO 8601 time in UTC, "
                        f"got {show(obj['verified_at'])}")
    _check_object("verifier", obj["verifier"], _FIELDS["verifier"], problems)


def validate_record(obj: Any) -> dict[str, Any]:
    """Check ``obj`` against the result record schema 1 and return it.

    Raises ``ValueError`` listing every problem, each naming the field, the value seen and what
    was expected.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"result record: expected a JSON object, got {show(obj)}")
    problems = [f"{key}: missing" for key in _KEYS if key not in obj]
    problems += [f"{show(key)}: unknown key" for key in sorted(set(obj) - set(_KEYS), key=str)]
    if not problems:
        _check_identity(obj, problems)
        _check_outcome(obj, problems)
        _check_details(obj, problems)
    try:
        json.dumps(obj, allow_nan=False)
    except (TypeError, ValueError) as e:
        problems.append(f"the record is not plain JSON data: {e}")
    if problems:
        raise ValueError("result record is invalid:\n" + "\n".join(f"  - {p}" for p in problems))
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


class ResultStore:
    """A JSON-lines file of result records, one per line, in the order they were appended."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def records(self) -> list[dict[str, Any]]:
        """Every record in the file (``[]`` when it does not exist yet).

        Raises ``ValueError`` naming the file and line number of the first malformed line.
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        records = []
        for number, line in enumerate(data.splitlines(), start=1):
            try:
                records.append(validate_record(json.loads(
                    line.decode("utf-8"), parse_constant=_reject_constant)))
            except (ValueError, RecursionError) as e:
                raise ValueError(f"{self.path}, line {number}: not a valid result record "
                                 f"({e})") from None
        return records

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Validate ``records`` and add them at the end of the file, atomically.

        Nothing is written when any record (new or already stored) is invalid.
        """
        new = []
        for i, record in enumerate(records):
            try:
                new.append(validate_record(record))
            except ValueError as e:
                raise ValueError(f"record {i} to append to {self.path}: {e}") from None
        lines = [json.dumps(r, sort_keys=True, allow_nan=False) + "\n"
                 for r in self.records() + new]
        with atomic_write(self.path, "w", encoding="utf-8") as f:
            f.writelines(lines)

    def verified(self, event: str | None = None) -> list[dict[str, Any]]:
        """The verified records, of one ``event`` or of all."""
        return [r for r in self.records()
                if r["status"] == "verified" and (event is None or r["event"] == event)]

    def duplicate_of(self, model_sha256: str, event: str) -> dict[str, Any] | None:
        """The first verified record of the same model bytes in the same event, if any."""
        return next((r for r in self.verified(event) if r["model_sha256"] == model_sha256),
                    None)
