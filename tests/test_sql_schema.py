"""SQL stores: schema version, currency, persistence, atomic batches, and SQL free of user values."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engagekit import (
    Contact,
    EngagekitError,
    Event,
    SchemaVersionError,
    aov,
    attr,
    city,
    joined,
    last,
    opened,
    ordered,
    spent,
    tag,
    viewed,
)
from engagekit.stores.sql.compiler import compile_members
from engagekit.stores.sql.schema import SCHEMA_VERSION, CurrencyMismatch
from engagekit.stores.url import InvalidStoreURL, open_store
from tests.stores import PG_DSN_ENV, unavailable

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
CONTACTS = [
    Contact(id="c1", city="Warszawa", tags={"VIP"}, created_at="2026-01-01T00:00:00+00:00"),
    Contact(id="c2", city="Kraków", created_at="2026-01-02T00:00:00+00:00", attributes={"plan": "gold"}),
]
EVENTS = [
    Event(id="e1", contact_id="c1", type="order", at="2026-06-01T00:00:00+00:00", order_id="o1", value="10.50",
          currency="PLN"),
    Event(id="e2", contact_id="c2", type="product_view", at="2026-06-02T00:00:00+00:00", product_id="p1",
          categories=("Bluzy",)),
]


# --- one way to open, close and reopen each SQL store ------------------------------------------------


def _pg_dsn() -> str:
    dsn = os.environ.get(PG_DSN_ENV)
    if not dsn:
        unavailable(f"postgres: set {PG_DSN_ENV}")
    assert dsn is not None
    return dsn


class Opener:
    def __init__(self, kind: str, folder: Path) -> None:
        self.kind = kind
        self.path = folder / f"{uuid.uuid4().hex}.{kind}"
        self.schema = f"ek_schema_{uuid.uuid4().hex[:12]}"

    def open(self, currency: str = "PLN") -> Any:
        if self.kind == "sqlite":
            from engagekit.stores.sql.sqlite import SQLiteStore

            return SQLiteStore(self.path, currency=currency)
        if self.kind == "duckdb":
            pytest.importorskip("duckdb")
            from engagekit.stores.sql.duckdb import DuckDBStore

            return DuckDBStore(self.path, currency=currency)
        if self.kind == "spark":
            from engagekit.stores.spark import SparkStore
            from tests.stores import spark_session

            return SparkStore(spark_session(), database=self.schema, currency=currency)
        from engagekit.stores.sql.postgres import PostgresStore

        return PostgresStore(_pg_dsn(), currency=currency, schema=self.schema)

    def cleanup(self) -> None:
        if self.kind == "spark":
            from tests.stores import spark_session

            spark_session().sql(f"DROP DATABASE IF EXISTS {self.schema} CASCADE")
        if self.kind == "postgres" and os.environ.get(PG_DSN_ENV):
            import psycopg

            from engagekit.stores.sql.postgres import quote_ident

            with psycopg.connect(os.environ[PG_DSN_ENV], autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(self.schema)} CASCADE")


@pytest.fixture(params=["sqlite", "duckdb", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    result = Opener(request.param, tmp_path)
    try:
        yield result
    finally:
        result.cleanup()


@contextmanager
def opened_store(opener: Opener, currency: str = "PLN") -> Iterator[Any]:
    store = opener.open(currency)
    try:
        yield store
    finally:
        store.close()


def test_reopen_keeps_everything(opener: Opener) -> None:
    with opened_store(opener) as store:
        assert store.add_contacts(CONTACTS).added == 2
        assert store.add_events(EVENTS).added == 2
    with opened_store(opener) as store:
        assert store.contact("c2") == CONTACTS[1]
        assert store.members(tag("vip"), at=NOW) == {"c1"}
        assert store.members(viewed(category="bluzy"), at=NOW) == {"c2"}
        report = store.add_events(EVENTS)
        assert (report.added, report.duplicates) == (0, 2)
        assert store.metrics(ordered(), at=NOW).revenue == pytest.approx(10.5)
        assert store.metrics(ordered(), at=NOW).revenue.as_tuple().exponent == -2


def test_unknown_schema_version_is_refused(opener: Opener) -> None:
    with opened_store(opener) as store:
        store._db.execute(f"UPDATE {store._db.table('meta')} SET value = ? WHERE key = ?", ["999", "schema_version"])
    with pytest.raises(SchemaVersionError, match="999"):
        opener.open()
    other = Opener(opener.kind, opener.path.parent)  # a new database records the current version
    try:
        with opened_store(other) as fresh:
            meta = dict(fresh._db.execute(f"SELECT key, value FROM {fresh._db.table('meta')}"))
            assert meta == {"schema_version": SCHEMA_VERSION, "currency": "PLN"}
    finally:
        other.cleanup()


def test_currency_mismatch_is_refused(opener: Opener) -> None:
    with opened_store(opener, "PLN"):
        pass
    with pytest.raises(CurrencyMismatch, match="PLN") as info:
        opener.open("EUR")
    assert isinstance(info.value, EngagekitError)
    assert isinstance(info.value, ValueError)
    with opened_store(opener, "PLN") as store:
        assert store.currency == "PLN"


def test_batches_are_all_or_nothing(opener: Opener, monkeypatch: pytest.MonkeyPatch) -> None:
    with opened_store(opener) as store:
        store.add_contacts(CONTACTS)
        # the last event table fails: the tables written before it must be rolled back too
        for name in ("_insert", "_insert_columns"):  # rows (every store), columns (DuckDB's events)
            if hasattr(store, name):
                original = getattr(store, name)

                def failing(table: str, data: Any, original: Any = original) -> None:
                    if table == "item_categories":
                        raise RuntimeError("disk full")
                    original(table, data)

                monkeypatch.setattr(store, name, failing)
        with pytest.raises(RuntimeError):
            store.add_events(EVENTS)
        monkeypatch.undo()
        assert store._db.execute(f"SELECT COUNT(*) FROM {store._db.table('events')}")[0][0] == 0
        assert store.add_events(EVENTS).added == 2


def test_db_interface(opener: Opener) -> None:
    with opened_store(opener) as store:
        db = store._db
        assert db.dialect == opener.kind
        db.execute(f"CREATE TABLE {db.table('scratch')} (k TEXT, v BIGINT)")
        db.executemany(f"INSERT INTO {db.table('scratch')} (k, v) VALUES (?, ?)", [("a%s?", 1), ("b'", 2)])
        with pytest.raises(RuntimeError), db.transaction():
            db.execute(f"INSERT INTO {db.table('scratch')} (k, v) VALUES (?, ?)", ["c", 3])
            raise RuntimeError("rolled back")
        rows = db.execute(f"SELECT k, v FROM {db.table('scratch')} WHERE k <> ? ORDER BY v", ["zz"])
        assert rows == [("a%s?", 1), ("b'", 2)]


# --- SQL text never carries user values ----------------------------------------------------------------

MARKERS = ["Zakopane-Marker", "tag-marker", "prod-marker", "camp-marker", "attr-marker", "plan-marker"]


def _marked_filter() -> Any:
    return (city("Zakopane-Marker") & tag("tag-marker") & viewed(product="prod-marker", at_least=7)
            & opened(campaign="camp-marker", within=last(days=13)) & (attr("plan-marker") == "attr-marker")
            & (attr("points") >= 123457) & spent(at_least="98765.43") & aov(at_most="10.005")
            & joined(within=last(days=11)))


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb", "postgres"])
def test_compiled_sql_holds_no_user_value(dialect: str) -> None:
    sql, params = compile_members(_marked_filter(), NOW, dialect, schema="engagekit" if dialect == "postgres" else None)
    lowered = sql.lower()
    for marker in MARKERS:
        assert marker.lower() not in lowered
    # aov(at_most="10.005") is 1000.5 minor units: bound as its whole part 1000 and the fraction 1/2
    for number in ("7", "13", "123457", "9876543", "10005", "1000", str(int(NOW.timestamp() * 1_000_000))):
        assert f" {number}" not in sql and f"({number}" not in sql, number
    values = set(map(str, params.values()))
    for expected in ("zakopane-marker", "tag-marker", "prod-marker", "camp-marker", "attr-marker", "plan-marker",
                     "7", "123457.0", "9876543", "1000"):
        assert expected in values, expected


GOLDEN_SQL = {  # read and checked by hand: "did it at least once" is a semi-join; "not tagged" a grouped join
    "sqlite": (
        "SELECT c.id FROM contacts AS c LEFT JOIN (SELECT contact_id FROM contact_tags WHERE tag_key = :p5 "
        "GROUP BY contact_id) AS j0 ON j0.contact_id = c.id WHERE c.created_us <= :p0 AND (c.id IN (SELECT "
        "contact_id FROM item_categories WHERE type = 'product_view' AND cat_key IN (:p1) AND at_us >= :p2 AND "
        "at_us < :p3) AND (NOT c.city_key IS NULL AND c.city_key IN (:p4)) AND j0.contact_id IS NULL)"
    ),
    "duckdb": (
        "SELECT c.id FROM contacts AS c LEFT JOIN (SELECT contact_id FROM contact_tags WHERE tag_key = $p5 "
        "GROUP BY contact_id) AS j0 ON j0.contact_id = c.id WHERE c.created_us <= $p0 AND (c.id IN (SELECT "
        "contact_id FROM item_categories WHERE type = 'product_view' AND cat_key IN ($p1) AND at_us >= $p2 AND "
        "at_us < $p3) AND (NOT c.city_key IS NULL AND c.city_key IN ($p4)) AND j0.contact_id IS NULL)"
    ),
    "postgres": (
        'SELECT c.id FROM "engagekit"."contacts" AS c LEFT JOIN (SELECT contact_id FROM "engagekit"."contact_tags" '
        "WHERE tag_key = %(p5)s GROUP BY contact_id) AS j0 ON j0.contact_id = c.id WHERE c.created_us <= %(p0)s "
        'AND (c.id IN (SELECT contact_id FROM "engagekit"."item_categories" WHERE type = \'product_view\' AND '
        "cat_key IN (%(p1)s) AND at_us >= %(p2)s AND at_us < %(p3)s) AND (NOT c.city_key IS NULL AND "
        "c.city_key IN (%(p4)s)) AND j0.contact_id IS NULL)"
    ),
}


@pytest.mark.parametrize("dialect", sorted(GOLDEN_SQL))
def test_golden_sql(dialect: str) -> None:
    flt = viewed(category="Bluzy", within=last(days=14)) & city("Warszawa") & ~tag("vip")
    sql, params = compile_members(flt, NOW, dialect, schema="engagekit" if dialect == "postgres" else None)
    assert sql == GOLDEN_SQL[dialect]
    assert params == {"p0": 1782820800000000, "p1": "bluzy", "p2": 1781611200000001, "p3": 1782820800000001,
                      "p4": "warszawa", "p5": "vip"}


# --- open_store ------------------------------------------------------------------------------------------


def test_open_store_urls(tmp_path: Path) -> None:
    from engagekit.stores.memory import MemoryStore
    from engagekit.stores.sql.sqlite import SQLiteStore

    assert isinstance(open_store("memory"), MemoryStore)
    with open_store(f"sqlite:{tmp_path / 'a.db'}", currency="EUR") as store:
        assert isinstance(store, SQLiteStore)
        assert store.currency == "EUR"
    with open_store(f"sqlite://{tmp_path / 'a.db'}", currency="EUR") as store:
        assert store.dialect == "sqlite"
    pytest.importorskip("duckdb")
    with open_store(f"duckdb:{tmp_path / 'a.duckdb'}") as store:
        assert store.dialect == "duckdb"
    for bad in ("", "mysql://x", "sqlite:", "memory:x"):
        with pytest.raises(InvalidStoreURL):
            open_store(bad)


def test_open_store_postgres() -> None:
    dsn = _pg_dsn()
    from engagekit.stores.sql.postgres import PostgresStore

    for url in (dsn if dsn.startswith("postgres") else f"postgres:{dsn}", f"postgres:{dsn}"):
        store = open_store(url)
        try:
            assert isinstance(store, PostgresStore)
            assert store.schema == "engagekit"
        finally:
            store.drop()
            store.close()


def test_postgres_accepts_connection_and_pool() -> None:
    psycopg = pytest.importorskip("psycopg")
    from engagekit.stores.sql.postgres import PostgresStore

    dsn = _pg_dsn()
    with psycopg.connect(dsn, autocommit=True) as conn:
        store = PostgresStore(conn, currency="PLN", schema=f"ek_conn_{uuid.uuid4().hex[:10]}")
        store.add_contacts(CONTACTS)
        assert store.members(city("warszawa"), at=NOW) == {"c1"}
        store.drop()
        store.close()
        assert not conn.closed  # the caller's connection stays open

    class TinyPool:  # what PostgresStore needs of psycopg_pool.ConnectionPool
        def __init__(self) -> None:
            self.borrowed = 0

        @contextmanager
        def connection(self) -> Iterator[Any]:
            self.borrowed += 1
            with psycopg.connect(dsn, autocommit=True) as conn:
                yield conn

    pool = TinyPool()
    store = PostgresStore(pool, currency="PLN", schema=f"ek_pool_{uuid.uuid4().hex[:10]}")
    try:
        store.add_contacts(CONTACTS)
        store.add_events(EVENTS)
        assert store.members(viewed(category="BLUZY"), at=NOW) == {"c2"}
        assert pool.borrowed > 0
    finally:
        store.drop()
        store.close()


def test_event_columns_hold_what_event_rows_hold() -> None:
    from engagekit.stores.sql.schema import EVENT_TABLES, TABLES, event_columns, event_rows

    events = [*EVENTS,
              Event(id="e3", contact_id="c1", type="order", at="2026-06-03T10:00:00.000123+02:00", order_id="o3",
                    value="12.30", currency="PLN",
                    items=[{"product_id": "p1", "categories": ["Bluzy", " bluzy ", "Kurtki"], "quantity": 2,
                            "price": "6.15"},
                           {"product_id": "p2", "categories": [], "quantity": 1, "price": "0"}]),
              Event(id="e4", contact_id="c2", type="email_open", at="2026-06-04T00:00:00+00:00", campaign_id="k1")]
    rows, columns = event_rows(events, "PLN"), event_columns(events, "PLN")
    for table in EVENT_TABLES:
        names = [name for name, _ in TABLES[table]]
        assert list(zip(*(columns[table][name] for name in names), strict=True)) == rows[table], table
    assert len(rows["item_categories"]) == 4 and rows["events"][2][3] == 1780473600000123
