"""Streaming imports: rows → records through a mapping → one atomic store batch per chunk.

Every row that fails is reported with its line, field, column, value and reason, to the caller
(:class:`ImportReport`) and, with ``rejects=path``, to a rejects file. With ``on_invalid="raise"``
(the default) a chunk holding a bad row stores nothing, later chunks are not read, and
:class:`ImportRejected` names the line; earlier chunks stay stored, and since ids are idempotent the
import can simply be run again once the file is fixed. With ``on_invalid="skip"`` the valid rows of
every chunk are stored.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import IO, Any, Literal

import attrs

from engagekit.errors import BatchRejected, EngagekitError, InvalidRecord
from engagekit.model import Contact, Event
from engagekit.reports import LoadReport
from engagekit.stores.base import OnInvalid, Store

from .formats import BadRow, Format, PathLike, Row, Rows, _open_text, cell, detect_format, to_json
from .mapping import ENGAGEKIT_CONTACTS, ENGAGEKIT_EVENTS, FieldError, Mapping, MappingError

__all__ = ["ImportRejected", "ImportRejection", "ImportReport", "import_contacts", "import_events"]

MAX_REPORTED = 1000
"""Rejections kept in :attr:`ImportReport.rejections` (the rejects file holds every one)."""


@attrs.frozen
class ImportRejection:
    """One source row that failed: its line, the field, the source column, the value and why."""

    line: int
    field: str
    value: Any
    reason: str
    column: str | None = None
    record_id: str | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@attrs.frozen
class ImportReport:
    """What an import did.

    ``rows``: source rows read; ``records``: contacts/events built from them (an order of several
    rows is one record); ``added``/``updated``/``duplicates``: as the store reported, summed over the
    chunks stored; ``rejected``: rows' records refused; ``chunks``: store batches committed;
    ``rejections``: the first 1,000 rejections (the rejects file has them all).
    """

    path: str
    format: str
    kind: str
    rows: int = 0
    records: int = 0
    added: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    chunks: int = 0
    rejections: tuple[ImportRejection, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no row was rejected."""
        return self.rejected == 0


class ImportRejected(BatchRejected):
    """A chunk held invalid rows and ``on_invalid="raise"``: nothing of that chunk was stored.

    ``report`` is the :class:`ImportReport` up to and including the failing chunk (its
    ``rejections`` name every bad row of that chunk).
    """

    report: ImportReport


Kind = Literal["contact", "event"]
ChunkCallback = Callable[[ImportReport], None]


def import_contacts(store: Store, path: PathLike, mapping: Mapping | None = None, *,
                    format: str | None = None, on_invalid: OnInvalid = "raise",
                    rejects: PathLike | None = None, chunk_size: int = 10_000,
                    on_chunk: ChunkCallback | None = None) -> ImportReport:
    """Import contacts from a CSV, JSON Lines or Parquet file (an existing id is updated).

    ``mapping`` defaults to engagekit's own format (:data:`ENGAGEKIT_CONTACTS`); ``format`` to the
    file's extension. ``on_chunk`` is called with the report so far after each committed chunk.

    >>> import pathlib, tempfile, engagekit
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "contacts.jsonl"
    >>> _ = path.write_text('{"id": "c1", "created_at": "2026-01-01T00:00:00+00:00", "city": "Kraków"}\\n')
    >>> store = engagekit.MemoryStore(currency="PLN")
    >>> import_contacts(store, path).added
    1
    """
    return _run(store, path, mapping or ENGAGEKIT_CONTACTS, "contact", format=format, on_invalid=on_invalid,
                rejects=rejects, chunk_size=chunk_size, on_chunk=on_chunk)


