"""The leaderboard page: one static HTML file with inline CSS and inline SVG charts.

The page holds no script and loads nothing: a Content-Security-Policy that forbids every
source except inline styles makes the browser enforce it, so the file opens from ``file://``,
from a CI artifact or an e-mail attachment alike, and an entrant's name that slipped past
escaping could still not run. Every entrant-provided string (entrant, techniques,
description) passes through ``html.escape``.

Per event: the rules in one line, the baseline as the verification runs measured it, the
ranked table and three charts (see ``plots``). Cost: about 1 kB of HTML and 1 kB of SVG per
entry; a board of five events with 30 entries each is a few hundred kilobytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape
from typing import Any

from tinytorch.olympics.plots import (
    DIVISION_COLORS,
    OTHER_DIVISION_COLOR,
    accuracy_latency_svg,
    format_bytes,
    format_ms,
    format_percent,
    format_ratio,
    model_size_svg,
    ratios_svg,
)

CSP = "default-src 'none'; style-src 'unsafe-inline'"
DESCRIPTION_CHARS = 120
TECHNIQUES_CHARS = 120

STYLE = """
:root { --ink: #111827; --muted: #4b5563; --line: #e5e7eb; --soft: #f9fafb; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { background: linear-gradient(120deg, #1e3a8a, #2563eb); color: #fff;
  padding: 28px max(24px, calc((100% - 1180px) / 2)) 18px; }
