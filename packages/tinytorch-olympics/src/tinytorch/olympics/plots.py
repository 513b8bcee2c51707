"""The leaderboard's charts, written as inline SVG text: no plotting library, no script.

Three views of one event, each drawn from the event's part of the leaderboard document:

- accuracy against latency, one point per entry, the Pareto front (the entries no other entry
  beats on both) as a step line, the baseline as a diamond and the accuracy floor as a dashed
  line; the latency axis turns logarithmic when the latencies span more than a factor of 8;
- the size of each model file as horizontal bars, the baseline's first;
- each entry's ratios against the baseline (speed-up, compression, accuracy ratio) as bars
  growing left or right from a reference line at 1x on a log2 axis, so that 2x better and 2x
  worse are the same length.

Cost: O(n) SVG elements per chart (one point, one bar or three bars per entry), about 300 bytes
each, so 30 entries in five events add under 200 kB to the page. Hand-written SVG keeps the
page one file that opens from ``file://`` without a network, keeps text selectable, and lets
every entrant-provided string pass through ``html.escape`` (names are untrusted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

WIDTH = 640                  # bar charts, two side by side on a page
WIDE = 960                   # the scatter, across the page
DIVISION_COLORS = {"closed": "#2563eb", "open": "#ea580c"}
OTHER_DIVISION_COLOR = "#7c3aed"
RATIO_COLORS = {"speedup": "#2563eb", "compression": "#16a34a", "accuracy": "#d97706"}
RATIO_NAMES = {"speedup": "speed-up", "compression": "compression", "accuracy": "accuracy ratio"}
BASELINE_COLOR = "#4b5563"
GRID_COLOR = "#e5e7eb"
LABELLED_POINTS_MAX = 10     # above this many entries, scatter points carry tooltips only
LABELLED_BARS_MAX = 12       # above this many entries, ratio bars carry tooltips only


# --------------------------------------------------------------------------- formatting
def format_bytes(n: float, *, short: bool = False) -> str:
    """``941100`` -> ``"941.1 kB"`` (decimal units, as file sizes are usually quoted);
    ``short`` drops trailing zeros, for axis ticks (``"500 kB"``)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:g} {unit}" if short else f"{n / size:.1f} {unit}"
    return f"{n:g} B"


def format_ms(ms: float) -> str:
    """A latency in milliseconds to three significant figures: ``0.02`` -> ``"0.0200"``."""
    return f"{ms:#.3g}".rstrip(".") if ms < 1000 else f"{ms:.0f}"


def format_percent(fraction: float) -> str:
    """``0.8971`` -> ``"89.71 %"``."""
    return f"{100 * fraction:.2f} %"


def format_ratio(ratio: float) -> str:
    """``1.5384`` -> ``"1.538×"``: three decimals, as accuracy ratios differ in the third."""
    return f"{ratio:.3f}×" if ratio < 10 else f"{ratio:.1f}×"


def entry_label(entry: Mapping[str, Any]) -> str:
    """The short name of an entry in charts: division initial and rank, then the entrant."""
    return f"{str(entry['division'])[:1].upper()}{entry['rank']} {entry['entrant']}"


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (latency, accuracy) points no other point beats on both, by latency.

    A point is on the front when every faster point is less accurate. O(n log n).
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    front: list[int] = []
    for i in order:
        if not front or points[i][1] > points[front[-1]][1]:
            front.append(i)
    return front


# --------------------------------------------------------------------------- scales
@dataclass(frozen=True)
class Scale:
    """Maps values in [lo, hi] to pixels in [start, end], linearly or logarithmically."""

    lo: float
    hi: float
    start: float
    end: float
    log: bool = False

    def __call__(self, value: float) -> float:
        if self.log:
            f = (math.log(value) - math.log(self.lo)) / (math.log(self.hi) - math.log(self.lo))
        else:
            f = (value - self.lo) / (self.hi - self.lo)
        return self.start + f * (self.end - self.start)


