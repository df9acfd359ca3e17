"""The segment API of SPEC §6 on every store, and how segments, campaigns and the log persist.

:class:`SegmentsMixin` (a base of :class:`~engagekit.stores.base.StoreBase`) implements the public
methods once — ``create_segment``, ``segment``, ``segments``, ``update_segment``,
``delete_segment``, ``add_campaign``, ``campaigns``, ``log`` — over a small storage object with a
handful of primitives (:class:`SegmentStorage`). Two storages exist:

- :class:`MemorySegmentStorage`: dicts and lists, for the memory store (and any store without SQL);
- :class:`SQLSegmentStorage`: three tables (``segments``, ``campaigns``, ``membership_log``) through
  the ``_db`` object every SQL store exposes (``execute``, ``executemany``, ``transaction``,
  ``dialect``; placeholders written ``?``), created with portable DDL for SQLite, DuckDB and
  PostgreSQL. Instants are BIGINT microseconds since the epoch, UTC.

A store picks its storage in :meth:`SegmentsMixin._make_segment_storage`: a store with a ``_db``
gets the SQL one, any other the memory one; a store may override it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

import attrs

from engagekit.errors import InvalidFilter, SegmentInUse, UnknownSegment
from engagekit.filters import Filter, segment_refs
from engagekit.live.segments import Campaign, LogEntry, Segment
from engagekit.time import Clock, Instant, from_micros, instant, to_micros

if TYPE_CHECKING:
    from engagekit.explain import Preview

LogRow = tuple[str, str, str, int, bool]
"""``(segment_id, contact_id, change, at_us, late)``: a log entry as stored."""

_AUTO_ID = re.compile(r"seg-([1-9][0-9]{0,17})\Z")


@attrs.frozen
class SegmentRow:
    """A segment as stored: its filter as JSON, instants as microseconds."""

    id: str
    seq: int
    name: str
    filter_json: str
    created_us: int
    updated_us: int
    active: bool
    last_generated_us: int | None = None
    member_count: int | None = None


class SegmentStorage(Protocol):
    """The storage primitives behind the segment API (one implementation per kind of store)."""

    def get(self, segment_id: str) -> SegmentRow | None: ...
    def all(self) -> list[SegmentRow]: ...
    def insert(self, row: SegmentRow) -> None: ...
    def update(self, row: SegmentRow) -> None: ...
    def delete(self, segment_id: str) -> None:
        """Remove the segment and its log."""
    def set_generated(self, updates: Sequence[tuple[str, int, int]]) -> None:
        """``(segment_id, at_us, member_count)`` for each segment an engine brought up to date."""
    def put_campaign(self, campaign: Campaign) -> None: ...
    def campaigns(self) -> list[Campaign]: ...
    def append_log(self, rows: Sequence[LogRow]) -> None: ...
    def delete_log(self, rows: Sequence[LogRow]) -> None:
        """Remove these rows (one stored copy each): changes undone at the same instant."""
    def query_log(self, segment_id: str, since_us: int | None, until_us: int | None,
                  contact_id: str | None) -> list[LogRow]:
        """Rows of one segment with ``since_us <= at_us < until_us``, ordered by at, contact id."""
    def forget_contact(self, contact_id: str) -> None:
        """Erase a contact's log entries (the right to be forgotten)."""


# --- memory ----------------------------------------------------------------------------------------


