"""Events from Arrow or Parquet, checked and loaded inside DuckDB (issue #3: millions of events a minute).

``DuckDBStore.add_events(events)`` builds one :class:`~engagekit.Event` per record, which caps a load
at tens of thousands of events a second. :func:`load_arrow` takes the same events as columns — a
``pyarrow`` Table, a RecordBatchReader or a Parquet file in the *flat event layout* below — and lets
DuckDB check and copy them with a handful of set-based statements.

The flat event layout: one row per event, one column per :class:`~engagekit.Event` field —
``id``, ``contact_id``, ``type``, ``at`` (a timestamp with a time zone, or ISO-8601 text),
``product_id``, ``categories`` (list of strings), ``order_id``, ``value`` (decimal, integer or text),
``currency``, ``items`` (list of structs with ``product_id``, ``categories``, ``quantity``, ``price``),
``campaign_id``, ``url``, ``form_id``. A column may be missing (all null); a null cell is a field
left out (an item's null ``quantity`` / ``price`` take the Item defaults 1 and 0); an empty list is
no categories / no items. A column outside the layout, or of another type, refuses the whole table
before a row is read (:func:`layout`). A timestamp outside the years 1 to 9999, which no ``datetime``
(so no record) can hold, is refused with a message of its own.

Every row means the record :func:`event_records` makes of it, and gets exactly what
``add_events`` of that record gets (rejection, duplicate, stored rows). Three rules keep that true:

- DuckDB decides per row only *whether* it is valid, with the rules of ``Event`` and
  ``Event.check_currency`` written as one SQL predicate (required and forbidden fields per type,
  non-empty identifiers without NUL, quantities, the currency).
- What SQL cannot state faithfully is decided in Python on the DISTINCT values only, which are few:
  ISO text instants (dateutil), amounts (``money.to_decimal``, places, 64-bit minor units, an item
  price's text ``str(Decimal)``) and categories (NUL, ``text.norm_key``).
- An invalid row is rebuilt as its record and refused by the model itself, so the rejection names
  the same index, id, field and value as ``add_events`` would.

>>> import pyarrow as pa
>>> from engagekit.stores.sql.duckdb import DuckDBStore
>>> events = pa.table({"id": ["e1", "e2", "e1"], "contact_id": ["c1", "c1", "c1"],
...                    "type": ["email_open", "email_open", "email_open"], "campaign_id": ["k1", "", "k1"],
...                    "at": ["2026-01-01T10:00:00+01:00"] * 3})
>>> with DuckDBStore(":memory:", currency="PLN") as store:
...     report = store.add_events_arrow(events, on_invalid="skip")
>>> report.added, report.duplicates, [(r.index, r.field) for r in report.rejected]
(1, 1, [(1, 'campaign_id')])
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from engagekit.errors import EngagekitError, InvalidEvent, InvalidInstant
from engagekit.model import MAX_QUANTITY
from engagekit.money import exponent, fits_minor, places, to_decimal, to_minor
from engagekit.reports import LoadReport, Rejection
from engagekit.text import norm_key, text_problem
from engagekit.time import MIN_MICROS, instant, to_micros

if TYPE_CHECKING:
    from engagekit.stores.base import OnInvalid
    from engagekit.stores.sql.duckdb import DuckDBStore

COLUMNS = ("id", "contact_id", "type", "at", "product_id", "categories", "order_id", "value", "currency",
           "items", "campaign_id", "url", "form_id")
"""The columns of the flat event layout, in order."""
ITEM_FIELDS = ("product_id", "categories", "quantity", "price")
_TEXT = ("id", "contact_id", "type", "product_id", "order_id", "currency", "campaign_id", "url", "form_id")
_IDX = "_engagekit_row"  # the row's index in the batch, added while reading
MAX_MICROS = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z: the last instant a datetime holds
BATCH_ROWS = 1 << 17
# str.strip()'s whitespace (str.isspace), for RE2: a url that is only this is a missing url (clean_text)
_BLANK = "[" + "".join(f"\\x{{{i:x}}}" for i in range(sys.maxunicode + 1) if chr(i).isspace()) + "]*"
_counter = itertools.count()


# --- the layout ----------------------------------------------------------------------------------

@attrs.frozen
class _Layout:
    """What a batch's schema holds: the columns present and how ``at`` and items are typed."""

    names: frozenset[str]
    at: str  # "tz" (timestamp with a time zone), "naive", "text" or "none"
    item_fields: frozenset[str]
    quantity_int: bool