def _nice_step(span: float, count: int) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about ``count`` ticks over ``span``."""
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _linear_axis(lo: float, hi: float, start: float, end: float,
                 count: int = 5) -> tuple[Scale, list[float]]:
    """A linear scale widened to whole ticks, and those ticks."""
    if hi <= lo:
        lo, hi = lo - max(abs(lo) * 0.05, 1e-9), hi + max(abs(hi) * 0.05, 1e-9)
    step = _nice_step(hi - lo, count)
    first, last = math.floor(lo / step), math.ceil(hi / step)
    ticks = [round(k * step, 12) for k in range(first, last + 1)]
    return Scale(ticks[0], ticks[-1], start, end), ticks


def _log_axis(lo: float, hi: float, start: float, end: float) -> tuple[Scale, list[float]]:
    """A log10 scale padded by a quarter on each side, with 1-2-5 ticks (1..9 if too few)."""
    lo, hi = lo / 1.25, hi * 1.25
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for mantissas in ((1,), (1, 2, 5), tuple(range(1, 10))):
        ticks = [m * 10.0 ** k for k in decades for m in mantissas if lo <= m * 10.0 ** k <= hi]
        if len(ticks) >= 3:
            break
    return Scale(lo, hi, start, end, log=True), ticks


def _ratio_axis(values: Sequence[float], start: float,
                end: float) -> tuple[Scale, list[float]]:
    """A log2 scale from a power of two at or below min(values, 1/2) to one at or above
    max(values, 2), with a tick at every power of two (every other one past 12 ticks)."""
    low = math.floor(math.log2(min([0.5, *values]) / 1.05))
    high = math.ceil(math.log2(max([2.0, *values]) * 1.05))
    stride = 1 if high - low <= 12 else 2
    ticks = [2.0 ** k for k in range(low, high + 1, stride)]
    return Scale(2.0 ** low, 2.0 ** high, start, end, log=True), ticks


def _tick_text(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------- SVG pieces
def _svg_open(testid: str, width: int, height: int, label: str, description: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" data-testid="{escape(testid)}"'
            f' viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
            f' aria-label="{escape(label)}" font-family="system-ui, sans-serif" font-size="11">'
            f"<title>{escape(label)}</title><desc>{escape(description)}</desc>")


def _text(x: float, y: float, content: str, *, anchor: str = "start", size: int = 11,
          fill: str = "#111827", extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"'
            f' fill="{fill}"{extra}>{escape(content)}</text>')


def _x_axis(scale: Scale, ticks: Sequence[float], top: float, bottom: float, label: str,
            fmt: Any = _tick_text) -> list[str]:
    """Vertical grid lines with tick labels below ``bottom`` and the axis title under them."""
    parts = []
    for t in ticks:
        x = scale(t)
        parts.append(f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}"'
                     f' stroke="{GRID_COLOR}"/>')
        parts.append(_text(x, bottom + 14, fmt(t), anchor="middle", fill="#374151"))
    parts.append(f'<line x1="{scale.start:.1f}" y1="{bottom:.1f}" x2="{scale.end:.1f}"'
                 f' y2="{bottom:.1f}" stroke="#9ca3af"/>')
    parts.append(_text((scale.start + scale.end) / 2, bottom + 32, label, anchor="middle",
                       fill="#374151"))
    return parts


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _legend(items: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    """A row of (SVG marker, label) pairs starting at (x, y)."""
    parts = []
    for marker, label in items:
        parts.append(f'<g transform="translate({x:.1f},{y:.1f})">{marker}</g>')
        parts.append(_text(x + 10, y + 4, label, fill="#374151"))
        x += 22 + 6.2 * len(label)
    return parts


def _division_color(division: str) -> str:
    return DIVISION_COLORS.get(division, OTHER_DIVISION_COLOR)


def _diamond(x: float, y: float, r: float = 6) -> str:
    return (f'<path d="M{x:.1f},{y - r:.1f} L{x + r:.1f},{y:.1f} L{x:.1f},{y + r:.1f}'
            f' L{x - r:.1f},{y:.1f} Z" fill="{BASELINE_COLOR}"')


# --------------------------------------------------------------------------- charts
def accuracy_latency_svg(event: Mapping[str, Any], testid: str) -> str:
    """Scatter of held-out accuracy (%) against latency (ms), with the Pareto front."""
    entries, baseline = event["entries"], event["baseline"]
    width, height, left, right, top, bottom = WIDE, 420, 62, 24, 40, 360
    latencies = [e["latency_ms"] for e in entries] + [baseline["latency_ms"]]
    accuracies = [100 * e["accuracy"] for e in entries] + [100 * baseline["accuracy"]]
    floor = 100 * event["accuracy_floor"]
    wide = max(latencies) / min(latencies) > 8
    if wide:
        xs, xticks = _log_axis(min(latencies), max(latencies), left, width - right)
    else:
        span = max(latencies) - min(latencies) or max(latencies) * 0.2
        xs, xticks = _linear_axis(max(0.0, min(latencies) - 0.15 * span),
                                  max(latencies) + 0.15 * span, left, width - right)
    span = max(*accuracies, floor) - min(*accuracies, floor) or 1.0
    ys, yticks = _linear_axis(min(*accuracies, floor) - 0.1 * span,
                              max(*accuracies, floor) + 0.1 * span, bottom, top)
    label = f"{event['title']}: held-out accuracy against latency"
    parts = [_svg_open(testid, width, height, label,
                       f"{len(entries)} entries, the Pareto front and the baseline")]
    parts += _x_axis(xs, xticks, top, bottom,
                     "latency per image, ms (batch 1, one thread)" + (", log scale" if wide
                                                                       else ""))
    for t in yticks:
        y = ys(t)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}"'
                     f' stroke="{GRID_COLOR}"/>')
        parts.append(_text(left - 6, y + 4, _tick_text(t), anchor="end", fill="#374151"))
    parts.append(_text(16, (top + bottom) / 2, "held-out accuracy, %", anchor="middle",
                       fill="#374151", extra=f' transform="rotate(-90 16 {(top + bottom) / 2})"'))
    floor_y = ys(floor)
    parts.append(f'<line x1="{left}" y1="{floor_y:.1f}" x2="{width - right}" y2="{floor_y:.1f}"'
                 f' stroke="#dc2626" stroke-dasharray="5 4"/>')
    parts.append(_text(width - right - 4, floor_y - 4, f"accuracy floor {floor:.2f} %",
                       anchor="end", size=10, fill="#dc2626"))
    front = [entries[i] for i in pareto_front([(e["latency_ms"], e["accuracy"])
                                                for e in entries])]
    if front:
        path = f"M{xs(front[0]['latency_ms']):.1f},{ys(100 * front[0]['accuracy']):.1f}"
        for e in front[1:]:
            path += f" H{xs(e['latency_ms']):.1f} V{ys(100 * e['accuracy']):.1f}"
        parts.append(f'<path data-testid="pareto-front" d="{path}" fill="none" stroke="#111827"'
                     f' stroke-width="1.5" stroke-dasharray="1 0"/>')
    bx, by = xs(baseline["latency_ms"]), ys(100 * baseline["accuracy"])
    parts.append(f'{_diamond(bx, by)} class="baseline-point"><title>'
                 f'{escape(_baseline_tooltip(baseline))}</title></path>')
    labelled = len(entries) <= LABELLED_POINTS_MAX
    for e in entries:
        x, y = xs(e["latency_ms"]), ys(100 * e["accuracy"])
        tip = (f"{entry_label(e)} ({e['division']}): {format_percent(e['accuracy'])}, "
               f"{format_ms(e['latency_ms'])} ms")
        parts.append(f'<circle class="entry-point" cx="{x:.1f}" cy="{y:.1f}" r="5"'
                     f' fill="{_division_color(e["division"])}" fill-opacity="0.85"'
                     f' stroke="#ffffff" stroke-width="1"><title>{escape(tip)}</title></circle>')
        if labelled:
            parts.append(_text(x + 7, y - 6, _clip(entry_label(e), 22), size=10))
    divisions = sorted({e["division"] for e in entries})
    legend = [(f'<circle r="5" fill="{_division_color(d)}"/>', f"{d} division")
              for d in divisions]
    legend.append((_diamond(0, 0, 5) + "/>", "baseline"))
    legend.append(('<line x1="-6" y1="0" x2="6" y2="0" stroke="#111827" stroke-width="1.5"/>',
                   "Pareto front"))
    parts += _legend(legend, left + 6, 18)
    parts.append("</svg>")
    return "".join(parts)


def _baseline_tooltip(baseline: Mapping[str, Any]) -> str:
    return (f"baseline {baseline['name']}: {format_percent(baseline['accuracy'])}, "
            f"{format_ms(baseline['latency_ms'])} ms, {format_bytes(baseline['model_bytes'])}")


def model_size_svg(event: Mapping[str, Any], testid: str) -> str:
    """Horizontal bars: bytes of each model file, the baseline's first."""
    entries, baseline = event["entries"], event["baseline"]
    rows = [(f"baseline {baseline['name']}", baseline["model_bytes"], BASELINE_COLOR,
             "baseline-bar")]
    rows += [(entry_label(e), e["model_bytes"], _division_color(e["division"]), "size-bar")
             for e in entries]
    row, left, right, top = 24, 180, 70, 14
    bottom = top + row * len(rows)
    height = bottom + 44
    xs, ticks = _linear_axis(0.0, max(size for _, size, _, _ in rows), left, WIDTH - right)
    label = f"{event['title']}: model size on disk"
    parts = [_svg_open(testid, WIDTH, height, label,
                       f"bytes of model.onnx for the baseline and {len(entries)} entries")]
    parts += _x_axis(xs, ticks, top, bottom, "model file size (bytes of model.onnx)",
                     lambda t: format_bytes(t, short=True))
    for i, (name, size, color, cls) in enumerate(rows):
        y = top + i * row + 4
        parts.append(_text(left - 8, y + 11, _clip(name, 28), anchor="end"))
        parts.append(f'<rect class="{cls}" x="{left}" y="{y}" width="{xs(size) - left:.1f}"'
                     f' height="{row - 8}" fill="{color}" rx="2"><title>'
                     f'{escape(f"{name}: {size:,} bytes")}</title></rect>')
        parts.append(_text(xs(size) + 5, y + 11, format_bytes(size), size=10, fill="#374151"))
    parts.append("</svg>")
    return "".join(parts)