def import_events(store: Store, path: PathLike, mapping: Mapping | None = None, *,
                  format: str | None = None, on_invalid: OnInvalid = "raise",
                  rejects: PathLike | None = None, chunk_size: int = 10_000,
                  on_chunk: ChunkCallback | None = None) -> ImportReport:
    """Import events; an event id already stored is a duplicate and a no-op, so re-running is safe.

    With a grouping mapping (:data:`SHOPIFY_ORDERS`) consecutive rows of one order make one event,
    and a chunk never splits an order.
    """
    return _run(store, path, mapping or ENGAGEKIT_EVENTS, "event", format=format, on_invalid=on_invalid,
                rejects=rejects, chunk_size=chunk_size, on_chunk=on_chunk)


# --- the loop ------------------------------------------------------------------------------------

@attrs.define
class _Unit:
    """The source rows of one record: one row, or the consecutive rows of one group."""

    lines: list[int]
    rows: list[Row]
    bad: BadRow | None = None


def _units(rows: Rows, mapping: Mapping) -> Iterator[_Unit]:
    if not mapping.group_by:
        for line, row in rows:
            if isinstance(row, BadRow):
                yield _Unit([line], [], row)
            else:
                yield _Unit([line], [row])
        return
    current: _Unit | None = None
    key: tuple[Any, ...] = ()
    for line, row in rows:
        if isinstance(row, BadRow):
            if current is not None:
                yield current
                current = None
            yield _Unit([line], [], row)
            continue
        row_key = mapping.group_key(row)
        blank_key = all(v is None or (isinstance(v, str) and not v.strip()) for v in row_key)
        if current is not None and row_key == key and not blank_key:
            current.lines.append(line)
            current.rows.append(row)
            continue
        if current is not None:
            yield current
        current, key = _Unit([line], [row]), row_key
    if current is not None:
        yield current


class _Tally:
    def __init__(self, path: str, format: str, kind: str) -> None:
        self.path, self.format, self.kind = path, format, kind
        self.rows = self.records = self.added = self.updated = self.duplicates = 0
        self.rejected = self.chunks = 0
        self.rejections: list[ImportRejection] = []

    def reject(self, rejection: ImportRejection) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_REPORTED:
            self.rejections.append(rejection)

    def stored(self, report: LoadReport) -> None:
        self.added += report.added
        self.updated += report.updated
        self.duplicates += report.duplicates
        self.chunks += 1

    def report(self) -> ImportReport:
        return ImportReport(self.path, self.format, self.kind, self.rows, self.records, self.added,
                            self.updated, self.duplicates, self.rejected, self.chunks,
                            tuple(self.rejections))


REJECT_COLUMNS = ("line", "field", "column", "value", "reason", "record_id")


class _RejectsFile:
    """Every rejection, written as it happens: CSV, or JSON Lines for a ``.jsonl`` path."""

    def __init__(self, path: PathLike | None) -> None:
        self._handle: IO[str] | None = None
        self._csv: Any = None
        if path is None:
            return
        self._jsonl = str(path).lower().removesuffix(".gz").endswith((".jsonl", ".ndjson", ".json"))
        self._handle = _open_text(path, "w")
        if not self._jsonl:
            self._csv = csv.writer(self._handle, lineterminator="\n")
            self._csv.writerow(REJECT_COLUMNS)

    def write(self, rejections: Sequence[ImportRejection]) -> None:
        if self._handle is None:
            return
        for r in rejections:
            values = (r.line, r.field, r.column, r.value, r.reason, r.record_id)
            if self._jsonl:
                self._handle.write(to_json(dict(zip(REJECT_COLUMNS, values, strict=True))) + "\n")
            else:
                self._csv.writerow([cell(v) for v in values])
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def _run(store: Store, path: PathLike, mapping: Mapping, kind: Kind, *, format: str | None,
         on_invalid: OnInvalid, rejects: PathLike | None, chunk_size: int,
         on_chunk: ChunkCallback | None) -> ImportReport:
    if on_invalid not in ("raise", "skip"):
        raise InvalidRecord(f"on_invalid: {on_invalid!r} is not 'raise' or 'skip'")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidRecord(f"chunk_size: expected a positive integer, got {chunk_size!r}")
    if not isinstance(mapping, Mapping) or mapping.kind != kind:
        raise MappingError(f"mapping: {getattr(mapping, 'name', mapping)!r} maps "
                           f"{getattr(mapping, 'kind', '?')}s, not {kind}s")
    fmt: Format = detect_format(path, format)
    tally = _Tally(str(path), fmt, kind)
    with Rows(path, fmt, chunk_size) as rows:
        if rows.header is not None:
            try:
                mapping.check_header(rows.header)
            except MappingError as exc:
                raise MappingError(f"{path}: {exc}") from None
        out = _RejectsFile(rejects)
        try:
            with _bulk_load(store):
                _load(store, rows, mapping, kind, on_invalid=on_invalid, chunk_size=chunk_size, tally=tally,
                      out=out, on_chunk=on_chunk)
        finally:
            out.close()
    return tally.report()


