"""The one progress-bar helper every tier uses (training loops, downloads, milestones).

It draws with tqdm, the library the field already uses, which the tiers that show progress
(tinytorch-nn, tinytorch-data) declare as a dependency. Core itself only depends on numpy, so
when tqdm is absent the helper degrades to the plain iterable: work still runs, without a bar.
Set ``TINYTORCH_PROGRESS=0`` to silence every bar (useful in logs).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any


class _NoBar:
    """Stands in for a tqdm bar when bars are off: same methods, no output."""

    def __init__(self, iterable: Iterable[Any] | None = None, **_: Any) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        return iter(self.iterable if self.iterable is not None else ())

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_description(self, *args: Any, **kwargs: Any) -> None:
        pass

    def write(self, text: str) -> None:
        print(text, file=sys.stderr)

    def close(self) -> None:
        pass


def progress(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    leave: bool = True,
    unit_scale: bool = False,
    disable: bool | None = None,
) -> Any:
    """A progress bar over ``iterable`` (or a manual one updated with ``.update(n)``).

    Bars go to stderr, so a script's report on stdout stays clean.
    """
    if disable is None:
        disable = os.environ.get("TINYTORCH_PROGRESS", "1") == "0"
    if not disable:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            disable = True
    if disable:
        return _NoBar(iterable)
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave,
                unit_scale=unit_scale, file=sys.stderr, dynamic_ncols=True)