def _is_text(t: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return _is_text(t.value_type)
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)
                or getattr(pa.types, "is_string_view", lambda _: False)(t))


def _is_list_of(t: Any, inner: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_null(t):
        return True
    return bool((pa.types.is_list(t) or pa.types.is_large_list(t)) and inner(t.value_type))


def _is_amount(t: Any) -> bool:
    import pyarrow as pa

    return bool(_is_text(t) or pa.types.is_integer(t) or pa.types.is_floating(t)
                or pa.types.is_decimal128(t))


def layout(schema: Any) -> _Layout:
    """Check a schema against the flat event layout; an unknown column or type raises InvalidEvent.

    >>> import pyarrow as pa
    >>> layout(pa.schema([("id", pa.string()), ("at", pa.timestamp("us", tz="UTC"))])).at
    'tz'
    >>> layout(pa.schema([("value", pa.float32()), ("colour", pa.string())]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    engagekit.errors.InvalidEvent: colour: unknown event column (the flat event layout has id, ...)
    """
    import pyarrow as pa

    def refuse(name: str, expected: str, got: Any) -> InvalidEvent:
        return InvalidEvent(f"{name}: expected {expected} column, got {got}")

    at, item_fields, quantity_int = "none", frozenset[str](), True
    for field in schema:
        name, t = field.name, field.type
        if name not in COLUMNS:
            raise InvalidEvent(f"{name}: unknown event column (the flat event layout has {', '.join(COLUMNS)})")
        if name in _TEXT and not _is_text(t):
            raise refuse(name, "a string", t)
        if name == "at":
            if pa.types.is_timestamp(t):
                at = "tz" if t.tz else "naive"
            elif _is_text(t) and not pa.types.is_null(t):
                at = "text"
            elif not pa.types.is_null(t):
                raise refuse(name, "a timestamp or ISO-8601 string", t)
        if name == "categories" and not _is_list_of(t, _is_text):
            raise refuse(name, "a list of strings", t)
        if name == "value" and not _is_amount(t):
            raise refuse(name, "a decimal, integer or string", t)
        if name == "items":
            if not _is_list_of(t, pa.types.is_struct):
                raise refuse(name, "a list of structs", t)
            if pa.types.is_null(t):
                continue
            struct = t.value_type
            for i in range(struct.num_fields):
                sub = struct.field(i)
                checks = {"product_id": _is_text, "categories": lambda x: _is_list_of(x, _is_text),
                          "quantity": lambda x: True, "price": _is_amount}
                if sub.name not in checks:
                    raise InvalidEvent(f"items.{sub.name}: unknown item field (items have "
                                       f"{', '.join(ITEM_FIELDS)})")
                if not checks[sub.name](sub.type):
                    raise refuse(f"items.{sub.name}", "a valid", sub.type)
            item_fields = frozenset(struct.field(i).name for i in range(struct.num_fields)
                                    if not pa.types.is_null(struct.field(i).type))
            if "quantity" in item_fields:
                quantity_int = pa.types.is_integer(struct.field("quantity").type)
    # a column of Arrow's null type holds nothing: it is staged as a typed NULL, like a missing one
    present = frozenset(field.name for field in schema if not pa.types.is_null(field.type))
    return _Layout(present, at, item_fields, quantity_int)


# --- reading -------------------------------------------------------------------------------------

def _reader(data: object) -> Any:
    """A RecordBatchReader over ``data``: a Table, a RecordBatch, a RecordBatchReader or a Parquet path."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return pa.RecordBatchReader.from_batches(data.schema, data.to_batches(max_chunksize=BATCH_ROWS))
    if isinstance(data, pa.RecordBatch):
        return pa.RecordBatchReader.from_batches(data.schema, [data])
    if isinstance(data, pa.RecordBatchReader):
        return data
    if isinstance(data, (str, os.PathLike)):
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(os.fspath(data), pre_buffer=False)  # see io.formats: bounded memory
        except (OSError, pa.ArrowException) as exc:
            raise InvalidEvent(f"data: {os.fspath(data)!r} is not a readable Parquet file ({exc})") from None
        return pa.RecordBatchReader.from_batches(parquet.schema_arrow, parquet.iter_batches(batch_size=BATCH_ROWS))
    raise InvalidEvent(f"data: expected a pyarrow Table, RecordBatchReader or a Parquet path, "
                       f"got {type(data).__name__}")


_NANOSECONDS = "at: an instant has nanoseconds; stores keep microseconds (round the column to microseconds first)"


def _prepared(reader: Any, failures: list[InvalidEvent] | None = None) -> tuple[Any, Iterator[Any]]:
    """The reader's schema and batches with the row index added, and nanosecond instants in µs.

    A nanosecond that does not fit a microsecond raises InvalidEvent: stores keep microseconds. (It is
    also put in ``failures``: DuckDB, reading the batches, wraps what they raise in its own error.)
    """
    import pyarrow as pa

    schema = reader.schema
    at = schema.field("at").type if "at" in schema.names else pa.null()
    narrow = pa.types.is_timestamp(at) and at.unit == "ns"
    fields = [pa.field("at", pa.timestamp("us", tz=at.tz)) if narrow and f.name == "at" else f for f in schema]
    out_schema = pa.schema([*fields, pa.field(_IDX, pa.int64())])

    def batches() -> Iterator[Any]:
        offset = 0
        for batch in reader:
            columns = list(batch.columns)
            if narrow:
                position = batch.schema.get_field_index("at")
                try:
                    columns[position] = columns[position].cast(out_schema.field("at").type)
                except pa.ArrowInvalid:
                    failure = InvalidEvent(_NANOSECONDS)
                    if failures is not None:
                        failures.append(failure)
                    raise failure from None
            columns.append(pa.array(range(offset, offset + batch.num_rows), type=pa.int64()))
            offset += batch.num_rows
            yield pa.RecordBatch.from_arrays(columns, schema=out_schema)

    return out_schema, batches()


def _record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The record of one row: null cells left out, lists as tuples, each item as a mapping.

    An item keeps ``product_id`` even when null (so the model names it); its other null fields take
    the Item defaults (quantity 1, price 0).
    """
    record: dict[str, Any] = {}
    for name, cell in row.items():
        if cell is None or name == _IDX:
            continue
        if name == "categories":
            record[name] = tuple(cell)
        elif name == "items":
            record[name] = tuple(None if item is None else _item(item) for item in cell)
        else:
            record[name] = cell
    return record


def _item(item: Mapping[str, Any]) -> dict[str, Any]:
    out = {"product_id": item.get("product_id")}
    for name in ("categories", "quantity", "price"):
        value = item.get(name)
        if value is not None:
            out[name] = tuple(value) if name == "categories" else value
    return out


def event_records(data: object) -> Iterator[dict[str, Any]]:
    """The records the rows of ``data`` (flat event layout) stand for, in order, for ``add_events``.

    This is what :meth:`DuckDBStore.add_events_arrow` means by a row, and what every other store's
    ``add_events_arrow`` stores.

    >>> import pyarrow as pa
    >>> t = pa.table({"id": ["e1"], "type": ["product_view"], "categories": [["a", "b"]],
    ...               "form_id": pa.array([None], pa.string())})
    >>> list(event_records(t))
    [{'id': 'e1', 'type': 'product_view', 'categories': ('a', 'b')}]
    """
    reader = _reader(data)
    layout(reader.schema)
    _, batches = _prepared(reader)
    for batch in batches:
        for row in batch.to_pylist():
            yield _record(row)


# --- loading -------------------------------------------------------------------------------------

def _fetch(conn: Any, sql: str, params: Mapping[str, object] | None = None) -> Any:
    """A query's result as a pyarrow Table (DuckDB 1.x and 2.x name the call differently)."""
    relation = conn.sql(sql, params=dict(params) if params else None)
    to_table = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return to_table()


class _Load:
    """One call of :func:`load_arrow`: temporary tables and views named apart, dropped at the end."""

    def __init__(self, store: DuckDBStore, layout: _Layout) -> None:
        self.store = store
        self.conn = store._db.conn
        self.layout = layout
        self.tag = f"_engagekit_arrow_{next(_counter)}"
        self.tables: list[str] = []
        self.views: list[str] = []
        self.params: dict[str, object] = {"currency": store.currency, "blank": _BLANK}

    def name(self, what: str) -> str:
        return f"{self.tag}_{what}"

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        used = {k: v for k, v in self.params.items() if f"${k}" in sql}
        self.store._db.note(sql)
        rows: list[tuple[Any, ...]] = self.conn.execute(sql, used or None).fetchall()
        return rows

    def table(self, what: str, select: str) -> str:
        name = self.name(what)
        self.tables.append(name)
        self.execute(f"CREATE TEMP TABLE {name} AS {select}")
        return name

    def register(self, what: str, data: Any) -> str:
        name = self.name(what)
        self.conn.register(name, data)
        self.views.append(name)
        return name

    def close(self) -> None:
        for name in self.views:
            self.conn.unregister(name)
        for name in self.tables:
            self.conn.execute(f"DROP TABLE IF EXISTS {name}")


def _col(layout: _Layout, name: str, sql_type: str, *, text: bool) -> str:
    """A staged column; ``text`` ones are cast (a dictionary-encoded Arrow string arrives as an ENUM)."""
    alias = "at_raw" if name == "at" else name  # ``at`` is a keyword in DuckDB
    if name not in layout.names:
        return f"CAST(NULL AS {sql_type}) AS {alias}"
    return f'CAST("{name}" AS {sql_type}) AS {alias}' if text else f'"{name}" AS {alias}'


def _item_col(layout: _Layout, name: str, sql_type: str, *, text: bool = False) -> str:
    if name not in layout.item_fields:
        return f"CAST(NULL AS {sql_type})"
    return f"CAST(it.{name} AS {sql_type})" if text else f"it.{name}"


def _ident(column: str) -> str:
    """A required identifier: a non-empty string without NUL (``model._identifier``)."""
    return f"({column} IS NOT NULL AND {column} <> '' AND strpos({column}, chr(0)) = 0)"


def _optional(column: str) -> str:
    return f"({column} IS NULL OR ({column} <> '' AND strpos({column}, chr(0)) = 0))"


def _no_list(column: str) -> str:
    return f"({column} IS NULL OR len({column}) = 0)"


def _no_null_element(column: str) -> str:
    return f"({column} IS NULL OR list_aggregate({column}, 'count') = len({column}))"


_PRODUCT = "('product_view', 'add_to_cart')"
_OPTIONAL_COLUMNS = ("product_id", "categories", "order_id", "value", "currency", "items", "campaign_id", "url",
                     "form_id")
# per type: the predicate on the fields it needs; every other optional field must be absent
_TYPE_RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "product_view": (("product_id", "categories"), f"{_ident('s.product_id')} AND {_no_null_element('s.categories')}"),
    "add_to_cart": (("product_id", "categories"), f"{_ident('s.product_id')} AND {_no_null_element('s.categories')}"),
    "order": (("order_id", "value", "currency", "items"),
              f"{_ident('s.order_id')} AND v.out IS NOT NULL AND s.currency IS NOT NULL "
              "AND regexp_full_match(s.currency, '[A-Za-z]{3}') AND upper(s.currency) = $currency"),
    "email_sent": (("campaign_id",), _ident("s.campaign_id")),
    "email_open": (("campaign_id",), _ident("s.campaign_id")),
    "email_click": (("campaign_id", "url"),
                    f"{_ident('s.campaign_id')} AND (s.url IS NULL OR strpos(s.url, chr(0)) = 0)"),
    "hard_bounce": (("campaign_id",), _optional("s.campaign_id")),
    "soft_bounce": (("campaign_id",), _optional("s.campaign_id")),
    "spam_complaint": (("campaign_id",), _optional("s.campaign_id")),
    "subscribe": (("form_id",), _optional("s.form_id")),
    "unsubscribe": (("form_id",), _optional("s.form_id")),
}


