"""What the SQL stores share: every store primitive, answered by compiled SQL.

A concrete store supplies a :class:`~engagekit.stores.sql.db.Database` and, where its database has
a faster path than ``executemany``, overrides :meth:`SQLStore._insert` (Arrow for DuckDB, ``COPY``
for PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlglot import exp

from engagekit.explain import MAX_EXAMPLES, Preview
from engagekit.filters import DEFAULT_TIMEFRAME, Filter, _And, _Count, _Everyone, _Status, engaged, view_filter
from engagekit.metrics import Metrics, OrderTotals
from engagekit.model import Contact, Event
from engagekit.reports import Dashboard
from engagekit.stores.base import (
    ENGAGEMENT_RATE_TIMEFRAME,
    StoreBase,
    ValueRows,
    _classes,
    lookback,
)
from engagekit.stores.campaign_sql import CampaignSQL
from engagekit.time import EVER, Instant, Span, Window, as_timedelta

from . import compiler
from .db import Database
from .schema import (
    CONTACT_COLUMNS,
    CONTACT_TABLES,
    EVENT_TABLES,
    TABLES,
    contact_from_row,
    contact_rows,
    event_rows,
)

_STATES = ("engaged", "unengaged", "blocked")


class SQLStore(CampaignSQL, StoreBase):
    """A store whose questions are answered inside a SQL database (SQLite, DuckDB, PostgreSQL)."""

    _db: Database
    _schema: str | None = None
    _prefetched: dict[Hashable, Any]
    # the last dashboard grid: (timeframe, at, before), the database's change token, the rows
    _grid_cache: tuple[tuple[timedelta, datetime, datetime], object, list[tuple[Any, ...]]] | None = None

    @property
    def dialect(self) -> str:
        return self._db.dialect

    # --- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (a caller's own connection or pool is left open)."""
        self._db.close()

    def bulk_load(self) -> AbstractContextManager[None]:
        """See :meth:`StoreBase.bulk_load`: each database's own settings (``Database.bulk_load``)."""
        return self._db.bulk_load()

    def __enter__(self) -> SQLStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- running compiled SQL --------------------------------------------------------------------

    def _run(self, tree: exp.Expr, query: compiler.Query) -> list[tuple[Any, ...]]:
        return self._db.execute(compiler.render(tree, self.dialect, self._schema), compiler.used_params(tree, query))

    def sql(self, flt: Filter, *, at: Instant | None = None) -> tuple[str, dict[str, object]]:
        """The SQL and parameters this store runs for ``members(flt, at=at)`` (for reading and tuning)."""
        select, q = compiler.members_select(self.resolve(flt), self._at(at), self.currency)
        return compiler.render(select, self.dialect, self._schema), compiler.used_params(select, q)

    # --- ingestion -------------------------------------------------------------------------------

    def load_tables(self, tables: Any) -> dict[str, int]:
        """Fill an empty store with whole tables in engagekit's layout: Parquet paths (a file or a
        folder of files) or pyarrow Tables, by table name (``contacts``, ``contact_tags``,
        ``contact_attributes``, ``events``, ``items``, ``item_categories``).

        This is the fast path for big shops: rows go from Arrow straight into the database
        (``executemany`` per record batch in SQLite, ``COPY`` in PostgreSQL, an Arrow scan in
        DuckDB), in one transaction, all tables or none. It trusts the rows as engagekit wrote them
        (e.g. ``COPY events TO 'events.parquet'`` from a :class:`DuckDBStore` that validated them),
        so it only loads into a store without contacts and events; a wrong layout (a missing column,
        an incompatible type, a NULL where engagekit always writes a value) is refused, naming the
        table and column, before anything is written. Returns rows loaded per table.

        >>> from engagekit.stores.sql.sqlite import SQLiteStore
        >>> with SQLiteStore(":memory:", currency="PLN") as store:
        ...     store.load_tables({"cities": "cities.parquet"})
        Traceback (most recent call last):
        engagekit.errors.InvalidTables: tables: no table 'cities'; expected some of contacts, \
contact_tags, contact_attributes, events, items, item_categories
        """
        from .bulk_tables import load_tables

        return load_tables(self, tables)

    def _insert(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows into one table (inside the caller's transaction)."""
        if not rows:
            return
        columns = [name for name, _ in TABLES[table]]
        self._db.executemany(
            f"INSERT INTO {self._db.table(table)} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            rows)

    def _existing(self, table: str, column: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` appear in ``table.column``."""
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = self._db.execute(
                f"SELECT {column} FROM {self._db.table(table)} WHERE {column} IN ({', '.join('?' * len(chunk))})",
                chunk)
            found.update(r[0] for r in rows)
        return found

    def _delete_contacts(self, ids: Sequence[str], tables: Sequence[str]) -> int:
        """Delete the rows of these contacts from ``tables``; the number of ``contacts`` rows deleted."""
        deleted = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            for table in tables:
                column = "id" if table == "contacts" else "contact_id"
                if table == "contacts":
                    deleted += len(self._db.execute(
                        f"SELECT id FROM {self._db.table(table)} WHERE id IN ({marks})", chunk))
                self._db.execute(f"DELETE FROM {self._db.table(table)} WHERE {column} IN ({marks})", chunk)
        return deleted

    def _store_contacts(self, contacts: list[Contact]) -> tuple[int, int]:
        rows = contact_rows(contacts)
        ids = [c.id for c in contacts]
        with self._db.transaction():
            existing = self._existing("contacts", "id", ids)
            if existing:
                self._delete_contacts(sorted(existing), CONTACT_TABLES)
            for table in CONTACT_TABLES:
                self._insert(table, rows[table])
        return len(ids) - len(existing), len(existing)

    def _known_event_ids(self, ids: list[str]) -> set[str]:
        return self._existing("events", "id", ids)

    def _store_events(self, events: list[Event]) -> None:
        rows = event_rows(events, self.currency)
        with self._db.transaction():
            for table in EVENT_TABLES:
                self._insert(table, rows[table])

    def _get_contact(self, contact_id: str) -> Contact | None:
        rows = self._db.execute(
            f"SELECT {CONTACT_COLUMNS} FROM {self._db.table('contacts')} WHERE id = ?", [contact_id])
        return contact_from_row(rows[0]) if rows else None

    def _erase(self, contact_id: str) -> bool:
        with self._db.transaction():
            found = bool(self._db.execute(
                f"SELECT 1 FROM {self._db.table('contacts')} WHERE id = ?", [contact_id]))
            found = found or bool(self._db.execute(
                f"SELECT 1 FROM {self._db.table('events')} WHERE contact_id = ? LIMIT 1", [contact_id]))
            self._delete_contacts([contact_id], (*CONTACT_TABLES, *EVENT_TABLES))
        return found

    # --- questions -------------------------------------------------------------------------------

    def _members(self, flt: Filter, at: datetime) -> frozenset[str]:
        select, q = compiler.members_select(flt, at, self.currency)
        return frozenset(r[0] for r in self._run(select, q))

    def _count(self, flt: Filter, at: datetime) -> int:
        cached = self._prefetched.get(("count", flt, at))
        if cached is not None:
            return int(cached)
        select, q = compiler.members_select(flt, at, self.currency, count=True)
        return int(self._run(select, q)[0][0])

    def _totals_and_engaged(self, flt: Filter, at: datetime, within: Window) -> tuple[OrderTotals, int]:
        select, q = compiler.totals_select(flt, at, within, self.currency, ENGAGEMENT_RATE_TIMEFRAME)
        contacts, eng, customers, orders, revenue, span, gaps = self._run(select, q)[0]
        totals = OrderTotals(contacts=int(contacts), customers=int(customers), orders=int(orders or 0),
                             revenue_minor=int(revenue or 0), tbo_span=int(span or 0), tbo_gaps=int(gaps or 0))
        return totals, int(eng or 0)

    def _order_totals(self, flt: Filter, at: datetime, within: Window) -> OrderTotals:
        cached = self._prefetched.get(("totals", flt, at, within))
        if cached is not None:
            assert isinstance(cached, OrderTotals)
            return cached
        return self._totals_and_engaged(flt, at, within)[0]

    def metrics(self, filter: Filter, *, at: Instant | None = None, within: Window = EVER) -> Metrics:
        """SPEC §4 metrics in one statement (totals and the engaged count together)."""
        if not isinstance(within, Window):
            return super().metrics(filter, at=at, within=within)  # the base names the error
        moment = self._at(at)
        resolved = self.resolve(filter)
        totals, engaged_count = self._totals_and_engaged(resolved, moment, within)
        return Metrics.from_totals(totals, engaged_count, self.currency)

    def _flows(self, in_view: Filter, timeframe: timedelta, at: datetime,
               before: datetime) -> dict[tuple[str, str], int]:
        cached = self._prefetched.get(("flows", in_view, timeframe, at, before))
        if cached is not None:
            assert isinstance(cached, dict)
            return cached
        return self._dashboard_rows(in_view, timeframe, at, before)[0]

    def _grid(self, timeframe: timedelta, at: datetime, before: datetime) -> list[tuple[Any, ...]]:
        """The dashboard grid of ``at`` (``compiler.dashboard_grid_select``), reused by the next call
        for the same instants while the database's change token says nothing was written."""
        key = (timeframe, at, before)
        token = self._db.change_token()
        cached = self._grid_cache
        if token is not None and cached is not None and cached[0] == key and cached[1] == token:
            rows: list[tuple[Any, ...]] = cached[2]
            return rows
        select, q = compiler.dashboard_grid_select(timeframe, at, before,
                                                   engaged_timeframe=ENGAGEMENT_RATE_TIMEFRAME)
        rows = self._run(select, q)
        self._grid_cache = (key, token, rows) if token is not None else None
        return rows

    def _dashboard_rows(self, in_view: Filter, timeframe: timedelta, at: datetime, before: datetime,
                        ) -> tuple[dict[tuple[str, str], int], dict[str, tuple[OrderTotals, int]]]:
        if isinstance(in_view, (_Status, _Everyone)):  # every dashboard view: one grid serves them all
            return _view_of_grid(self._grid(timeframe, at, before),
                                 None if isinstance(in_view, _Everyone) else in_view.values)
        select, q = compiler.dashboard_select(in_view, timeframe, at, before, currency=self.currency,
                                              engaged_timeframe=ENGAGEMENT_RATE_TIMEFRAME)
        return _fold((sb, sn, values) for sb, sn, *values in self._run(select, q))

    def engagement(self, *, at: Instant | None = None, timeframe: timedelta = DEFAULT_TIMEFRAME,
                   view: str = "subscribed+unknown") -> Dashboard:
        """The contacts dashboard of SPEC §5 in one statement; assembled by the shared base."""
        timeframe = as_timedelta(timeframe, field="timeframe")
        in_view = view_filter(view)
        moment = self._at(at)
        # before the calendar's first month the base asks for flows against `at` itself (base.lookback)
        before = lookback(moment) or moment
        flows, groups = self._dashboard_rows(in_view, timeframe, moment, before)
        prefetched: dict[Hashable, Any] = {("flows", in_view, timeframe, moment, before): flows}
        classes = _classes(timeframe)
        for state in _STATES:
            group_filter = _And.of(in_view, classes[state])
            totals, engaged_count = groups[state]
            prefetched[("totals", group_filter, moment, EVER)] = totals
            prefetched[("count", _And.of(group_filter, engaged(timeframe=ENGAGEMENT_RATE_TIMEFRAME)), moment)] = \
                engaged_count
        self._prefetched = prefetched
        try:
            return super().engagement(at=moment, timeframe=timeframe, view=view)
        finally:
            self._prefetched = {}

    # --- preview (SPEC §9) ------------------------------------------------------------------------

    def preview(self, filter: Filter, *, against: str | Filter, at: Instant | None = None) -> Preview:
        """How the members of ``filter`` differ from those of ``against`` (a segment id or a filter),
        in one statement: counts and up to 10 smallest ids of each kind, no member list fetched."""
        moment = self._at(at)
        new = self.resolve(filter)
        saved = self.resolve(self._segment_or_filter(against, "against"))
        select, q = compiler.preview_select(new, saved, moment, self.currency, examples=MAX_EXAMPLES)
        counts = dict.fromkeys(("entering", "leaving", "staying"), 0)
        examples: dict[str, list[str]] = {kind: [] for kind in counts}
        for kind, n, contact_id in self._run(select, q):
            counts[kind] = int(n)
            examples[kind].append(contact_id)
        return Preview(count=counts["entering"] + counts["staying"], entering=counts["entering"],
                       leaving=counts["leaving"], staying=counts["staying"],
                       examples={kind: tuple(sorted(ids)) for kind, ids in examples.items()})

    # --- explain (one contact) -------------------------------------------------------------------

    def _holds(self, flt: Filter, contact_id: str, at: datetime) -> bool:
        select, q = compiler.one_contact(flt, contact_id, at, self.currency)
        rows = self._run(select, q)
        return bool(rows) and int(rows[0][0]) == 1

    def _matching_events(self, leaf: _Count, contact_id: str, span: Span) -> list[tuple[int, str]]:
        if span.empty:
            return []
        tree, q = compiler.matching_events_select(leaf, contact_id, span)
        return [(int(at_us), str(eid)) for at_us, eid in self._run(tree, q)]

    def _order_values(self, contact_id: str, span: Span) -> list[int]:
        if span.empty:
            return []
        tree, q = compiler.order_values_select(contact_id, span)
        return [int(v) for (v,) in self._run(tree, q)]

    def _value_rows(self, field: str, flt: Filter, at: datetime) -> ValueRows:
        tree, q = compiler.value_rows_select(field, flt, at, self.currency)
        spellings: list[tuple[str, str, int]] = []
        groups: dict[str, int] = {}
        undefined = 0
        profile = field in ("city", "country", "language", "gender")
        for kind, key, spelling, count in self._run(tree, q):
            n = int(count)
            if kind == "u" or key is None:
                undefined += n
            elif kind == "s":
                spellings.append((key, spelling, n))
                if profile:
                    groups[key] = groups.get(key, 0) + n
            else:
                groups[key] = n
        return ValueRows(spellings=spellings, groups=groups, undefined=undefined)


def _view_of_grid(grid: list[tuple[Any, ...]], statuses: frozenset[str] | None,
                  ) -> tuple[dict[tuple[str, str], int], dict[str, tuple[OrderTotals, int]]]:
    """Flows and per-state totals of the view ``statuses`` (``None``: every contact) from the grid."""

    def transitions() -> Iterator[tuple[str, str, Sequence[Any]]]:
        for existed, status_before, status_now, state_before, state_now, *values in grid:
            if not int(existed):
                frm = "absent"
            else:
                frm = state_before if statuses is None or status_before in statuses else "outside"
            yield frm, state_now if statuses is None or status_now in statuses else "outside", values

    return _fold(transitions())


def _fold(transitions: Iterable[tuple[str, str, Sequence[Any]]],
          ) -> tuple[dict[tuple[str, str], int], dict[str, tuple[OrderTotals, int]]]:
    """Flows and per-state totals from ``(from, to, (contacts, engaged, customers, orders, revenue,
    span, gaps))`` rows; several rows may share a transition (they are added up)."""
    flows: dict[tuple[str, str], int] = {}
    sums: dict[str, list[int]] = {s: [0] * 7 for s in _STATES}
    for frm, to, values in transitions:
        flows[(frm, to)] = flows.get((frm, to), 0) + int(values[0])
        if to in sums:
            acc = sums[to]
            for i, value in enumerate(values):
                acc[i] += int(value or 0)
    groups = {}
    for state, (contacts, eng, customers, orders, revenue, span, gaps) in sums.items():
        groups[state] = (OrderTotals(contacts=contacts, customers=customers, orders=orders,
                                     revenue_minor=revenue, tbo_span=span, tbo_gaps=gaps), eng)
    return flows, groups


__all__ = ["SQLStore"]
