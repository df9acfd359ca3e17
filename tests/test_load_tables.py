"""``SQLStore.load_tables``: whole tables in engagekit's layout fill an empty SQL store.

A DuckDB store filled the ordinary way (``add_contacts``/``add_events``: the demo shop plus hostile
values) is the original; its tables, exported as Parquet files or Arrow tables, fill a fresh SQLite,
DuckDB and PostgreSQL store, which must then answer exactly like the original. A store that already
holds rows, an unknown table, a missing column, a wrong type or a NULL where engagekit always writes a
value is refused naming the table and column, and a refusal in the middle of a load leaves nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from engagekit import (  # noqa: E402
    Contact,
    Event,
    Item,
    added_to_cart,
    aov,
    attr,
    blocked,
    city,
    clicked,
    engaged,
    everyone,
    last,
    opened,
    ordered,
    spent,
    status,
    subscribed_via,
    tag,
    viewed,
)
from engagekit.demo import generate, load  # noqa: E402
from engagekit.stores.sql.bulk_tables import LOADABLE, InvalidTables  # noqa: E402
from tests.stores import STORE_KINDS, StoreFactory  # noqa: E402
from tests.test_sql_hostile import HOSTILE  # noqa: E402

SHOP = generate(contacts=120, seed=12)
NOW = SHOP.now
T0 = NOW - timedelta(days=40)
ODD = [*HOSTILE[:20], "", " ", "a,b", 'say "hi"', "line\r\nbreak", "\\N", "NULL "]
NUMBERS: list[Any] = [0.1, -2.5e-300, 1.7976931348623157e308, 5e-324, -1.7976931348623157e308, Decimal("12.345"), 0,
           -0.0, 2**63 + 1, 1 / 3]


def odd_contacts() -> list[Contact]:
    return [Contact(id=f"odd-{i}:{value}", created_at=T0 + timedelta(hours=i), city=value or None, tags={value, "odd"},
                    status="subscribed",
                    attributes={"text": value, "number": NUMBERS[i % len(NUMBERS)], "flag": i % 2 == 0})
            for i, value in enumerate(ODD)]


def odd_events() -> list[Event]:
    out: list[Event] = []
    for i, value in enumerate(ODD):
        cid, at = f"odd-{i}:{value}", T0 + timedelta(days=1, hours=i)
        ident = value or "-"  # ids are non-empty
        out += [
            Event(id=f"{cid}#view", contact_id=cid, type="product_view", at=at, product_id=ident,
                  categories=(ident, "plain")),
            Event(id=f"{cid}#order", contact_id=cid, type="order", at=at, order_id=ident, value="10.50",
                  currency="PLN", items=(Item(product_id=ident, categories=(ident,), quantity=2,
                                              price="5.25"),)),
            Event(id=f"{cid}#click", contact_id=cid, type="email_click", at=at, campaign_id=ident, url=value or None),
            Event(id=f"{cid}#sub", contact_id=cid, type="subscribe", at=at, form_id=ident),
        ]
    return out


FILTERS = [
    everyone(), tag("odd"), tag("vip"), city("Warszawa"), city(""), city("a,b"),
    viewed(category="bluzy", within=last(days=30)), viewed(category="plain"), ordered(at_least=2),
    ordered(product="-"), viewed(category="a,b"), added_to_cart(), opened(within=last(days=60)), clicked(campaign='say "hi"'),
    subscribed_via(form='say "hi"'), status("subscribed"), blocked(), engaged(),
    aov(at_least=100), spent(at_least=Decimal("10.50")), attr("number") > 0.05, attr("number") >= 1.7976931348623157e308,
    attr("number") < -1e308, attr("number") == 5e-324, attr("number") == 1 / 3, attr("number") == 2**63, attr("number") == Decimal("12.345"), attr("flag") == True,  # noqa: E712
    attr("text") == "", attr("text") == "line\r\nbreak", ~(attr("text") == "\\N"),
    *[attr("text") == value for value in ODD[:20]],
]


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    pytest.importorskip("duckdb")
    from engagekit.stores.sql.duckdb import DuckDBStore

    store = DuckDBStore(str(tmp_path_factory.mktemp("original") / "shop.duckdb"), currency="PLN")
    load(store, SHOP)
    store.add_contacts(odd_contacts())
    store.add_events(odd_events())
    yield store
    store.close()


@pytest.fixture(scope="module")
def exported(original: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The original's tables as Arrow tables (``arrow``) and as Parquet files (``parquet``)."""
    folder = tmp_path_factory.mktemp("parquet")
    arrow = {}
    for table in LOADABLE:
        relation = original._db.conn.sql(f"SELECT * FROM {table}")
        arrow[table] = (getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table)()  # DuckDB 2 / 1
    for table, data in arrow.items():
        pq.write_table(data, folder / f"{table}.parquet")
    return {"arrow": arrow, "parquet": {table: str(folder / f"{table}.parquet") for table in LOADABLE}}


SQL_KINDS = [pytest.param(kind, id=kind.name) for kind in STORE_KINDS if kind.name in ("sqlite", "duckdb", "postgres")]


@pytest.fixture(params=SQL_KINDS)
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    made = StoreFactory(request.param, tmp_path)
    try:
        yield made
    finally:
        made.close_all()


