"""SparkStore: engagekit on Apache Spark (extra ``engagekit[spark]``, PySpark ≥ 3.5).

The store answers every question with the one SQL compiler (``stores/sql/compiler.py``): its
sqlglot trees are rendered in sqlglot's ``spark`` dialect and run through ``spark.sql(query,
args=…)``, every user value a bound parameter marker (``:p0`` named, ``?`` positional; PySpark 3.4
and 3.5 added them). The tables are the shared SQL store's (``stores/sql/schema.py``), created in
one Spark database as Parquet tables; the event tables are partitioned by event ``type``, which
every event question filters on, so Spark reads only the partitions a question names.

Parquet tables have no transactions, no ``UPDATE`` and no ``DELETE``. So:

- a batch of events is validated in Python first, deduplicated against the stored ids with one
  query, then appended with one write per table — ``items`` and ``item_categories`` first and
  ``events`` last: ``events`` is the record of what is stored, and a retry of an interrupted batch
  first removes the item rows it had left behind (see :meth:`SparkStore._known_event_ids`);
- a change to stored rows (updating a contact, erasing one, editing a segment) rewrites the table:
  the rows that stay are read into Spark's block manager (``localCheckpoint``) and written back with
  ``INSERT OVERWRITE``. The rewrite of one table is atomic only as far as Spark's file commit is.

See ``docs/spark.md`` for the layout, the consistency caveats and how a dashboard runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlglot
from sqlglot import exp

from engagekit.errors import EngagekitError, InvalidTables, StoreUnavailable
from engagekit.model import Contact, Event
from engagekit.stores.segments import SegmentStorage, SQLSegmentStorage
from engagekit.stores.sql.compiler import coalesce, not_
from engagekit.stores.sql.db import Database, Params, TransactionDepth
from engagekit.stores.sql.schema import (
    BIGINT,
    BOOL,
    CONTACT_TABLES,
    DOUBLE,
    EVENT_TABLES,
    INT,
    SCHEMA_VERSION,
    TABLES,
    contact_rows,
    event_rows,
    open_schema,
)
from engagekit.stores.sql.store import SQLStore
from engagekit.time import Clock

try:
    import pyspark
except ImportError:  # pragma: no cover - depends on the environment
    pyspark = None  # type: ignore[assignment]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_INSERT = re.compile(r"\s*INSERT\s+INTO\s+(\S+)\s*\(([^)]*)\)\s*VALUES", re.IGNORECASE)
_SPARK_TYPES = {BIGINT: "BIGINT", INT: "INT", DOUBLE: "DOUBLE", BOOL: "BOOLEAN"}

# Event tables are partitioned by type: every event question names its types (``type = 'order'``,
# ``type IN (…)``), so Spark prunes whole directories before reading a file.
PARTITIONS: dict[str, tuple[str, ...]] = {"events": ("type",), "items": ("type",), "item_categories": ("type",)}

SEGMENT_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "segments": (("id", "STRING"), ("seq", "BIGINT"), ("name", "STRING"), ("filter_json", "STRING"),
                 ("created_us", "BIGINT"), ("updated_us", "BIGINT"), ("active", "INT"),
                 ("last_generated_us", "BIGINT"), ("member_count", "BIGINT")),
    "campaigns": (("id", "STRING"), ("segment_id", "STRING"), ("kind", "STRING"), ("active", "INT")),
    "membership_log": (("segment_id", "STRING"), ("contact_id", "STRING"), ("change_kind", "STRING"),
                       ("at_us", "BIGINT"), ("late", "INT")),
}


class InvalidDatabaseName(EngagekitError, ValueError):
    """A Spark database name that is not a plain identifier."""


def quote(name: str) -> str:
    """A Spark SQL identifier in backticks (sqlglot doubles a backtick inside)."""
    return str(exp.to_identifier(name, quoted=True).sql(dialect="spark"))


def name_qmarks(sql: str, params: Sequence[object]) -> tuple[str, dict[str, object]]:
    """``?`` placeholders (outside quotes) to named markers ``:q0``, ``:q1``… and their values.

    Named markers survive the statement rewrites below (an ``UPDATE`` repeats its condition).

    >>> name_qmarks("SELECT '?' FROM t WHERE a = ? AND b = ?", [1, "x"])
    ("SELECT '?' FROM t WHERE a = :q0 AND b = :q1", {'q0': 1, 'q1': 'x'})
    """
    out: list[str] = []
    quote_char: str | None = None
    n = 0
    for ch in sql:
        if quote_char is not None:
            quote_char = None if ch == quote_char else quote_char
            out.append(ch)
        elif ch in ("'", '"', "`"):
            quote_char = ch
            out.append(ch)
        elif ch == "?":
            out.append(f":q{n}")
            n += 1
        else:
            out.append(ch)
    if n != len(params):
        raise ValueError(f"params: the statement has {n} placeholders, got {len(params)} values")
    return "".join(out), {f"q{i}": value for i, value in enumerate(params)}


class SparkDatabase(Database):
    """The store's tables in one Spark database, through a caller's ``SparkSession``.

    ``DELETE`` and ``UPDATE`` (which Parquet tables lack) are rewritten into a rewrite of the table:
    ``SELECT`` the rows as they should be, checkpoint them, ``INSERT OVERWRITE`` the table.
    """

    dialect = "spark"

    def __init__(self, spark: Any, database: str) -> None:
        if pyspark is None:
            raise StoreUnavailable("SparkStore needs PySpark: pip install 'engagekit[spark]'")
        if not isinstance(database, str) or not _NAME.fullmatch(database):
            raise InvalidDatabaseName(
                f"database: expected a plain identifier (letters, digits, '_'; not starting with a digit), "
                f"got {database!r}")
        self.spark = spark
        self.database = database
        self._depth = TransactionDepth()

    def table(self, name: str) -> str:
        return f"{quote(self.database)}.{quote(name)}"

    def _sql(self, sql: str, args: Mapping[str, object] | None = None) -> Any:
        return self.spark.sql(sql, args=dict(args)) if args else self.spark.sql(sql)

    def execute(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        if isinstance(params, Mapping):
            args = dict(params)
        else:
            sql, args = name_qmarks(sql, params)
        head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if head in ("DELETE", "UPDATE"):
            self._rewrite(sql, args)
            return []
        df = self._sql(sql, args)
        if head not in ("SELECT", "WITH", "("):
            return []  # a command, which ran when spark.sql returned
        return [tuple(row) for row in df.collect()]

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """``INSERT INTO t (columns) VALUES (?, …)`` for many rows: one append of all of them."""
        match = _INSERT.match(sql)
        if match is None:
            for row in rows:
                self.execute(sql, row)
            return
        table, columns = match.group(1), [c.strip() for c in match.group(2).split(",")]
        self.append(table, columns, [tuple(r) for r in rows])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # Spark has no transactions: a store writes each batch as whole-table appends or rewrites,
        # ordered so that an interrupted batch can be retried (see the module docstring).
        with self._depth.nest(lambda: None, lambda: None, lambda: None):
            yield

    def has_table(self, name: str) -> bool:
        return bool(self.spark.catalog.tableExists(f"{self.database}.{name}"))

    def change_token(self) -> object | None:
        """The data files of the store's contact and event tables.

        A Parquet table changes only by gaining files (an append) or by having them replaced (an
        overwrite), and a query reads the files this session lists for the table; so while the lists
        stay the same, a dashboard grid computed earlier still holds (four views cost one statement).
        Listing is driver-side metadata, no Spark job. Files written by another application are seen
        after ``REFRESH TABLE``, by the queries and by this token alike.
        """
        return tuple(tuple(sorted(self.spark.table(self.table(name)).inputFiles()))
                     for name in (*CONTACT_TABLES, *EVENT_TABLES))

    def close(self) -> None:
        """The session is the caller's: nothing to close."""

    def describe(self) -> str:
        return f"Spark database {self.database!r}"

    # --- writing ---------------------------------------------------------------------------------

    def frame(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> Any:
        """A DataFrame of these rows with the table's column types (through Arrow when at hand)."""
        from pyspark.sql.types import StructType

        schema = self.spark.table(table).schema
        fields = {f.name: f for f in schema.fields}
        struct = StructType([fields[c] for c in columns])
        try:
            import pyarrow as pa
            from pyspark.sql.pandas.types import to_arrow_schema
        except ImportError:  # pragma: no cover - pyarrow comes with the duckdb/parquet extras
            return self.spark.createDataFrame(rows, struct)
        data = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
        arrow_schema = to_arrow_schema(struct)
        arrow = pa.table({c: pa.array(values, type=arrow_schema.field(c).type)
                          for c, values in zip(columns, data, strict=True)}, schema=arrow_schema)
        try:
            return self.spark.createDataFrame(arrow, struct)
        except TypeError:  # PySpark < 4 takes pandas, not Arrow tables
            return self.spark.createDataFrame(arrow.to_pandas(), struct)

    def append(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """Append rows (one Spark write); columns not named are NULL."""
        if rows:
            self.append_frame(table, self.frame(table, columns, rows))

    def append_frame(self, table: str, df: Any) -> None:
        """Append a DataFrame whose columns are some of the table's (matched by name)."""
        from pyspark.sql import functions as F

        target = self.spark.table(table).schema
        have = set(df.columns)
        df = df.select(*[F.col(f.name).cast(f.dataType) if f.name in have else
                         F.lit(None).cast(f.dataType).alias(f.name) for f in target.fields])
        df.write.insertInto(table, overwrite=False)

    def overwrite(self, table: str, df: Any) -> None:
        """Replace a table's rows by a DataFrame's (which may read the table itself)."""
        # The checkpoint cuts the DataFrame loose from the files it read, which the overwrite deletes.
        kept = df.localCheckpoint(eager=True)
        kept.write.option("partitionOverwriteMode", "static").insertInto(table, overwrite=True)

    def _rewrite(self, sql: str, args: dict[str, object]) -> None:
        tree = sqlglot.parse_one(sql, read="spark")
        where = tree.args.get("where")
        hit: exp.Expr = coalesce(exp.Paren(this=where.this), exp.false()) if where is not None else exp.true()
        table = tree.this
        name = table.sql(dialect="spark")
        if isinstance(tree, exp.Delete):
            select = exp.select("*").from_(table.copy()).where(not_(hit))
        elif isinstance(tree, exp.Update):
            sets = {e.this.name: e.expression for e in tree.expressions}
            columns = self.spark.table(name).columns
            select = exp.select(*[
                exp.alias_(exp.Case(ifs=[exp.If(this=hit.copy(), true=sets[c].copy())],
                                    default=exp.column(c)), c) if c in sets else exp.column(c)
                for c in columns]).from_(table.copy())
        else:  # pragma: no cover - execute() only routes DELETE and UPDATE here
            raise ValueError(f"cannot rewrite {sql!r}")
        self.overwrite(name, self._sql(select.sql(dialect="spark"), args))


def spark_session() -> Any:
    """The active ``SparkSession`` (under spark-submit or in a notebook), else a new local one."""
    if pyspark is None:
        raise StoreUnavailable("SparkStore needs PySpark: pip install 'engagekit[spark]'")
    from pyspark.sql import SparkSession

    return SparkSession.builder.getOrCreate()


class SparkSegmentStorage(SQLSegmentStorage):
    """Segments, campaigns and the membership log as three Parquet tables of the store's database."""

    def __init__(self, db: SparkDatabase) -> None:
        self.db = db  # type: ignore[assignment]  # executemany takes a Sequence (it counts the rows)
        self.segments, self.campaigns_table, self.log = (
            db.table(n) for n in ("segments", "campaigns", "membership_log"))
        for name, columns in SEGMENT_TABLES.items():
            cols = ", ".join(f"{c} {kind}" for c, kind in columns)
            db.execute(f"CREATE TABLE IF NOT EXISTS {db.table(name)} ({cols}) USING parquet")

    def set_generated(self, updates: Sequence[tuple[str, int, int]]) -> None:
        # one rewrite of the table for all updates, not one per segment
        if not updates:
            return
        ids = [u[0] for u in updates]
        marks = ", ".join("?" * len(ids))
        generated = " ".join("WHEN ? THEN ?" for _ in updates)
        self.db.execute(
            f"UPDATE {self.segments} SET last_generated_us = CASE id {generated} END, "
            f"member_count = CASE id {generated} END WHERE id IN ({marks})",
            [*[v for s, at, _ in updates for v in (s, at)], *[v for s, _, n in updates for v in (s, n)], *ids])

    def delete_log(self, rows: Sequence[tuple[str, str, str, int, bool]]) -> None:
        if not rows:
            return
        condition = " OR ".join("(segment_id = ? AND contact_id = ? AND at_us = ? AND change_kind = ?)"
                                for _ in rows)
        self.db.execute(f"DELETE FROM {self.log} WHERE {condition}",
                        [v for s, c, change, at, _ in rows for v in (s, c, at, change)])


class SparkStore(SQLStore):
    """A store in one database of Apache Spark, reached through a ``SparkSession`` you manage.

    ``SparkStore(spark, database="engagekit", currency="PLN")`` creates the database and its Parquet
    tables when missing, or checks the schema version and currency of existing ones. The session
    stays yours (``close()`` leaves it running); ``drop()`` removes the database and its data.

    >>> from pyspark.sql import SparkSession                                  # doctest: +SKIP
    >>> spark = SparkSession.builder.master("local[2]").getOrCreate()          # doctest: +SKIP
    >>> store = SparkStore(spark, database="shop", currency="PLN")            # doctest: +SKIP
    >>> store.count(tag("vip"))                                               # doctest: +SKIP
    0
    """

    _db: SparkDatabase

    def __init__(self, spark: Any, *, database: str = "engagekit", currency: str,
                 clock: Clock | None = None) -> None:
        super().__init__(currency=currency, clock=clock)
        self._prefetched = {}
        self._db = SparkDatabase(spark, database)
        self._schema = database
        self._orphans: set[str] = set()
        db = self._db
        db.execute(f"CREATE DATABASE IF NOT EXISTS {quote(database)}")
        if db.has_table("meta"):
            open_schema(db, self.currency)  # checks the version and currency
            return
        for table, columns in TABLES.items():
            cols = ", ".join(f"{name} {_SPARK_TYPES.get(kind, 'STRING')}" for name, kind in columns)
            parts = PARTITIONS.get(table)
            partitioned = f" PARTITIONED BY ({', '.join(parts)})" if parts else ""
            db.execute(f"CREATE TABLE IF NOT EXISTS {db.table(table)} ({cols}) USING parquet{partitioned}")
        # meta last: a database with a meta table is complete
        db.append(db.table("meta"), ["key", "value"], [("schema_version", SCHEMA_VERSION),
                                                        ("currency", self.currency)])

    @property
    def database(self) -> str:
        return self._db.database

    @property
    def spark(self) -> Any:
        return self._db.spark

    def drop(self) -> None:
        """Drop the store's database with every table in it (the data is gone)."""
        self._db.execute(f"DROP DATABASE IF EXISTS {quote(self._db.database)} CASCADE")

    def _make_segment_storage(self) -> SegmentStorage:
        return SparkSegmentStorage(self._db)

    # --- ingestion -------------------------------------------------------------------------------

    def _ids_frame(self, ids: Sequence[str]) -> Any:
        from pyspark.sql.types import StringType, StructField, StructType

        return self.spark.createDataFrame([(i,) for i in ids], StructType([StructField("id", StringType())]))

    def _insert(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self._db.append(self._db.table(table), [name for name, _ in TABLES[table]], rows)

    def _existing(self, table: str, column: str, ids: Sequence[str]) -> set[str]:
        from pyspark.sql import functions as F

        if not ids:
            return set()
        stored = self.spark.table(self._db.table(table)).select(F.col(column).alias("_k"))
        asked = self._ids_frame(ids)
        return {r[0] for r in asked.join(stored, asked["id"] == stored["_k"], "left_semi").collect()}

    def _delete_contacts(self, ids: Sequence[str], tables: Sequence[str]) -> int:
        """Rewrite each table without these contacts' rows (one rewrite per table)."""
        deleted = 0
        gone = self._ids_frame(ids).withColumnRenamed("id", "_gone")
        for table in tables:
            column = "id" if table == "contacts" else "contact_id"
            name = self._db.table(table)
            rows = self.spark.table(name)
            if table == "contacts":
                deleted = rows.join(gone, rows[column] == gone["_gone"], "left_semi").count()
            self._db.overwrite(name, rows.join(gone, rows[column] == gone["_gone"], "left_anti"))
        return deleted

    def _store_contacts(self, contacts: list[Contact]) -> tuple[int, int]:
        ids = [c.id for c in contacts]
        existing = self._existing("contacts", "id", ids)
        if existing:
            self._delete_contacts(sorted(existing), CONTACT_TABLES)
        rows = contact_rows(contacts)
        # contacts last: a contact row is the record that the contact (and its tags/attributes) is stored
        for table in (*CONTACT_TABLES[1:], CONTACT_TABLES[0]):
            self._insert(table, rows[table])
        return len(ids) - len(existing), len(existing)

    def _known_event_ids(self, ids: list[str]) -> set[str]:
        """Stored event ids among ``ids`` (one query), noting item rows an interrupted batch left."""
        from pyspark.sql import functions as F

        asked = self._ids_frame(ids)
        events = self.spark.table(self._db.table("events")).select(F.col("id").alias("k"), F.lit(1).alias("e"))
        items = self.spark.table(self._db.table("items")).select(F.col("event_id").alias("k"), F.lit(0).alias("e"))
        both = events.unionByName(items)
        found = both.join(asked, both["k"] == asked["id"], "left_semi").groupBy("k").agg(F.max("e").alias("e"))
        known: set[str] = set()
        self._orphans = set()
        for key, stored in found.collect():
            (known if stored else self._orphans).add(key)
        return known

    def _store_events(self, events: list[Event]) -> None:
        orphans = sorted(self._orphans & {e.id for e in events})
        self._orphans = set()
        if orphans:  # item rows of an interrupted batch whose events row was never written
            gone = self._ids_frame(orphans).withColumnRenamed("id", "_gone")
            for table in ("items", "item_categories"):
                name = self._db.table(table)
                rows = self.spark.table(name)
                self._db.overwrite(name, rows.join(gone, rows["event_id"] == gone["_gone"], "left_anti"))
        rows = event_rows(events, self.currency)
        for table in (*EVENT_TABLES[1:], EVENT_TABLES[0]):  # events last: the record of what is stored
            self._insert(table, rows[table])

    def _erase(self, contact_id: str) -> bool:
        found = bool(self._existing("contacts", "id", [contact_id]))
        found = found or bool(self._db.execute(
            f"SELECT 1 FROM {self._db.table('events')} WHERE contact_id = ? LIMIT 1", [contact_id]))
        self._delete_contacts([contact_id], (*EVENT_TABLES, *CONTACT_TABLES))
        return found

    # --- bulk loading ----------------------------------------------------------------------------

    def load_tables(self, tables: Mapping[str, Any]) -> dict[str, int]:
        """Append whole tables in engagekit's layout: Spark DataFrames or Parquet paths, by table name.

        This is the fast path for big shops: rows travel from Parquet (or a DataFrame) straight into
        the store's tables, with no row passing through Python. It trusts the rows as engagekit wrote
        them (e.g. ``COPY events TO 'events.parquet'`` from a :class:`DuckDBStore` that validated
        them), so it only loads into a store without contacts and events. Returns rows per table.
        """
        unknown = sorted(set(tables) - set(CONTACT_TABLES) - set(EVENT_TABLES))
        if unknown:
            raise InvalidTables(f"tables: no table {unknown[0]!r}; expected some of "
                             f"{', '.join((*CONTACT_TABLES, *EVENT_TABLES))}")
        for table in ("contacts", "events"):
            if self._db.execute(f"SELECT 1 FROM {self._db.table(table)} LIMIT 1"):
                raise InvalidTables(f"tables: {self.database!r} already holds {table}; load_tables only "
                                 f"fills an empty store (add_contacts/add_events merge)")
        counts: dict[str, int] = {}
        order = (*CONTACT_TABLES[1:], CONTACT_TABLES[0], *EVENT_TABLES[1:], EVENT_TABLES[0])
        for table in order:
            if table not in tables:
                continue
            source = tables[table]
            df = self.spark.read.parquet(os.fspath(source)) if isinstance(source, (str, os.PathLike)) \
                else source
            df = df.select(*[name for name, _ in TABLES[table]])
            self._db.append_frame(self._db.table(table), df)
            counts[table] = int(self.spark.table(self._db.table(table)).count())
        return counts


__all__ = ["InvalidDatabaseName", "SparkDatabase", "SparkSegmentStorage", "SparkStore", "name_qmarks",
           "spark_session"]
