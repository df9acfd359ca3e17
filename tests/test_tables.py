"""Tables (issue 9 §3): Arrow tables and pandas frames equal the Python objects, on every store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from engagekit import Contact, Event, LiveEngine, city, everyone, last, ordered
from engagekit.errors import EngagekitError, InvalidFilter, MissingExtra
from engagekit.tables import (
    METRIC_FIELDS,
    dashboard_table,
    flows_table,
    log_table,
    members_table,
    metrics_table,
    value_counts_table,
)

T0 = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def shop(store: Any) -> Any:
    store.clock = lambda: T0
    store.add_contacts([
        Contact(id="c1", created_at=T0 - 90 * DAY, email="a@x.pl", city="Warszawa", status="subscribed"),
        Contact(id="c2", created_at=T0 - 60 * DAY, email="b@x.pl", city="Kraków", country="PL"),
        Contact(id="c3", created_at=T0 - 10 * DAY, city="Warszawa", first_name="<b>Ola</b>"),
        Contact(id="c4", created_at=T0 - 5 * DAY, status="subscribed"),
    ])
    store.add_events([
        Event(id="o1", contact_id="c1", type="order", at=T0 - 40 * DAY, order_id="o1", value="100.10", currency="PLN"),
        Event(id="o2", contact_id="c1", type="order", at=T0 - 5 * DAY, order_id="o2", value="20.00", currency="PLN"),
        Event(id="o3", contact_id="c2", type="order", at=T0 - 3 * DAY, order_id="o3", value="7.33", currency="PLN"),
        Event(id="v1", contact_id="c3", type="email_open", at=T0 - 2 * DAY, campaign_id="k1"),
    ])
    return store


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()


def test_metrics_table_equals_metrics(store: Any) -> None:
    m = shop(store).metrics(everyone())
    table = metrics_table(m)
    assert table.num_rows == 1 and table.column_names == list(METRIC_FIELDS)
    row = _rows(table)[0]
    for name in METRIC_FIELDS:
        assert row[name] == getattr(m, name), name
    assert table.schema.field("revenue").type == pa.decimal128(38, 2)
    assert table.schema.field("tbo").type == pa.duration("s")
    assert m.to_arrow().equals(table)


def test_metrics_table_of_nothing_keeps_types(store: Any) -> None:
    m = shop(store).metrics(city("nowhere"))
    table = metrics_table(m)
    assert table.schema.field("aov").type == pa.decimal128(38, 2)
    assert table.schema.field("engagement_rate").type == pa.decimal128(38, 4)
    assert table.schema.field("tbo").type == pa.duration("s")
    assert _rows(table)[0]["aov"] is None and _rows(table)[0]["contacts"] == 0


def test_dashboard_table_equals_dashboard(store: Any) -> None:
    d = shop(store).engagement()
    table = dashboard_table(d)
    rows = _rows(table)
    assert [r["group"] for r in rows] == list(d.groups) == ["engaged", "unengaged", "blocked"]
    for row in rows:
        group = d.groups[row["group"]]
        for name in ("count", "share", "count_before", "change", "change_pct"):
            assert row[name] == getattr(group, name), name
        for name in METRIC_FIELDS:
            assert row[name] == getattr(group.metrics, name), name
    assert table.schema.field("share").type == pa.decimal128(38, 4)
    assert d.to_arrow().equals(table)
    flows = _rows(flows_table(d))
    assert {(r["from_state"], r["to_state"]): r["count"] for r in flows} == dict(d.flows)
    assert len(flows) == len(d.flows)


def test_dashboard_to_pandas(store: Any) -> None:
    d = shop(store).engagement()
    frame = d.to_pandas()
    assert frame.shape == (3, 6 + len(METRIC_FIELDS))
    assert list(frame["group"]) == list(d.groups)
    assert list(frame["count"]) == [g.count for g in d.groups.values()]
    assert list(frame["revenue"]) == [g.metrics.revenue for g in d.groups.values()]


def test_metrics_to_pandas(store: Any) -> None:
    m = shop(store).metrics(ordered())
    frame = m.to_pandas()
    assert frame.shape == (1, len(METRIC_FIELDS))
    assert frame["revenue"][0] == m.revenue == Decimal("127.43")
    assert frame["orders"][0] == m.orders == 3
    assert frame["tbo"][0].to_pytimedelta() == m.tbo


def test_value_counts_table(store: Any) -> None:
    pairs = shop(store).value_counts("city")
    table = value_counts_table(pairs)
    assert table.column_names == ["label", "count"]
    assert [(r["label"], r["count"]) for r in _rows(table)] == list(pairs)
    assert value_counts_table([]).num_rows == 0


def test_log_table(store: Any) -> None:
    if not hasattr(store, "log"):
        pytest.skip("this store keeps no membership log")
    shop(store)
    segment = store.create_segment(ordered(within=last(days=30)))
    engine = LiveEngine(store, start=T0)
    engine.add_events([Event(id="o9", contact_id="c4", type="order", at=T0 + DAY + timedelta(microseconds=7),
                             order_id="o9", value="5.00", currency="PLN")])
    engine.advance(to=T0 + 40 * DAY)
    entries = store.log(segment.id)
    assert entries
    table = log_table(entries)
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
    got = [(r["segment_id"], r["contact_id"], r["change"], r["at"], r["late"]) for r in _rows(table)]
    assert got == [(e.segment_id, e.contact_id, e.change, e.at, e.late) for e in entries]


def test_members_table(store: Any) -> None:
    shop(store)
    fields = ("id", "email", "city", "first_name", "created_at")
    table = members_table(store, city("warszawa"), fields)
    assert table.column_names == list(fields)
    assert table.schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    rows = _rows(table)
    assert [r["id"] for r in rows] == sorted(store.members(city("warszawa")))
    for row in rows:
        contact = store.contact(row["id"])
        for name in fields:
            assert row[name] == getattr(contact, name), name


AWKWARD = ["a,\"b\"\nc", "", "\\N", "NULL", "  spaced  ", "zażółć 🐍", "'; DROP TABLE contacts; --", "\r\n", '""']


def test_members_table_keeps_awkward_text(store: Any) -> None:
    store.clock = lambda: T0
    store.add_contacts([Contact(id=f"x{i}", created_at=T0 - DAY - timedelta(microseconds=i), city=text,
                                first_name=None if i % 2 == 0 else text, last_name=text, email=None)
                        for i, text in enumerate(AWKWARD)] +
                       [Contact(id='id "quoted", with comma', created_at=T0 - DAY, city="")])
    fields = ("id", "created_at", "city", "first_name", "last_name", "email", "phone")
    table = members_table(store, everyone(), fields)
    assert table.num_rows == len(AWKWARD) + 1
    expected = [{name: getattr(store.contact(cid), name) for name in fields} for cid in sorted(store.members(everyone()))]
    assert _rows(table) == expected
    by_id = {r["id"]: r for r in _rows(table)}
    assert by_id["x8"]["city"] == '""' and by_id["x8"]["first_name"] is None   # a quoted pair is text, None is null
    assert by_id["x0"]["city"] == "a,\"b\"\nc" and by_id["x3"]["city"] == "NULL"
    assert by_id["x5"]["created_at"] == T0 - DAY - timedelta(microseconds=5)


def test_members_table_of_a_segment_at_an_instant(store: Any) -> None:
    if not hasattr(store, "create_segment"):
        pytest.skip("this store keeps no segments")
    segment = shop(store).create_segment(everyone())
    at = T0 - 20 * DAY
    table = members_table(store, segment.id, at=at)
    assert [r["id"] for r in _rows(table)] == sorted(store.members(everyone(), at=at)) == ["c1", "c2"]
    assert members_table(store, city("nowhere"), ("id", "status")).num_rows == 0


def test_members_table_refuses_unknown_fields(store: Any) -> None:
    with pytest.raises(InvalidFilter):
        members_table(shop(store), everyone(), ("id", "password"))


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def refuse(name: str, *args: Any, **kwargs: Any) -> Any:
        if name in ("pyarrow", "pandas"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    with pytest.raises(MissingExtra, match=r"engagekit\[parquet\]") as info:
        value_counts_table([("a", 1)])
    assert isinstance(info.value, ImportError) and isinstance(info.value, EngagekitError)
    from engagekit.tables import to_pandas

    with pytest.raises(MissingExtra, match=r"engagekit\[pandas\]"):
        to_pandas(None)
