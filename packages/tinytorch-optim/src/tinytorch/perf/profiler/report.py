"""``Profile`` and ``LayerProfile``: what ``profile`` measured, as a table, JSON or a plot.

A ``Profile`` holds one ``LayerProfile`` per row and the end-to-end times. The rows are the
leaf modules, plus any module with parameters or ops of its own outside its children (the
packed projection and attention of ``MultiheadAttention``, a residual add in a block), so
every FLOP, byte and millisecond lands in exactly one row and the rows add up to ``total``.
The end-to-end times also hold what no row owns: the Python between the layers and, in
backward, the engine's own bookkeeping.

The JSON (``to_dict`` / ``save``, read back with ``from_dict`` / ``load``) holds every field
of every row and is written atomically, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from typing import Any

from tinytorch.core.atomic import atomic_write

FORMAT = "tinytorch.perf.profile/1"


@dataclass
class LayerProfile:
    """One row: a module's own parameters, FLOPs, saved memory and time.

    Times are medians over the timed runs, per forward (or backward) pass, in milliseconds.
    ``input_bytes`` and ``output_bytes`` are the tensors going in and out of the module's
    forward (the traffic the roofline divides by).
    """

    name: str                      # qualified name as in ``named_modules`` ("" = the model)
    type: str                      # the module's class name
    calls: int = 0                 # times the module ran in one forward pass
    params: int = 0                # parameter elements (a shared parameter counted once)
    param_bytes: int = 0
    buffer_bytes: int = 0          # running statistics, masks: state that is not learned
    flops_forward: int = 0
    flops_backward: int = 0
    saved_bytes: int = 0           # activation memory the autograd graph holds for backward
    input_bytes: int = 0
    output_bytes: int = 0
    forward_ms: float = 0.0
    backward_ms: float = 0.0

    @property
    def label(self) -> str:
        return self.name or "(model)"


_SUMMED = [f.name for f in fields(LayerProfile) if f.name not in ("name", "type")]


@dataclass
class Profile:
    """The result of ``tinytorch.perf.profile``: rows, totals and end-to-end times."""

    model: str                                 # the model's class name
    input_shapes: list[tuple[int, ...]]
    layers: list[LayerProfile]
    backward: bool = True
    repeats: int = 0                           # timed runs the medians come from
    forward_ms: float = 0.0                    # whole forward pass, median
    backward_ms: float = 0.0                   # whole backward pass, median
    kv_cache_bytes: int = 0                    # a generation cache at full context, allocated

    @property
    def total(self) -> LayerProfile:
        """The sum of every row."""
        total = LayerProfile("total", self.model)
        for name in _SUMMED:
            setattr(total, name, sum(getattr(row, name) for row in self.layers))
        return total

    def __getitem__(self, name: str) -> LayerProfile:
        """The row of the module with qualified name ``name``."""
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(f"no row named {name!r} in the profile of {self.model}; rows: "
                       f"{[r.name for r in self.layers]}")

    # ------------------------------------------------------------------ text
    def table(self) -> str:
        """A readable table: one line per row, then the totals and the end-to-end times."""
        head = ("layer", "type", "params", "weights", "fwd FLOPs", "bwd FLOPs", "saved",
                "fwd ms", "bwd ms")
        lines = [_line(row.label, row) for row in self.layers]
        total = _line("total", self.total)
        width = max(len(head[0]), *(len(line[0]) for line in lines + [total]))
        kinds = max(len(head[1]), *(len(line[1]) for line in lines))

        def fmt(cells: tuple[str, ...]) -> str:
            return (f"{cells[0]:<{width}}  {cells[1]:<{kinds}}"
                    + "".join(f"  {c:>9}" for c in cells[2:]))

        rule = "-" * len(fmt(head))
        shapes = ", ".join(str(tuple(s)) for s in self.input_shapes)
        out = [f"{self.model} on input {shapes}", fmt(head), rule, *map(fmt, lines), rule,
               fmt(total)]
        timing = f"end to end: forward {self.forward_ms:.3f} ms"
        if self.backward:
            timing += f", backward {self.backward_ms:.3f} ms"
        out.append(f"{timing} (median of {self.repeats} runs)")
        if self.kv_cache_bytes:
            out.append(f"KV cache for generation at full context, this batch: "
                       f"{human_bytes(self.kv_cache_bytes)}")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready): every row, the totals and the run's settings."""
        return {
            "format": FORMAT,
            "model": self.model,
            "input_shapes": [list(s) for s in self.input_shapes],
            "backward": self.backward,
            "repeats": self.repeats,
            "forward_ms": self.forward_ms,
            "backward_ms": self.backward_ms,
            "kv_cache_bytes": self.kv_cache_bytes,
            "layers": [asdict(row) for row in self.layers],
            "total": asdict(self.total),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """The inverse of ``to_dict`` (the totals are recomputed from the rows)."""
        if data.get("format") != FORMAT:
            raise ValueError(f"not a TinyTorch profile: expected format {FORMAT!r}, got "
                             f"{data.get('format')!r}")
        known = {f.name for f in fields(LayerProfile)}
        try:
            return cls(
                model=data["model"],
                input_shapes=[tuple(s) for s in data["input_shapes"]],
                layers=[LayerProfile(**{k: v for k, v in row.items() if k in known})
                        for row in data["layers"]],
                backward=data["backward"], repeats=data["repeats"],
                forward_ms=data["forward_ms"], backward_ms=data["backward_ms"],
                kv_cache_bytes=data.get("kv_cache_bytes", 0))
        except (KeyError, TypeError) as e:
            raise ValueError(f"a TinyTorch profile with a missing or malformed field: {e}"
                             ) from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``to_dict()`` as JSON to ``path``, atomically."""
        with atomic_write(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1)
            f.write("\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Profile:
        """Read a profile written by ``save``."""
        with open(path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{os.fspath(path)} is not valid JSON: {e}") from None
        return cls.from_dict(data)

    # ------------------------------------------------------------------ plot
    def roofline(self, path: str | os.PathLike[str], *, peak_gflops: float | None = None,
                 bandwidth_gbs: float | None = None) -> None:
        """Write a roofline plot (PNG) of the rows to ``path``; needs matplotlib (the
        ``[plot]`` extra). The roofs are this machine's measured GEMM peak and memory
        bandwidth unless given (see ``tinytorch.perf.profiler.roofline``)."""
        from tinytorch.perf.profiler.roofline import plot_roofline

        plot_roofline(self, path, peak_gflops=peak_gflops, bandwidth_gbs=bandwidth_gbs)


def _line(label: str, row: LayerProfile) -> tuple[str, ...]:
    return (label, row.type, f"{row.params:,}", human_bytes(row.param_bytes + row.buffer_bytes),
            human_count(row.flops_forward), human_count(row.flops_backward),
            human_bytes(row.saved_bytes), f"{row.forward_ms:.3f}", f"{row.backward_ms:.3f}")


def human_count(n: float) -> str:
    """``1234567 -> '1.23 M'``: three significant digits and an SI prefix."""
    for value, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= value:
            return f"{n / value:.3g} {prefix}"
    return f"{n:g}"


def human_bytes(n: float) -> str:
    """``2048 -> '2.05 kB'`` (decimal units, as disks and bandwidths are quoted)."""
    return human_count(n) + "B" if n >= 1000 else f"{n:g} B"
