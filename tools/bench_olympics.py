"""What verification costs, and how steady its ratios are: the baseline entered against itself.

    python tools/bench_olympics.py [--rounds 3] [--quick]

Enters each task's baseline, unchanged, in every event (closed division), then verifies the
five bundles with ``--jobs 1`` and ``--jobs 2`` in alternating rounds. An entry identical to
the baseline must come out with the baseline's accuracy exactly, a compression of exactly 1
and a speed-up near 1: the spread of those speed-ups is the noise every score carries. The
script checks the first two before it prints any time.

Prints: the wall time per round (median of ``--rounds``), seconds per bundle, the gain of two
jobs over one, and the self speed-ups (min, median, max). Needs the baselines (``tito
olympics baseline``, or ``--quick`` for the quick ones) and the dataset cache.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from tinytorch.olympics import QUICK, Settings, Verifier, load_baseline, load_rules, submit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per job count (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="the quick baselines, 2,000 held-out images, short timed runs")
    args = parser.parse_args()
    rules = load_rules()
    settings = QUICK if args.quick else Settings()
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for name, event in sorted(rules.events.items()):
            baseline = load_baseline(event.task, quick=args.quick)
            path, _ = submit(baseline.model, event, Path(folder) / name, entrant="baseline",
                             division="closed", techniques=["none"],
                             description="the baseline itself", baseline=baseline,
                             quick=args.quick)
            paths.append(str(path))
        walls: dict[int, list[float]] = {1: [], 2: []}
        speedups: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(args.rounds):
            for jobs in (1, 2):
                verifier = Verifier(rules, settings=replace(settings))
                start = time.perf_counter()
                records = verifier.verify(paths, jobs=jobs)
                walls[jobs].append(time.perf_counter() - start)
                for r in records:
                    if r["status"] != "verified":
                        sys.exit(f"bench_olympics: {r['bundle']} was rejected: {r['reasons']}")
                    if r["measured"]["accuracy"] != r["baseline"]["accuracy"] or \
                            r["ratios"]["compression"] != 1.0:
                        sys.exit(f"bench_olympics: {r['event']}: the baseline against itself "
                                 f"gave accuracy {r['measured']['accuracy']} vs "
                                 f"{r['baseline']['accuracy']}, compression "
                                 f"{r['ratios']['compression']}")
                    speedups[jobs].append(r["ratios"]["speedup"])
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    print(f"verified {len(paths)} bundles (each task's baseline entered in every event), "
          f"{args.rounds} rounds per job count, "
          f"{settings.samples or 'all'} held-out images each")
    print("correctness: every entry got the baseline's own held-out accuracy exactly and a "
          "compression of 1.0")
    print(f"--jobs 1: {one:.1f} s per round ({one / len(paths):.2f} s per bundle)")
    print(f"--jobs 2: {two:.1f} s per round ({two / len(paths):.2f} s per bundle), "
          f"{one / two:.2f}x the throughput of one job")
    for jobs, found in speedups.items():
        print(f"speed-up of the baseline against itself, --jobs {jobs}, {len(found)} "
              f"verifications: min {min(found):.3f}, median {statistics.median(found):.3f}, "
              f"max {max(found):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
