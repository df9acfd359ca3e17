"""Results as Arrow tables and pandas frames (extras ``engagekit[parquet]`` and ``engagekit[pandas]``).

pyarrow and pandas are imported only when a table or frame is asked for; without them these
functions raise :class:`~engagekit.errors.MissingExtra` naming the extra to install.

Types: counts are ``int64``; money, ``ano`` and ratios are ``decimal128(38, scale)`` (exact, never
float), the scale being the number of places the values carry (the currency's exponent for money,
2 for ``ano`` and ``change_pct``, 4 for ``share`` and ``engagement_rate``); ``tbo`` is
``duration[s]``; instants are ``timestamp[us, tz=UTC]``. ``None`` is null.

>>> from engagekit.tables import value_counts_table
>>> value_counts_table([("warszawa", 2), ("kraków", 1)]).column("count").to_pylist()
[2, 1]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .errors import InvalidFilter, MissingExtra

if TYPE_CHECKING:
    from .filters import Filter
    from .live import LogEntry
    from .metrics import Metrics
    from .reports import Dashboard
    from .time import Instant

METRIC_FIELDS = ("contacts", "customers", "orders", "revenue", "aov", "acv", "ano", "tbo", "engagement_rate")
# the scale of each decimal column whose places do not depend on the currency
_FIXED_SCALE = {"ano": 2, "engagement_rate": 4, "share": 4, "change_pct": 2}
MEMBER_FIELDS = ("id", "created_at", "status", "email", "phone", "first_name", "last_name", "city", "country",
                 "language", "gender")


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError as err:
        raise MissingExtra("Arrow tables need pyarrow: pip install 'engagekit[parquet]'") from err
    return pyarrow


def to_pandas(table: Any) -> Any:
    """An Arrow table as a pandas DataFrame (decimals stay ``Decimal`` objects, durations ``Timedelta``)."""
    try:
        import pandas  # noqa: F401
    except ImportError as err:
        raise MissingExtra("pandas frames need pandas: pip install 'engagekit[pandas]'") from err
    return table.to_pandas()


def _scale(name: str, values: Sequence[Decimal | None]) -> int:
    if name in _FIXED_SCALE:
        return _FIXED_SCALE[name]
    places = [-int(v.as_tuple().exponent) for v in values if v is not None]
    return max([0, *places]) if places else 2


def _column(pa: Any, name: str, values: Sequence[Any]) -> Any:
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, bool):
        return pa.array(values, type=pa.bool_())
    if isinstance(sample, int):
        return pa.array(values, type=pa.int64())
    if isinstance(sample, Decimal) or (sample is None and (name in _FIXED_SCALE or name in ("revenue", "aov", "acv"))):
        return pa.array(values, type=pa.decimal128(38, _scale(name, values)))
    if isinstance(sample, timedelta) or (sample is None and name == "tbo"):
        return pa.array(values, type=pa.duration("s"))
    return pa.array(values)


def _table(pa: Any, columns: dict[str, Sequence[Any]]) -> Any:
    return pa.table({name: _column(pa, name, values) for name, values in columns.items()})


def metrics_table(metrics: Metrics) -> Any:
    """One row: ``contacts, customers, orders, revenue, aov, acv, ano, tbo, engagement_rate``."""
    pa = _pyarrow()
    return _table(pa, {name: [getattr(metrics, name)] for name in METRIC_FIELDS})


def dashboard_table(dashboard: Dashboard) -> Any:
    """One row per group (engaged, unengaged, blocked): ``group, count, share, count_before, change,
    change_pct`` and every metric of the group."""
    pa = _pyarrow()
    names = list(dashboard.groups)
    groups = [dashboard.groups[g] for g in names]
    columns: dict[str, Sequence[Any]] = {"group": names}
    for name in ("count", "share", "count_before", "change", "change_pct"):
        columns[name] = [getattr(g, name) for g in groups]
    for name in METRIC_FIELDS:
        columns[name] = [getattr(g.metrics, name) for g in groups]
    return _table(pa, columns)


def flows_table(dashboard: Dashboard) -> Any:
    """The dashboard's flows: ``from_state, to_state, count``, one row per pair, in the dashboard's order."""
    pa = _pyarrow()
    pairs = list(dashboard.flows.items())
    return pa.table({
        "from_state": pa.array([f for (f, _), _ in pairs], type=pa.string()),
        "to_state": pa.array([t for (_, t), _ in pairs], type=pa.string()),
        "count": pa.array([n for _, n in pairs], type=pa.int64()),
    })


def value_counts_table(pairs: Iterable[tuple[str, int]]) -> Any:
    """``(label, count)`` pairs of ``store.value_counts`` as a table ``label, count``."""
    pa = _pyarrow()
    rows = list(pairs)
    return pa.table({"label": pa.array([label for label, _ in rows], type=pa.string()),
                     "count": pa.array([n for _, n in rows], type=pa.int64())})


def log_table(entries: Iterable[LogEntry]) -> Any:
    """A membership log: ``segment_id, contact_id, change, at`` (timestamp[us, UTC]) and ``late``."""
    pa = _pyarrow()
    rows = list(entries)
    return pa.table({
        "segment_id": pa.array([e.segment_id for e in rows], type=pa.string()),
        "contact_id": pa.array([e.contact_id for e in rows], type=pa.string()),
        "change": pa.array([e.change for e in rows], type=pa.string()),
        "at": pa.array([e.at for e in rows], type=pa.timestamp("us", tz="UTC")),
        "late": pa.array([e.late for e in rows], type=pa.bool_()),
    })


def members_table(store: Any, filter_or_segment_id: str | Filter, fields: Sequence[str] = MEMBER_FIELDS,
                  at: Instant | None = None) -> Any:
    """The members of a filter or saved segment at ``at``, one row per contact ordered by id, with
    the chosen contact ``fields`` (of :data:`MEMBER_FIELDS`; ``created_at`` is timestamp[us, UTC],
    the rest strings).

    A DuckDB store hands the table over from DuckDB's own Arrow export: one query selects the
    fields of the member ids, with no Python loop over rows. A PostgreSQL store streams the rows
    with ``COPY … TO STDOUT (FORMAT CSV)`` and pyarrow's CSV reader (C++) builds the columns (see
    :func:`_postgres_members` for why CSV rather than BINARY). Memory and SQLite stores build it
    from ``store.members`` and ``store.contact(id)``.
    """
    pa = _pyarrow()
    unknown = [f for f in fields if f not in MEMBER_FIELDS]
    if unknown or not fields:
        raise InvalidFilter(f"fields: {unknown or list(fields)!r} not among {', '.join(MEMBER_FIELDS)}")
    flt = store._segment_or_filter(filter_or_segment_id, "filter")
    schema = pa.schema([pa.field(f, pa.timestamp("us", tz="UTC") if f == "created_at" else pa.string())
                        for f in fields])
    from .stores.sql.duckdb import DuckDBStore
    from .stores.sql.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        return _postgres_members(pa, store, flt, fields=fields, at=at, schema=schema)
    if isinstance(store, DuckDBStore):
        sql, params = store.sql(flt, at=at)
        columns = ", ".join("created_us AS created_at" if f == "created_at" else f for f in fields)
        query = (f"SELECT {columns} FROM {store._db.table('contacts')} "
                 f"WHERE id IN (SELECT id FROM ({sql}) AS m) ORDER BY id")
        relation = store._db.conn.sql(query, params=params or None)
        # DuckDB 2.x names it to_arrow_table, 1.x fetch_arrow_table / arrow
        fetch: Any = getattr(relation, "to_arrow_table", None) or getattr(relation, "fetch_arrow_table", None)
        table = fetch() if fetch is not None else relation.arrow()
        if "created_at" in fields:  # stored as microseconds since the epoch
            i = table.schema.get_field_index("created_at")
            table = table.set_column(i, "created_at", table.column(i).cast(pa.int64()).cast(schema.field(i).type))
        return table.cast(schema)
    contacts = [store.contact(cid) for cid in sorted(store.members(flt, at=at))]
    rows = [c for c in contacts if c is not None]
    return pa.table({f: pa.array([getattr(c, f) for c in rows], type=schema.field(f).type) for f in fields},
                    schema=schema)


# a per-transaction name: the temporary table dies at commit (ON COMMIT DROP)
_PG_MEMBERS = "engagekit_members_table"


def _postgres_members(pa: Any, store: Any, flt: Filter, *, fields: Sequence[str], at: Instant | None,
                      schema: Any) -> Any:
    """Members of a PostgreSQL store as Arrow, decoded by pyarrow's C++ CSV reader.

    Inside one transaction, an ``INSERT … SELECT`` with the filter's bound parameters puts the
    member ids in a temporary table; then ``COPY (SELECT fields … ORDER BY id) TO STDOUT (FORMAT
    CSV, FORCE_QUOTE *)`` streams the rows, which are joined into one buffer and parsed by
    ``pyarrow.csv`` with every column's type given. With ``FORCE_QUOTE *`` every value is quoted
    and NULL is the only unquoted empty field, so ``quoted_strings_can_be_null=False`` keeps
    ``""`` apart from ``None``.

    Why not ``FORMAT BINARY``: neither pyarrow nor psycopg decodes PostgreSQL's binary COPY stream
    into columns. Its fields are length-prefixed one after the other, so finding where row *n*
    starts needs every earlier row: decoding it in Python is a loop over rows and fields.
    psycopg's own decoder (``Copy.rows()``) returns one Python tuple per row. CSV is the format a
    C++ reader turns into Arrow columns directly. Why a temporary table: ``COPY`` takes no bound
    parameters (psycopg would quote the values into the SQL text client-side), and the member query
    needs them; ``INSERT`` takes them.

    What stays a Python loop: libpq hands ``COPY`` data over one row per message, and psycopg's
    ``Copy`` iterates those messages in Python; each step only passes a buffer along (no decoding,
    no Python object per value).
    """
    from pyarrow import csv

    sql, params = store.sql(flt, at=at)
    db = store._db
    contacts = db.table("contacts")
    columns = ", ".join("c.created_us" if f == "created_at" else f"c.{f}" for f in fields)
    with db.transaction(), db._connection() as conn:
        conn.execute(f'CREATE TEMPORARY TABLE {_PG_MEMBERS} (id TEXT COLLATE "C" PRIMARY KEY) ON COMMIT DROP')
        conn.execute(f"INSERT INTO {_PG_MEMBERS} (id) SELECT id FROM ({sql}) AS m", params or None)
        copy_sql = (f"COPY (SELECT {columns} FROM {contacts} AS c JOIN {_PG_MEMBERS} AS m ON c.id = m.id "
                    f"ORDER BY c.id) TO STDOUT (FORMAT CSV, FORCE_QUOTE *)")
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            data = b"".join(copy)
        conn.execute(f"DROP TABLE {_PG_MEMBERS}")
    if not data:
        return schema.empty_table()
    types = {f: pa.int64() if f == "created_at" else pa.string() for f in fields}
    table = csv.read_csv(
        pa.py_buffer(data),
        read_options=csv.ReadOptions(column_names=list(fields)),
        parse_options=csv.ParseOptions(newlines_in_values=True),
        convert_options=csv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=True,
                                           quoted_strings_can_be_null=False))
    if "created_at" in fields:
        i = table.schema.get_field_index("created_at")
        table = table.set_column(i, "created_at", table.column(i).cast(schema.field(i).type))
    return table.cast(schema)


__all__ = ["MEMBER_FIELDS", "METRIC_FIELDS", "dashboard_table", "flows_table", "log_table", "members_table",
           "metrics_table", "to_pandas", "value_counts_table"]
