"""Whole tables into an empty SQL store: Parquet files or Arrow tables in engagekit's layout.

``SQLStore.load_tables`` is the fast way to fill a store with a big shop that engagekit already
validated once (a :class:`~engagekit.stores.sql.duckdb.DuckDBStore`'s tables exported with
``COPY events TO 'events.parquet'``, or another store's tables): the rows go from Arrow record
batches straight into the database, without becoming ``Event`` objects. Each database takes them
its own fast way:

- SQLite: ``executemany`` of each batch's rows inside one transaction; the store's indexes on the
  loaded tables are dropped first and built once after the rows are in (one sort per index
  instead of a B-tree insert per row);
- PostgreSQL: each batch written as CSV by Arrow and sent with ``COPY … FROM STDIN``; the indexes
  dropped and rebuilt the same way, then ``ANALYZE``;
- DuckDB: ``INSERT INTO … SELECT`` from the batches registered as one Arrow stream.

Everything happens in one transaction: all tables or none. The layout (every column of
:data:`~engagekit.stores.sql.schema.TABLES`, a compatible type, no NULL where engagekit never writes
one) is checked before anything is written; other columns are ignored.

>>> import pyarrow as pa
>>> from engagekit import tag
>>> from engagekit.stores.sql.sqlite import SQLiteStore
>>> contacts = pa.table({"id": ["c1"], "created_us": [0], "status": ["subscribed"], "email": [None],
...     "phone": [None], "first_name": [None], "last_name": [None], "city": [None], "country": [None],
...     "language": [None], "gender": [None], "city_key": [None], "country_key": [None],
...     "language_key": [None], "gender_key": [None], "tags": ['["VIP"]'], "attributes": ["{}"]})
>>> tags = pa.table({"contact_id": ["c1"], "tag": ["VIP"], "tag_key": ["vip"]})
>>> with SQLiteStore(":memory:", currency="PLN") as store:
...     store.load_tables({"contacts": contacts, "contact_tags": tags})
...     store.members(tag("vip"), at="2026-01-01T00:00:00+00:00")
{'contacts': 1, 'contact_tags': 1}
frozenset({'c1'})
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from engagekit.errors import InvalidTables

from .schema import BIGINT, BOOL, CONTACT_TABLES, DOUBLE, EVENT_TABLES, INT, TABLES, index_ddl

if TYPE_CHECKING:
    import pyarrow as pa

    from .store import SQLStore

LOADABLE = (*CONTACT_TABLES, *EVENT_TABLES)
BATCH_ROWS = 100_000

# columns engagekit never writes as NULL: a NULL there means the table is not in engagekit's layout
REQUIRED: dict[str, tuple[str, ...]] = {
    "contacts": ("id", "created_us", "status", "tags", "attributes"),
    "contact_tags": ("contact_id", "tag", "tag_key"),
    "contact_attributes": ("contact_id", "name", "kind"),
    "events": ("id", "contact_id", "type", "at_us"),
    "items": ("event_id", "contact_id", "type", "at_us", "item_no", "product_id"),
    "item_categories": ("event_id", "contact_id", "type", "at_us", "item_no", "category", "cat_key"),
}

_views = itertools.count()


def _file_batches(paths: list[str], columns: list[str]) -> Iterator[pa.RecordBatch]:
    """The columns of each Parquet file in turn, one row group's worth at a time.

    Not ``Dataset.to_batches``: its scanner kept what it had read (a 20M-row file: 219 MiB of
    Arrow memory at its end, even without read-ahead), and neither ``pre_buffer`` (same).
    """
    import pyarrow.parquet as pq

    for path in paths:
        with pq.ParquetFile(path, pre_buffer=False) as parquet:
            yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns)


class _Source:
    """One table's rows as Arrow record batches with exactly the store's columns and types."""

    def __init__(self, table: str, source: object) -> None:
        import pyarrow as pa
        import pyarrow.dataset as ds

        self.table = table
        self.columns = [name for name, _ in TABLES[table]]
        if isinstance(source, (str, os.PathLike)):
            try:
                self.data: Any = ds.dataset(os.fspath(source), format="parquet")
            except (OSError, ValueError, pa.ArrowException) as exc:
                raise InvalidTables(f"tables[{table!r}]: cannot read Parquet at {os.fspath(source)!r} "
                                    f"({exc})") from None
        elif isinstance(source, pa.Table):
            self.data = source
        else:
            raise InvalidTables(f"tables[{table!r}]: expected a Parquet path or a pyarrow Table, "
                                f"got {type(source).__name__}")
        self.schema = pa.schema([(name, _arrow_type(kind)) for name, kind in TABLES[table]])
        self._check_types(self.data.schema)

    def _check_types(self, found: pa.Schema) -> None:
        import pyarrow as pa

        for name, kind in TABLES[self.table]:
            index = found.get_field_index(name)
            if index < 0:
                raise InvalidTables(f"tables[{self.table!r}]: no column {name!r} (engagekit's {self.table} "
                                    f"columns: {', '.join(self.columns)})")
            given = found.field(index).type
            if pa.types.is_dictionary(given):
                given = given.value_type
            if not (pa.types.is_null(given) or _ACCEPTS[kind](given)):
                raise InvalidTables(f"tables[{self.table!r}]: column {name!r} is {given}; expected "
                                    f"{_KIND_NAMES[kind]}")

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The rows, batch by batch, cast to the store's types; a NULL in a required column refuses."""
        import pyarrow as pa

        if isinstance(self.data, pa.Table):
            source = self.data.select(self.columns).to_batches(max_chunksize=BATCH_ROWS)
        else:
            source = _file_batches(self.data.files, self.columns)
        required = REQUIRED[self.table]
        for batch in source:
            arrays = []
            for field, name in zip(self.schema, self.columns, strict=True):
                column = batch.column(name)
                if name in required and column.null_count:
                    raise InvalidTables(f"tables[{self.table!r}]: column {name!r} holds NULL; engagekit always "
                                        f"writes a value there")
                try:
                    arrays.append(column.cast(field.type, safe=True))
                except pa.ArrowInvalid as exc:
                    raise InvalidTables(f"tables[{self.table!r}]: column {name!r} does not fit "
                                        f"{_KIND_NAMES[dict(TABLES[self.table])[name]]} ({exc})") from None
            yield pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _arrow_type(kind: str) -> Any:
    import pyarrow as pa

    return {BIGINT: pa.int64(), INT: pa.int32(), DOUBLE: pa.float64(), BOOL: pa.bool_()}.get(kind, pa.string())