def ratios_svg(event: Mapping[str, Any], testid: str) -> str:
    """Per entry, three bars from the 1x line: speed-up, compression and accuracy ratio."""
    entries = event["entries"]
    kinds = tuple(RATIO_COLORS)
    bar, pitch, left, right, top = 6, 7, 180, 24, 40
    row = 3 * pitch + 5
    bottom = top + row * len(entries)
    height = bottom + 44
    values = [e["ratios"][k] for e in entries for k in kinds]
    xs, ticks = _ratio_axis(values, left, WIDTH - right)
    label = f"{event['title']}: ratios against the baseline"
    parts = [_svg_open(testid, WIDTH, height, label,
                       "speed-up, compression and accuracy ratio of each entry; 1x is the "
                       "baseline measured in the same run, right of it is better")]
    parts += _x_axis(xs, ticks, top, bottom, "ratio against the baseline (log scale; "
                     "right of 1× is better)", lambda t: f"{t:g}×")
    labelled = len(entries) <= LABELLED_BARS_MAX
    one = xs(1.0)
    for i, e in enumerate(entries):
        y0 = top + i * row + 4
        parts.append(_text(left - 8, y0 + 3 * pitch / 2 + 3, _clip(entry_label(e), 28),
                           anchor="end"))
        for j, kind in enumerate(kinds):
            value = e["ratios"][kind]
            x = xs(value)
            y = y0 + j * pitch
            tip = f"{entry_label(e)}: {RATIO_NAMES[kind]} {format_ratio(value)}"
            parts.append(f'<rect class="ratio-bar" data-ratio="{kind}" x="{min(x, one):.1f}"'
                         f' y="{y}" width="{max(abs(x - one), 1.5):.1f}" height="{bar}"'
                         f' fill="{RATIO_COLORS[kind]}"><title>{escape(tip)}</title></rect>')
            if labelled:
                parts.append(_text(max(x, one) + 4, y + bar, format_ratio(value), size=8,
                                   fill="#374151"))
    parts.append(f'<line data-testid="reference-line" x1="{one:.1f}" y1="{top - 6}"'
                 f' x2="{one:.1f}" y2="{bottom:.1f}" stroke="#111827" stroke-width="1.5"/>')
    parts += _legend([(f'<rect x="-5" y="-5" width="10" height="10" fill="{RATIO_COLORS[k]}"/>',
                       RATIO_NAMES[k]) for k in kinds], left, 16)
    parts.append("</svg>")
    return "".join(parts)