header h1 { margin: 0 0 4px; font-size: 26px; letter-spacing: -0.01em; }
header p { margin: 0 0 14px; color: #dbeafe; max-width: 820px; }
dl.meta { display: flex; flex-wrap: wrap; gap: 8px 28px; margin: 0 0 14px; }
dl.meta div { min-width: 120px; }
dl.meta dt { font-size: 11px; text-transform: uppercase; letter-spacing: .06em; color: #bfdbfe; }
dl.meta dd { margin: 0; font-weight: 600; }
nav { display: flex; flex-wrap: wrap; gap: 8px; }
nav a { color: #fff; text-decoration: none; background: rgba(255,255,255,.14);
  border-radius: 999px; padding: 3px 12px; font-size: 13px; }
nav a:hover { background: rgba(255,255,255,.28); }
nav a span { opacity: .75; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 24px 40px; }
section.event { border-bottom: 1px solid var(--line); padding: 20px 0 28px; }
section.event h2 { margin: 0 0 2px; font-size: 21px; }
section.event h2 code { font-size: 13px; color: var(--muted); font-weight: 400; margin-left: 6px; }
.rules, .baseline { margin: 4px 0; color: var(--muted); }
.baseline { background: var(--soft); border-left: 3px solid var(--accent); padding: 6px 10px; }
.empty { margin: 14px 0; padding: 18px; border: 1px dashed #cbd5e1; border-radius: 8px;
  color: var(--muted); text-align: center; background: var(--soft); }
.table-wrap { overflow-x: auto; margin: 14px 0; border: 1px solid var(--line);
  border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { padding: 6px 7px; border-bottom: 1px solid var(--line); vertical-align: top;
  text-align: left; }
th { background: var(--soft); font-size: 11px; text-transform: uppercase; letter-spacing: .04em;
  color: var(--muted); line-height: 1.3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.num { text-align: right; }
tbody tr:nth-child(even) td { background: #fcfcfd; }
tbody tr:last-child td { border-bottom: 0; }
td.rank { font-weight: 700; font-size: 15px; }
td.entrant { min-width: 150px; max-width: 260px; }
.entrant-name { font-weight: 600; overflow-wrap: anywhere; }
.note { display: block; color: var(--muted); font-size: 11.5px; overflow-wrap: anywhere; }
td.techniques { min-width: 110px; max-width: 200px; overflow-wrap: anywhere; color: #374151; }
.pill { display: inline-block; font-size: 11px; padding: 0 7px; border-radius: 999px;
  color: #fff; white-space: nowrap; }
.pareto { background: #111827; margin-left: 4px; }
td.score { font-weight: 700; }
td code { font: 11px ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--muted); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 16px;
  align-items: start; }
.charts .wide { grid-column: 1 / -1; }
.charts .wide svg { max-width: 960px; margin: 0 auto; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 10px; }
figure svg { display: block; width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 4px; }
footer { max-width: 1180px; margin: 0 auto; padding: 0 24px 32px; color: var(--muted);
  font-size: 12px; }
"""


def baseline_sentence(event: Mapping[str, Any]) -> str:
    """One line: the baseline figures from the verification runs and the accuracy floor."""
    b = event["baseline"]
    spread = (f"; {format_ms(b['latency_ms_min'])} to {format_ms(b['latency_ms_max'])} ms over "
              f"the runs" if b["runs"] > 1 else "")
    return (f"Baseline {b['name']} as measured in the {b['runs']} verification "
            f"run{'s' if b['runs'] != 1 else ''}: accuracy {format_percent(b['accuracy'])}, "
            f"latency {format_ms(b['latency_ms'])} ms (median{spread}), size "
            f"{format_bytes(b['model_bytes'])}. Accuracy floor: {100 * event['floor']:g} % of "
            f"the baseline's accuracy = {format_percent(event['accuracy_floor'])}.")


def _anchor(name: str) -> str:
    """An HTML id from an event name (event names are [a-z0-9-], but the page trusts nothing)."""
    return "event-" + re.sub(r"[^a-z0-9-]", "-", name.lower())


def _clipped(text: str, chars: int, cls: str) -> str:
    """``text`` cut to ``chars`` characters, the whole of it in the tooltip."""
    if not text:
        return ""
    shown = text if len(text) <= chars else text[: chars - 1] + "…"
    return f'<span class="{cls}" title="{escape(text)}">{escape(shown)}</span>'


def _header(doc: Mapping[str, Any]) -> str:
    env = doc["environment"]

    def joined(key: str) -> str:
        return ", ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in env[key]) or "-"

    generated = str(doc["generated_utc"]).replace("T", " ").removesuffix("+00:00")
    facts = [("Generated (UTC)", generated),
             ("Verifier CPU", joined("cpu")), ("onnxruntime", joined("onnxruntime")),
             ("Verifier", joined("verifier")), ("Python", joined("python")),
             ("Held-out images", joined("heldout_samples")),
             ("Rejected records", f"{doc['rejected']} (not shown)")]
    meta = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in facts)
    links = "".join(f'<a href="#{_anchor(name)}">{escape(event["title"])} '
                    f'<span>{len(event["entries"])}</span></a>'
                    for name, event in doc["events"].items())
    return ("<header><h1>TinyTorch Olympics leaderboard</h1>"
            "<p>Verified entries only. Every figure was measured by the verifier in "
            "onnxruntime on held-out images (batch 1, one thread), beside the baseline in "
            "the same run; entrants' claims are not shown.</p>"
            f'<dl class="meta" data-testid="environment">{meta}</dl><nav>{links}</nav></header>')


def _row(e: Mapping[str, Any]) -> str:
    color = DIVISION_COLORS.get(e["division"], OTHER_DIVISION_COLOR)
    pareto = ('<span class="pill pareto" title="on the Pareto front of accuracy and latency">'
              "Pareto</span>" if e["pareto"] else "")
    r = e["ratios"]
    cells = [
        f'<td class="rank num">{e["rank"]}</td>',
        f'<td class="entrant"><span class="entrant-name">{escape(e["entrant"])}</span>{pareto}'
        f'{_clipped(e["description"], DESCRIPTION_CHARS, "note")}</td>',
        f'<td><span class="pill" style="background:{color}">{escape(e["division"])}</span></td>',
        f'<td class="techniques">'
        f'{_clipped(", ".join(e["techniques"]), TECHNIQUES_CHARS, "tech") or "-"}</td>',
        f'<td class="num">{format_percent(e["accuracy"])}</td>',
        f'<td class="num">{format_ms(e["latency_ms"])}</td>',
        f'<td class="num" title="{e["model_bytes"]:,} bytes">{format_bytes(e["model_bytes"])}</td>',
        f'<td class="num" title="{e["peak_memory_bytes"]:,} bytes">'
        f'{format_bytes(e["peak_memory_bytes"])}</td>',
        f'<td class="num">{format_ratio(r["speedup"])}</td>',
        f'<td class="num">{format_ratio(r["compression"])}</td>',
        f'<td class="num">{format_ratio(r["accuracy"])}</td>',
        f'<td class="num score">{e["score"]:.3f}</td>',
        f'<td><code title="{escape(e["bundle_sha256"])}">{escape(e["bundle_sha256"][:12])}</code>'
        "</td>",
    ]
    return (f'<tr data-testid="entry-row" data-division="{escape(e["division"])}">'
            + "".join(cells) + "</tr>")


def _table(event: Mapping[str, Any]) -> str:
    heads = [("Rank", True, "rank within the division"),
             ("Entrant", False, "name, and the description in small print"),
             ("Division", False, "closed: the baseline's architecture; open: any model"),
             ("Techniques", False, "as stated by the entrant"),
             ("Accuracy", True, "held-out accuracy"),
             ("Latency ms", True, "median per image, batch 1, one thread"),
             ("Size", True, "bytes of model.onnx"),
             ("Peak memory", True, "resident memory growth while running the model"),
             ("Speedup", True, "baseline latency / entry latency, same run"),
             ("Compression", True, "baseline bytes / entry bytes"),
             ("Acc. ratio", True, "entry accuracy / baseline accuracy"),
             ("Score", True, "higher is better"), ("Bundle", False, "sha256 of the bundle")]
    head = "".join(f'<th class="{"num" if num else "text"}" title="{escape(tip)}">{name}</th>'
                   for name, num, tip in heads)
    rows = "".join(_row(e) for e in event["entries"])
    return (f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>")


def _section(name: str, event: Mapping[str, Any]) -> str:
    anchor = _anchor(name)
    parts = [f'<section class="event" id="{anchor}" data-testid="{anchor}">',
             f"<h2>{escape(event['title'])}<code>{escape(name)}</code></h2>"]
    if event["description"]:
        parts.append(f"<p>{escape(event['description'])}</p>")
    parts.append(f'<p class="rules">Score: <strong>{escape(event["metric"])}</strong> '
                 f"(higher is better), ranked within each division; ties go to the entry "
                 f"verified first.</p>")
    if not event["entries"]:
        parts.append('<p class="empty" data-testid="empty-event">No verified entries yet. '
                     "Submit a bundle and run the verifier to appear here.</p></section>")
        return "".join(parts)
    parts.append(f'<p class="baseline">{escape(baseline_sentence(event))}</p>')
    parts.append(_table(event))
    charts = [
        (accuracy_latency_svg(event, f"plot-pareto-{name}"), "wide",
         "Held-out accuracy against latency. Up and to the left is better; the step line joins "
         "the entries that no faster entry beats on accuracy. Labels: C = closed, O = open "
         "division, then the rank."),
        (model_size_svg(event, f"plot-size-{name}"), "",
         "Bytes of model.onnx; shorter is better."),
        (ratios_svg(event, f"plot-ratios-{name}"), "",
         "Ratios against the baseline measured in the same run; right of 1× is better."),
    ]
    parts.append('<div class="charts">' + "".join(
        f'<figure class="{cls}">{svg}<figcaption>{escape(caption)}</figcaption></figure>'
        for svg, cls, caption in charts) + "</div></section>")
    return "".join(parts)


def render_page(doc: Mapping[str, Any]) -> str:
    """``index.html`` for a leaderboard document (see ``leaderboard.leaderboard_document``)."""
    sections = "".join(_section(name, event) for name, event in doc["events"].items())
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            "<title>TinyTorch Olympics leaderboard</title>"
            f"<style>{STYLE}</style></head><body>{_header(doc)}<main>{sections}</main>"
            "<footer>Generated by tinytorch-olympics from verified result records; the same "
            "data is in leaderboard.json beside this file.</footer></body></html>\n")
