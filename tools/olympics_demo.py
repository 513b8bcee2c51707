"""Run a whole olympics with the `tito olympics` commands: the README's leaderboard.

    python tools/olympics_demo.py [--out DIR] [--quick] [--jobs N]

1. ``tito olympics baseline`` trains (or loads) both tasks' baselines.
2. ``tito olympics submit --example ...`` enters one example per event, built from the
   baseline with tinytorch.perf (int8, pruned, pruned + int8).
3. Three tampered copies of an entry are made, as a dishonest entrant would: its model file
   changed after submission, its accuracy claim inflated, its speed-up claim inflated; and
   one entry is sent twice.
4. ``tito olympics verify`` re-measures everything (``--jobs``) and rejects the tampered.
5. ``tito olympics leaderboard`` writes the JSON, Markdown and HTML pages, and a headless
   chromium (when playwright and the browser are installed) saves a screenshot of the top of
   the page.

The commands print what they measured; this script adds nothing to the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from tinytorch.olympics.examples import EVENT_EXAMPLES

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [(event, kind, str(amount), entrant) for (event, (kind, amount)), entrant
            in zip(EVENT_EXAMPLES.items(), ("ada", "grace", "alan", "katherine", "edsger"))]


def tito(*args: str, check: bool = True) -> int:
    command = ["tito", "olympics", *args]
    print("$ " + " ".join(command), flush=True)
    status = subprocess.run(command, check=False).returncode
    if check and status != 0:
        sys.exit(f"olympics demo: `{' '.join(command)}` failed with status {status}")
    return status


def tamper(source: Path, target: Path, what: str) -> None:
    """A copy of the bundle folder ``source`` with one dishonest change."""
    shutil.copytree(source, target)
    if what == "model":
        data = bytearray((target / "model.onnx").read_bytes())
        data[-64] ^= 0x01                                 # one bit of the last initializer
        (target / "model.onnx").write_bytes(bytes(data))
        return
    sub = json.loads((target / "submission.json").read_text())
    if what == "accuracy":
        sub["claims"]["accuracy"] = min(1.0, sub["claims"]["accuracy"] + 0.05)
    else:
        sub["claims"]["speedup"] *= 3
        sub["claims"]["latency_ms"] /= 3
    (target / "submission.json").write_text(json.dumps(sub, indent=2))


def screenshot(page: Path, png: Path) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("no screenshot: playwright is not installed")
        return
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("no screenshot: no chromium on PATH")
        return
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser, args=["--no-sandbox"])
        tab = b.new_page(viewport={"width": 1280, "height": 1500})
        tab.goto(page.resolve().as_uri())
        tab.screenshot(path=str(png))                   # the header and the first event
        b.close()
    print(f"wrote {png} ({png.stat().st_size:,} bytes)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / ".scratch" / "olympics"),
                        help="where bundles, results and the leaderboard go "
                             "(default: .scratch/olympics)")
    parser.add_argument("--quick", action="store_true", help="quick baselines and timings")
    parser.add_argument("--jobs", default="2", help="bundles verified at once (default 2)")
    parser.add_argument("--screenshot", default=str(ROOT / "docs" / "olympics-leaderboard.png"),
                        help="where the page's screenshot goes")
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    bundles = out / "bundles"
    bundles.mkdir(parents=True)
    quick = ["--quick"] if args.quick else []

    tito("baseline", *quick)
    entries = []
    for event, kind, amount, entrant in EXAMPLES:
        path = bundles / f"{entrant}-{event}"
        amount_option = ["--amount", amount] if kind.startswith("pruned") else []
        tito("submit", "--event", event, "--example", kind, *amount_option,
             "--entrant", entrant, "--out", str(path), *quick)
        entries.append(path)
    honest = bundles / "grace-memory-challenge"
    tampered = []
    for what in ("model", "accuracy", "speedup"):
        tampered.append(bundles / f"mallory-{what}")
        tamper(honest, tampered[-1], what)
    for path in tampered:                           # another entrant's copy, renamed
        sub = json.loads((path / "submission.json").read_text())
        sub["entrant"] = "mallory"
        (path / "submission.json").write_text(json.dumps(sub, indent=2))
    results = out / "results.jsonl"
    tito("verify", *map(str, entries + tampered + [honest]), "--jobs", args.jobs,
         "--results", str(results), *quick, check=False)
    tito("leaderboard", "--results", str(results), "--out", str(out / "leaderboard"))
    print((out / "leaderboard" / "LEADERBOARD.md").read_text())
    Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
    screenshot(out / "leaderboard" / "index.html", Path(args.screenshot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
