"""The tables every SQL store shares, their DDL per dialect, and the ``meta`` table.

Instants are integer microseconds since the epoch (``*_us``), money is integer minor units, text
attributes have a normalised key column written at ingestion (``text.norm_key``), so queries only
compare integers and keys. On PostgreSQL every text column is ``COLLATE "C"``: strings order by code
point, never by the server's locale (SPEC §1 "Order of strings").

Rows for these tables are built here, once, from validated models; each store only chooses how to
move them into its database (``executemany``, Arrow, ``COPY``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from engagekit.errors import EngagekitError, SchemaVersionError
from engagekit.filters import profile_key
from engagekit.model import Contact, Event
from engagekit.money import to_minor
from engagekit.text import norm_key
from engagekit.time import EPOCH, from_micros, to_micros

from .db import Database

SCHEMA_VERSION = "1"

TEXT, BIGINT, INT, DOUBLE, BOOL = "text", "bigint", "int", "double", "bool"

TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "meta": (("key", TEXT), ("value", TEXT)),
    "contacts": (
        ("id", TEXT), ("created_us", BIGINT), ("status", TEXT), ("email", TEXT), ("phone", TEXT),
        ("first_name", TEXT), ("last_name", TEXT), ("city", TEXT), ("country", TEXT),
        ("language", TEXT), ("gender", TEXT), ("city_key", TEXT), ("country_key", TEXT),
        ("language_key", TEXT), ("gender_key", TEXT), ("tags", TEXT), ("attributes", TEXT),
    ),
    "contact_tags": (("contact_id", TEXT), ("tag", TEXT), ("tag_key", TEXT)),
    "contact_attributes": (
        ("contact_id", TEXT), ("name", TEXT), ("kind", TEXT), ("num", DOUBLE), ("str_key", TEXT),
        ("bool", BOOL),
    ),
    "events": (
        ("id", TEXT), ("contact_id", TEXT), ("type", TEXT), ("at_us", BIGINT), ("product_id", TEXT),
        ("order_id", TEXT), ("value_minor", BIGINT), ("currency", TEXT), ("campaign_id", TEXT),
        ("url", TEXT), ("form_id", TEXT),
    ),
    # one row per product line: the product of a view / add-to-cart (item_no 0) or an order's item
    "items": (
        ("event_id", TEXT), ("contact_id", TEXT), ("type", TEXT), ("at_us", BIGINT), ("item_no", INT),
        ("product_id", TEXT), ("quantity", INT), ("price", TEXT),
    ),
    # one row per (product line, non-blank category)
    "item_categories": (
        ("event_id", TEXT), ("contact_id", TEXT), ("type", TEXT), ("at_us", BIGINT), ("item_no", INT),
        ("category", TEXT), ("cat_key", TEXT),
    ),
}

PRIMARY_KEYS = {"meta": ("key",), "contacts": ("id",), "events": ("id",),
                "contact_attributes": ("contact_id", "name")}

INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("events", ("type", "at_us")),
    ("events", ("contact_id", "type", "at_us")),
    ("items", ("type", "product_id", "at_us")),
    # one contact's rows of a count (explain): the contact first, then what the count tests, so
    # SQLite prefers it to the (type, …) index above when both fit (as events' own index)
    ("items", ("contact_id", "type", "product_id", "at_us")),
    ("items", ("event_id",)),
    ("item_categories", ("type", "cat_key", "at_us")),
    ("item_categories", ("contact_id", "type", "cat_key", "at_us")),
    ("contact_tags", ("tag_key", "contact_id")),
    ("contact_tags", ("contact_id",)),
    ("contact_attributes", ("name", "contact_id")),
    ("contacts", ("created_us",)),
    ("contacts", ("city_key",)),
)

# PostgreSQL limits a B-tree entry to about 2.7 kB, and ids, names and keys are unbounded text (a
# 10 kB product id is valid). So text columns get HASH indexes there (any length, equality only),
# key constraints are left to the store (which never stores a known event id), and B-trees index
# integers only.
PG_INDEXES: tuple[tuple[str, str, str], ...] = (
    ("events", "btree", "type, at_us"),
    ("events", "hash", "id"),
    ("events", "hash", "contact_id"),
    ("items", "hash", "product_id"),
    ("items", "hash", "contact_id"),
    ("items", "hash", "event_id"),
    # not a HASH on cat_key: a shop has few categories, so each key has millions of rows, and a
    # hash index's build time grows with its chains (about 17 min of a 30 min load at 1M contacts);
    # the window B-tree builds in seconds and served the category counts measured 1.7-2.8x faster
    ("item_categories", "btree", "type, at_us"),
    ("item_categories", "hash", "contact_id"),
    ("item_categories", "hash", "event_id"),
    ("contact_tags", "hash", "tag_key"),
    ("contact_tags", "hash", "contact_id"),
    ("contact_attributes", "hash", "contact_id"),
    ("contacts", "hash", "id"),
    ("contacts", "btree", "created_us"),
)

CONTACT_TABLES = ("contacts", "contact_tags", "contact_attributes")
EVENT_TABLES = ("events", "items", "item_categories")


class CurrencyMismatch(EngagekitError, ValueError):
    """A database was written for another currency than the one the store was opened with."""


_TYPES = {
    "sqlite": {TEXT: "TEXT", BIGINT: "INTEGER", INT: "INTEGER", DOUBLE: "REAL", BOOL: "INTEGER"},
    "duckdb": {TEXT: "VARCHAR", BIGINT: "BIGINT", INT: "INTEGER", DOUBLE: "DOUBLE", BOOL: "BOOLEAN"},
    "postgres": {TEXT: 'TEXT COLLATE "C"', BIGINT: "BIGINT", INT: "INTEGER", DOUBLE: "DOUBLE PRECISION",
                 BOOL: "BOOLEAN"},
}


def ddl(db: Database, *, indexes: bool = True, primary_keys: bool = True) -> list[str]:
    """CREATE statements for every table (and index) in ``db``'s dialect."""
    types = _TYPES[db.dialect]
    statements = []
    for table, columns in TABLES.items():
        cols = [f"{name} {types[kind]}" for name, kind in columns]
        if primary_keys and table in PRIMARY_KEYS and db.dialect != "postgres":
            cols.append(f"PRIMARY KEY ({', '.join(PRIMARY_KEYS[table])})")
        statements.append(f"CREATE TABLE IF NOT EXISTS {db.table(table)} ({', '.join(cols)})")
    if indexes:
        statements.extend(statement for _, _, statement in index_ddl(db))
    return statements


