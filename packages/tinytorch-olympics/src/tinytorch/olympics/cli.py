"""``tito olympics``: events, baselines, submissions, verification and the leaderboard.

    tito olympics events                       the events, their scores, floors and limits
    tito olympics baseline                     train (or load) every task's baseline
    tito olympics submit --event E --example int8 --entrant ada --out ada.zip
    tito olympics verify ada.zip bob/ --jobs 2 --results results.jsonl
    tito olympics leaderboard --results results.jsonl --out leaderboard/

An organiser runs `baseline` once, entrants run `submit`, the organiser runs `verify` on
every bundle received and `leaderboard` on the results. `verify` exits with 1 when a bundle
was rejected, after writing every record.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from tinytorch.cli import EXIT_FAILED, EXIT_OK, CommandError
from tinytorch.olympics.rules import DIVISIONS, Rules, RulesError, load_rules

DEFAULT_RESULTS = "olympics-results.jsonl"
DEFAULT_BOARD = "leaderboard"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _rules(args: argparse.Namespace) -> Rules:
    try:
        return load_rules(args.rules)
    except RulesError as e:
        raise CommandError(str(e)) from None


def events_command(args: argparse.Namespace) -> int:
    rules = _rules(args)
    summaries = {name: e.summary() for name, e in sorted(rules.events.items())}
    if args.json:
        print(json.dumps(summaries, indent=2))
        return EXIT_OK
    print(f"rules: {rules.source}")
    for name, s in summaries.items():
        task = rules.task(s["task"])
        limits = ", ".join(f"{k} {v:g}" for k, v in s["limits"].items()) or "none"
        print(f"\n{name}: {s['title']}\n  {s['description']}\n"
              f"  task      {task.name} (input {tuple(task.input_shape)}, baseline "
              f"{task.baseline.description})\n"
              f"  score     {s['metric']}, against the baseline in the same run\n"
              f"  floor     held-out accuracy >= {s['floor']:.0%} of the baseline's\n"
              f"  limits    {limits}\n  divisions {', '.join(s['divisions'])}")
    return EXIT_OK


def baseline_command(args: argparse.Namespace) -> int:
    from tinytorch.olympics.baseline import train_baseline
    rules = _rules(args)
    names = sorted(rules.tasks) if args.task in (None, ["all"]) else args.task
    for name in names:
        try:
            task = rules.task(name)
        except KeyError as e:
            raise CommandError(str(e.args[0])) from None
        try:
            trained, how = train_baseline(task, data_root=args.data_dir,
                                          download=args.download, quick=args.quick,
                                          retrain=args.retrain)
        except (RuntimeError, OSError) as e:
            raise CommandError(f"baseline {name}: {e}", EXIT_FAILED) from None
        info = trained.info
        print(f"{name}: {how}; validation accuracy {info['validation_accuracy']:.2%}, "
              f"{info['parameters']:,} parameters, model.onnx {info['model_bytes']:,} bytes "
              f"(sha256 {info['sha256'][:12]}), in {trained.folder}")
    return EXIT_OK


def submit_command(args: argparse.Namespace) -> int:
    import tinytorch
    from tinytorch.olympics.baseline import build, load_baseline
    from tinytorch.olympics.data import load_splits
    from tinytorch.olympics.submit import submit
    rules = _rules(args)
    try:
        event = rules.event(args.event)
    except KeyError as e:
        raise CommandError(str(e.args[0])) from None
    task = event.task
    if os.path.lexists(args.out):
        raise CommandError(f"{args.out} already exists; choose a new --out")
    try:
        baseline = load_baseline(task, quick=args.quick)
        train_split, validation = load_splits(task, args.data_dir)
    except (FileNotFoundError, RuntimeError) as e:
        raise CommandError(str(e), EXIT_FAILED) from None
    techniques = list(args.technique)
    division = args.division
    model: Any
    if args.example:
        from tinytorch.olympics.examples import build_example
        example = build_example(args.example, baseline, task, train_split,
                                amount=args.amount,
                                finetune_images=8000 if args.quick else None)
        model, division = example.model, division or example.division
        techniques = techniques or list(example.techniques)
        description = args.description or example.description
    elif args.checkpoint:
        model = build(task.baseline.architecture)
        try:
            model.load_state_dict(tinytorch.load(args.checkpoint))
        except FileNotFoundError:
            raise CommandError(f"checkpoint not found: {args.checkpoint}") from None
        except (RuntimeError, KeyError, ValueError) as e:
            raise CommandError(f"{args.checkpoint} is not a state dict of the "
                               f"{task.baseline.architecture} baseline: {e}") from None
        description = args.description
    else:
        try:
            model = Path(args.onnx).read_bytes()
        except OSError as e:
            raise CommandError(f"cannot read {args.onnx}: {e.strerror or e}") from None
        description = args.description
    try:
        path, sub = submit(model, event, args.out, entrant=args.entrant,
                           division=division or "open", techniques=techniques,
                           description=description, baseline=baseline,
                           validation=validation, quick=args.quick)
    except (ValueError, FileExistsError) as e:
        raise CommandError(str(e)) from None
    c = sub["claims"]
    print(f"wrote {path}: {event.name} ({sub['division']}), validation accuracy "
          f"{c['accuracy']:.2%}, {c['latency_ms']:.4f} ms at batch 1 ({c['speedup']:.2f}x the "
          f"baseline), model.onnx {c['model_bytes']:,} bytes")
    return EXIT_OK


def verify_command(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tinytorch.olympics.results import ResultStore
    from tinytorch.olympics.verify import QUICK, Settings, Verifier
    rules = _rules(args)
    settings = QUICK if args.quick else Settings()
    settings = replace(settings, seed=args.seed if args.seed is not None else settings.seed,
                       samples=args.samples if args.samples else settings.samples)
    verifier = Verifier(rules, store=ResultStore(args.results), settings=settings,
                        data_root=args.data_dir)

    def show(record: dict[str, Any]) -> None:
        name = f"{record['bundle']}: "
        if record["status"] == "verified":
            m, r = record["measured"], record["ratios"]
            print(f"{name}verified  {record['event']} ({record['division']}) score "
                  f"{record['score']:.3f}; accuracy {m['accuracy']:.2%}, {m['latency_ms']:.4f} "
                  f"ms ({r['speedup']:.2f}x), {m['model_bytes']:,} bytes "
                  f"({r['compression']:.2f}x smaller)")
        else:
            reasons = [r.removeprefix(name) for r in record["reasons"]]
            print(f"{name}REJECTED  " + "; ".join(reasons))

    try:
        records = verifier.verify(args.bundles, jobs=args.jobs, scheduler=args.scheduler,
                                  on_record=show)
    except FileNotFoundError as e:
        raise CommandError(str(e), EXIT_FAILED) from None
    except (ValueError, ImportError, OSError) as e:
        raise CommandError(str(e), EXIT_FAILED) from None
    verified = sum(r["status"] == "verified" for r in records)
    print(f"{verified} of {len(records)} verified; records appended to {args.results}")
    return EXIT_OK if verified == len(records) else EXIT_FAILED


def leaderboard_command(args: argparse.Namespace) -> int:
    from tinytorch.olympics.leaderboard import build_leaderboard
    from tinytorch.olympics.results import ResultStore
    rules = _rules(args)
    try:
        records = ResultStore(args.results).records()
    except ValueError as e:
        raise CommandError(str(e), EXIT_FAILED) from None
    if not records:
        raise CommandError(f"{args.results} holds no results; run `tito olympics verify` "
                           "first", EXIT_FAILED)
    events = {name: e.summary() for name, e in rules.events.items()}
    doc = build_leaderboard(records, events, Path(args.out))
    shown = sum(len(e["entries"]) for e in doc["events"].values())
    print(f"wrote {Path(args.out) / 'leaderboard.json'}, LEADERBOARD.md and index.html: "
          f"{shown} verified {'entry' if shown == 1 else 'entries'} ({doc['rejected']} "
          f"rejected {'record' if doc['rejected'] == 1 else 'records'} left out)")
    return EXIT_OK


def register(subparsers: Any) -> None:
    """Add ``tito olympics`` and its sub-commands to ``tito``'s argument parser."""
    parser = subparsers.add_parser(
        "olympics", help="competitions verified in onnxruntime: events, submit, verify",
        description=__doc__.split("\n\n")[0].split(": ", 1)[1].strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1])
    parser.set_defaults(help_parser=parser)
    sub = parser.add_subparsers(dest="olympics_command", metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--rules", metavar="DIR",
                        help="a rules folder with events/*.json and tasks/*.json (default: "
                             "the built-in events)")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data-dir", metavar="DIR",
                      help="the dataset cache (default: $TINYTORCH_DATA or ~/.cache/tinytorch)")
    data.add_argument("--quick", action="store_true",
                      help="the quick baselines (1 epoch on 8,000 images), 2,000 images and "
                           "short timed runs: for tests and CI")

    p = sub.add_parser("events", parents=[common], help="list the events and their rules",
                       description="List every event: its task, score, accuracy floor, "
                                   "limits and divisions.")
    p.add_argument("--json", action="store_true", help="print the events as JSON")
    p.set_defaults(func=events_command)

    p = sub.add_parser("baseline", parents=[common, data],
                       help="train the baselines, or load them from the cache",
                       description="Train each task's baseline with its recipe (or load it "
                                   "from ~/.cache/tinytorch/olympics), export it to ONNX and "
                                   "report it. Every verification re-measures it.")
    p.add_argument("--task", nargs="+", metavar="NAME", help="tasks to train (default: all)")
    p.add_argument("--retrain", action="store_true", help="ignore the cache and train again")
    p.add_argument("--download", action="store_true",
                   help="download the dataset (verified by SHA-256) when it is not cached")
    p.set_defaults(func=baseline_command)

    p = sub.add_parser(
        "submit", parents=[common, data], help="build a bundle from a model",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Export a model to ONNX, measure its claims (validation accuracy, latency "
                    "and speed-up\nover the baseline, size) and write a bundle: model.onnx + "
                    "submission.json.",
        epilog="examples:\n"
               "  tito olympics submit --event memory-challenge --example int8 --entrant ada "
               "--out ada.zip\n"
               "  tito olympics submit --event latency-sprint --checkpoint lenet5.tt "
               "--entrant bob --out bob/\n"
               "  tito olympics submit --event accuracy-contest --onnx my.onnx --division open "
               "--entrant eve --out eve.zip")
    p.add_argument("--event", required=True, help="the event to enter")
    p.add_argument("--entrant", required=True, help="your name, as the leaderboard shows it")
    p.add_argument("--out", required=True, metavar="PATH",
                   help="the bundle to write: a folder, or a file ending in .zip")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--example", choices=["int8", "pruned", "pruned-int8"],
                      help="the baseline optimised with tinytorch.perf")
    what.add_argument("--checkpoint", metavar="FILE",
                      help="a state dict (tinytorch.save) of the task's baseline architecture")
    what.add_argument("--onnx", metavar="FILE", help="an ONNX model (any architecture)")
    p.add_argument("--amount", type=float, default=0.5,
                   help="fraction of hidden channels pruned by --example pruned* (default 0.5)")
    p.add_argument("--division", choices=sorted(DIVISIONS),
                   help="closed or open (default: the example's, else open)")
    p.add_argument("--technique", action="append", default=[], metavar="TEXT",
                   help="a technique used (repeat for several)")
    p.add_argument("--description", default="", help="a few words on the entry")
    p.set_defaults(func=submit_command)

    p = sub.add_parser(
        "verify", parents=[common, data], help="re-measure bundles and record the results",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Verify bundles (folders or .zip files): checks, held-out accuracy, "
                    "latency and memory in\nonnxruntime inside a sandboxed child process, "
                    "claims against measurements. One result\nrecord per bundle is appended "
                    "to --results; exit status 1 when any bundle was rejected.",
        epilog="a Dask cluster (pip install 'tinytorch-olympics[dask]'):\n"
               "  DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 dask scheduler\n"
               "  dask worker tcp://HOST:8786 --nworkers $(nproc) --nthreads 1 "
               "--resources bench=1\n"
               "  tito olympics verify bundles/* --scheduler tcp://HOST:8786 --jobs 16")
    p.add_argument("bundles", nargs="+", metavar="BUNDLE", help="bundle folders or zip files")
    p.add_argument("--results", default=DEFAULT_RESULTS, metavar="FILE",
                   help=f"the JSON-lines result file (default: {DEFAULT_RESULTS})")
    p.add_argument("--jobs", type=_positive, default=1, metavar="N",
                   help="bundles measured at once (local: at most one per core; default 1)")
    p.add_argument("--scheduler", default="local", metavar="WHERE",
                   help="local (child processes here) or a Dask scheduler address "
                        "tcp://host:port (default: local)")
    p.add_argument("--seed", type=int, metavar="N",
                   help="the held-out permutation's seed (default: 2026)")
    p.add_argument("--samples", type=_positive, metavar="N",
                   help="held-out samples to use (default: all; 2,000 with --quick)")
    p.set_defaults(func=verify_command)

    p = sub.add_parser("leaderboard", parents=[common],
                       help="build the leaderboard from verified results",
                       description="Write leaderboard.json, LEADERBOARD.md and a static "
                                   "index.html (with plots) from the verified records only.")
    p.add_argument("--results", default=DEFAULT_RESULTS, metavar="FILE",
                   help=f"the JSON-lines result file (default: {DEFAULT_RESULTS})")
    p.add_argument("--out", default=DEFAULT_BOARD, metavar="DIR",
                   help=f"the folder to write (default: {DEFAULT_BOARD}/)")
    p.set_defaults(func=leaderboard_command)

