"""SQL stores: one dashboard grid serves every view, and is never reused after the data changed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engagekit import Contact, Event
from engagekit.reference import Reference
from tests.test_sql_schema import Opener

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
VIEWS = ("subscribed", "unknown", "subscribed+unknown", "all")
CONTACTS = [
    Contact(id="c1", status="subscribed", created_at="2026-01-01T00:00:00+00:00"),
    Contact(id="c2", status="unknown", created_at="2026-06-15T00:00:00+00:00"),
    Contact(id="c3", status="unsubscribed", created_at="2026-01-01T00:00:00+00:00"),
]
EVENTS = [
    Event(id="e1", contact_id="c1", type="email_open", at="2026-06-20T00:00:00+00:00", campaign_id="k1"),
    Event(id="e2", contact_id="c3", type="order", at="2026-03-01T00:00:00+00:00", order_id="o1", value="20.00",
          currency="PLN"),
    Event(id="e3", contact_id="c3", type="subscribe", at="2026-06-10T00:00:00+00:00"),
]
LATER = [  # each changes some view's answer at NOW
    Event(id="e4", contact_id="c2", type="email_click", at="2026-06-29T00:00:00+00:00", campaign_id="k1"),
    Event(id="e5", contact_id="c1", type="hard_bounce", at="2026-06-29T00:00:00+00:00", campaign_id="k1"),
    Event(id="e6", contact_id="c1", type="unsubscribe", at="2026-06-29T00:00:00+00:00"),
]


@pytest.fixture(params=["sqlite", "duckdb", "postgres", "spark"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    result = Opener(request.param, tmp_path)
    try:
        yield result
    finally:
        result.cleanup()


def dashboards(store: Any) -> dict[str, Any]:
    return {view: store.engagement(at=NOW, view=view) for view in VIEWS}


def expected(contacts: list[Contact], events: list[Event]) -> dict[str, Any]:
    ref = Reference(contacts, events, currency="PLN")
    return {view: ref.engagement(at=NOW, view=view) for view in VIEWS}


def same(got: dict[str, Any], want: dict[str, Any]) -> None:
    for view in VIEWS:
        assert dict(got[view].groups) == dict(want[view].groups), view
        assert {k: n for k, n in got[view].flows.items() if n} == {k: n for k, n in want[view].flows.items() if n}


def test_every_view_after_each_write_of_this_store(opener: Opener) -> None:
    store = opener.open()
    try:
        store.add_contacts(CONTACTS)
        store.add_events(EVENTS)
        same(dashboards(store), expected(CONTACTS, EVENTS))
        for n in range(1, len(LATER) + 1):
            store.add_events(LATER[n - 1:n])
            same(dashboards(store), expected(CONTACTS, EVENTS + LATER[:n]))
        store.forget("c2")
        same(dashboards(store), expected(CONTACTS[:1] + CONTACTS[2:],
                                         [e for e in EVENTS + LATER if e.contact_id != "c2"]))
    finally:
        store.close()


def test_a_write_through_another_connection_is_seen(opener: Opener) -> None:
    if opener.kind == "duckdb":
        pytest.skip("a DuckDB file is open for writing in one connection only")
    store, other = opener.open(), opener.open()
    try:
        store.add_contacts(CONTACTS)
        store.add_events(EVENTS)
        before = dashboards(store)
        same(before, expected(CONTACTS, EVENTS))
        other.add_events(LATER)
        other.add_contacts([Contact(id="c4", created_at="2026-06-01T00:00:00+00:00")])
        after = dashboards(store)
        same(after, expected([*CONTACTS, Contact(id="c4", created_at="2026-06-01T00:00:00+00:00")],
                             EVENTS + LATER))
        assert dict(after["all"].groups) != dict(before["all"].groups)
    finally:
        other.close()
        store.close()


def test_a_callers_duckdb_connection_is_never_trusted(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    from engagekit.stores.sql.duckdb import DuckDBStore

    conn = duckdb.connect(str(tmp_path / f"{uuid.uuid4().hex}.duckdb"))
    store = DuckDBStore(conn, currency="PLN")
    store.add_contacts(CONTACTS)
    store.add_events(EVENTS)
    assert store._db.change_token() is None
    same(dashboards(store), expected(CONTACTS, EVENTS))
    conn.execute("DELETE FROM events WHERE id = 'e1'")  # behind the store's back
    same(dashboards(store), expected(CONTACTS, EVENTS[1:]))
    conn.close()


def test_four_views_read_the_events_once_while_nothing_is_written(opener: Opener) -> None:
    store = opener.open()
    try:
        store.add_contacts(CONTACTS)
        store.add_events(EVENTS)
        reads: list[str] = []
        execute = store._db.execute

        def counted(sql: str, params: Any = ()) -> Any:
            if "events" in sql:  # the grid reads events; a change-token query does not
                reads.append(sql)
            return execute(sql, params)

        store._db.execute = counted
        same(dashboards(store), expected(CONTACTS, EVENTS))
        assert len(reads) == 1
        store._db.execute = execute
        store.add_events(LATER[:1])
        store._db.execute = counted
        same(dashboards(store), expected(CONTACTS, EVENTS + LATER[:1]))
        assert len(reads) == 2  # the write made the next dashboard compute its grid again, once
    finally:
        store.close()