class MemorySegmentStorage:
    """Segments, campaigns and the log in dicts and lists."""

    def __init__(self) -> None:
        self._segments: dict[str, SegmentRow] = {}
        self._campaigns: dict[str, Campaign] = {}
        self._log: dict[str, list[LogRow]] = {}

    def get(self, segment_id: str) -> SegmentRow | None:
        return self._segments.get(segment_id)

    def all(self) -> list[SegmentRow]:
        return sorted(self._segments.values(), key=lambda row: row.seq)

    def insert(self, row: SegmentRow) -> None:
        self._segments[row.id] = row

    def update(self, row: SegmentRow) -> None:
        self._segments[row.id] = row

    def delete(self, segment_id: str) -> None:
        self._segments.pop(segment_id, None)
        self._log.pop(segment_id, None)

    def set_generated(self, updates: Sequence[tuple[str, int, int]]) -> None:
        for segment_id, at_us, count in updates:
            row = self._segments.get(segment_id)
            if row is not None:
                self._segments[segment_id] = attrs.evolve(row, last_generated_us=at_us, member_count=count)

    def put_campaign(self, campaign: Campaign) -> None:
        self._campaigns[campaign.id] = campaign

    def campaigns(self) -> list[Campaign]:
        return [self._campaigns[key] for key in sorted(self._campaigns)]

    def append_log(self, rows: Sequence[LogRow]) -> None:
        for row in rows:
            self._log.setdefault(row[0], []).append(row)

    def delete_log(self, rows: Sequence[LogRow]) -> None:
        for row in rows:
            stored = self._log.get(row[0], [])
            for i in range(len(stored) - 1, -1, -1):
                if stored[i] == row:
                    del stored[i]
                    break

    def query_log(self, segment_id: str, since_us: int | None, until_us: int | None,
                  contact_id: str | None) -> list[LogRow]:
        rows = [row for row in self._log.get(segment_id, ())
                if (since_us is None or row[3] >= since_us) and (until_us is None or row[3] < until_us)
                and (contact_id is None or row[1] == contact_id)]
        rows.sort(key=_log_order)
        return rows

    def forget_contact(self, contact_id: str) -> None:
        for segment_id, rows in self._log.items():
            self._log[segment_id] = [row for row in rows if row[1] != contact_id]


def _log_order(row: LogRow) -> tuple[int, str]:
    return (row[3], row[1])


# --- SQL -------------------------------------------------------------------------------------------


class Database(Protocol):
    """What a SQL store's ``_db`` offers (placeholders are written ``?``)."""

    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any: ...
    def transaction(self) -> AbstractContextManager[Any]: ...


_TEXT = {"sqlite": "TEXT", "duckdb": "VARCHAR", "postgres": 'TEXT COLLATE "C"'}


def segment_ddl(db: Database) -> list[str]:
    """CREATE statements of the three tables (and their indexes) in ``db``'s dialect.

    On PostgreSQL a B-tree entry is limited to about 2.7 kB and ids are unbounded text, so, as for
    the store's own tables, text is indexed by HASH there and ids carry no key constraint (the API
    keeps them unique); instants get a B-tree.
    """
    dialect = getattr(db, "dialect", "sqlite")
    text = _TEXT.get(dialect, "TEXT")
    key = "" if dialect == "postgres" else " PRIMARY KEY"
    name = getattr(db, "table", lambda n: n)
    statements = [
        f"""CREATE TABLE IF NOT EXISTS {name("segments")} (
            id {text} NOT NULL{key},
            seq BIGINT NOT NULL,
            name {text} NOT NULL,
            filter_json {text} NOT NULL,
            created_us BIGINT NOT NULL,
            updated_us BIGINT NOT NULL,
            active INTEGER NOT NULL,
            last_generated_us BIGINT,
            member_count BIGINT
        )""",
        f"""CREATE TABLE IF NOT EXISTS {name("campaigns")} (
            id {text} NOT NULL{key},
            segment_id {text} NOT NULL,
            kind {text} NOT NULL,
            active INTEGER NOT NULL
        )""",
        f"""CREATE TABLE IF NOT EXISTS {name("membership_log")} (
            segment_id {text} NOT NULL,
            contact_id {text} NOT NULL,
            change_kind {text} NOT NULL,
            at_us BIGINT NOT NULL,
            late INTEGER NOT NULL
        )""",
    ]
    log = name("membership_log")
    if dialect == "postgres":
        statements += [
            f"CREATE INDEX IF NOT EXISTS ix_membership_log_segment ON {log} USING hash (segment_id)",
            f"CREATE INDEX IF NOT EXISTS ix_membership_log_contact ON {log} USING hash (contact_id)",
            f"CREATE INDEX IF NOT EXISTS ix_membership_log_at ON {log} USING btree (at_us)",
        ]
    elif dialect != "duckdb":  # DuckDB scans a column with zone maps; an index only slows inserts
        statements += [
            f"CREATE INDEX IF NOT EXISTS ix_membership_log_segment_at ON {log} (segment_id, at_us)",
            f"CREATE INDEX IF NOT EXISTS ix_membership_log_contact ON {log} (contact_id)",
        ]
    return statements


