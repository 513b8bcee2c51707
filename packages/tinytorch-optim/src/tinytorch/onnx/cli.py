"""``tito export onnx MODEL --out FILE``: a zoo model (and its checkpoint) as an ONNX file.

The model is built as ``tito perf`` builds it (same zoo names), its weights loaded from a
``tinytorch.save``'d state dict when ``--checkpoint`` is given (else a fresh random
initialisation, which the command says), traced on one sample with a dynamic batch axis
(and a dynamic sequence axis for GPT), written, and, when onnxruntime is installed, run there
and compared with TinyTorch's own output.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import tinytorch
from tinytorch.cli import EXIT_FAILED, EXIT_OK, CommandError
from tinytorch.onnx.registry import UnsupportedOperatorError


def export_onnx_command(args: argparse.Namespace) -> int:
    from tinytorch.onnx import export, verify
    from tinytorch.perf.cli import ZOO

    build, batch = ZOO[args.model]
    model = build()
    if args.checkpoint is None:
        print(f"no --checkpoint: exporting {args.model} with random initial weights")
    else:
        try:
            state = tinytorch.load(args.checkpoint)
        except FileNotFoundError:
            raise CommandError(f"checkpoint not found: {args.checkpoint}") from None
        try:
            model.load_state_dict(state)
        except (RuntimeError, KeyError, ValueError) as e:
            raise CommandError(f"{args.checkpoint} does not fit model {args.model}: {e}",
                               EXIT_FAILED) from None
    model.eval()
    if args.quantize == "int8":
        from tinytorch.perf import quantize_dynamic
        model = quantize_dynamic(model)
    sample = batch(1)
    axes: dict[str, Any] = {"input": {0: "batch"}, "output": {0: "batch"}}
    if args.model.startswith("gpt"):
        axes = {"input": {0: "batch", 1: "sequence"}, "output": {0: "batch", 1: "sequence"}}
    try:
        export(model, sample, args.out, opset_version=args.opset, dynamic_axes=axes)
    except UnsupportedOperatorError as e:
        hint = (" (int8 export needs the QDQ translations of tinytorch.onnx.ops.quantized)"
                if args.quantize else "")
        raise CommandError(f"cannot export {args.model}{hint}: {e}", EXIT_FAILED) from None
    except OSError as e:
        raise CommandError(f"cannot write {args.out}: {e.strerror or e}", EXIT_FAILED) from None
    except ValueError as e:                      # an opset out of range
        raise CommandError(str(e)) from None
    print(f"wrote {args.out} ({os.path.getsize(args.out):,} bytes, opset {args.opset})")
    try:
        report = verify(model, sample, args.out)
    except ImportError as e:
        print(f"not verified: {e}")
    except AssertionError as e:
        raise CommandError(str(e), EXIT_FAILED) from None
    else:
        print(f"verified in onnxruntime:\n{report}")
    return EXIT_OK


def register(subparsers: Any) -> None:
    """Add ``tito export`` and its ``onnx`` sub-command to ``tito``'s argument parser."""
    from tinytorch.perf.cli import ZOO

    parser = subparsers.add_parser("export", help="write a model in another format (ONNX)",
                                   description="Export models of the zoo to other formats.")
    parser.set_defaults(help_parser=parser)
    sub = parser.add_subparsers(dest="export_command", metavar="FORMAT")
    p = sub.add_parser(
        "onnx", help="export a zoo model (and a checkpoint) to an ONNX file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Build a model of the zoo, load its weights, trace it on one sample and "
                    "write an ONNX file\n(dynamic batch axis; batch and sequence for GPT), "
                    "checked with onnx.checker and,\nwhen onnxruntime is installed, run there "
                    "and compared with TinyTorch.",
        epilog="examples:\n"
               "  tito export onnx lenet5 --checkpoint lenet5.pt --out lenet5.onnx\n"
               "  tito export onnx mlp --checkpoint mlp.pt --out mlp-int8.onnx --quantize int8\n"
               "  tito export onnx gpt-nano --out gpt.onnx --opset 17")
    p.add_argument("model", choices=sorted(ZOO), metavar="MODEL",
                   help="one of: " + ", ".join(sorted(ZOO)))
    p.add_argument("--checkpoint", metavar="PATH",
                   help="a state dict written by tinytorch.save (default: random weights)")
    p.add_argument("--out", required=True, metavar="FILE", help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=18, metavar="N",
                   help="ONNX opset, 17 or newer (default 18)")
    p.add_argument("--quantize", choices=["int8"],
                   help="int8: quantize every Linear dynamically "
                        "(tinytorch.perf.quantize_dynamic); the file runs onnxruntime's "
                        "integer kernels")
    p.set_defaults(func=export_onnx_command)
