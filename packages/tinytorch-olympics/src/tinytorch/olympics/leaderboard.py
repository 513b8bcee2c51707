"""The leaderboard: verified result records ranked per event and division, in three forms.

``build_leaderboard`` writes ``leaderboard.json`` (the data), ``LEADERBOARD.md`` (one table per
event, for a README or a pull request) and ``index.html`` (tables and charts, one
self-contained file). Only records with ``status == "verified"`` count; every other record is
counted as rejected and shown nowhere, since its figures were not established by the verifier.

Ranking: within each event and division by score (higher is better), ties going to the entry
verified first, then by entrant and bundle hash so that the same records always give the same
order. A bundle verified more than once appears once, with its latest verification. The
baseline line states the baseline as the verification runs measured it (median over the runs,
with the latency range, since each run re-measures it beside the entry).

Cost: O(n log n) in the number of records; the page grows by about 1 kB per entry.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tinytorch.core.atomic import atomic_write
from tinytorch.olympics.page import baseline_sentence, render_page
from tinytorch.olympics.plots import (
    format_bytes,
    format_ms,
    format_percent,
    format_ratio,
    pareto_front,
)

DIVISION_ORDER = ("closed", "open")
EVENT_FIELDS = ("title", "metric", "floor")


def _field(record: Mapping[str, Any], *path: str) -> Any:
    """``record[path[0]][path[1]]...``; ValueError naming the bundle and the field if absent."""
    value: Any = record
    for key in path:
        if not isinstance(value, Mapping) or value.get(key) is None:
            raise ValueError(f"leaderboard: verified record of bundle {record.get('bundle')!r} "
                             f"has no {'.'.join(path)}")
        value = value[key]
    return value


def _timestamp(record: Mapping[str, Any]) -> datetime:
    text = str(_field(record, "verified_at"))
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"leaderboard: record of bundle {record.get('bundle')!r} has "
                         f"verified_at {text!r}, expected an ISO 8601 time") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """The figures of one verified record that the leaderboard shows."""
    return {
        "rank": 0,
        "entrant": str(_field(record, "entrant")),
        "division": str(_field(record, "division")),
        "techniques": [str(t) for t in record.get("techniques") or []],
        "description": str(record.get("description") or ""),
        "accuracy": float(_field(record, "measured", "accuracy")),
        "latency_ms": float(_field(record, "measured", "latency_ms")),
        "model_bytes": int(_field(record, "measured", "model_bytes")),
        "peak_memory_bytes": int(_field(record, "measured", "peak_memory_bytes")),
        "ratios": {k: float(_field(record, "ratios", k))
                   for k in ("speedup", "compression", "accuracy")},
        "score": float(_field(record, "score")),
        "pareto": False,
        "bundle_sha256": str(record.get("bundle_sha256") or ""),
        "model_sha256": str(record.get("model_sha256") or ""),
        "verified_at": _timestamp(record).isoformat(),
    }


def _baseline(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The baseline as the verification runs of one event measured it."""
    latencies = [float(_field(r, "baseline", "latency_ms")) for r in records]
    return {
        "name": ", ".join(sorted({str(_field(r, "baseline", "name")) for r in records})),
        "accuracy": statistics.median(float(_field(r, "baseline", "accuracy"))
                                      for r in records),
        "latency_ms": statistics.median(latencies),
        "latency_ms_min": min(latencies),
        "latency_ms_max": max(latencies),
        "model_bytes": int(statistics.median(int(_field(r, "baseline", "model_bytes"))
                                             for r in records)),
        "runs": len(records),
    }