def _row_ok(at_ok: str) -> str:
    """The SQL predicate of a valid row (items and categories' text are checked apart)."""
    cases = []
    for kind, (allowed, rule) in _TYPE_RULES.items():
        absent = [_no_list(f"s.{c}") if c in ("categories", "items") else f"s.{c} IS NULL"
                  for c in _OPTIONAL_COLUMNS if c not in allowed]
        cases.append(f"WHEN '{kind}' THEN {rule} AND {' AND '.join(absent)}")
    return (f"COALESCE({_ident('s.id')} AND {_ident('s.contact_id')} AND {at_ok} AND "
            f"CASE s.type {' '.join(cases)} ELSE FALSE END, FALSE)")


def _distinct_map(load: _Load, what: str, sql: str, convert: Any, arrow_type: Any) -> str:
    """Register ``raw → convert(raw)`` over the DISTINCT raw values ``sql`` selects (column ``raw``)."""
    import pyarrow as pa

    distinct = _fetch(load.conn, sql)
    raws = distinct.column("raw")
    mapped = [convert(value) for value in raws.to_pylist()]
    return load.register(what, pa.table({"raw": raws, "out": pa.array(mapped, type=arrow_type)}))


def _minor(currency: str) -> Any:
    digits = exponent(currency)

    def convert(value: object) -> int | None:
        amount = to_decimal(value)
        if amount is None or amount < 0 or places(amount) > digits or not fits_minor(amount, currency):
            return None
        return to_minor(amount, currency)

    return convert


