"""``tito``: TinyTorch's command line.

Each installed tier adds its own sub-commands through the ``tinytorch.tito`` entry-point group:
an entry point names a function ``register(subparsers)`` that adds a parser and sets
``func=handler`` on it, where ``handler(args) -> int`` is the exit status. Core registers
``system`` and ``milestone``; tinytorch-data adds ``data``; later tiers add more.

Exit statuses scripts can rely on: 0 success, 1 the work ran and failed (a missed milestone
target, a checksum mismatch), 2 a usage error, 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CommandError(Exception):
    """A failure to report in one line (no traceback), with the exit status to return."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every installed tier's sub-commands."""
    parser = argparse.ArgumentParser(
        prog="tito",
        description="TinyTorch's command line: system facts, milestones and tier tools.",
        epilog="Run 'tito COMMAND --help' for a command's options.",
    )
    from tinytorch import __version__

    parser.add_argument("--version", action="version",
                        version=f"tito (tinytorch-core {__version__})")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for ep in sorted(entry_points(group="tinytorch.tito"), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as e:  # a tier installed without what it needs: say so, keep going
            print(f"tito: skipping the '{ep.name}' commands: {e}", file=sys.stderr)
            continue
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tito`` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:  # everything after '--' is handed to the command untouched
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    if extra:
        if not hasattr(args, "extra"):
            parser.error(f"unexpected arguments after '--': {' '.join(extra)}")
        args.extra = extra
    handler = getattr(args, "func", None)
    if handler is None:
        # a command group without its sub-command prints that group's help
        target = getattr(args, "help_parser", parser)
        target.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(handler(args) or 0)
    except CommandError as e:
        print(f"tito: {e}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        print("tito: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
