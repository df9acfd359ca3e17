"""Progress of a long import or export, drawn on a stream (the command line's stderr).

With the extra ``engagekit[cli]`` (tqdm) it is a tqdm bar; without it, a plain line per update
(``\\r``-rewritten on a terminal, one line per update elsewhere). Nothing here ever writes to stdout,
so ``--json`` output stays machine-readable.

>>> import io
>>> stream = io.StringIO()
>>> with Progress("import events.csv", stream, unit="rows", plain=True) as bar:
...     bar.update(10_000)
...     bar.update(25_000)
>>> print(stream.getvalue(), end="")
import events.csv: 10,000 rows
import events.csv: 25,000 rows
import events.csv: 25,000 rows, done
"""

from __future__ import annotations

import importlib
import time
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Progress", "isatty", "tqdm_available"]


def _tqdm() -> Any:
    """The ``tqdm`` class, or None when the extra is not installed (a plain line is drawn instead)."""
    try:
        return importlib.import_module("tqdm").tqdm
    except ImportError:
        return None


def tqdm_available() -> bool:
    """True when ``engagekit[cli]`` (tqdm) is installed."""
    return _tqdm() is not None


class Progress:
    """A counter of done units (``update(done)`` gives the running total), closed with ``close()``.

    ``total``: the number expected, when known (members of an export; ``update`` may also give it);
    ``plain=True`` forces the fallback line even when tqdm is installed; ``enabled=False`` draws
    nothing at all. Plain lines on a terminal are rewritten in place (``\\r``) at most every
    ``interval`` seconds; on anything else each update is its own line. Leaving a ``with`` block on
    an exception ends the line without ``done``.
    """

    def __init__(self, label: str, stream: TextIO, *, total: int | None = None, unit: str = "rows",
                 plain: bool = False, enabled: bool = True, interval: float = 0.2) -> None:
        self.label, self.stream, self.total, self.unit = label, stream, total, unit
        self.done = 0
        self.enabled = enabled
        self._tty = isatty(stream)
        self._interval = interval
        self._last: float | None = None  # the first update is always drawn
        tqdm = None if plain or not enabled else _tqdm()
        self._bar: Any = None
        if tqdm is not None:
            self._bar = tqdm(total=total, desc=label, unit=f" {unit}", file=stream,
                             dynamic_ncols=True, leave=True)

    def update(self, done: int, total: int | None = None) -> None:
        """Record that ``done`` units are finished in all (a running total, not an increment)."""
        step, self.done = done - self.done, done
        if not self.enabled:
            return
        if total is not None and total != self.total:
            self.total = total
            if self._bar is not None:
                self._bar.total = total
        if self._bar is not None:
            self._bar.update(step)
            return
        now = time.monotonic()
        if self._tty and self._last is not None and now - self._last < self._interval:
            return  # a terminal is redrawn a few times a second, not once per chunk
        self._last = now
        self._draw()

    def _line(self) -> str:
        of = f" of {self.total:,}" if self.total is not None else ""
        return f"{self.label}: {self.done:,}{of} {self.unit}"

    def _draw(self, end: str = "") -> None:
        if self._tty:
            self.stream.write(f"\r{self._line()}{end}")
        else:
            self.stream.write(f"{self._line()}{end}\n")
        self.stream.flush()

    def close(self, *, failed: bool = False) -> None:
        """Finish the bar: the final count (with ``done`` unless ``failed``), then a new line."""
        if not self.enabled:
            return
        self.enabled = False  # closing twice draws once
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            return
        end = "" if failed else ", done"
        self._draw(f"{end}\n" if self._tty else end)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close(failed=kind is not None)


def isatty(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal (a closed or odd stream is not)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):  # a closed or odd stream is no terminal
        return False