def _is_text(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _is_integer(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t))


def _is_number(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_floating(t) or pa.types.is_integer(t))


def _is_bool(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_boolean(t))


_ACCEPTS: dict[str, Callable[[Any], bool]] = {"text": _is_text, BIGINT: _is_integer, INT: _is_integer,
                                                DOUBLE: _is_number, BOOL: _is_bool}
_KIND_NAMES = {"text": "a string column", BIGINT: "an integer column (int64)", INT: "an integer column (int32)",
               DOUBLE: "a floating-point column", BOOL: "a boolean column"}


def load_tables(store: SQLStore, tables: Mapping[str, object]) -> dict[str, int]:
    """Load whole tables into an empty SQL store in one transaction; rows loaded per table.

    See :meth:`SQLStore.load_tables <engagekit.stores.sql.store.SQLStore.load_tables>`.
    """
    if not isinstance(tables, Mapping):
        raise InvalidTables(f"tables: expected a mapping of table name to Parquet path or Arrow table, "
                            f"got {type(tables).__name__}")
    unknown = sorted(str(name) for name in tables if name not in LOADABLE)
    if unknown:
        raise InvalidTables(f"tables: no table {unknown[0]!r}; expected some of {', '.join(LOADABLE)}")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        from engagekit.errors import MissingExtra

        raise MissingExtra("load_tables needs pyarrow: pip install 'engagekit[parquet]'") from None
    sources = [_Source(table, tables[table]) for table in LOADABLE if table in tables]  # layouts first
    db = store._db
    for table in LOADABLE:
        if db.execute(f"SELECT 1 FROM {db.table(table)} LIMIT 1"):
            raise InvalidTables(f"tables: {db.describe()} already holds rows in {table}; load_tables only "
                                f"fills an empty store (add_contacts/add_events merge)")
    writer = {"sqlite": _sqlite, "postgres": _postgres, "duckdb": _duckdb}.get(store.dialect)
    if writer is None:
        raise InvalidTables(f"tables: no bulk loader for the {store.dialect} dialect")
    counts: dict[str, int] = {}
    with db.transaction():
        indexes = [(name, create) for table, name, create in index_ddl(db)
                   if store.dialect != "duckdb" and table in tables]
        for name, _ in indexes:  # built once after the rows are in: one sort instead of a B-tree insert per row
            db.execute(f"DROP INDEX IF EXISTS {_index_name(store, name)}")
        for source in sources:
            counts[source.table] = writer(store, source)
        for _, create in indexes:
            db.execute(create)
        if store.dialect == "postgres":
            for source in sources:
                db.execute(f"ANALYZE {db.table(source.table)}")
    return counts


