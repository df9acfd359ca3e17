"""Files: which format a path holds, reading its rows with line numbers, writing rows in chunks.

CSV and JSON Lines use the standard library (a ``.gz`` suffix is read and written through gzip);
Parquet needs pyarrow (``pip install 'engagekit[parquet]'``), imported only when a Parquet file is
touched. Reading streams: memory holds one batch of rows, whatever the file's size.

Line numbers are 1-based lines of the file: in CSV the header is line 1, so the first data row is
line 2 (a quoted cell spanning lines gives its record the line it starts on); in JSON Lines the first
line is 1 (blank lines are skipped but counted); Parquet has no lines, so ``line`` is the 1-based
row number.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Literal, cast

from engagekit.errors import EngagekitError

Format = Literal["csv", "jsonl", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "parquet")
_SUFFIXES: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
                                ".parquet": "parquet", ".pq": "parquet"}
PathLike = str | os.PathLike[str]


class FormatError(EngagekitError, ValueError):
    """A file's format is unknown or unreadable, or an optional dependency it needs is missing."""


class BadRow(Exception):
    """A row that could not even be read as a record (malformed JSON); carried to the importer."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.text = text


def detect_format(path: PathLike, format: str | None = None) -> Format:
    """The format named, or the one of the path's extension (``.csv``, ``.jsonl``, ``.parquet``)."""
    if format is not None:
        if format not in FORMATS:
            raise FormatError(f"format: {format!r} is not one of {', '.join(FORMATS)}")
        return format
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = Path(name).suffix
    if suffix not in _SUFFIXES:
        raise FormatError(f"{path}: cannot tell the format from the extension {suffix!r}; "
                          f"use .csv, .jsonl or .parquet, or pass format=")
    return _SUFFIXES[suffix]


def pyarrow_modules() -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, or a clear error naming the extra to install."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:  # pragma: no cover - depends on the environment
        raise FormatError("Parquet needs pyarrow: pip install 'engagekit[parquet]'") from None
    return pyarrow, pyarrow.parquet


def _open_text(path: PathLike, mode: Literal["r", "w"], *, gz: bool | None = None) -> IO[str]:
    encoding = "utf-8-sig" if mode == "r" else "utf-8"
    if str(path).lower().endswith(".gz") if gz is None else gz:
        text_mode: Literal["rt", "wt"] = "rt" if mode == "r" else "wt"
        return cast("IO[str]", gzip.open(path, text_mode, encoding=encoding, newline=""))
    return open(path, mode, encoding=encoding, newline="")


# --- reading -------------------------------------------------------------------------------------

Row = dict[str, Any]


class Rows:
    """The rows of a file: ``header`` (column names; ``None`` for JSON Lines) and ``(line, row)`` pairs.

    A row that cannot be read comes as ``(line, BadRow)``. Use as a context manager.
    """

    def __init__(self, path: PathLike, format: Format, batch_size: int) -> None:
        self.path = path
        self.format = format
        self.batch_size = batch_size
        self.header: list[str] | None = None
        self._handle: IO[str] | None = None
        self._rows: Iterator[tuple[int, Row | BadRow]]
        try:
            if format == "csv":
                self._rows = self._csv()
            elif format == "jsonl":
                self._handle = _open_text(path, "r")
                self._rows = self._jsonl(self._handle)
            else:
                self._rows = self._parquet()
        except OSError as exc:
            raise FormatError(f"{path}: {exc.strerror or exc}") from None

    def _csv(self) -> Iterator[tuple[int, Row | BadRow]]:
        self._handle = _open_text(self.path, "r")
        reader = csv.reader(self._handle)
        try:
            header = next(reader)
        except StopIteration:
            header = []
        except csv.Error as exc:
            raise FormatError(f"{self.path}: line 1: {exc}") from None
        self.header = [h.strip() for h in header]
        return self._csv_rows(reader, self.header)

    @staticmethod
    def _csv_rows(reader: Any, header: list[str]) -> Iterator[tuple[int, Row | BadRow]]:
        width = len(header)
        previous = reader.line_num
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield previous + 1, BadRow(f"not a CSV row ({exc})", "")
                previous = reader.line_num
                continue
            line = previous + 1
            previous = reader.line_num
            if not cells:
                continue
            if len(cells) > width and any(c.strip() for c in cells[width:]):
                yield line, BadRow(f"the row has {len(cells)} cells, the header {width}", ",".join(cells))
                continue
            yield line, dict(zip(header, cells, strict=False))

    @staticmethod
    def _jsonl(handle: IO[str]) -> Iterator[tuple[int, Row | BadRow]]:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text, parse_float=Decimal)
            except ValueError as exc:
                yield line, BadRow(f"not valid JSON ({exc})", text.strip()[:200])
                continue
            except RecursionError:  # the C decoder's answer to "[[[[…" thousands deep
                yield line, BadRow("JSON nested too deeply to read", text.strip()[:200])
                continue
            if not isinstance(value, dict):
                yield line, BadRow("expected a JSON object", text.strip()[:200])
                continue
            yield line, value

    def _parquet(self) -> Iterator[tuple[int, Row | BadRow]]:
        _, pq = pyarrow_modules()
        try:
            # pre_buffer keeps every row group's bytes once read until the file is closed: a
            # 20M-event file held 194 MiB at its end; without it the reader stays at 7 MiB
            parquet = pq.ParquetFile(str(self.path), pre_buffer=False)
        except OSError:
            raise
        except Exception as exc:
            raise FormatError(f"{self.path}: not a Parquet file ({exc})") from None
        self.header = list(parquet.schema_arrow.names)
        return self._parquet_rows(parquet, self.batch_size)

    @staticmethod
    def _parquet_rows(parquet: Any, batch_size: int) -> Iterator[tuple[int, Row | BadRow]]:
        line = 0
        for batch in parquet.iter_batches(batch_size=batch_size):
            for row in batch.to_pylist():
                line += 1
                yield line, row

    def __iter__(self) -> Iterator[tuple[int, Row | BadRow]]:
        return self._rows

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()

    def __enter__(self) -> Rows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- writing -------------------------------------------------------------------------------------

