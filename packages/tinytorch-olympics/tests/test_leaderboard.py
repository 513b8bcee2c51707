"""build_leaderboard: ranking, rejected records, the three outputs, charts and escaping."""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from tinytorch.olympics.leaderboard import build_leaderboard, leaderboard_document
from tinytorch.olympics.plots import pareto_front, ratios_svg

HOSTILE = "<script>alert(1)</script>"
BASELINE = {"name": "mlp", "accuracy": 0.8965, "latency_ms": 0.020, "model_bytes": 941_100}
EVENTS: dict[str, dict[str, Any]] = {
    "latency-sprint": {"title": "Latency sprint", "description": "The fastest model at batch 1.",
                       "metric": "speedup", "task": "fashion-mnist-mlp", "floor": 0.99},
    "memory-challenge": {"title": "Memory challenge", "description": "The smallest model file.",
                         "metric": "compression", "task": "fashion-mnist-mlp", "floor": 0.99},
}


def make_record(entrant: str = "ada", *, accuracy: float = 0.8971, latency_ms: float = 0.013,
                model_bytes: int = 244_800, event: str = "latency-sprint",
                division: str = "closed", status: str = "verified",
                verified_at: str = "2026-12-04T16:00:00+00:00", score: float | None = None,
                baseline_latency_ms: float = 0.020, techniques: tuple[str, ...] = (
                    "int8 static quantization",), description: str = "") -> dict[str, Any]:
    """A result record as the verifier writes it (schema 1), ratios computed from the figures."""
    speedup = baseline_latency_ms / latency_ms
    ratios = {"speedup": speedup, "compression": BASELINE["model_bytes"] / model_bytes,
              "accuracy": accuracy / BASELINE["accuracy"]}
    digest = hashlib.sha256(f"{entrant} {latency_ms} {model_bytes} {event} {division}"
                            .encode()).hexdigest()
    verified = status == "verified"
    return {
        "schema": 1, "bundle": f"/submissions/{entrant}.zip", "bundle_sha256": digest,
        "model_sha256": digest[::-1], "entrant": entrant, "event": event, "division": division,
        "techniques": list(techniques), "description": description, "status": status,
        "reasons": [] if verified else ["accuracy 0.7012 is below the floor 0.8875"],
        "claims": {"accuracy": accuracy, "latency_ms": latency_ms, "speedup": speedup,
                   "model_bytes": model_bytes},
        "measured": {"accuracy": accuracy, "latency_ms": latency_ms,
                     "latency_runs_ms": [latency_ms] * 5, "peak_memory_bytes": 3 * model_bytes,
                     "model_bytes": model_bytes, "repeat_speedup": 1.02, "outputs_match": True},
        "baseline": dict(BASELINE, latency_ms=baseline_latency_ms),
        "ratios": ratios,
        "score": (score if score is not None else speedup) if verified else None,
        "checks": [{"name": "onnx checker", "passed": True, "detail": "full check"}],
        "environment": {"python": "3.11.7", "cpu": {"model": "AMD EPYC", "cores": 2}},
        "verified_at": verified_at,
        "verifier": {"version": "0.1.0", "onnxruntime": "1.32.0", "seed": 0,
                     "heldout_samples": 10_000},
    }


def sample_records() -> list[dict[str, Any]]:
    """Baseline-like, int8, pruned and open entries, plus one rejected record."""
    return [
        make_record("ada", accuracy=0.8971, latency_ms=0.013, model_bytes=244_800),
        make_record("grace", accuracy=0.8965, latency_ms=0.020, model_bytes=941_100,
                    techniques=("none",), baseline_latency_ms=0.021),
        make_record("linus", accuracy=0.8902, latency_ms=0.011, model_bytes=180_200,
                    techniques=("magnitude pruning 50%", "int8")),
        make_record("barbara", accuracy=0.9012, latency_ms=0.034, model_bytes=1_402_000,
                    division="open", techniques=("wider MLP",)),
        make_record("mallory", status="rejected"),
    ]


def build(tmp_path: Path, records: list[dict[str, Any]]) -> dict[str, Any]:
    return build_leaderboard(records, EVENTS, tmp_path, generated_utc="2026-12-04T17:00:00+00:00")


def names(doc: dict[str, Any], event: str = "latency-sprint") -> list[tuple[str, str, int]]:
    return [(e["division"], e["entrant"], e["rank"]) for e in doc["events"][event]["entries"]]


