"""PostgresStore: engagekit inside a PostgreSQL server (extra ``engagekit[postgres]``, psycopg 3).

Every table lives in one schema (``schema="engagekit"`` by default), text columns are
``COLLATE "C"`` so strings order by code point whatever the server's locale, and batches load with
``COPY … FROM STDIN``. The store accepts a DSN (it then owns its connection), a psycopg
``Connection`` or a ``psycopg_pool.ConnectionPool`` supplied by the caller (left open by ``close()``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlglot import exp

from engagekit.errors import StoreUnavailable
from engagekit.time import Clock

from .db import Database, Params, translate_qmarks
from .schema import TABLES, open_schema
from .store import SQLStore

try:
    import psycopg
except ImportError:  # pragma: no cover - depends on the environment
    psycopg = None  # type: ignore[assignment]

ANALYZE_AFTER_ROWS = 10_000


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, quoted by sqlglot (a ``"`` inside is doubled)."""
    return str(exp.to_identifier(name, quoted=True).sql(dialect="postgres"))


class PostgresDatabase(Database):
    """A psycopg connection (owned or the caller's) or a connection pool, tables in one schema."""

    dialect = "postgres"

    def __init__(self, target: Any, schema: str) -> None:
        if psycopg is None:
            raise StoreUnavailable("PostgresStore needs psycopg 3: pip install 'engagekit[postgres]'")
        self.schema = schema
        self._owned = False
        self._pool: Any = None
        self._conn: Any = None
        self._local = threading.local()
        if isinstance(target, str):
            try:
                self._conn = psycopg.connect(target, autocommit=True)
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(f"PostgreSQL: cannot connect ({exc})".strip()) from None
            self._owned = True
        elif isinstance(target, psycopg.Connection):
            self._conn = target
        elif hasattr(target, "connection") and callable(target.connection):
            self._pool = target
        else:
            raise TypeError(f"PostgresStore: expected a DSN, a psycopg Connection or a ConnectionPool, "
                            f"got {type(target).__name__}")

    # one connection per transaction: the held one, the store's own, or one borrowed from the pool
    @contextmanager
    def _connection(self) -> Iterator[Any]:
        held = getattr(self._local, "held", None)
        if held is not None:
            yield held
        elif self._conn is not None:
            if self._conn.autocommit:
                yield self._conn
            else:
                with self._conn.transaction():
                    yield self._conn
        else:
            with self._pool.connection() as conn:
                yield conn

    def execute(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        self.note(sql)
        if not isinstance(params, Mapping):
            sql, params = translate_qmarks(sql), list(params)
        with self._connection() as conn:
            cursor = conn.execute(sql, params)
            if cursor.description is None:
                return []
            rows: list[tuple[Any, ...]] = cursor.fetchall()
            return rows

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self.writes += 1
        with self._connection() as conn, conn.cursor() as cursor:
            cursor.executemany(translate_qmarks(sql), rows)

    def change_token(self) -> object | None:
        # Equal snapshots (xmin, xmax, in-progress ids) see the same committed transactions, so
        # the same data; our own writes are counted. A caller's connection may hold the caller's
        # own uncommitted writes, which no snapshot shows: nothing is reused then.
        if self._conn is not None and not self._owned:
            return None
        rows = self.execute("SELECT txid_current_snapshot()::text")
        return (self.writes, rows[0][0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.writes += 1
        held = getattr(self._local, "held", None)
        if held is not None:
            with held.transaction():
                yield
            return
        if self._conn is not None:
            self._local.held = self._conn
            try:
                with self._conn.transaction():
                    yield
            finally:
                self._local.held = None
            return
        with self._pool.connection() as conn:
            self._local.held = conn
            try:
                with conn.transaction():
                    yield
            finally:
                self._local.held = None

    def copy(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        """``COPY table (columns) FROM STDIN`` of these rows."""
        self.writes += 1
        with self._connection() as conn, conn.cursor() as cursor, cursor.copy(
                f"COPY {self.table(table)} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def table(self, name: str) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(name)}"

    def has_table(self, name: str) -> bool:
        return bool(self.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = ? "
                                 "AND table_name = ?", [self.schema, name]))

    def close(self) -> None:
        if self._owned and self._conn is not None:
            self._conn.close()

    def describe(self) -> str:
        return f"PostgreSQL schema {self.schema!r}"


class PostgresStore(SQLStore):
    """A store in one schema of a PostgreSQL database.

    ``PostgresStore("postgresql://…", currency="PLN")``, or pass a psycopg ``Connection`` or a
    ``psycopg_pool.ConnectionPool`` you manage. ``drop()`` removes the schema and its data.
    """

    _db: PostgresDatabase

    def __init__(self, dsn_or_connection: Any, *, currency: str, schema: str = "engagekit",
                 clock: Clock | None = None) -> None:
        super().__init__(currency=currency, clock=clock)
        if not isinstance(schema, str) or not schema:
            raise ValueError(f"schema: expected a non-empty name, got {schema!r}")
        self._prefetched = {}
        self._schema = schema
        self._db = PostgresDatabase(dsn_or_connection, schema)
        try:
            if not self._db.has_table("meta"):
                self._db.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
            open_schema(self._db, self.currency)
        except BaseException:
            self._db.close()
            raise

    @property
    def schema(self) -> str:
        return self._db.schema

    def drop(self) -> None:
        """Drop the store's schema with every table in it (the data is gone)."""
        self._db.execute(f"DROP SCHEMA IF EXISTS {quote_ident(self._db.schema)} CASCADE")

    def _insert(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        self._db.copy(table, [name for name, _ in TABLES[table]], rows)
        if len(rows) >= ANALYZE_AFTER_ROWS:
            self._db.execute(f"ANALYZE {self._db.table(table)}")

    def _existing(self, table: str, column: str, ids: Sequence[str]) -> set[str]:
        rows = self._db.execute(f"SELECT t.{column} FROM {self._db.table(table)} AS t "
                                f"JOIN unnest(?::text[]) AS u(v) ON t.{column} = u.v", [list(ids)])
        return {r[0] for r in rows}

    def _delete_contacts(self, ids: Sequence[str], tables: Sequence[str]) -> int:
        deleted = 0
        for table in tables:
            column = "id" if table == "contacts" else "contact_id"
            rows = self._db.execute(
                f"DELETE FROM {self._db.table(table)} WHERE {column} IN (SELECT unnest(?::text[])) RETURNING 1",
                [list(ids)])
            if table == "contacts":
                deleted = len(rows)
        return deleted


__all__ = ["PostgresDatabase", "PostgresStore"]
