"""``tito perf ...``: the Optimization tier's sub-commands.

``tito perf profile MODEL`` builds a model of the zoo with a fresh initialisation, profiles
one training step on a random batch (``tinytorch.perf.profile``) and prints the table; it can
also write the JSON and the roofline plot. Exit status: 0 success, 1 the profile could not
be written (no matplotlib for the plot, an unwritable path), 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import tinytorch
from tinytorch.arch import GPT, MLP, CifarCNN, LeNet5, gpt_char_medium, gpt_char_small, gpt_nano
from tinytorch.core.tensor import Tensor
from tinytorch.nn.module import Module
from tinytorch.perf import bench_cli
from tinytorch.perf.profiler import profile

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _images(channels: int, side: int) -> Callable[[int], Tensor]:
    return lambda n: tinytorch.randn(n, channels, side, side)


def _gpt(config: Any) -> tuple[Callable[[], Module], Callable[[int], Tensor]]:
    return (lambda: GPT(config),
            lambda n: tinytorch.randint(0, config.vocab_size, (n, config.block_size)))


# name -> (build the model, make an input batch of n samples)
ZOO: dict[str, tuple[Callable[[], Module], Callable[[int], Tensor]]] = {
    "mlp": (MLP, _images(1, 28)),
    "lenet5": (LeNet5, _images(1, 28)),
    "lenet5-bn": (lambda: LeNet5(channels=(16, 32), batch_norm=True), _images(1, 28)),
    "cifar-cnn": (CifarCNN, _images(3, 32)),
    "gpt-nano": _gpt(gpt_nano()),
    "gpt-char-small": _gpt(gpt_char_small()),
    "gpt-char-medium": _gpt(gpt_char_medium()),
}


def profile_command(args: argparse.Namespace) -> int:
    build, batch = ZOO[args.model]
    for option, value in (("--batch-size", args.batch_size), ("--repeats", args.repeats)):
        if value < 1:
            print(f"tito perf profile: {option} must be at least 1, got {value}",
                  file=sys.stderr)
            return EXIT_USAGE
    tinytorch.manual_seed(args.seed)
    model = build()
    if args.eval:
        model.eval()
    result = profile(model, batch(args.batch_size), backward=not args.no_backward,
                     repeats=args.repeats)
    if args.json == "-":
        json.dump(result.to_dict(), sys.stdout, indent=1)
        print()
    else:
        print(result.table())
    try:
        if args.json not in (None, "-"):
            result.save(args.json)
            print(f"wrote {args.json}", file=sys.stderr)
        if args.roofline is not None:
            result.roofline(args.roofline)
            print(f"wrote {args.roofline}", file=sys.stderr)
    except (ImportError, OSError) as e:
        print(f"tito perf profile: {e}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def register(subparsers: Any) -> None:
    """Add ``tito perf`` and its sub-commands to ``tito``'s argument parser."""
    parser = subparsers.add_parser(
        "perf", help="profile models, benchmark, measure kernels (the Optimization tier)",
        description="The Optimization tier's tools (tinytorch.perf).")
    parser.set_defaults(help_parser=parser)
    sub = parser.add_subparsers(dest="perf_command", metavar="SUBCOMMAND")

    p = sub.add_parser(
        "profile", help="per-layer parameters, FLOPs, saved memory and time of a zoo model",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Profile one training step (forward and backward) of a model of the zoo "
                    "on a random batch, and print one row per layer:\n"
                    "  params, weights   parameter count; bytes of parameters and buffers\n"
                    "  fwd/bwd FLOPs     counted as torch.utils.flop_counter counts them\n"
                    "                    (2 per multiply-add; matrix products, convolutions\n"
                    "                    and attention only)\n"
                    "  saved             activation memory the autograd graph holds\n"
                    "  fwd/bwd ms        measured time per pass, median of --repeats runs",
        epilog="examples:\n"
               "  tito perf profile lenet5 --batch-size 64\n"
               "  tito perf profile gpt-char-small --json gpt.json --roofline gpt.png\n"
               "  tito perf profile cifar-cnn --json -     (JSON on stdout, no table)")
    p.add_argument("model", choices=sorted(ZOO), metavar="MODEL",
                   help="one of: " + ", ".join(sorted(ZOO)))
    p.add_argument("-b", "--batch-size", type=int, default=8, metavar="N",
                   help="samples (images or sequences of the full context) per batch "
                        "(default 8)")
    p.add_argument("--repeats", type=int, default=5, metavar="N",
                   help="timed runs each time is the median of (default 5)")
    p.add_argument("--no-backward", action="store_true",
                   help="profile the forward pass only")
    p.add_argument("--eval", action="store_true",
                   help="put the model in eval mode first (dropout off, BatchNorm running "
                        "statistics)")
    p.add_argument("--seed", type=int, default=0, help="seed for the weights and the batch")
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="write the profile as JSON to PATH (atomically); without PATH, print "
                        "the JSON instead of the table")
    p.add_argument("--roofline", metavar="PATH",
                   help="write a roofline plot (PNG) of the layers to PATH; needs matplotlib "
                        "(pip install tinytorch-optim[plot])")
    p.set_defaults(func=profile_command)

    bench_cli.add_commands(sub)   # bench, accel
