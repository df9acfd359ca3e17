"""Exports: a filter's or segment's members with chosen fields, the membership log, contacts.

Files are written in chunks to ``<path>.partial`` and renamed into place when complete, so a crashed
export leaves no file that looks finished. The format comes from the extension (``.csv``,
``.jsonl``, ``.parquet``) unless ``format=`` names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from engagekit.filters import Filter, everyone, in_segment
from engagekit.model import Contact
from engagekit.stores.base import Store
from engagekit.time import Instant

from .bulk import contacts_by_id
from .formats import ColumnType, PathLike, Writer, detect_format
from .mapping import CONTACT_FIELDS, MappingError

__all__ = ["DEFAULT_MEMBER_FIELDS", "LOG_FIELDS", "export_contacts", "export_log", "export_members"]

DEFAULT_MEMBER_FIELDS = ("id", "email", "first_name", "last_name", "phone", "city", "country", "status")
LOG_FIELDS = ("segment_id", "contact_id", "change", "at", "late")
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
"""``at`` of :func:`export_contacts` when none is given: every stored contact, whatever its ``created_at``."""

ExportCallback = Callable[[int, "int | None"], None]
"""``on_chunk(written, total)``: rows written so far and the rows expected (``None`` when unknown)."""

_TYPES: dict[str, ColumnType] = {"tags": "list", "created_at": "instant", "attributes": "json"}


def _field_type(name: str) -> ColumnType:
    # a single custom attribute is written as text (as in CSV); the whole ``attributes`` as JSON
    return _TYPES.get(name, "string")


def _check_fields(fields: Sequence[str]) -> list[str]:
    if isinstance(fields, str):
        fields = (fields,)
    result = []
    for name in fields:
        if not isinstance(name, str) or not (
                name in CONTACT_FIELDS or (name.startswith("attributes.") and len(name) > len("attributes."))):
            raise MappingError(f"fields: {name!r} is not a contact field (one of {', '.join(CONTACT_FIELDS)}, "
                               f"or attributes.NAME)")
        result.append(name)
    if not result:
        raise MappingError("fields: name at least one contact field")
    return result


def contact_row(contact: Contact, fields: Sequence[str]) -> dict[str, Any]:
    """The chosen fields of a contact: tags sorted, custom attributes as ``attributes.NAME``."""
    row: dict[str, Any] = {}
    for name in fields:
        if name.startswith("attributes."):
            row[name] = contact.attributes.get(name.split(".", 1)[1])
        elif name == "attributes":
            row[name] = dict(contact.attributes)
        elif name == "tags":
            row[name] = sorted(contact.tags)
        else:
            row[name] = getattr(contact, name)
    return row


def _chunks(ids: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for contact_id in ids:
        chunk.append(contact_id)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _write_contacts(store: Store, ids: Sequence[str], path: PathLike, fields: Sequence[str], *,
                    format: str | None, chunk_size: int, on_chunk: ExportCallback | None) -> int:
    fmt = detect_format(path, format)
    with Writer(path, fmt, fields, {f: _field_type(f) for f in fields}) as writer:
        for chunk in _chunks(ids, chunk_size):
            writer.write(contact_row(c, fields) for c in contacts_by_id(store, chunk))
            if on_chunk is not None:
                on_chunk(writer.rows, len(ids))
        return writer.rows


def export_members(store: Store, filter_or_segment_id: Filter | str, path: PathLike,
                   fields: Sequence[str] = DEFAULT_MEMBER_FIELDS, *, at: Instant | None = None,
                   format: str | None = None, chunk_size: int = 10_000,
                   on_chunk: ExportCallback | None = None) -> int:
    """Write the members of a filter or saved segment at ``at``, one row each, ids in code-point order.

    ``fields``: contact fields (``tags`` is a list — a JSON array in CSV —, ``created_at`` an
    instant, ``attributes`` a JSON object) or ``attributes.NAME``. Returns the number of rows.
    ``on_chunk(written, total)`` is called after each chunk written (progress bars).

    >>> import pathlib, tempfile, engagekit
    >>> store = engagekit.MemoryStore(currency="PLN")
    >>> _ = store.add_contacts([engagekit.Contact(id="c1", email="a@example.com",
    ...                                            created_at="2026-01-01T00:00:00+00:00")])
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "members.csv"
    >>> export_members(store, engagekit.has_email(), path, ("id", "email"), at="2026-02-01T00:00:00+00:00")
    1
    >>> print(path.read_text(), end="")
    id,email
    c1,a@example.com
    """
    chosen = _check_fields(fields)
    flt = in_segment(filter_or_segment_id) if isinstance(filter_or_segment_id, str) else filter_or_segment_id
    ids = sorted(store.members(flt, at=at))
    return _write_contacts(store, ids, path, chosen, format=format, chunk_size=chunk_size, on_chunk=on_chunk)


def export_contacts(store: Store, path: PathLike, filter: Filter | None = None, *,
                    at: Instant | None = None, format: str | None = None, chunk_size: int = 10_000,
                    on_chunk: ExportCallback | None = None) -> int:
    """Write contacts in engagekit's own format, readable by ``import_contacts`` (a round trip).

    Without ``filter`` and ``at``: every stored contact, whatever its ``created_at``.
    """
    flt = everyone() if filter is None else filter
    ids = sorted(store.members(flt, at=FAR_FUTURE if at is None else at))
    return _write_contacts(store, ids, path, list(CONTACT_FIELDS), format=format, chunk_size=chunk_size,
                           on_chunk=on_chunk)


class LogEntry(Protocol):
    segment_id: str
    contact_id: str
    change: str
    at: datetime
    late: bool


class _HasLog(Protocol):
    def log(self, segment_id: str, since: Instant | None = None, until: Instant | None = None,
            contact_id: str | None = None) -> Iterable[LogEntry]: ...


def export_log(store: Store | _HasLog, segment_id: str, path: PathLike, *, since: Instant | None = None,
               until: Instant | None = None, contact_id: str | None = None, format: str | None = None,
               chunk_size: int = 10_000, on_chunk: ExportCallback | None = None) -> int:
    """Write a segment's membership log (SPEC §6): ``segment_id, contact_id, change, at, late`` per entry.

    ``since``/``until``/``contact_id`` are passed to ``store.log``. Returns the number of rows.
    ``on_chunk(written, None)`` is called after each chunk written.
    """
    log = getattr(store, "log", None)
    if log is None:
        raise MappingError(f"store: {type(store).__name__} keeps no membership log")
    entries = log(segment_id, since=since, until=until, contact_id=contact_id)
    fmt = detect_format(path, format)
    types: dict[str, ColumnType] = {"at": "instant", "late": "bool"}
    with Writer(path, fmt, LOG_FIELDS, types) as writer:
        batch: list[dict[str, Any]] = []
        for entry in entries:
            batch.append({name: getattr(entry, name) for name in LOG_FIELDS})
            if len(batch) >= chunk_size:
                writer.write(batch)
                batch = []
                if on_chunk is not None:
                    on_chunk(writer.rows, None)
        writer.write(batch)
        if on_chunk is not None:
            on_chunk(writer.rows, None)
        return writer.rows