def _ranked(records: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Entries ordered by division, then rank (score down, earlier verification first)."""
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for r in sorted(records, key=_timestamp):
        latest[(str(r.get("bundle_sha256") or r.get("bundle")), str(r.get("division")))] = r
    entries = sorted((_entry(r) for r in latest.values()),
                     key=lambda e: (-e["score"], e["verified_at"], e["entrant"],
                                    e["bundle_sha256"]))
    divisions = sorted({e["division"] for e in entries},
                       key=lambda d: (DIVISION_ORDER.index(d) if d in DIVISION_ORDER
                                      else len(DIVISION_ORDER), d))
    ranked: list[dict[str, Any]] = []
    for division in divisions:
        members = [e for e in entries if e["division"] == division]
        for rank, e in enumerate(members, start=1):
            e["rank"] = rank
        ranked += members
    for i in pareto_front([(e["latency_ms"], e["accuracy"]) for e in ranked]):
        ranked[i]["pareto"] = True
    return ranked


def _environment(records: list[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The distinct verifier environments behind the records (one, when all ran on one host)."""
    found: dict[str, set[Any]] = {"cpu": set(), "onnxruntime": set(), "verifier": set(),
                                  "python": set(), "heldout_samples": set()}
    for r in records:
        env, verifier = r.get("environment") or {}, r.get("verifier") or {}
        cpu = env.get("cpu") or {}
        if cpu.get("model"):
            cores = f" ({cpu['cores']} cores)" if cpu.get("cores") else ""
            found["cpu"].add(f"{cpu['model']}{cores}")
        for key, value in (("onnxruntime", verifier.get("onnxruntime")),
                           ("verifier", verifier.get("version")),
                           ("python", env.get("python")),
                           ("heldout_samples", verifier.get("heldout_samples"))):
            if value is not None:
                found[key].add(value)
    return {key: sorted(values) for key, values in found.items()}


def leaderboard_document(records: Iterable[Mapping[str, Any]],
                         events: Mapping[str, Mapping[str, Any]], *,
                         generated_utc: str | None = None) -> dict[str, Any]:
    """The leaderboard as a JSON-ready dict (what ``leaderboard.json`` holds).

    ``events`` maps each event name to its summary (title, description, metric, task, floor);
    verified records of events not in it are counted under ``"unlisted"``.
    """
    verified: dict[str, list[Mapping[str, Any]]] = {name: [] for name in events}
    rejected = unlisted = 0
    shown: list[Mapping[str, Any]] = []
    for r in records:
        if r.get("status") != "verified":
            rejected += 1
        elif r.get("event") not in verified:
            unlisted += 1
        else:
            verified[str(r["event"])].append(r)
            shown.append(r)
    doc_events: dict[str, Any] = {}
    for name, event in events.items():
        missing = [key for key in EVENT_FIELDS if key not in event]
        if missing:
            raise ValueError(f"leaderboard: event {name!r} has no {', '.join(missing)}; "
                             f"expected the fields {', '.join(EVENT_FIELDS)}")
        runs = verified[name]
        baseline = _baseline(runs) if runs else None
        floor = float(event["floor"])
        doc_events[name] = {
            "title": str(event["title"]), "description": str(event.get("description", "")),
            "metric": str(event["metric"]), "floor": floor,
            "accuracy_floor": floor * baseline["accuracy"] if baseline else None,
            "baseline": baseline, "entries": _ranked(runs),
        }
    stamp = generated_utc or datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {"generated_utc": stamp, "environment": _environment(shown), "events": doc_events,
            "rejected": rejected, "unlisted": unlisted}


def _md(text: str) -> str:
    """Entrant text made inert in a Markdown table cell: no HTML, links, emphasis or pipes."""
    out = text.replace("\\", "\\\\")
    out = out.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "`*_[]|#!~":
        out = out.replace(ch, "\\" + ch)
    return " ".join(out.split())


def render_markdown(doc: Mapping[str, Any]) -> str:
    """``LEADERBOARD.md``: a heading and one ranked table per event."""
    env = doc["environment"]
    lines = ["# TinyTorch Olympics leaderboard", "",
             f"Generated {doc['generated_utc']}. Verified results only "
             f"({doc['rejected']} rejected record{'s' if doc['rejected'] != 1 else ''} not "
             f"shown). Verifier: CPU {', '.join(env['cpu']) or 'unknown'}; onnxruntime "
             f"{', '.join(env['onnxruntime']) or 'unknown'}.", ""]
    header = ("| Rank | Entrant | Division | Techniques | Accuracy | Latency (ms) | Size | "
              "Peak memory | Speed-up | Compression | Accuracy ratio | Score | Bundle |")
    for name, event in doc["events"].items():
        lines += [f"## {_md(event['title'])} (`{name}`)", ""]
        if event["description"]:
            lines += [_md(event["description"]), ""]
        lines += [f"Score: {_md(event['metric'])} (higher is better).", ""]
        if not event["entries"]:
            lines += ["_No verified entries yet._", ""]
            continue
        lines += [_md(baseline_sentence(event)), "", header,
                  "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for e in event["entries"]:
            r = e["ratios"]
            cells = [str(e["rank"]), _md(e["entrant"]), _md(e["division"]),
                     _md(", ".join(e["techniques"])) or "-", format_percent(e["accuracy"]),
                     format_ms(e["latency_ms"]), format_bytes(e["model_bytes"]),
                     format_bytes(e["peak_memory_bytes"]), format_ratio(r["speedup"]),
                     format_ratio(r["compression"]), format_ratio(r["accuracy"]),
                     f"{e['score']:.3f}", f"`{e['bundle_sha256'][:12]}`"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def build_leaderboard(records: Iterable[Mapping[str, Any]],
                      events: Mapping[str, Mapping[str, Any]], out_dir: Path, *,
                      generated_utc: str | None = None) -> dict[str, Any]:
    """Write ``leaderboard.json``, ``LEADERBOARD.md`` and ``index.html`` into ``out_dir``.

    Each file is replaced atomically. Returns the JSON document.
    """
    doc = leaderboard_document(records, events, generated_utc=generated_utc)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "leaderboard.json", "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    with atomic_write(out / "LEADERBOARD.md", "w", encoding="utf-8") as f:
        f.write(render_markdown(doc))
    with atomic_write(out / "index.html", "w", encoding="utf-8") as f:
        f.write(render_page(doc))
    return doc