def json_default(value: object) -> Any:
    """JSON for values the json module does not know: instants as ISO-8601, sets as sorted lists."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (frozenset, set)):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _jsonable(value: Any) -> Any:
    # Decimals in custom attributes stay numbers when a float holds them exactly, else strings.
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def to_json(value: Any) -> str:
    return json.dumps(_jsonable(value), ensure_ascii=False, default=json_default, separators=(",", ":"))


def cell(value: Any) -> str:
    """A value as a CSV cell: blank for None, ISO-8601 instants, JSON for lists and objects."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, (frozenset, set)):
        return to_json(sorted(value))
    return to_json(value)


ColumnType = Literal["string", "json", "list", "instant", "bool"]


class Writer:
    """Writes rows (dicts over ``columns``) in chunks to a temporary file, renamed into place on close.

    So a crashed export never leaves a file that looks complete. ``types`` (Parquet): each column's
    type; ``json`` columns are written as JSON text.
    """

    def __init__(self, path: PathLike, format: Format, columns: Sequence[str],
                 types: dict[str, ColumnType] | None = None) -> None:
        self.path = Path(path)
        self.format = format
        self.columns = list(columns)
        self.types = {c: (types or {}).get(c, "string") for c in self.columns}
        self.rows = 0
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._handle: IO[str] | None = None
        self._csv: Any = None
        self._parquet: Any = None
        self._schema: Any = None
        if format == "parquet":
            pa, pq = pyarrow_modules()
            arrow = {"string": pa.string(), "json": pa.string(), "list": pa.list_(pa.string()),
                     "instant": pa.timestamp("us", tz="UTC"), "bool": pa.bool_()}
            self._schema = pa.schema([(c, arrow[self.types[c]]) for c in self.columns])
            self._parquet = pq.ParquetWriter(str(self._partial), self._schema)
        else:
            self._handle = _open_text(self._partial, "w", gz=self.path.name.lower().endswith(".gz"))
            if format == "csv":
                self._csv = csv.writer(self._handle, lineterminator="\n")
                self._csv.writerow(self.columns)

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        batch = list(rows)
        if not batch:
            return
        if self.format == "csv":
            self._csv.writerows([cell(row.get(c)) for c in self.columns] for row in batch)
        elif self.format == "jsonl":
            assert self._handle is not None
            self._handle.writelines(to_json({c: row.get(c) for c in self.columns}) + "\n" for row in batch)
        else:
            pa, _ = pyarrow_modules()
            arrays = {c: [self._arrow_value(c, row.get(c)) for row in batch] for c in self.columns}
            self._parquet.write_table(pa.Table.from_pydict(arrays, schema=self._schema))
        self.rows += len(batch)

    def _arrow_value(self, column: str, value: Any) -> Any:
        kind = self.types[column]
        if value is None:
            return None
        if kind == "json":
            return to_json(value)
        if kind == "list":
            return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
        if kind in ("instant", "bool"):
            return value
        return value if isinstance(value, str) else cell(value)

    def close(self) -> None:
        """Finish the file and move it into place."""
        if self._parquet is not None:
            self._parquet.close()
        if self._handle is not None:
            self._handle.close()
        os.replace(self._partial, self.path)

    def abort(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._handle is not None:
            self._handle.close()
        self._partial.unlink(missing_ok=True)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
