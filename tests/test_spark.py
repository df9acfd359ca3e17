"""What only SparkStore does: statement rewrites for Parquet tables, interrupted batches, bulk loads.

Its answers are checked by the shared suite (the ``spark`` kind of ``tests/stores.py``); these tests
cover the machinery around them. Under ``CI`` a missing PySpark or Java fails them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagekit import Contact, Event, Item, ordered, tag
from engagekit.errors import InvalidTables, StoreUnavailable
from engagekit.stores.sql.schema import CurrencyMismatch
from tests.stores import CURRENCY, StoreKind, dispose, examples_cap, spark_session, unavailable
from tests.support import golden_shop

AT = "2026-06-30T12:00:00+00:00"


def _spark_module() -> Any:
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        unavailable(f"spark: cannot import pyspark ({exc})")
    from engagekit.stores import spark

    return spark


@pytest.fixture(scope="module")
def session() -> Any:
    _spark_module()
    try:
        return spark_session()
    except StoreUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture
def store(session: Any) -> Iterator[Any]:
    module = _spark_module()
    made = module.SparkStore(session, database=f"ek_{uuid.uuid4().hex[:16]}", currency=CURRENCY)
    try:
        yield made
    finally:
        dispose(made)


def _order(eid: str, cid: str, products: list[str]) -> Event:
    return Event(id=eid, contact_id=cid, type="order", at="2026-06-01T10:00:00+00:00", order_id=f"o-{eid}",
                 value="10.00", currency="PLN",
                 items=tuple(Item(product_id=p, categories=("shoes",), quantity=1, price="10.00") for p in products))


def _rows(store: Any, table: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.spark.table(store._db.table(table)).collect()]


# --- no session needed ------------------------------------------------------------------------------

def test_qmarks_become_named_markers_outside_quotes() -> None:
    module = _spark_module()
    sql, args = module.name_qmarks("SELECT '?', `a?` FROM t WHERE x = ? AND y IN (?, ?)", ["a", 1, None])
    assert sql == "SELECT '?', `a?` FROM t WHERE x = :q0 AND y IN (:q1, :q2)"
    assert args == {"q0": "a", "q1": 1, "q2": None}
    with pytest.raises(ValueError, match="2 placeholders, got 1"):
        module.name_qmarks("SELECT ? + ?", [1])


@pytest.mark.parametrize("name", ["", "1abc", "shop-pl", "a b", "x`; DROP DATABASE y", "ąę"])
def test_database_name_must_be_an_identifier(name: str) -> None:
    module = _spark_module()
    with pytest.raises(module.InvalidDatabaseName, match="database: expected a plain identifier"):
        module.SparkStore(object(), database=name, currency=CURRENCY)


def test_examples_cap_limits_one_store_kind_only() -> None:
    calls: list[int] = []

    @settings(max_examples=40, database=None)
    @given(st.integers())
    def prop(x: int) -> None:
        calls.append(x)

    slow = StoreKind("slow", "engagekit.stores.memory", None, lambda module, folder: None, max_examples=3)
    with examples_cap(prop, slow):
        prop()
    assert len(calls) == 3
    calls.clear()
    prop()  # the cap is gone after the block
    assert len(calls) > 3
    calls.clear()
    with examples_cap(prop, StoreKind("fast", "engagekit.stores.memory", None, lambda module, folder: None)):
        prop()
    assert len(calls) > 3


# --- on the test session ------------------------------------------------------------------------------

def test_sql_binds_every_value(store: Any) -> None:
    sql, params = store.sql(ordered(product="p'1", at_least=2) & tag("o'brien"), at=AT)
    assert f"`{store.database}`.`contact_tags`" in sql and f"`{store.database}`.`contacts`" in sql
    assert "p'1" not in sql and "o'brien" not in sql
    assert set(params.values()) >= {"p'1", "o'brien", 2}


def test_update_and_delete_are_table_rewrites(store: Any) -> None:
    assert store._segment_storage is not None  # creates the segment tables
    db = store._db
    log = db.table("membership_log")
    db.executemany(f"INSERT INTO {log} (segment_id, contact_id, change_kind, at_us, late) VALUES (?, ?, ?, ?, ?)",
                   [("s1", "c1", "enter", 1, 0), ("s1", "c2", "enter", 2, 0), ("s2", "c1", "enter", 3, 1)])
    db.execute(f"UPDATE {log} SET late = ?, change_kind = ? WHERE segment_id = ? AND at_us >= ?", [1, "leave", "s1", 2])
    assert sorted(_rows(store, "membership_log")) == [("s1", "c1", "enter", 1, 0), ("s1", "c2", "leave", 2, 1),
                                                      ("s2", "c1", "enter", 3, 1)]
    db.execute(f"DELETE FROM {log} WHERE contact_id = ?", ["c1"])
    assert _rows(store, "membership_log") == [("s1", "c2", "leave", 2, 1)]
    db.execute(f"DELETE FROM {log} WHERE contact_id = ?", ["nobody"])
    assert _rows(store, "membership_log") == [("s1", "c2", "leave", 2, 1)]


def test_reopening_checks_the_currency_and_keeps_the_data(store: Any) -> None:
    module = _spark_module()
    store.add_contacts([Contact(id="c1", tags={"vip"}, created_at="2026-01-01T00:00:00+00:00")])
    again = module.SparkStore(store.spark, database=store.database, currency=CURRENCY)
    assert again.members(tag("VIP"), at=AT) == frozenset({"c1"})
    with pytest.raises(CurrencyMismatch, match="currency"):
        module.SparkStore(store.spark, database=store.database, currency="EUR")


def test_an_interrupted_event_batch_can_be_retried(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add_contacts([Contact(id="c1", created_at="2026-01-01T00:00:00+00:00")])
    batch = [_order("e1", "c1", ["p1", "p2"]), _order("e2", "c1", ["p1"])]
    real_insert = store._insert

    def failing(table: str, rows: list[tuple[Any, ...]]) -> None:
        if table == "events":
            raise OSError("executor lost")
        real_insert(table, rows)

    monkeypatch.setattr(store, "_insert", failing)
    with pytest.raises(OSError, match="executor lost"):
        store.add_events(batch)
    monkeypatch.undo()
    assert len(_rows(store, "items")) == 3  # left behind by the interrupted batch
    assert store.members(ordered(), at=AT) == frozenset()  # they count for no one

    report = store.add_events(batch)
    assert (report.added, report.duplicates) == (2, 0)
    assert sorted(r[0] for r in _rows(store, "items")) == ["e1", "e1", "e2"]  # not twice
    assert sorted(r[0] for r in _rows(store, "item_categories")) == ["e1", "e1", "e2"]
    assert store.count(ordered(at_least=2), at=AT) == 1
    assert list(store.value_counts("product", ordered(), at=AT)) == [("p1", 1), ("p2", 1)]
    assert store.add_events(batch).duplicates == 2


def test_updating_a_contact_rewrites_its_rows(store: Any) -> None:
    store.add_contacts([Contact(id="c1", tags={"a"}, created_at="2026-01-01T00:00:00+00:00"),
                        Contact(id="c2", tags={"a"}, created_at="2026-01-01T00:00:00+00:00")])
    report = store.add_contacts([Contact(id="c1", tags={"b"}, created_at="2026-01-01T00:00:00+00:00")])
    assert (report.added, report.updated) == (0, 1)
    assert sorted(_rows(store, "contact_tags")) == [("c1", "b", "b"), ("c2", "a", "a")]
    assert store.members(tag("a"), at=AT) == frozenset({"c2"})


def test_load_tables_from_parquet_written_by_duckdb(store: Any, tmp_path: Path) -> None:
    duckdb_module = pytest.importorskip("engagekit.stores.sql.duckdb")
    pq = pytest.importorskip("pyarrow.parquet")
    shop = golden_shop()
    ref = shop.reference()
    source = duckdb_module.DuckDBStore(":memory:", currency=CURRENCY)
    shop.load(source)
    paths = {}
    for table in ("contacts", "contact_tags", "contact_attributes", "events", "items", "item_categories"):
        path = tmp_path / f"{table}.parquet"
        relation = source._db.conn.sql(f"SELECT * FROM {table}")
        pq.write_table((getattr(relation, "to_arrow_table", None) or relation.arrow)(), str(path))
        paths[table] = str(path)
    counts = store.load_tables(paths)
    assert counts["events"] == len(ref.events) and counts["contacts"] == len(shop.contacts)
    for flt in (ordered(at_least=2), tag("vip") | ordered(category="shoes")):
        assert store.members(flt, at=AT) == ref.members(flt, at=AT)
    assert dict(store.engagement(at=AT).groups) == dict(ref.engagement(at=AT).groups)
    with pytest.raises(InvalidTables, match="already holds contacts"):
        store.load_tables(paths)
    with pytest.raises(InvalidTables, match="no table 'orders'"):
        store.load_tables({"orders": paths["events"]})


def test_drop_removes_the_database(session: Any) -> None:
    module = _spark_module()
    made = module.SparkStore(session, database=f"ek_{uuid.uuid4().hex[:16]}", currency=CURRENCY)
    assert session.catalog.databaseExists(made.database)
    made.drop()
    assert not session.catalog.databaseExists(made.database)


def test_open_store_spark_url_uses_the_active_session(session: Any) -> None:
    from engagekit.stores.url import InvalidStoreURL, open_store

    module = _spark_module()
    name = f"ek_{uuid.uuid4().hex[:16]}"
    made = open_store(f"spark:{name}", currency="EUR")
    try:
        assert isinstance(made, module.SparkStore)
        assert (made.spark, made.database, made.currency) == (session, name, "EUR")
    finally:
        made.drop()
    with pytest.raises(InvalidStoreURL, match="names no database"):
        open_store("spark:")
    with pytest.raises(module.InvalidDatabaseName, match="'shop-pl'"):
        open_store("spark:shop-pl")
