"""SQLiteStore: the embedded, persistent default (standard library only)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from engagekit.time import Clock

from .db import Database, Params, TransactionDepth
from .schema import add_missing_indexes, drop_event_indexes_if_empty, open_schema
from .store import SQLStore

PAGE_CACHE_KIB = 256 * 1024
"""SQLite page cache the store opens with (KiB): good for its queries."""

BULK_CACHE_KIB = 16 * 1024
"""SQLite page cache while a bulk load runs (KiB); see :meth:`SQLiteDatabase.bulk_load`."""


class SQLiteDatabase(Database):
    """One ``sqlite3`` connection in autocommit mode; ``transaction()`` opens ``BEGIN IMMEDIATE``."""

    dialect = "sqlite"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._depth = TransactionDepth()
        if self.path not in ("", ":memory:"):
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA temp_store=MEMORY")
        self.conn.execute(f"PRAGMA cache_size = {-PAGE_CACHE_KIB}")  # negative: KiB, not pages

    def execute(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        self.note(sql)
        cursor = self.conn.execute(sql, params if isinstance(params, Mapping) else tuple(params))
        return cursor.fetchall() if cursor.description is not None else []

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self.writes += 1
        self.conn.executemany(sql, rows)

    def change_token(self) -> object | None:
        # data_version changes when another connection commits; our own writes are counted
        (version,) = self.conn.execute("PRAGMA data_version").fetchone()
        return (self.writes, version)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.writes += 1
        with self._depth.nest(lambda: self.conn.execute("BEGIN IMMEDIATE"),
                              lambda: self.conn.execute("COMMIT"),
                              lambda: self.conn.execute("ROLLBACK")):
            yield

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Hold the page cache to :data:`BULK_CACHE_KIB`, and temporary storage on disk, while a
        bulk load runs; restore both after.

        A load appends, so a large page cache only fills with the pages just written and the
        process grows with the file (84 MiB at 100k events, 376 MiB at 1M with 256 MiB of cache);
        with a small one the peak stays flat, and the written pages are still in the operating
        system's file cache. Building an index sorts the whole table: with ``temp_store=MEMORY``
        that sort lives in RAM (527 MiB to index 3M rows), on disk it spills past the page cache.

        >>> db = SQLiteDatabase(":memory:")
        >>> with db.bulk_load():
        ...     db.execute("PRAGMA cache_size"), db.execute("PRAGMA temp_store")
        ([(-16384,)], [(1,)])
        >>> db.execute("PRAGMA cache_size"), db.execute("PRAGMA temp_store")
        ([(-262144,)], [(2,)])
        """
        previous = int(self.conn.execute("PRAGMA cache_size").fetchone()[0])
        previous_temp = int(self.conn.execute("PRAGMA temp_store").fetchone()[0])
        # PRAGMA takes no bound parameters: every value is an integer, formatted as such
        self.conn.execute(f"PRAGMA cache_size = {-BULK_CACHE_KIB}")
        self.conn.execute("PRAGMA temp_store = FILE")
        try:
            yield
        finally:
            self.conn.execute(f"PRAGMA cache_size = {previous}")
            self.conn.execute(f"PRAGMA temp_store = {previous_temp}")

    def has_table(self, name: str) -> bool:
        return bool(self.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]))

    def close(self) -> None:
        self.conn.close()

    def describe(self) -> str:
        return f"SQLite database {self.path!r}"


class SQLiteStore(SQLStore):
    """A store in one SQLite file (WAL mode), or in memory with ``":memory:"``.

    >>> from engagekit import Contact, city
    >>> with SQLiteStore(":memory:", currency="PLN") as store:
    ...     _ = store.add_contacts([Contact(id="c1", city="Kraków", created_at="2026-01-01T00:00:00+00:00")])
    ...     store.members(city("KRAKÓW"), at="2026-06-30T00:00:00+00:00")
    frozenset({'c1'})
    """

    def __init__(self, path: str | os.PathLike[str], *, currency: str, clock: Clock | None = None) -> None:
        super().__init__(currency=currency, clock=clock)
        self._prefetched = {}
        self._bulk_depth = 0
        self._db = SQLiteDatabase(path)
        try:
            open_schema(self._db, self.currency)
        except BaseException:
            self._db.close()
            raise

    def bulk_load(self) -> AbstractContextManager[None]:
        """The database's bulk-load settings (:meth:`SQLiteDatabase.bulk_load`) and, when the store
        has no events yet, the event tables' secondary indexes built once at the end instead of
        row by row.

        Inserting into seven B-trees per event was most of an import's cost, and grew with the
        store; one sort per index at the end is cheaper (1M events: 86 instead of 149 CPU s). Only
        the outermost ``bulk_load`` of a store does it. The indexes are rebuilt when the block ends,
        also after an error; after a crash inside it, opening the file rebuilds them. Questions
        asked inside the block are answered, more slowly.
        """
        return self._bulk_load()

    @contextmanager
    def _bulk_load(self) -> Iterator[None]:
        self._bulk_depth += 1
        try:
            if self._bulk_depth > 1:
                yield
                return
            with self._db.bulk_load():
                deferred = drop_event_indexes_if_empty(self._db)
                try:
                    yield
                finally:
                    if deferred:
                        add_missing_indexes(self._db)
        finally:
            self._bulk_depth -= 1


__all__ = ["BULK_CACHE_KIB", "PAGE_CACHE_KIB", "SQLiteDatabase", "SQLiteStore"]