def _price(value: object) -> str | None:
    amount = to_decimal(value)
    return None if amount is None or amount < 0 else str(amount)


def _instant_micros(value: object) -> int | None:
    try:
        return to_micros(instant(value))
    except InvalidInstant:
        return None


def _source(load: _Load, data: object, reader: Any, failures: list[InvalidEvent]) -> str:
    """What the staging statement reads: the rows with their index in column ``_IDX``.

    A Parquet file is read by DuckDB itself (in parallel, its row number as the index) unless its
    instants are nanoseconds; a Table is registered whole; anything else streams batch by batch.
    """
    import numpy as np
    import pyarrow as pa

    at = reader.schema.field("at").type if "at" in reader.schema.names else pa.null()
    nanoseconds = pa.types.is_timestamp(at) and at.unit == "ns"
    if isinstance(data, (str, os.PathLike)) and not nanoseconds:
        load.params["path"] = os.fspath(data)
        return f"(SELECT *, file_row_number AS {_IDX} FROM read_parquet($path, file_row_number = true))"
    if isinstance(data, pa.Table):
        table: Any = data
        if nanoseconds:
            position = table.schema.get_field_index("at")
            try:
                table = table.set_column(position, "at", table.column("at").cast(pa.timestamp("us", tz=at.tz)))
            except pa.ArrowInvalid:
                raise InvalidEvent(_NANOSECONDS) from None
        return load.register("source", table.append_column(_IDX, pa.array(np.arange(table.num_rows, dtype=np.int64))))
    schema, batches = _prepared(reader, failures)
    return load.register("source", pa.RecordBatchReader.from_batches(schema, batches))