def index_ddl(db: Database) -> list[tuple[str, str, str]]:
    """``(table, index name, CREATE INDEX IF NOT EXISTS …)`` for every index of ``db``'s dialect."""
    out = []
    if db.dialect == "postgres":
        for table, method, spec in PG_INDEXES:
            name = f"ix_{table}_{spec.replace(', ', '_')}"
            out.append((table, name, f"CREATE INDEX IF NOT EXISTS {name} ON {db.table(table)} USING {method} ({spec})"))
    else:
        for table, keys in INDEXES:
            name = f"ix_{table}_{'_'.join(keys)}"
            out.append((table, name, f"CREATE INDEX IF NOT EXISTS {name} ON {db.table(table)} ({', '.join(keys)})"))
    return out


def add_missing_indexes(db: Database) -> list[str]:
    """Create the SQLite indexes this engagekit defines that an older database file lacks; their names.

    The index set is not part of the schema version: a file written before an index was added
    opens, and gets the index once (building it reads the table once), in one transaction. It is
    built under the database's bulk-load settings, so that its sort spills to disk instead of
    growing the process with the table (SQLite: 527 MiB peak to index 3M rows in memory).
    """
    if db.dialect != "sqlite":
        return []
    present = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    missing = [(name, statement) for _, name, statement in index_ddl(db) if name not in present]
    if missing:
        with db.bulk_load(), db.transaction():
            for _, statement in missing:
                db.execute(statement)
    return [name for name, _ in missing]


