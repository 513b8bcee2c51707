"""``submission.json``, schema version 1: what an entrant claims about the model in a bundle.

The verifier trusts none of these claims; it re-measures each one. The schema still matters:
the claims are shown beside the measurements, and the identity fields (entrant, event,
division, model hash) decide where a result lands on the leaderboard. So the check is strict:
every field has one type and one range, unknown keys are errors (a typo such as ``"divison"``
must not fall back to a default), booleans are not numbers and NaN or infinity is no claim.

``validate_submission`` walks the whole object and reports every problem at once, so an entrant
fixes a file in one round instead of one error per upload. Cost: one pass over a JSON object
that the bundle reader has already capped at 64 KiB.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

SCHEMA_VERSION = 1
DIVISIONS = ("closed", "open")
CLAIMS = ("accuracy", "latency_ms", "speedup", "model_bytes")
REQUIRED = ("schema_version", "entrant", "event", "division", "model_sha256", "claims",
            "techniques", "description")
OPTIONAL = ("created_utc", "software")

_EVENT = re.compile(r"[a-z0-9-]{1,64}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MAX_TECHNIQUES = 20
_MAX_TECHNIQUE_CHARS = 200
_MAX_DESCRIPTION_CHARS = 4000
_MAX_SOFTWARE = 50
_MAX_SOFTWARE_CHARS = 200
_EXPECTED = {
    "schema_version": str(SCHEMA_VERSION),
    "entrant": "your name, 1..80 printable characters",
    "event": "the event's name",
    "division": " or ".join(map(repr, DIVISIONS)),
    "model_sha256": "the sha256 of model.onnx",
    "claims": f"an object with {', '.join(CLAIMS)}",
    "techniques": "a list of strings, possibly empty",
    "description": "a string, possibly empty",
}


class BundleError(ValueError):
    """A bundle the verifier refuses; ``str(e)`` is the reason shown to the entrant.

    ``problems`` holds the individual findings when there were several (schema errors).
    """

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for quoting untrusted input in a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_number(value: Any) -> bool:
    """True for a finite int or float; ``True``/``False`` are not numbers here."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def is_int(value: Any) -> bool:
    """True for an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def parse_utc(value: Any) -> datetime | None:
    """``value`` as a time if it is an ISO 8601 string with a zero UTC offset, else None.

    A trailing ``Z`` is read as ``+00:00`` (Python 3.10's ``fromisoformat`` does not know it).
    """
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return None
    return when if when.utcoffset() == timedelta(0) else None


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check_text(value: Any, lo: int, hi: int, *, printable: bool = False) -> str | None:
    """What is wrong with ``value`` as a string of ``lo..hi`` characters, or None."""
    what = f"a string of {lo}..{hi}" + (" printable" if printable else "") + " characters"
    if not isinstance(value, str):
        return f"expected {what}, got {_type_name(value)} {show(value)}"
    if not lo <= len(value) <= hi:
        return f"expected {what}, got {len(value)} characters {show(value)}"
    if printable and (not value.isprintable() or not value.strip()):
        return f"expected {what} (not blank, no control characters), got {show(value)}"
    return None


def _check_claims(claims: Any, problems: list[str]) -> None:
    if not isinstance(claims, dict):
        problems.append(f"claims: expected an object with keys {', '.join(CLAIMS)}, "
                        f"got {_type_name(claims)} {show(claims)}")
        return
    for key in sorted(set(claims) - set(CLAIMS)):
        problems.append(f"claims.{key}: unknown key (expected only {', '.join(CLAIMS)})")
    ranges: dict[str, tuple[str, Callable[[Any], bool]]] = {
        "accuracy": ("a number in [0, 1] (a fraction, not a percentage)",
                     lambda v: is_number(v) and 0.0 <= v <= 1.0),
        "latency_ms": ("a finite number > 0 (milliseconds)", lambda v: is_number(v) and v > 0),
        "speedup": ("a finite number > 0", lambda v: is_number(v) and v > 0),
        "model_bytes": ("an integer > 0 (bytes of model.onnx)", lambda v: is_int(v) and v > 0),
    }
    for key, (expected, ok) in ranges.items():
        if key not in claims:
            problems.append(f"claims.{key}: missing (expected {expected})")
        elif not ok(claims[key]):
            problems.append(f"claims.{key}: expected {expected}, got {show(claims[key])}")


def _check_techniques(techniques: Any, problems: list[str]) -> None:
    expected = (f"a list of at most {_MAX_TECHNIQUES} strings of "
                f"1..{_MAX_TECHNIQUE_CHARS} characters")
    if not isinstance(techniques, list):
        problems.append(f"techniques: expected {expected}, "
                        f"got {_type_name(techniques)} {show(techniques)}")
        return
    if len(techniques) > _MAX_TECHNIQUES:
        problems.append(f"techniques: expected {expected}, got {len(techniques)} items")
    for i, item in enumerate(techniques[:_MAX_TECHNIQUES]):
        why = _check_text(item, 1, _MAX_TECHNIQUE_CHARS)
        if why:
            problems.append(f"techniques[{i}]: {why}")


def _check_created(value: Any, problems: list[str]) -> None:
    if parse_utc(value) is None:
        problems.append(f"created_utc: expected an ISO 8601 time in UTC such as "
                        f"'2026-12-04T16:00:00+00:00', got {show(value)}")


def _check_software(value: Any, problems: list[str]) -> None:
    expected = (f"an object of at most {_MAX_SOFTWARE} package names mapped to version "
                f"strings (each 1..{_MAX_SOFTWARE_CHARS} characters)")
    if not isinstance(value, dict) or len(value) > _MAX_SOFTWARE:
        size = f" of {len(value)} items" if isinstance(value, dict) else ""
        problems.append(f"software: expected {expected}, got {_type_name(value)}{size}")
        return
    for name, version in value.items():
        why = _check_text(name, 1, _MAX_SOFTWARE_CHARS) or _check_text(
            version, 1, _MAX_SOFTWARE_CHARS)
        if why:
            problems.append(f"software[{show(name)}]: {why}")


def submission_problems(obj: Any) -> list[str]:
    """Every way ``obj`` differs from schema version 1, one message per problem (empty if none)."""
    if not isinstance(obj, dict):
        return [f"expected a JSON object at the top level, got {_type_name(obj)} {show(obj)}"]
    problems = [f"{show(key)}: unknown key (expected {', '.join(REQUIRED + OPTIONAL)})"
                for key in sorted(set(obj) - set(REQUIRED + OPTIONAL), key=str)]
    problems += [f"{key}: missing (expected {_EXPECTED[key]})" for key in REQUIRED
                 if key not in obj]
    if "schema_version" in obj and not (is_int(obj["schema_version"])
                                        and obj["schema_version"] == SCHEMA_VERSION):
        problems.append(f"schema_version: expected {SCHEMA_VERSION}, "
                        f"got {show(obj['schema_version'])}")
    if "entrant" in obj:
        why = _check_text(obj["entrant"], 1, 80, printable=True)
        if why:
            problems.append(f"entrant: {why}")
    if "event" in obj and not (isinstance(obj["event"], str) and _EVENT.fullmatch(obj["event"])):
        problems.append(f"event: expected 1..64 characters of a-z, 0-9 and '-', "
                        f"got {show(obj['event'])}")
    if "division" in obj and obj["division"] not in DIVISIONS:
        problems.append(f"division: expected one of {', '.join(map(repr, DIVISIONS))}, "
                        f"got {show(obj['division'])}")
    if "model_sha256" in obj and not (isinstance(obj["model_sha256"], str)
                                      and _SHA256.fullmatch(obj["model_sha256"])):
        problems.append(f"model_sha256: expected 64 lowercase hex digits, "
                        f"got {show(obj['model_sha256'])}")
    if "claims" in obj:
        _check_claims(obj["claims"], problems)
    if "techniques" in obj:
        _check_techniques(obj["techniques"], problems)
    if "description" in obj:
        why = _check_text(obj["description"], 0, _MAX_DESCRIPTION_CHARS)
        if why:
            problems.append(f"description: {why}")
    if obj.get("created_utc") is not None:
        _check_created(obj["created_utc"], problems)
    if obj.get("software") is not None:
        _check_software(obj["software"], problems)
    return problems


def validate_submission(obj: Any) -> dict[str, Any]:
    """Check ``obj`` against schema version 1 and return a copy of it.

    Optional fields set to ``null`` are dropped from the copy. Raises ``BundleError`` listing
    every problem, each naming the field, the value seen and what was expected.
    """
    problems = submission_problems(obj)
    if problems:
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        raise BundleError(f"submission.json has {count}:\n" + "\n".join(
            f"  - {p}" for p in problems), tuple(problems))
    clean = {key: value for key, value in obj.items() if value is not None}
    clean["claims"] = dict(obj["claims"])
    clean["techniques"] = list(obj["techniques"])
    if "software" in clean:
        clean["software"] = dict(clean["software"])
    return clean