def answers(store: Any) -> dict[str, Any]:
    odd = sorted(c.id for c in odd_contacts())
    return {
        "members": [store.members(f, at=NOW) for f in FILTERS],
        "metrics": [store.metrics(f, at=NOW) for f in (everyone(), tag("odd"), ordered(within=last(days=90)))],
        "engagement": [store.engagement(at=NOW, view=view) for view in ("subscribed+unknown", "all")],
        "contacts": [store.contact(cid) for cid in (*odd, SHOP.contacts[7].id)],
        "explain": [store.explain(ordered(within=last(days=90)) & ~tag("vip"), cid, at=NOW) for cid in odd[:5]],
    }


@pytest.mark.parametrize("form", ["parquet", "arrow"])
def test_loaded_store_answers_like_the_original(factory: StoreFactory, original: Any, exported: dict[str, Any],
                                                form: str) -> None:
    store = factory()
    counts = store.load_tables(exported[form])
    assert counts == {table: exported["arrow"][table].num_rows for table in LOADABLE}
    assert counts["events"] == len(odd_events()) + sum(1 for _ in SHOP.events())
    expected = answers(original)
    got = answers(store)
    for key in expected:
        assert got[key] == expected[key], key
    assert store.members(tag("odd"), at=NOW) == {c.id for c in odd_contacts()}  # not vacuous


def test_refuses_a_store_with_rows(factory: StoreFactory, exported: dict[str, Any]) -> None:
    store = factory()
    store.add_contacts([Contact(id="there", created_at=T0)])
    with pytest.raises(InvalidTables, match="already holds rows in contacts"):
        store.load_tables({"events": exported["arrow"]["events"]})
    assert store.count(everyone(), at=NOW) == 1
    assert store.metrics(everyone(), at=NOW).orders == 0


def test_refuses_unknown_table_and_source(factory: StoreFactory, exported: dict[str, Any], tmp_path: Path) -> None:
    store = factory()
    with pytest.raises(InvalidTables, match="no table 'segments'"):
        store.load_tables({"segments": exported["arrow"]["events"]})
    with pytest.raises(InvalidTables, match=r"tables\['events'\]: expected a Parquet path or a pyarrow Table, got list"):
        store.load_tables({"events": [1, 2]})
    with pytest.raises(InvalidTables, match=r"tables\['items'\]: cannot read Parquet at"):
        store.load_tables({"items": str(tmp_path / "missing.parquet")})


def test_refuses_a_wrong_layout_naming_table_and_column(factory: StoreFactory, exported: dict[str, Any],
                                                        tmp_path: Path) -> None:
    store = factory()
    events = exported["arrow"]["events"]
    without = events.drop_columns(["at_us"])
    with pytest.raises(InvalidTables, match=r"tables\['events'\]: no column 'at_us'"):
        store.load_tables({"contacts": exported["arrow"]["contacts"], "events": without})
    as_text = events.set_column(events.schema.get_field_index("at_us"), "at_us", events["at_us"].cast(pa.string()))
    pq.write_table(as_text, tmp_path / "events.parquet")
    with pytest.raises(InvalidTables, match=r"tables\['events'\]: column 'at_us' is string; expected an integer"):
        store.load_tables({"events": str(tmp_path / "events.parquet")})
    items = exported["arrow"]["items"]
    too_big = items.set_column(items.schema.get_field_index("item_no"), "item_no",
                               pa.array([2**40] * items.num_rows, type=pa.int64()))
    with pytest.raises(InvalidTables, match=r"tables\['items'\]: column 'item_no' does not fit an integer column"):
        store.load_tables({"items": too_big})
    assert store.count(everyone(), at=NOW) == 0
    assert store.members(tag("odd"), at=NOW) == frozenset()


def test_a_refusal_midway_leaves_nothing(factory: StoreFactory, exported: dict[str, Any]) -> None:
    store = factory()
    events = exported["arrow"]["events"]
    contact_ids = events["contact_id"].to_pylist()
    contact_ids[-1] = None  # the last row, so the contacts and most events are written before it is seen
    broken = events.set_column(events.schema.get_field_index("contact_id"), "contact_id",
                               pa.array(contact_ids, type=pa.string()))
    tables = dict(exported["arrow"], events=broken)
    with pytest.raises(InvalidTables, match=r"tables\['events'\]: column 'contact_id' holds NULL"):
        store.load_tables(tables)
    assert store.count(everyone(), at=NOW) == 0
    assert store.members(ordered(), at=NOW) == frozenset()
    assert store.contact(SHOP.contacts[0].id) is None
    assert store.load_tables(exported["arrow"])["contacts"] == exported["arrow"]["contacts"].num_rows  # still usable
    assert store.count(everyone(), at=NOW) == len(SHOP.contacts) + len(ODD)


def test_sqlite_refuses_a_repeated_event_id_and_keeps_nothing(exported: dict[str, Any], tmp_path: Path) -> None:
    from engagekit.stores.sql.sqlite import SQLiteStore

    events = exported["arrow"]["events"]
    twice = pa.concat_tables([events, events.slice(0, 1)])
    with SQLiteStore(str(tmp_path / "twice.sqlite"), currency="PLN") as store:
        with pytest.raises(InvalidTables, match=r"tables\['events'\]: a key repeats"):
            store.load_tables(dict(exported["arrow"], events=twice))
        assert store.count(everyone(), at=NOW) == 0
        names = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "ix_events_contact_id_type_at_us" in names  # the dropped indexes came back with the rollback