def load_arrow(store: DuckDBStore, data: object, *, on_invalid: OnInvalid = "raise") -> LoadReport:
    """Add the events of ``data`` (flat event layout) to a DuckDBStore; see the module docstring."""
    import pyarrow as pa

    from engagekit.stores.base import _check_on_invalid, _raise_if_rejected

    _check_on_invalid(on_invalid)
    reader = _reader(data)
    shape = layout(reader.schema)
    failures: list[InvalidEvent] = []
    load = _Load(store, shape)
    try:
        source = _source(load, data, reader, failures)
        items_type = ("STRUCT(product_id VARCHAR, categories VARCHAR[], quantity BIGINT, price VARCHAR)[]")
        columns = [_col(shape, c, {"categories": "VARCHAR[]", "items": items_type}.get(c, "VARCHAR"),
                        text=c in _TEXT or c == "categories" or (c == "at" and shape.at == "text"))
                   for c in COLUMNS]
        try:
            staged = load.table("in", f"SELECT {_IDX} AS idx, {', '.join(columns)} FROM {source}")
        except Exception:
            if failures:
                raise failures[0] from None
            raise
        total = load.execute(f"SELECT count(*) FROM {staged}")[0][0]
        if not total:
            return LoadReport()

        # instants: µs since the epoch, in SQL for timestamps, in Python for the distinct texts
        at_join = ""
        if shape.at == "tz":
            at_us = "epoch_us(s.at_raw)"
            at_ok = f"(s.at_raw IS NOT NULL AND {at_us} BETWEEN {MIN_MICROS} AND {MAX_MICROS})"
        elif shape.at == "text":
            at_map = _distinct_map(load, "at", f"SELECT DISTINCT at_raw AS raw FROM {staged} WHERE at_raw IS NOT NULL",
                                 _instant_micros, pa.int64())
            at_join, at_us, at_ok = f"LEFT JOIN {at_map} a ON a.raw = s.at_raw", "a.out", "a.out IS NOT NULL"
        else:  # naive or no instants: every row is refused, the model says why
            at_us, at_ok = "CAST(NULL AS BIGINT)", "FALSE"

        value_map = _distinct_map(load, "value", f"SELECT DISTINCT value AS raw FROM {staged} "
                                f"WHERE value IS NOT NULL AND type = 'order'", _minor(store.currency), pa.int64())
        value_join = f"LEFT JOIN {value_map} v ON v.raw = s.value AND s.type = 'order'"

        quantity = _item_col(shape, "quantity", "BIGINT")
        lines = load.table("items", (
            f"SELECT idx, s.id, s.contact_id, s.type, {at_us} AS at_us, item_no, "
            f"{_item_col(shape, 'product_id', 'VARCHAR', text=True)} AS product_id, "
            f"{_item_col(shape, 'categories', 'VARCHAR[]', text=True)} AS categories, "
            f"{quantity if shape.quantity_int else 'CAST(NULL AS BIGINT)'} AS quantity, "
            f"{'FALSE' if shape.quantity_int else f'{quantity} IS NOT NULL'} AS odd_quantity, "
            f"{_item_col(shape, 'price', 'VARCHAR')} AS price "
            f"FROM (SELECT s.*, unnest(s.items) AS it, generate_subscripts(s.items, 1) - 1 AS item_no "
            f"FROM {staged} s WHERE s.type = 'order' AND len(s.items) > 0) s {at_join}"))
        price_map = _distinct_map(load, "price", f"SELECT DISTINCT price AS raw FROM {lines} WHERE price IS NOT NULL",
                                _price, pa.string())
        category_map = _categories(load, staged, lines)
        has_bad_category = load.execute(f"SELECT count(*) FROM {category_map} WHERE bad")[0][0] > 0

        item_ok = (f"COALESCE({_ident('i.product_id')} AND {_no_null_element('i.categories')} AND NOT i.odd_quantity "
                   f"AND (i.quantity IS NULL OR i.quantity BETWEEN 1 AND {MAX_QUANTITY}) "
                   f"AND (i.price IS NULL OR p.out IS NOT NULL), FALSE)")
        bad_parts = [
            f"SELECT s.idx FROM {staged} s {at_join} {value_join} WHERE NOT {_row_ok(at_ok)}",
            f"SELECT i.idx FROM {lines} i LEFT JOIN {price_map} p ON p.raw = i.price WHERE NOT {item_ok}",
        ]
        if has_bad_category:  # a category with NUL: rare, so looked for only when one exists
            for table in (staged, lines):
                bad_parts.append(f"SELECT x.idx FROM (SELECT idx, unnest(categories) AS category FROM {table}) x "
                                 f"JOIN {category_map} c ON c.category = x.category WHERE c.bad")
        bad = load.table("bad", " UNION ".join(bad_parts))
        rejected = _explain(load, staged, bad, store.currency)
        _raise_if_rejected(rejected, on_invalid, "events")

        valid = total - len(rejected)
        with store._db.transaction():  # the stored ids are read in the transaction that inserts
            keep, added = _kept(load, staged, bad if rejected else None, valid)
            _insert(load, staged=staged, lines=lines, keep=keep, at_join=at_join, at_us=at_us,
                    value_join=value_join, price_map=price_map, category_map=category_map)
        return LoadReport(added=added, duplicates=valid - added, rejected=tuple(rejected))
    finally:
        load.close()


