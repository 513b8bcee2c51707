"""``tito perf bench`` and ``tito perf accel``: the benchmark harness from the command line.

- ``bench`` times the standard set (``tinytorch.perf.standard``) with ``benchmark`` and
  prints, under the environment fingerprint, each workload's median, the confidence
  interval for it, the IQR and the minimum.
- ``accel`` checks every kernel of the lower tiers against its reference and times the two
  (``tinytorch.perf.acceleration``), printing each gain with its interval.

Both write JSON with ``--json PATH`` (atomically). Exit status: 0 success, 1 a kernel that
disagrees with its reference or a file that could not be written, 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tinytorch.core.atomic import atomic_write
from tinytorch.perf.acceleration.catalogue import default_pairs, select
from tinytorch.perf.acceleration.report import HEADER, LEGEND, format_row, measure_acceleration
from tinytorch.perf.benchmark import BenchmarkResult, benchmark, format_time
from tinytorch.perf.environment import describe, describe_load, fingerprint, load_average
from tinytorch.perf.standard import standard_set

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# (repeats, min_time): samples per workload and seconds per sample, by default and --quick
BENCH_SETTINGS = {False: (15, 0.05), True: (5, 0.005)}
# (rounds, repeats, min_time, settle) of each reference/kernel comparison
ACCEL_SETTINGS = {False: (7, 3, 0.02, 0.2), True: (3, 2, 0.002, 0.02)}

BENCH_HEADER = (f"{'workload':<46} {'median':>11} {'CI of the median (coverage)':>32} "
                f"{'IQR':>11} {'min':>11} {'samples':>11}")


def _bench_row(r: BenchmarkResult) -> str:
    low, high = r.ci
    interval = f"{format_time(low)} - {format_time(high)} ({r.ci_level:.0%})"
    return (f"{r.name:<46} {format_time(r.median):>11} {interval:>32} "
            f"{format_time(r.iqr):>11} {format_time(r.min):>11} "
            f"{f'{len(r.times)}x{r.number}':>11}")


def _write_json(path: str, data: dict[str, Any], command: str) -> int:
    try:
        with atomic_write(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=1) + "\n")
    except OSError as e:
        print(f"tito perf {command}: {e}", file=sys.stderr)
        return EXIT_FAILED
    print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


def _positive(option: str, value: float | None, command: str) -> bool:
    if value is not None and value <= 0:
        print(f"tito perf {command}: {option} must be positive, got {value}", file=sys.stderr)
        return False
    return True


def bench_command(args: argparse.Namespace) -> int:
    if not (_positive("--repeats", args.repeats, "bench")
            and _positive("--min-time", args.min_time, "bench")):
        return EXIT_USAGE
    workloads = [w for w in standard_set(args.quick) if args.only in w.name]
    if not workloads:
        names = ", ".join(w.name for w in standard_set(args.quick))
        print(f"tito perf bench: no workload matches --only {args.only!r}; the workloads: "
              f"{names}", file=sys.stderr)
        return EXIT_USAGE
    repeats, min_time = BENCH_SETTINGS[args.quick]
    repeats = args.repeats or repeats
    min_time = args.min_time or min_time
    load_start = load_average()
    print("\n".join(describe(fingerprint(), load=False)))
    print(f"\n{BENCH_HEADER}\n{'-' * len(BENCH_HEADER)}")
    results = []
    for w in workloads:
        result = benchmark(w.build(), name=w.name, repeats=repeats, min_time=min_time)
        print(_bench_row(result), flush=True)
        results.append(result)
    print("times per call; median of the samples, each sample at least "
          f"{format_time(min_time)} of back-to-back calls")
    fp = fingerprint(load_start, load_average())
    print(describe_load(fp))
    if args.json is None:
        return EXIT_OK
    return _write_json(args.json, {"fingerprint": fp,
                                   "results": [r.to_dict() for r in results]}, "bench")


def accel_command(args: argparse.Namespace) -> int:
    if not (_positive("--rounds", args.rounds, "accel")
            and _positive("--repeats", args.repeats, "accel")):
        return EXIT_USAGE
    pairs = select(default_pairs(args.quick), args.only)
    if not pairs:
        print(f"tito perf accel: no pair matches --only {args.only!r}", file=sys.stderr)
        return EXIT_USAGE
    rounds, repeats, min_time, settle = ACCEL_SETTINGS[args.quick]
    print("\n".join(describe(fingerprint(), load=False)))
    print(f"\n{HEADER}\n{'-' * len(HEADER)}")
    report = measure_acceleration(pairs, rounds=args.rounds or rounds,
                                  repeats=args.repeats or repeats, min_time=min_time,
                                  settle=settle, on_row=lambda row: print(format_row(row),
                                                                          flush=True))
    print(LEGEND)
    print(describe_load(report.fingerprint))
    status = EXIT_OK if report.ok else EXIT_FAILED
    if not report.ok:
        print("tito perf accel: some kernels disagree with their references (see above)",
              file=sys.stderr)
    if args.json is not None:
        status = max(status, _write_json(args.json, report.to_dict(), "accel"))
    return status


def add_commands(sub: Any) -> None:
    """Add ``bench`` and ``accel`` to the ``tito perf`` sub-command parser ``sub``."""
    p = sub.add_parser(
        "bench", help="time the standard workloads, with statistics and the machine's "
                      "fingerprint",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Time TinyTorch's standard workloads with its default settings:\n"
                    + "\n".join(f"  {w.name}" for w in standard_set()) + "\n"
                    "Each is warmed up, then timed in samples of back-to-back calls; the "
                    "table gives\nthe median time per call, a distribution-free 95% "
                    "confidence interval for it,\nthe IQR and the minimum, under the "
                    "versions, BLAS, threads, CPU and load average\nof this run.",
        epilog="examples:\n"
               "  tito perf bench --quick              (small inputs, a few seconds)\n"
               "  tito perf bench --json bench.json    (also write every sample as JSON)\n"
               "  tito perf bench --only conv")
    p.add_argument("--quick", action="store_true",
                   help="small inputs and few samples: checks that it runs, not for figures")
    p.add_argument("--json", metavar="PATH",
                   help="write the results, raw samples and fingerprint as JSON to PATH")
    p.add_argument("--only", metavar="TEXT", default="",
                   help="run only the workloads whose name contains TEXT")
    p.add_argument("--repeats", type=int, metavar="N",
                   help=f"timed samples per workload (default {BENCH_SETTINGS[False][0]}, "
                        f"--quick {BENCH_SETTINGS[True][0]})")
    p.add_argument("--min-time", type=float, metavar="SECONDS",
                   help=f"shortest sample (default {BENCH_SETTINGS[False][1]}, --quick "
                        f"{BENCH_SETTINGS[True][1]}); fast workloads run several calls per "
                        "sample")
    p.set_defaults(func=bench_command)

    p = sub.add_parser(
        "accel", help="each optimisation against its plain reference: checked, then timed",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="For every optimisation TinyTorch makes (fused cross-entropy, GELU, SiLU, "
                    "layer and RMS norm,\nconvolution, pooling, batch norm, attention, "
                    "threaded rows, im2col) and for a\ncache-blocked matrix product: run "
                    "the reference and the kernel on the same inputs,\ncheck that outputs "
                    "and gradients agree within the stated tolerance, and only then\ntime "
                    "the two in alternating blocks and print the gain (reference / kernel) "
                    "with\nits confidence interval. Exit status 1 if any pair disagrees.",
        epilog="examples:\n"
               "  tito perf accel --quick\n"
               "  tito perf accel --only matmul --json accel.json")
    p.add_argument("--quick", action="store_true",
                   help="small inputs and few rounds: checks that it runs, not for figures")
    p.add_argument("--json", metavar="PATH",
                   help="write the checks, every sample and the fingerprint as JSON to PATH")
    p.add_argument("--only", metavar="TEXT", default="",
                   help="run only the pairs whose name or optimisation contains TEXT")
    p.add_argument("--rounds", type=int, metavar="N",
                   help=f"alternating rounds per pair (default {ACCEL_SETTINGS[False][0]})")
    p.add_argument("--repeats", type=int, metavar="N",
                   help=f"timed samples per block (default {ACCEL_SETTINGS[False][1]})")
    p.set_defaults(func=accel_command)