def test_entries_rank_by_score_within_each_division(tmp_path: Path) -> None:
    doc = build(tmp_path, sample_records())
    assert names(doc) == [("closed", "linus", 1), ("closed", "ada", 2), ("closed", "grace", 3),
                          ("open", "barbara", 1)]


def test_non_verified_records_are_counted_as_rejected_and_not_shown(tmp_path: Path) -> None:
    doc = build(tmp_path, sample_records())
    assert doc["rejected"] == 1
    assert "mallory" not in json.dumps(doc)
    assert "mallory" not in (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "mallory" not in (tmp_path / "LEADERBOARD.md").read_text(encoding="utf-8")


def test_equal_scores_go_to_the_entry_verified_first(tmp_path: Path) -> None:
    records = [make_record("late", score=1.5, verified_at="2026-12-05T09:00:00+00:00"),
               make_record("early", score=1.5, latency_ms=0.012,
                           verified_at="2026-12-04T09:00:00Z")]
    assert [e["entrant"] for e in build(tmp_path, records)["events"]["latency-sprint"]
            ["entries"]] == ["early", "late"]


def test_a_bundle_verified_twice_appears_once_with_its_latest_figures(tmp_path: Path) -> None:
    first = make_record("ada", verified_at="2026-12-04T09:00:00+00:00")
    again = dict(make_record("ada", verified_at="2026-12-05T09:00:00+00:00"), score=1.4)
    entries = build(tmp_path, [again, first])["events"]["latency-sprint"]["entries"]
    assert [(e["entrant"], e["score"]) for e in entries] == [("ada", 1.4)]


def test_json_is_deterministic_whatever_the_record_order(tmp_path: Path) -> None:
    records = sample_records()
    build(tmp_path / "a", records)
    build(tmp_path / "b", records[::-1])
    for name in ("leaderboard.json", "LEADERBOARD.md", "index.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    doc = json.loads((tmp_path / "a" / "leaderboard.json").read_text(encoding="utf-8"))
    assert doc["generated_utc"] == "2026-12-04T17:00:00+00:00"
    assert set(doc) >= {"generated_utc", "events", "rejected"}
    assert set(doc["events"]["latency-sprint"]) >= {"title", "metric", "baseline", "entries"}


def test_generated_time_defaults_to_now_in_utc(tmp_path: Path) -> None:
    doc = leaderboard_document(sample_records(), EVENTS)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", doc["generated_utc"])


def test_baseline_is_the_median_of_the_verification_runs(tmp_path: Path) -> None:
    baseline = build(tmp_path, sample_records())["events"]["latency-sprint"]["baseline"]
    assert baseline == {"name": "mlp", "accuracy": 0.8965, "latency_ms": 0.020,
                        "latency_ms_min": 0.020, "latency_ms_max": 0.021,
                        "model_bytes": 941_100, "runs": 4}


def test_entry_shows_measured_figures_ratios_and_pareto_membership(tmp_path: Path) -> None:
    entries = build(tmp_path, sample_records())["events"]["latency-sprint"]["entries"]
    ada = next(e for e in entries if e["entrant"] == "ada")
    assert ada["accuracy"] == 0.8971 and ada["latency_ms"] == 0.013
    assert ada["model_bytes"] == 244_800 and ada["peak_memory_bytes"] == 734_400
    assert ada["ratios"]["compression"] == pytest.approx(941_100 / 244_800)
    assert {e["entrant"] for e in entries if e["pareto"]} == {"linus", "ada", "barbara"}


def test_markdown_has_one_table_per_event_with_the_baseline_line(tmp_path: Path) -> None:
    build(tmp_path, sample_records())
    md = (tmp_path / "LEADERBOARD.md").read_text(encoding="utf-8")
    sprint = md.split("## Latency sprint")[1].split("## Memory challenge")[0]
    assert "Baseline mlp as measured in the 4 verification runs: accuracy 89.65 %" in sprint
    assert "Accuracy floor: 99 % of the baseline's accuracy = 88.75 %" in sprint
    rows = [line for line in sprint.splitlines() if line.startswith("| ") and "---" not in line]
    assert [row.split(" | ")[1] for row in rows[1:]] == ["linus", "ada", "grace", "barbara"]
    assert "| 2 | ada | closed | int8 static quantization | 89.71 % | 0.0130 | 244.8 kB |" in sprint


def test_event_without_entries_shows_an_empty_state(tmp_path: Path) -> None:
    doc = build(tmp_path, sample_records())
    assert doc["events"]["memory-challenge"]["entries"] == []
    assert doc["events"]["memory-challenge"]["baseline"] is None
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    memory = html.split('class="event" id="event-memory-challenge"')[1]
    assert "No verified entries yet" in memory and "<svg" not in memory
    assert "_No verified entries yet._" in (tmp_path / "LEADERBOARD.md").read_text("utf-8")


def test_entrant_text_is_escaped_in_html_svg_and_markdown(tmp_path: Path) -> None:
    records = [make_record(HOSTILE, description=f"see {HOSTILE}", techniques=(HOSTILE,)),
               make_record("ada", latency_ms=0.015)]
    build(tmp_path, records)
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(svgs) == 3 and all(escaped in svg for svg in svgs)
    table = html.split("<table>")[1].split("</table>")[0]
    assert table.count(escaped) == 5   # name; description and technique, shown and tooltip
    md = (tmp_path / "LEADERBOARD.md").read_text(encoding="utf-8")
    assert "<script" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md


def test_page_is_self_contained_with_a_policy_forbidding_scripts(tmp_path: Path) -> None:
    build(tmp_path, sample_records())
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "default-src 'none'" in html
    assert not re.search(r"""(src|href)=["'](https?:|//)""", html)
    assert "AMD EPYC (2 cores)" in html and "1.32.0" in html
    assert "2026-12-04 17:00:00" in html


def test_charts_hold_one_point_or_bar_per_entry(tmp_path: Path) -> None:
    html = (tmp_path / "index.html")
    build(tmp_path, sample_records())
    sprint = html.read_text(encoding="utf-8").split('class="event" id="event-latency-sprint"')[1]
    pareto, size, ratios = re.findall(r"<svg.*?</svg>", sprint, flags=re.S)
    assert 'role="img"' in pareto and 'aria-label="Latency sprint' in pareto
    assert pareto.count('class="entry-point"') == 4 and 'class="baseline-point"' in pareto
    assert size.count('class="size-bar"') == 4 and size.count('class="baseline-bar"') == 1
    assert ratios.count('class="ratio-bar"') == 12 and 'data-testid="reference-line"' in ratios


def test_a_single_entry_equal_to_the_baseline_still_gets_finite_axes(tmp_path: Path) -> None:
    build(tmp_path, [make_record("ada", accuracy=0.8965, latency_ms=0.020,
                                 model_bytes=941_100)])
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert html.count('class="entry-point"') == 1 and html.count('class="ratio-bar"') == 3
    coordinates = re.findall(r' (?:c?[xy][12]?|width|height)="([^"]*)"', html)
    assert len(coordinates) > 50 and all(math.isfinite(float(c)) for c in coordinates)


def test_ratio_axis_spans_one_and_every_ratio_with_thirty_entries() -> None:
    entries = [{"rank": i + 1, "division": "closed", "entrant": f"e{i}",
                "ratios": {"speedup": 0.3 + i, "compression": 4.0, "accuracy": 0.99}}
               for i in range(30)]
    svg = ratios_svg({"title": "t", "entries": entries}, "plot")
    assert svg.count('class="ratio-bar"') == 90
    xs = [float(x) for x in re.findall(r'class="ratio-bar"[^>]* x="([\d.]+)"', svg)]
    assert min(xs) >= 180 and max(xs) <= 640


def test_pareto_front_keeps_points_no_faster_point_beats() -> None:
    points = [(0.013, 0.897), (0.020, 0.8965), (0.011, 0.890), (0.034, 0.901), (0.011, 0.880)]
    assert pareto_front(points) == [2, 0, 3]
    assert pareto_front([]) == []


def test_records_missing_a_measured_figure_name_the_bundle_and_field(tmp_path: Path) -> None:
    record = make_record("ada")
    del record["measured"]["latency_ms"]
    with pytest.raises(ValueError, match=r"ada\.zip.*measured\.latency_ms"):
        build(tmp_path, [record])


def test_an_event_without_a_floor_is_refused_naming_it(tmp_path: Path) -> None:
    events = {"latency-sprint": {"title": "Latency sprint", "metric": "speedup"}}
    with pytest.raises(ValueError, match="latency-sprint.*floor"):
        build_leaderboard(sample_records(), events, tmp_path)
