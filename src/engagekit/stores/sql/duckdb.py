"""DuckDBStore: the fast embedded analytics store (extra ``engagekit[duckdb]``).

Batches load through Arrow: the rows of each table become one ``pyarrow`` table, registered with
DuckDB and copied with ``INSERT INTO … SELECT`` — DuckDB's columnar fast path, not row-by-row
inserts. Tables carry no indexes or key constraints (DuckDB scans with zone maps; uniqueness of
event ids is kept by the shared ingestion, which never stores a known id).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from engagekit.errors import StoreUnavailable
from engagekit.model import Event
from engagekit.reports import LoadReport
from engagekit.stores.base import OnInvalid
from engagekit.time import Clock

from .db import Database, Params, TransactionDepth
from .schema import BIGINT, BOOL, DOUBLE, EVENT_TABLES, INT, TABLES, event_columns, open_schema
from .store import SQLStore

try:
    import duckdb
except ImportError:  # pragma: no cover - depends on the environment
    duckdb = None  # type: ignore[assignment]

_counter = itertools.count()

BULK_MEMORY_LIMIT = "64MiB"
"""DuckDB's ``memory_limit`` while a bulk load runs on a database file the store opened itself."""


class DuckDBDatabase(Database):
    """One DuckDB connection."""

    dialect = "duckdb"

    def __init__(self, path: str | os.PathLike[str] | Any) -> None:
        if duckdb is None:
            raise StoreUnavailable("DuckDBStore needs the duckdb package: pip install 'engagekit[duckdb]'")
        if isinstance(path, (str, os.PathLike)):
            self.path = os.fspath(path)
            self.conn = duckdb.connect(self.path)
            self._owned = True
        else:  # a caller's duckdb connection
            self.path = "(connection)"
            self.conn = path
            self._owned = False
        self._depth = TransactionDepth()
        self._bulk_depth = 0

    def execute(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        self.note(sql)
        bound = dict(params) if isinstance(params, Mapping) else list(params)
        cursor = self.conn.execute(sql, bound or None)
        if cursor.description is None:
            return []
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self.writes += 1
        if rows:
            self.conn.executemany(sql, [list(r) for r in rows])

    def change_token(self) -> object | None:
        # A DuckDB file is written by one process, and only this connection writes to a file the
        # store opened itself; a caller's connection may be shared, so nothing is reused then.
        return self.writes if self._owned else None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.writes += 1
        with self._depth.nest(self.conn.begin, self.conn.commit, self.conn.rollback):
            yield

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Hold ``memory_limit`` to :data:`BULK_MEMORY_LIMIT` while a bulk load runs; reset it after.

        DuckDB's buffer pool may grow to 80% of the machine's memory by default, and during a long
        append it keeps the table's blocks (written, and read by the duplicate check): the process
        grew with the file (218 MiB at 100k events, 325 MiB at 1M). With a bounded pool DuckDB
        evicts them (they are in the file) and the peak stays flat. Left alone: a caller's own
        connection (the setting is the caller's) and an in-memory database (its data has nowhere
        else to go); a nested load runs under the outer one's limit.

        >>> import os, tempfile
        >>> db = DuckDBDatabase(os.path.join(tempfile.mkdtemp(), "shop.duckdb"))
        >>> with db.bulk_load():
        ...     db.execute("SELECT current_setting('memory_limit')")
        [('64.0 MiB',)]
        >>> db.close()
        """
        outer = self._bulk_depth == 0 and self._owned and not self.path.startswith(":memory:")
        self._bulk_depth += 1
        try:
            if outer:
                # SET takes no bound parameters; the value is a constant of this module
                self.conn.execute(f"SET memory_limit = '{BULK_MEMORY_LIMIT}'")
            yield
        finally:
            self._bulk_depth -= 1
            if outer:
                # RESET, not the value read before: DuckDB prints the limit rounded (18.8 GiB), and
                # setting that text back lowers it a little each time; a connection the store opened
                # itself started from the default
                self.conn.execute("RESET memory_limit")

    def has_table(self, name: str) -> bool:
        rows = self.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
                            "AND table_name = ?", [name])
        return bool(rows)

    def load(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        """Append rows to a table through Arrow (one columnar copy)."""
        columns = TABLES[table]
        data = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
        self.load_columns(table, {name: list(values) for (name, _), values in zip(columns, data, strict=True)})

    def load_columns(self, table: str, data: Mapping[str, Sequence[Any]]) -> None:
        """Append columns (every column of the table, equal lengths) through one Arrow table."""
        self.writes += 1
        import pyarrow as pa

        types = {BIGINT: pa.int64(), INT: pa.int32(), DOUBLE: pa.float64(), BOOL: pa.bool_()}
        columns = TABLES[table]
        arrow = pa.table({name: pa.array(data[name], type=types.get(kind, pa.string())) for name, kind in columns})
        view = f"_engagekit_load_{next(_counter)}"
        self.conn.register(view, arrow)
        try:
            names = ", ".join(name for name, _ in columns)
            self.conn.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {view}")
        finally:
            self.conn.unregister(view)

    def close(self) -> None:
        if self._owned:
            self.conn.close()

    def describe(self) -> str:
        return f"DuckDB database {self.path!r}"


class DuckDBStore(SQLStore):
    """A store in a DuckDB file (or ``":memory:"``, or a caller's DuckDB connection).

    >>> from engagekit import Contact, tag
    >>> with DuckDBStore(":memory:", currency="PLN") as store:
    ...     _ = store.add_contacts([Contact(id="c1", tags={"VIP"}, created_at="2026-01-01T00:00:00+00:00")])
    ...     store.count(tag("vip"), at="2026-06-30T00:00:00+00:00")
    1
    """

    _db: DuckDBDatabase

    def __init__(self, path: str | os.PathLike[str] | Any, *, currency: str, clock: Clock | None = None) -> None:
        super().__init__(currency=currency, clock=clock)
        self._prefetched = {}
        self._db = DuckDBDatabase(path)
        try:
            open_schema(self._db, self.currency, indexes=False, primary_keys=False)
        except BaseException:
            self._db.close()
            raise

    def _insert(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self._db.load(table, rows)

    def add_events_arrow(self, data: object, *, on_invalid: OnInvalid = "raise") -> LoadReport:
        """Add events given as columns (a pyarrow Table, RecordBatchReader or Parquet path), checked
        and copied inside DuckDB; the same report and stored rows as ``add_events`` of the same records
        (:mod:`engagekit.stores.sql.arrow_ingest` defines the flat event layout).

        >>> import pyarrow as pa
        >>> with DuckDBStore(":memory:", currency="PLN") as store:
        ...     store.add_events_arrow(pa.table({"id": ["e1"], "contact_id": ["c1"], "type": ["email_open"],
        ...                                      "at": ["2026-01-01T10:00:00Z"], "campaign_id": ["k1"]})).added
        1
        """
        from .arrow_ingest import load_arrow

        return load_arrow(self, data, on_invalid=on_invalid)

    def _store_events(self, events: list[Event]) -> None:
        # column by column straight into Arrow: no row tuples to build and transpose
        tables = event_columns(events, self.currency)
        with self._db.transaction():
            for table in EVENT_TABLES:
                self._insert_columns(table, tables[table])

    def _insert_columns(self, table: str, columns: dict[str, list[Any]]) -> None:
        """Append one table's columns (inside the caller's transaction)."""
        if columns["event_id" if table != "events" else "id"]:
            self._db.load_columns(table, columns)

    def _existing(self, table: str, column: str, ids: Sequence[str]) -> set[str]:
        if len(ids) <= 500:
            return super()._existing(table, column, ids)
        import pyarrow as pa

        view = f"_engagekit_ids_{next(_counter)}"
        self._db.conn.register(view, pa.table({"id": pa.array(list(ids), type=pa.string())}))
        try:
            # an inner join, not ``id IN (SELECT column FROM table)``: the planner hashes the smaller
            # side, this batch, and streams the stored column past it (recent versions push the
            # batch's min/max into that scan and skip blocks). An IN subquery hashes the stored column on
            # DuckDB versions that do not flip it, a table that grows with every batch. The stored
            # ids are unique (a known id is never stored again), so the join repeats none.
            rows = self._db.execute(f"SELECT t.{column} FROM {table} AS t JOIN {view} AS b ON t.{column} = b.id")
        finally:
            self._db.conn.unregister(view)
        return {r[0] for r in rows}


__all__ = ["BULK_MEMORY_LIMIT", "DuckDBDatabase", "DuckDBStore"]