def drop_event_indexes_if_empty(db: Database) -> bool:
    """Drop the secondary indexes of the event tables of an SQLite database without events, so that
    a bulk load fills them with no index to keep in order; whether it did.

    :func:`add_missing_indexes` builds them again (``SQLiteStore.bulk_load`` calls it at the end; a
    file left without them by a crash gets them when it is next opened). The primary key that
    recognises a known event id stays. The contact tables keep theirs: a contact upsert looks up
    its old tags and attributes by contact id.
    """
    if db.dialect != "sqlite" or db.execute(f"SELECT 1 FROM {db.table('events')} LIMIT 1"):
        return False
    with db.transaction():
        for table, name, _ in index_ddl(db):
            if table in EVENT_TABLES:
                db.execute(f"DROP INDEX IF EXISTS {name}")  # names are engagekit's own constants
    return True


def open_schema(db: Database, currency: str, *, indexes: bool = True, primary_keys: bool = True) -> None:
    """Create the tables of a new database, or check the version and currency of an existing one."""
    if db.has_table("meta"):
        rows = dict(db.execute(f"SELECT key, value FROM {db.table('meta')}"))
        version = rows.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{db.describe()}: written with engagekit schema version {version!r}; this engagekit "
                f"reads version {SCHEMA_VERSION!r} (open it with the engagekit that wrote it, or export "
                f"and re-import the data)"
            )
        stored = rows.get("currency")
        if stored != currency:
            raise CurrencyMismatch(
                f"currency: {db.describe()} holds amounts in {stored!r}; it cannot be opened with "
                f"currency={currency!r} (pass currency={stored!r})"
            )
        if indexes:
            add_missing_indexes(db)
        return
    with db.transaction():
        for statement in ddl(db, indexes=indexes, primary_keys=primary_keys):
            db.execute(statement)
        db.executemany(f"INSERT INTO {db.table('meta')} (key, value) VALUES (?, ?)",
                       [("schema_version", SCHEMA_VERSION), ("currency", currency)])


# --- rows ----------------------------------------------------------------------------------------

def _attr_json(value: object) -> Any:
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return {"float": repr(value)}
    return value


def _attr_from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if "decimal" in value:
            return Decimal(value["decimal"])
        return float(value["float"])
    return value


def as_float(value: int | float | Decimal) -> float:
    """A number as float64, the way custom attributes compare (huge integers become ±inf)."""
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def contact_rows(contacts: Iterable[Contact]) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of the contact tables for these contacts."""
    out: dict[str, list[tuple[Any, ...]]] = {name: [] for name in CONTACT_TABLES}
    for c in contacts:
        attributes = {k: _attr_json(v) for k, v in c.attributes.items()}
        out["contacts"].append((
            c.id, to_micros(c.created_at), c.status, c.email, c.phone, c.first_name, c.last_name,
            c.city, c.country, c.language, c.gender,
            profile_key("city", c.city), profile_key("country", c.country),
            profile_key("language", c.language), profile_key("gender", c.gender),
            json.dumps(sorted(c.tags), ensure_ascii=False), json.dumps(attributes, ensure_ascii=False),
        ))
        for tag in sorted(c.tags):
            key = norm_key(tag)
            if key is not None:
                out["contact_tags"].append((c.id, tag, key))
        for name, value in c.attributes.items():
            if value is None:
                continue
            if isinstance(value, bool):
                out["contact_attributes"].append((c.id, name, "bool", None, None, value))
            elif isinstance(value, str):
                out["contact_attributes"].append((c.id, name, "str", None, norm_key(value) or "", None))
            else:
                out["contact_attributes"].append((c.id, name, "num", as_float(value), None, None))
    return out


def event_rows(events: Iterable[Event], currency: str) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of the event tables for these (validated, new) events."""
    out: dict[str, list[tuple[Any, ...]]] = {name: [] for name in EVENT_TABLES}
    events_out, items_out, cats_out = out["events"], out["items"], out["item_categories"]
    keys: dict[str, str | None] = {}  # categories repeat: normalise each spelling once per batch
    for e in events:
        at_us = to_micros(e.at)
        value_minor = None if e.value is None else to_minor(e.value, currency)
        events_out.append((e.id, e.contact_id, e.type, at_us, e.product_id, e.order_id, value_minor,
                           e.currency, e.campaign_id, e.url, e.form_id))
        if e.type == "order":
            lines: Iterable[tuple[str, tuple[str, ...], int | None, str | None]] = [
                (item.product_id, item.categories, item.quantity, str(item.price)) for item in e.items]
        elif e.product_id is not None:
            lines = [(e.product_id, e.categories, None, None)]
        else:
            lines = []
        for item_no, (product_id, categories, quantity, price) in enumerate(lines):
            items_out.append((e.id, e.contact_id, e.type, at_us, item_no, product_id, quantity, price))
            for category in categories:
                key = keys[category] if category in keys else keys.setdefault(category, norm_key(category))
                if key is not None:
                    cats_out.append((e.id, e.contact_id, e.type, at_us, item_no, category, key))
    return out