_SEGMENT_COLUMNS = "id, seq, name, filter_json, created_us, updated_us, active, last_generated_us, member_count"


class SQLSegmentStorage:
    """Segments, campaigns and the membership log in three tables of a SQL store's database.

    Strings are never ordered by the database's collation: rows come back and are ordered in Python
    (code-point order, SPEC §1).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        table = getattr(db, "table", None)
        self.segments, self.campaigns_table, self.log = (
            (table(n) if table is not None else n) for n in ("segments", "campaigns", "membership_log"))
        with self._transaction():
            for statement in segment_ddl(db):
                db.execute(statement)

    def _transaction(self) -> AbstractContextManager[Any]:
        transaction = getattr(self.db, "transaction", None)
        return transaction() if transaction is not None else nullcontext()

    @staticmethod
    def _row(values: Sequence[Any]) -> SegmentRow:
        (id_, seq, name, filter_json, created, updated, active, generated, count) = values
        return SegmentRow(str(id_), int(seq), str(name), str(filter_json), int(created), int(updated),
                          bool(active), None if generated is None else int(generated),
                          None if count is None else int(count))

    def get(self, segment_id: str) -> SegmentRow | None:
        rows = self.db.execute(f"SELECT {_SEGMENT_COLUMNS} FROM {self.segments} WHERE id = ?", (segment_id,))
        return self._row(rows[0]) if rows else None

    def all(self) -> list[SegmentRow]:
        rows = [self._row(r) for r in self.db.execute(f"SELECT {_SEGMENT_COLUMNS} FROM {self.segments}")]
        rows.sort(key=lambda row: (row.seq, row.id))
        return rows

    def insert(self, row: SegmentRow) -> None:
        with self._transaction():
            self.db.execute(
                f"INSERT INTO {self.segments} ({_SEGMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row.id, row.seq, row.name, row.filter_json, row.created_us, row.updated_us, int(row.active),
                 row.last_generated_us, row.member_count))

    def update(self, row: SegmentRow) -> None:
        with self._transaction():
            self.db.execute(
                f"UPDATE {self.segments} SET name = ?, filter_json = ?, updated_us = ?, active = ?, "
                "last_generated_us = ?, member_count = ? WHERE id = ?",
                (row.name, row.filter_json, row.updated_us, int(row.active), row.last_generated_us,
                 row.member_count, row.id))

    def delete(self, segment_id: str) -> None:
        with self._transaction():
            self.db.execute(f"DELETE FROM {self.log} WHERE segment_id = ?", (segment_id,))
            self.db.execute(f"DELETE FROM {self.segments} WHERE id = ?", (segment_id,))

    def set_generated(self, updates: Sequence[tuple[str, int, int]]) -> None:
        if not updates:
            return
        with self._transaction():
            for segment_id, at_us, count in updates:
                self.db.execute(f"UPDATE {self.segments} SET last_generated_us = ?, member_count = ? WHERE id = ?",
                                (at_us, count, segment_id))

    def put_campaign(self, campaign: Campaign) -> None:
        with self._transaction():
            self.db.execute(f"DELETE FROM {self.campaigns_table} WHERE id = ?", (campaign.id,))
            self.db.execute(f"INSERT INTO {self.campaigns_table} (id, segment_id, kind, active) VALUES (?, ?, ?, ?)",
                            (campaign.id, campaign.segment_id, campaign.kind, int(campaign.active)))

    def campaigns(self) -> list[Campaign]:
        rows = self.db.execute(f"SELECT id, segment_id, kind, active FROM {self.campaigns_table}")
        result = [Campaign(str(i), str(s), kind=str(k), active=bool(a)) for i, s, k, a in rows]
        result.sort(key=lambda c: c.id)
        return result

    def append_log(self, rows: Sequence[LogRow]) -> None:
        if not rows:
            return
        with self._transaction():
            self.db.executemany(
                f"INSERT INTO {self.log} (segment_id, contact_id, change_kind, at_us, late) VALUES (?, ?, ?, ?, ?)",
                [(s, c, change, at, int(late)) for s, c, change, at, late in rows])

    def delete_log(self, rows: Sequence[LogRow]) -> None:
        with self._transaction():
            for s, c, change, at, _ in rows:
                self.db.execute(f"DELETE FROM {self.log} WHERE segment_id = ? AND contact_id = ? AND at_us = ? "
                                "AND change_kind = ?", (s, c, at, change))

    def query_log(self, segment_id: str, since_us: int | None, until_us: int | None,
                  contact_id: str | None) -> list[LogRow]:
        sql = f"SELECT segment_id, contact_id, change_kind, at_us, late FROM {self.log} WHERE segment_id = ?"
        params: list[Any] = [segment_id]
        if since_us is not None:
            sql += " AND at_us >= ?"
            params.append(since_us)
        if until_us is not None:
            sql += " AND at_us < ?"
            params.append(until_us)
        if contact_id is not None:
            sql += " AND contact_id = ?"
            params.append(contact_id)
        sql += " ORDER BY at_us"
        rows: list[LogRow] = [(str(s), str(c), str(k), int(at), bool(late))
                              for s, c, k, at, late in self.db.execute(sql, params)]
        rows.sort(key=_log_order)
        return rows

    def forget_contact(self, contact_id: str) -> None:
        with self._transaction():
            self.db.execute(f"DELETE FROM {self.log} WHERE contact_id = ?", (contact_id,))


# --- the API ---------------------------------------------------------------------------------------


class SegmentsMixin:
    """The segment API of SPEC §6, shared by every store (a base of ``StoreBase``)."""

    clock: Clock
    _segment_storage_obj: SegmentStorage | None = None
    _segment_filter_cache: dict[str, Filter] | None = None

    # --- storage -----------------------------------------------------------------------------------

    def _make_segment_storage(self) -> SegmentStorage:
        """The storage of this store: SQL tables when the store has a ``_db``, else memory."""
        db = getattr(self, "_db", None)
        if db is not None:
            return SQLSegmentStorage(db)
        return MemorySegmentStorage()

    @property
    def _segment_storage(self) -> SegmentStorage:
        storage = self._segment_storage_obj
        if storage is None:
            storage = self._segment_storage_obj = self._make_segment_storage()
        return storage

    def _parse_filter(self, text: str) -> Filter:
        cache = self._segment_filter_cache
        if cache is None:
            cache = self._segment_filter_cache = {}
        flt = cache.get(text)
        if flt is None:
            if len(cache) > 1024:
                cache.clear()
            flt = cache[text] = Filter.from_json(text)
        return flt

    def _to_segment(self, row: SegmentRow) -> Segment:
        return Segment(
            id=row.id, name=row.name, filter=self._parse_filter(row.filter_json),
            created_at=from_micros(row.created_us), updated_at=from_micros(row.updated_us),
            active=row.active,
            last_generated_at=None if row.last_generated_us is None else from_micros(row.last_generated_us),
            member_count=row.member_count,
        )

    def _row(self, segment_id: str) -> SegmentRow:
        if not isinstance(segment_id, str):
            raise UnknownSegment(f"segment id: expected a string, got {segment_id!r}")
        row = self._segment_storage.get(segment_id)
        if row is None:
            raise UnknownSegment(f"segment {segment_id!r} does not exist")
        return row

    def _now_us(self) -> int:
        return to_micros(instant(self.clock(), field="clock"))

    # --- resolution --------------------------------------------------------------------------------

    def _segment_filter(self, segment_id: str) -> Filter:
        """The saved filter of a segment (``in_segment`` resolution)."""
        return self._parse_filter(self._row(segment_id).filter_json)

    def _check_refs(self, flt: Filter, segment_id: str) -> None:
        """Refuse references to unknown segments and any chain that leads back to ``segment_id``."""
        from .base import _SegmentResolver

        if not isinstance(flt, Filter):
            raise InvalidFilter(f"filter: expected a Filter, got {type(flt).__name__} {flt!r}")
        flt.accept(_SegmentResolver(self._segment_filter, (segment_id,)))

    # --- segments ----------------------------------------------------------------------------------

    def create_segment(self, filter: Filter, name: str | None = None, active: bool = True, *,
                       id: str | None = None) -> Segment:
        """Save ``filter`` as a segment; ``name`` defaults to ``filter.describe()``.

        Ids are ``seg-1``, ``seg-2``, … unless ``id`` is given. A filter that refers (through
        ``in_segment``) to an unknown segment, or to itself, is refused.

        >>> from engagekit import MemoryStore, ordered, last
        >>> store = MemoryStore(currency="PLN")
        >>> store.create_segment(ordered(within=last(days=30)), name="buyers").id
        'seg-1'
        """
        storage = self._segment_storage
        if id is None:
            segment_id = f"seg-{self._next_number()}"
        else:
            if not isinstance(id, str) or not id:
                raise InvalidFilter(f"id: expected a non-empty string, got {id!r}")
            if storage.get(id) is not None:
                raise InvalidFilter(f"id: segment {id!r} already exists")
            segment_id = id
        self._check_refs(filter, segment_id)
        label = _default_name(filter) if name is None else _check_name(name)
        now = self._now_us()
        seq = max((row.seq for row in storage.all()), default=0) + 1
        row = SegmentRow(segment_id, seq, label, filter.to_json(), now, now, _check_active(active))
        storage.insert(row)
        return self._to_segment(row)

    def _next_number(self) -> int:
        used = [row.id for row in self._segment_storage.all()]
        used += [c.segment_id for c in self._segment_storage.campaigns()]
        numbers = [int(m.group(1)) for m in map(_AUTO_ID.match, used) if m]
        return max(numbers, default=0) + 1

    def segment(self, segment_id: str) -> Segment:
        """The saved segment with this id (``UnknownSegment`` when there is none)."""
        return self._to_segment(self._row(segment_id))

    def segments(self) -> list[Segment]:
        """Every saved segment, in the order they were created."""
        return [self._to_segment(row) for row in self._segment_storage.all()]

    @overload
    def update_segment(self, segment_id: str, *, filter: Filter | None = ..., name: str | None = ...,
                       active: bool | None = ..., dry_run: Literal[False] = ...,
                       at: Instant | None = ...) -> Segment: ...

    @overload
    def update_segment(self, segment_id: str, *, filter: Filter | None = ..., name: str | None = ...,
                       active: bool | None = ..., dry_run: Literal[True],
                       at: Instant | None = ...) -> Preview: ...

    def update_segment(self, segment_id: str, *, filter: Filter | None = None, name: str | None = None,
                       active: bool | None = None, dry_run: bool = False,
                       at: Instant | None = None) -> Segment | Preview:
        """Change a segment's filter, name or active flag; what is not given is kept.

        A new filter without a new name keeps the old name unless it was the old filter's
        ``describe()``, in which case the name follows the new filter.

        With ``dry_run=True`` nothing is saved: the result is the :class:`~engagekit.Preview` of the
        new filter against the saved one at ``at`` (SPEC §9), what saving would change.
        """
        row = self._row(segment_id)
        if dry_run:
            candidate = self._parse_filter(row.filter_json) if filter is None else filter
            self._check_refs(candidate, segment_id)
            return self.preview(candidate, against=segment_id, at=at)  # type: ignore[attr-defined,no-any-return]
        changes: dict[str, Any] = {}
        if filter is not None:
            self._check_refs(filter, segment_id)
            changes["filter_json"] = filter.to_json()
            if name is None and row.name == _default_name(self._parse_filter(row.filter_json)):
                changes["name"] = _default_name(filter)
        if name is not None:
            changes["name"] = _check_name(name)
        if active is not None:
            changes["active"] = _check_active(active)
        changes["updated_us"] = self._now_us()
        new = attrs.evolve(row, **changes)
        self._segment_storage.update(new)
        return self._to_segment(new)

    def delete_segment(self, segment_id: str) -> None:
        """Delete a segment and its log.

        Refused with ``SegmentInUse`` while an active campaign sends to it or another segment's
        filter refers to it.
        """
        self._row(segment_id)
        users = [c.id for c in self._segment_storage.campaigns() if c.active and c.segment_id == segment_id]
        if users:
            raise SegmentInUse(
                f"segment {segment_id!r} is used by active campaign(s) {', '.join(map(repr, users))}; "
                f"deactivate them first")
        referring = [row.id for row in self._segment_storage.all() if row.id != segment_id
                     and segment_id in segment_refs(self._parse_filter(row.filter_json))]
        if referring:
            raise SegmentInUse(
                f"segment {segment_id!r} is referred to by segment(s) {', '.join(map(repr, referring))} "
                f"through in_segment")
        self._segment_storage.delete(segment_id)

    # --- campaigns ---------------------------------------------------------------------------------

    def add_campaign(self, campaign: Campaign) -> Campaign:
        """Save a campaign (a campaign with the same id is replaced); its segment must exist."""
        if not isinstance(campaign, Campaign):
            raise InvalidFilter(f"campaign: expected a Campaign, got {type(campaign).__name__} {campaign!r}")
        self._row(campaign.segment_id)
        self._segment_storage.put_campaign(campaign)
        return campaign

    def campaigns(self) -> list[Campaign]:
        """Every saved campaign, ordered by id."""
        return self._segment_storage.campaigns()

    # --- the log -----------------------------------------------------------------------------------

    def log(self, segment_id: str, *, since: Instant | None = None, until: Instant | None = None,
            contact_id: str | None = None) -> list[LogEntry]:
        """The membership log of a segment, entries with ``since <= at < until``, by at then contact id."""
        self._row(segment_id)
        since_us = None if since is None else to_micros(instant(since, field="since"))
        until_us = None if until is None else to_micros(instant(until, field="until"))
        rows = self._segment_storage.query_log(segment_id, since_us, until_us, contact_id)
        return [LogEntry(s, c, change, from_micros(at), late)  # type: ignore[arg-type]
                for s, c, change, at, late in rows]

    def _append_log(self, rows: Sequence[LogRow]) -> None:
        """Store primitive used by the live engine: append log rows."""
        self._segment_storage.append_log(rows)

    def _delete_log(self, rows: Sequence[LogRow]) -> None:
        """Store primitive used by the live engine: remove rows undone at the same instant."""
        self._segment_storage.delete_log(rows)

    def _set_generated(self, updates: Sequence[tuple[str, int, int]]) -> None:
        self._segment_storage.set_generated(updates)

    def _forget_segment_data(self, contact_id: str) -> None:
        """Erase a forgotten contact's log entries."""
        self._segment_storage.forget_contact(contact_id)

    # --- what the live engine reads ----------------------------------------------------------------

    def _live_history(self) -> tuple[Iterator[Any], Iterator[Any]]:
        """Store primitive for the live engine: every stored contact and every stored event.

        Stores implement ``_iter_contacts()`` and ``_iter_events()``.
        """
        contacts: Callable[[], Iterator[Any]] | None = getattr(self, "_iter_contacts", None)
        events: Callable[[], Iterator[Any]] | None = getattr(self, "_iter_events", None)
        if contacts is None or events is None:
            raise NotImplementedError(
                f"{type(self).__name__} cannot list its contacts and events (_iter_contacts/_iter_events); "
                f"the live engine needs them")
        return contacts(), events()


def _default_name(flt: Filter) -> str:
    return flt.describe()


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidFilter(f"name: expected a non-blank string, got {name!r}")
    return name


def _check_active(active: object) -> bool:
    if not isinstance(active, bool):
        raise InvalidFilter(f"active: expected True or False, got {active!r}")
    return active