def _bulk_load(store: Store) -> AbstractContextManager[Any]:
    """The store's ``bulk_load()`` (its caches held small for the import), or nothing for a store
    that only implements the protocol."""
    bulk = getattr(store, "bulk_load", None)
    return bulk() if callable(bulk) else nullcontext()


def _load(store: Store, rows: Rows, mapping: Mapping, kind: Kind, *, on_invalid: OnInvalid,
          chunk_size: int, tally: _Tally, out: _RejectsFile, on_chunk: ChunkCallback | None) -> None:
    records: list[Contact | Event] = []
    lines: list[int] = []
    bad: list[ImportRejection] = []

    def flush() -> None:
        if bad:
            out.write(bad)
            for rejection in bad:
                tally.reject(rejection)
            if on_invalid == "raise":
                raise _rejected(bad, tally, rows.path)
        if records:
            stored = _store(store, kind, records, lines, on_invalid=on_invalid, tally=tally, out=out,
                            path=rows.path)
            tally.stored(stored)
            if on_chunk is not None:
                on_chunk(tally.report())
        records.clear()
        lines.clear()
        bad.clear()

    for unit in _units(rows, mapping):
        tally.rows += len(unit.lines)
        if unit.bad is not None:
            bad.append(ImportRejection(unit.lines[0], "record", unit.bad.text, unit.bad.reason))
        else:
            try:
                record = _build(mapping, kind, unit, store.currency)
            except _UnitRejected as exc:
                bad.append(exc.rejection)
            else:
                tally.records += 1
                records.append(record)
                lines.append(unit.lines[0])
        if len(records) + len(bad) >= chunk_size:
            flush()
    flush()


class _UnitRejected(Exception):
    def __init__(self, rejection: ImportRejection) -> None:
        super().__init__(str(rejection))
        self.rejection = rejection


def _build(mapping: Mapping, kind: Kind, unit: _Unit, currency: str) -> Contact | Event:
    first = unit.rows[0]
    try:
        fields = mapping.build(first, unit.rows)
    except FieldError as exc:
        raise _UnitRejected(_locate_field_error(exc, unit, mapping)) from None
    record_id = fields.get("id") if isinstance(fields.get("id"), str) else None
    try:
        if kind == "contact":
            return Contact(**fields)
        event = Event(**fields)
        event.check_currency(currency)
        return event
    except InvalidRecord as exc:
        field, _, reason = str(exc).partition(": ")
        if not reason:
            field, reason = "record", str(exc)
        line, column, value = _locate(field, unit, mapping, fields)
        raise _UnitRejected(ImportRejection(line, field, value, reason, column, record_id)) from None
    except (TypeError, AttributeError) as exc:
        raise _UnitRejected(ImportRejection(unit.lines[0], "record", None, f"not a {kind}: {exc}",
                                            None, record_id)) from None