def _kept(load: _Load, staged: str, bad: str | None, valid: int) -> tuple[str, int]:
    """The join that keeps the rows to insert, and how many: valid, first of their id, id not stored.

    In the common bulk case (no refused row, no repeated id, an empty store) every row is kept and
    no join is needed.
    """
    conditions = [f"idx NOT IN (SELECT idx FROM {bad})"] if bad else []
    where_valid = f"WHERE {conditions[0]}" if conditions else ""
    repeated = load.execute(f"SELECT count(*) - count(DISTINCT id) FROM {staged} {where_valid}")[0][0]
    if repeated:  # the first valid row of an id is the one an import keeps
        conditions.append(f"idx IN (SELECT min(idx) FROM {staged} {where_valid} GROUP BY id)")
    if load.execute("SELECT count(*) FROM events")[0][0]:
        conditions.append(f"NOT EXISTS (SELECT 1 FROM events x WHERE x.id = {staged}.id)")
    if not conditions:
        return "", valid
    kept = load.table("keep", f"SELECT idx FROM {staged} WHERE {' AND '.join(conditions)}")
    return f"SEMI JOIN {kept} k ON k.idx = s.idx", load.execute(f"SELECT count(*) FROM {kept}")[0][0]


def _categories(load: _Load, staged: str, lines: str) -> str:
    """Every distinct category of the batch → its normalised key, and whether the text is refused."""
    import pyarrow as pa

    distinct = _fetch(load.conn, (
        f"SELECT DISTINCT category FROM (SELECT unnest(categories) AS category FROM {staged} "
        f"UNION ALL SELECT unnest(categories) FROM {lines}) WHERE category IS NOT NULL"))
    names = distinct.column("category")
    values = names.to_pylist()
    return load.register("categories", pa.table({
        "category": names,
        "key": pa.array([norm_key(v) for v in values], type=pa.string()),
        "bad": pa.array([text_problem(v) is not None for v in values], type=pa.bool_()),
    }))


