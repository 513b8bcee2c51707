"""The leaderboard page in a real browser: tables, charts, no requests, no script, screenshot.

Drives the system's Chromium through Playwright (never a downloaded browser). Skipped when
Playwright is not installed or no Chromium binary is found (``TINYTORCH_CHROMIUM``, or
``chromium`` / ``chromium-browser`` on PATH), unless ``TINYTORCH_REQUIRE_BROWSER=1`` (set by
CI, which installs the browser): then a missing browser fails the run instead.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tinytorch.olympics.leaderboard import build_leaderboard

REQUIRED = os.environ.get("TINYTORCH_REQUIRE_BROWSER") == "1"
if REQUIRED:
    import playwright.sync_api as sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")


def _chromium() -> tuple[str | None, str]:
    """The Chromium binary to drive, or None and why there is none."""
    configured = os.environ.get("TINYTORCH_CHROMIUM")
    if configured:
        usable = os.access(configured, os.X_OK)
        return (configured if usable else None,
                f"TINYTORCH_CHROMIUM={configured!r} is not an executable file")
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found, ("no chromium or chromium-browser on PATH: install it (apt-get install "
                   "chromium) or set TINYTORCH_CHROMIUM to its path")


CHROMIUM, WHY_NOT = _chromium()
if REQUIRED and CHROMIUM is None:
    raise RuntimeError(f"TINYTORCH_REQUIRE_BROWSER=1 but {WHY_NOT}")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=WHY_NOT)


def _fixtures() -> ModuleType:
    """The record factory of test_leaderboard.py (test files are not an importable package)."""
    spec = importlib.util.spec_from_file_location(
        "leaderboard_fixtures", Path(__file__).with_name("test_leaderboard.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fx = _fixtures()
CROWD = 30
EVENTS = dict(fx.EVENTS, **{"accuracy-contest": {
    "title": "Accuracy contest", "description": "The most accurate model.",
    "metric": "accuracy", "task": "fashion-mnist-mlp", "floor": 0.99}})
SPRINT_ORDER = ["linus", "ada", fx.HOSTILE, "grace", "barbara"]


def _records() -> list[dict[str, Any]]:
    """The sample board, a hostile entrant, and 30 entries in the memory challenge."""
    records = fx.sample_records()
    records.append(fx.make_record(fx.HOSTILE, accuracy=0.8951, latency_ms=0.016,
                                  model_bytes=300_000, description=f"by {fx.HOSTILE}"))
    for i in range(CROWD):
        size = 60_000 + 47_000 * i
        records.append(fx.make_record(
            f"entrant-{i:02d}" + ("-with-a-rather-long-team-name" if i % 9 == 0 else ""),
            event="memory-challenge", division="open" if i % 4 == 0 else "closed",
            accuracy=0.880 + 0.0007 * ((i * 7) % 30), latency_ms=0.006 * (1 + (i * 11) % 30),
            model_bytes=size, score=941_100 / size))
    return records


@dataclass
class Loaded:
    page: Any
    out: Path
    url: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    out = tmp_path_factory.mktemp("board")
    build_leaderboard(_records(), EVENTS, out, generated_utc="2026-12-04T17:00:00+00:00")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        board = Loaded(page, out, (out / "index.html").as_uri())
        page.on("console", lambda m: board.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: board.errors.append(str(e)))
        page.on("request", lambda r: board.requests.append(r.url))
        page.on("dialog", lambda d: (board.dialogs.append(d.message), d.dismiss()))
        page.goto(board.url, wait_until="load")
        yield board
        browser.close()


def test_page_requests_nothing_but_its_own_file_and_logs_no_error(loaded: Loaded) -> None:
    assert loaded.requests == [loaded.url]
    assert loaded.errors == []


def test_tables_list_entrants_in_rank_order(loaded: Loaded) -> None:
    rows = loaded.page.locator("#event-latency-sprint tr[data-testid=entry-row]")
    assert rows.locator(".entrant-name").all_inner_texts() == SPRINT_ORDER
    assert rows.locator("td.rank").all_inner_texts() == ["1", "2", "3", "4", "1"]
    crowd = loaded.page.locator("#event-memory-challenge tr[data-testid=entry-row]")
    assert crowd.count() == CROWD


@pytest.mark.parametrize(("event", "entries"), [("latency-sprint", 5),
                                                ("memory-challenge", CROWD)])
def test_each_chart_renders_with_one_mark_per_entry(loaded: Loaded, event: str,
                                                     entries: int) -> None:
    page = loaded.page
    for kind, selector, marks in (("pareto", ".entry-point", entries),
                                  ("size", ".size-bar", entries),
                                  ("ratios", ".ratio-bar", 3 * entries)):
        chart = page.locator(f'[data-testid="plot-{kind}-{event}"]')
        box = chart.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100, kind
        assert chart.get_attribute("role") == "img" and chart.get_attribute("aria-label")
        assert chart.locator(selector).count() == marks, kind
    assert page.locator(f'[data-testid="plot-pareto-{event}"] .baseline-point').count() == 1
    assert page.locator(f'[data-testid="plot-size-{event}"] .baseline-bar').count() == 1


def test_chart_marks_and_labels_stay_inside_their_chart(loaded: Loaded) -> None:
    outside = loaded.page.evaluate("""() => {
        const out = [];
        for (const svg of document.querySelectorAll('svg[data-testid]')) {
            const s = svg.getBoundingClientRect();
            for (const el of svg.querySelectorAll('text, rect, circle, path')) {
                const b = el.getBoundingClientRect();
                if (b.left < s.left - 1 || b.right > s.right + 1 ||
                    b.top < s.top - 1 || b.bottom > s.bottom + 1)
                    out.push(svg.dataset.testid + ': ' + el.tagName + ' ' + el.textContent);
            }
        }
        return out;
    }""")
    assert outside == []


def test_hostile_entrant_name_shows_as_text_and_runs_nothing(loaded: Loaded) -> None:
    page = loaded.page
    assert loaded.dialogs == []
    assert page.locator("script").count() == 0
    assert page.locator("#event-latency-sprint .entrant-name").nth(2).inner_text() == fx.HOSTILE
    labels = page.locator('[data-testid="plot-size-latency-sprint"] text').all_text_contents()
    assert any(fx.HOSTILE in label for label in labels)


def test_event_without_entries_shows_an_empty_state(loaded: Loaded) -> None:
    section = loaded.page.locator("#event-accuracy-contest")
    assert section.locator("[data-testid=empty-event]").is_visible()
    assert section.locator("svg").count() == 0 and section.locator("table").count() == 0


def test_header_shows_generation_time_and_verifier_environment(loaded: Loaded) -> None:
    header = loaded.page.locator("[data-testid=environment]").inner_text()
    assert "2026-12-04 17:00:00" in header
    assert "AMD EPYC (2 cores)" in header and "1.32.0" in header


def test_full_page_screenshot_is_a_png_of_plausible_size(loaded: Loaded) -> None:
    path = loaded.out / "leaderboard.png"
    loaded.page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1280 and height > 2000
    assert 50_000 < len(data) < 20_000_000