def _item_index(field: str) -> int | None:
    if field.startswith("items[") and "]" in field:
        try:
            return int(field[6:field.index("]")])
        except ValueError:
            return None
    return None


def _locate_field_error(exc: FieldError, unit: _Unit, mapping: Mapping) -> ImportRejection:
    index = _item_index(exc.field)
    line = unit.lines[index] if index is not None and index < len(unit.lines) else unit.lines[0]
    first = unit.rows[0]
    id_column = mapping.fields.get("id")
    record_id = None
    if id_column is not None:
        try:
            value = id_column.read(first)
            record_id = value if isinstance(value, str) else None
        except EngagekitError:
            record_id = None
    return ImportRejection(line, exc.field, exc.value, exc.reason, exc.column, record_id)


def _locate(field: str, unit: _Unit, mapping: Mapping, fields: dict[str, Any]) -> tuple[int, str | None, Any]:
    """The line, source column and source value behind a model error on ``field``."""
    index = _item_index(field)
    if index is not None and mapping.items:
        # the index counts the items built, which skip rows without an item: close enough to find
        # the row, and exact for Shopify's one item per row
        line = unit.lines[index] if index < len(unit.lines) else unit.lines[0]
        row = unit.rows[index] if index < len(unit.rows) else unit.rows[0]
        name = field.split(".", 1)[1] if "." in field else ""
        column = mapping.items.get(name)
    else:
        line, row = unit.lines[0], unit.rows[0]
        base = field.split(".", 1)[0].split("[", 1)[0]
        column = mapping.fields.get(base)
    if column is None:
        base = field.split(".", 1)[0].split("[", 1)[0]
        return line, None, fields.get(base)
    if len(column.sources) == 1:
        return line, column.sources[0], row.get(column.sources[0])
    return line, ", ".join(column.sources), tuple(row.get(s) for s in column.sources)


def _store(store: Store, kind: Kind, records: list[Contact | Event], lines: list[int], *,
           on_invalid: OnInvalid, tally: _Tally, out: _RejectsFile, path: PathLike) -> LoadReport:
    """One atomic store batch; rejections a store adds (beyond the model's) are mapped to lines."""
    try:
        if kind == "contact":
            report = store.add_contacts(records, on_invalid=on_invalid)  # type: ignore[arg-type]
        else:
            report = store.add_events(records, on_invalid=on_invalid)  # type: ignore[arg-type]
    except BatchRejected as exc:
        load = exc.report if isinstance(exc.report, LoadReport) else LoadReport()
        mapped = _from_store(load, records, lines)
        out.write(mapped)
        for rejection in mapped:
            tally.reject(rejection)
        raise _rejected(mapped, tally, path) from None
    mapped = _from_store(report, records, lines)
    out.write(mapped)
    for rejection in mapped:
        tally.reject(rejection)
    return report


def _from_store(report: LoadReport, records: list[Contact | Event], lines: list[int]) -> list[ImportRejection]:
    result = []
    for r in report.rejected:
        line = lines[r.index] if 0 <= r.index < len(lines) else 0
        reason = r.reason.partition(": ")[2] or r.reason
        value = getattr(records[r.index], r.field, None) if 0 <= r.index < len(records) else None
        result.append(ImportRejection(line, r.field, value, reason, None, r.record_id))
    return result


def _rejected(bad: Sequence[ImportRejection], tally: _Tally, path: PathLike) -> ImportRejected:
    first = bad[0]
    more = f" (and {len(bad) - 1} more in this chunk)" if len(bad) > 1 else ""
    earlier = (f"; the {tally.chunks} chunk(s) before it were stored, and re-running the import after "
               f"a fix stores each record once" if tally.chunks else "")
    message = (f"{path}: line {first.line}: {first.field}: {first.reason}{more}; nothing of this chunk "
               f"was stored{earlier} (pass on_invalid='skip' to store the valid rows)")
    return ImportRejected(message, tally.report())