def _explain(load: _Load, staged: str, bad: str, currency: str) -> list[Rejection]:
    """The rejections of the refused rows, worded by the model itself (as ``add_events`` words them)."""
    from engagekit.stores.base import checked_event

    far = f"(at_raw IS NOT NULL AND epoch_us(at_raw) NOT BETWEEN {MIN_MICROS} AND {MAX_MICROS})" \
        if load.layout.at == "tz" else "FALSE"
    columns = ", ".join(f'CASE WHEN {far} THEN NULL ELSE at_raw END AS "at"' if c == "at" else c for c in COLUMNS)
    rows = _fetch(load.conn, (f"SELECT idx, {columns}, {far} AS far, "
                              f"{'epoch_us(at_raw)' if load.layout.at == 'tz' else 'NULL'} AS at_us "
                              f"FROM {staged} WHERE idx IN (SELECT idx FROM {bad}) ORDER BY idx")).to_pylist()
    rejected = []
    for row in rows:
        index, far_away, micros = row.pop("idx"), row.pop("far"), row.pop("at_us")
        record = _record(row)
        if far_away:
            record_id = record.get("id")
            rejected.append(Rejection(index, record_id if isinstance(record_id, str) else None, "at",
                                      f"at: {micros} µs since the epoch is outside the years 1-9999"))
            continue
        refused = checked_event(index, record, currency)
        if isinstance(refused, Rejection):
            rejected.append(refused)
            continue
        raise EngagekitError(f"events[{index}]: DuckDB's checks refused a record the model accepts "
                             f"({record!r}); this is a bug in engagekit, please report it")
    return rejected