def event_columns(events: Iterable[Event], currency: str) -> dict[str, dict[str, list[Any]]]:
    """The event tables for these (validated, new) events, column by column: what a columnar
    loader (DuckDB through Arrow) takes without transposing rows. Same content as :func:`event_rows`.
    """
    out: dict[str, dict[str, list[Any]]] = {name: {column: [] for column, _ in TABLES[name]} for name in EVENT_TABLES}
    ev, it, ca = out["events"], out["items"], out["item_categories"]
    # bound methods once: this loop runs per event, millions of times in a bulk load
    e_id, e_contact, e_type, e_at, e_product, e_order, e_value, e_currency, e_campaign, e_url, e_form = (
        ev[c].append for c in ("id", "contact_id", "type", "at_us", "product_id", "order_id", "value_minor",
                               "currency", "campaign_id", "url", "form_id"))
    i_event, i_contact, i_type, i_at, i_no, i_product, i_quantity, i_price = (
        it[c].append for c in ("event_id", "contact_id", "type", "at_us", "item_no", "product_id", "quantity",
                               "price"))
    c_event, c_contact, c_type, c_at, c_no, c_category, c_key = (
        ca[c].append for c in ("event_id", "contact_id", "type", "at_us", "item_no", "category", "cat_key"))
    keys: dict[str, str | None] = {}  # categories repeat: normalise each spelling once per batch
    for e in events:
        delta = e.at - EPOCH
        at_us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        eid, cid, etype = e.id, e.contact_id, e.type
        e_id(eid)
        e_contact(cid)
        e_type(etype)
        e_at(at_us)
        e_product(e.product_id)
        e_order(e.order_id)
        e_value(None if e.value is None else to_minor(e.value, currency))
        e_currency(e.currency)
        e_campaign(e.campaign_id)
        e_url(e.url)
        e_form(e.form_id)
        if etype == "order":
            lines: Iterable[tuple[str, tuple[str, ...], int | None, str | None]] = [
                (item.product_id, item.categories, item.quantity, str(item.price)) for item in e.items]
        elif e.product_id is not None:
            lines = ((e.product_id, e.categories, None, None),)
        else:
            continue
        for item_no, (product_id, categories, quantity, price) in enumerate(lines):
            i_event(eid)
            i_contact(cid)
            i_type(etype)
            i_at(at_us)
            i_no(item_no)
            i_product(product_id)
            i_quantity(quantity)
            i_price(price)
            for category in categories:
                key = keys[category] if category in keys else keys.setdefault(category, norm_key(category))
                if key is not None:
                    c_event(eid)
                    c_contact(cid)
                    c_type(etype)
                    c_at(at_us)
                    c_no(item_no)
                    c_category(category)
                    c_key(key)
    return out


CONTACT_COLUMNS = "id, created_us, status, email, phone, first_name, last_name, city, country, language, " \
                  "gender, tags, attributes"


def contact_from_row(row: tuple[Any, ...]) -> Contact:
    """The Contact of a row selected with :data:`CONTACT_COLUMNS`."""
    (cid, created_us, status, email, phone, first_name, last_name, city, country, language, gender,
     tags, attributes) = row
    attrs: Mapping[str, Any] = {k: _attr_from_json(v) for k, v in json.loads(attributes).items()}
    return Contact(id=cid, created_at=from_micros(int(created_us)), status=status, email=email, phone=phone,
                   first_name=first_name, last_name=last_name, city=city, country=country,
                   language=language, gender=gender, tags=frozenset(json.loads(tags)), attributes=attrs)