def _index_name(store: SQLStore, name: str) -> str:
    if store.dialect == "postgres":
        from .postgres import quote_ident

        assert store._schema is not None
        return f"{quote_ident(store._schema)}.{name}"
    return name


def _insert_sql(store: SQLStore, source: _Source) -> str:
    columns = ", ".join(source.columns)
    return f"INSERT INTO {store._db.table(source.table)} ({columns}) VALUES ({', '.join('?' * len(source.columns))})"


def _sqlite(store: SQLStore, source: _Source) -> int:
    import sqlite3

    conn: sqlite3.Connection = store._db.conn  # type: ignore[attr-defined]
    sql = _insert_sql(store, source)
    rows = 0
    for batch in source.batches():
        try:
            conn.executemany(sql, zip(*(column.to_pylist() for column in batch.columns), strict=True))
        except sqlite3.IntegrityError as exc:
            raise InvalidTables(f"tables[{source.table!r}]: a key repeats ({exc}); engagekit's tables hold "
                                f"each contact id, event id and (contact, attribute) once") from None
        rows += batch.num_rows
    store._db.writes += 1
    return rows


def _postgres(store: SQLStore, source: _Source) -> int:
    from pyarrow import csv

    db: Any = store._db
    options = csv.WriteOptions(include_header=False, quoting_style="all_valid")  # NULL unquoted, '' quoted
    rows = 0
    with db._connection() as conn, conn.cursor() as cursor:
        cursor.execute("SET LOCAL client_encoding TO 'UTF8'")  # Arrow writes UTF-8
        with cursor.copy(f"COPY {db.table(source.table)} ({', '.join(source.columns)}) FROM STDIN "
                         "(FORMAT csv)") as copy:
            for batch in source.batches():
                buffer = io.BytesIO()
                csv.write_csv(batch, buffer, options)
                copy.write(buffer.getbuffer())
                rows += batch.num_rows
    db.writes += 1
    return rows


def _duckdb(store: SQLStore, source: _Source) -> int:
    import pyarrow as pa

    db: Any = store._db
    counted = [0]
    refused: list[InvalidTables] = []

    def counting() -> Iterator[pa.RecordBatch]:
        try:
            for batch in source.batches():
                counted[0] += batch.num_rows
                yield batch
        except InvalidTables as exc:  # DuckDB wraps what its scan raises: keep ours to raise as is
            refused.append(exc)
            raise

    view = f"_engagekit_tables_{next(_views)}"
    db.conn.register(view, pa.RecordBatchReader.from_batches(source.schema, counting()))
    try:
        columns = ", ".join(source.columns)
        db.conn.execute(f"INSERT INTO {db.table(source.table)} ({columns}) SELECT {columns} FROM {view}")
    except Exception:
        if refused:
            raise refused[0] from None
        raise
    finally:
        # in a transaction DuckDB has aborted, unregistering fails too; the view dies with the rollback
        with contextlib.suppress(Exception):
            db.conn.unregister(view)
    db.writes += 1
    return counted[0]


__all__ = ["InvalidTables", "load_tables"]