def _insert(load: _Load, *, staged: str, lines: str, keep: str, at_join: str, at_us: str, value_join: str,
            price_map: str, category_map: str) -> None:
    """INSERT … SELECT the kept rows into events, items and item_categories (inside the caller's transaction)."""
    item_keep = keep.replace("s.idx", "i.idx") if keep else ""
    load.execute(
        "INSERT INTO events (id, contact_id, type, at_us, product_id, order_id, value_minor, currency, "
        "campaign_id, url, form_id) "
        f"SELECT s.id, s.contact_id, s.type, {at_us}, s.product_id, s.order_id, v.out, upper(s.currency), "
        "s.campaign_id, CASE WHEN regexp_full_match(s.url, $blank) THEN NULL ELSE s.url END, s.form_id "
        f"FROM {staged} s {keep} {at_join} {value_join}")
    load.execute(
        "INSERT INTO items (event_id, contact_id, type, at_us, item_no, product_id, quantity, price) "
        f"SELECT s.id, s.contact_id, s.type, {at_us}, 0, s.product_id, NULL, NULL "
        f"FROM {staged} s {keep} {at_join} WHERE s.type IN {_PRODUCT} "
        "UNION ALL "
        "SELECT i.id, i.contact_id, i.type, i.at_us, i.item_no, i.product_id, COALESCE(i.quantity, 1), "
        f"COALESCE(p.out, '0') FROM {lines} i {item_keep} LEFT JOIN {price_map} p ON p.raw = i.price")
    load.execute(
        "INSERT INTO item_categories (event_id, contact_id, type, at_us, item_no, category, cat_key) "
        "SELECT x.id, x.contact_id, x.type, x.at_us, 0, x.category, c.key FROM ("
        f"SELECT s.id, s.contact_id, s.type, {at_us} AS at_us, unnest(s.categories) AS category "
        f"FROM {staged} s {keep} {at_join} WHERE s.type IN {_PRODUCT}) x "
        f"JOIN {category_map} c ON c.category = x.category WHERE c.key IS NOT NULL "
        "UNION ALL "
        "SELECT x.id, x.contact_id, x.type, x.at_us, x.item_no, x.category, c.key FROM ("
        "SELECT i.id, i.contact_id, i.type, i.at_us, i.item_no, unnest(i.categories) AS category "
        f"FROM {lines} i {item_keep}) x JOIN {category_map} c ON c.category = x.category WHERE c.key IS NOT NULL")
