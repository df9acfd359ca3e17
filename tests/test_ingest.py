"""Loading data into every store (SPEC §1 "Stores"): batches, duplicates, upserts, forget."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engagekit import BatchRejected, Contact, EngagekitError, Event, InvalidRecord, everyone, ordered, tag, viewed
from tests.support import NOW, golden_shop

T0 = "2026-01-01T10:00:00+00:00"
LATER = NOW + timedelta(days=1)


def view(eid: str, cid: str = "c1", at: Any = T0) -> Event:
    return Event(id=eid, contact_id=cid, type="product_view", at=at, product_id="p1")


def test_golden_load_report(store: Any) -> None:
    shop = golden_shop()
    contacts = store.add_contacts(list(shop.contacts))
    assert (contacts.added, contacts.updated, contacts.rejected) == (25, 0, ())
    report = store.add_events(list(shop.events))
    assert (report.added, report.duplicates, report.rejected) == (225, 4, ())
    again = store.add_events(list(shop.events))  # re-importing the same file is safe
    assert (again.added, again.duplicates) == (0, 229)


def test_a_batch_with_an_invalid_record_stores_nothing(store: Any) -> None:
    store.add_contacts([Contact(id="c1", created_at=T0)])
    bad = {"id": "e2", "contact_id": "c1", "type": "order", "at": T0, "order_id": "o1", "value": "-5",
           "currency": "PLN"}
    with pytest.raises(BatchRejected) as info:
        store.add_events([view("e1"), bad, view("e3")])
    assert isinstance(info.value, EngagekitError) and isinstance(info.value, ValueError)
    assert "events[1]" in str(info.value) and "value" in str(info.value) and "-5" in str(info.value)
    assert store.members(viewed(), at=NOW) == frozenset()
    assert store.add_events([view("e1")]).added == 1  # e1 was not stored by the failed batch


def test_a_foreign_currency_or_too_precise_value_rejects_the_batch(store: Any) -> None:
    store.add_contacts([Contact(id="c1", created_at=T0)])
    eur = Event(id="e1", contact_id="c1", type="order", at=T0, order_id="o1", value="5", currency="EUR")
    cents = Event(id="e2", contact_id="c1", type="order", at=T0, order_id="o2", value="5.001", currency="PLN")
    for bad in (eur, cents):
        with pytest.raises(BatchRejected):
            store.add_events([view("e0"), bad])
    assert store.members(viewed() | ordered(), at=NOW) == frozenset()


def test_skip_invalid_records(store: Any) -> None:
    store.add_contacts([Contact(id="c1", created_at=T0)])
    bad = {"id": "e2", "contact_id": "c1", "type": "order", "at": "2026-01-01T10:00:00", "order_id": "o1",
           "value": "5", "currency": "PLN"}
    report = store.add_events([view("e1"), bad, view("e3")], on_invalid="skip")
    assert report.added == 2
    assert [(r.index, r.record_id, r.field) for r in report.rejected] == [(1, "e2", "at")]
    assert store.members(viewed(at_least=2), at=NOW) == frozenset({"c1"})
    contacts = store.add_contacts([{"id": "c2", "created_at": T0}, {"id": "c3", "created_at": T0, "status": "x"}],
                                  on_invalid="skip")
    assert contacts.added == 1 and [r.field for r in contacts.rejected] == ["status"]
    with pytest.raises(InvalidRecord, match="on_invalid"):
        store.add_events([view("e4")], on_invalid="ignore")


def test_duplicate_event_ids_first_one_wins(store: Any) -> None:
    store.add_contacts([Contact(id="c1", created_at=T0), Contact(id="c2", created_at=T0)])
    report = store.add_events([view("e1", "c1"), view("e1", "c2"), view("e2", "c2")])
    assert (report.added, report.duplicates) == (2, 1)
    later = store.add_events([view("e2", "c1"), view("e3", "c1")])
    assert (later.added, later.duplicates) == (1, 1)
    assert store.members(viewed(exactly=2), at=NOW) == frozenset({"c1"})  # e1 and e3
    assert store.members(viewed(exactly=1), at=NOW) == frozenset({"c2"})  # e2


def test_contact_upsert(store: Any) -> None:
    first = store.add_contacts([Contact(id="c1", created_at=T0, tags={"vip"}),
                                Contact(id="c1", created_at=T0, tags={"b2b"})])
    assert first.added == 1
    assert store.contact("c1").tags == frozenset({"b2b"})  # the last version in a batch wins
    report = store.add_contacts([Contact(id="c1", created_at=T0, tags={"vip"}, city="Kraków")])
    assert (report.added, report.updated) == (0, 1)
    assert store.contact("c1").city == "Kraków"
    assert store.members(tag("vip"), at=NOW) == frozenset({"c1"})
    assert store.members(tag("b2b"), at=NOW) == frozenset()
    assert store.contact("nobody") is None


def test_contact_round_trips_through_the_store(store: Any) -> None:
    from decimal import Decimal

    contact = Contact(id="c1", created_at="2026-01-01T10:00:00.123456+02:00", email="a@example.com", city=" Köln",
                      country="de", tags={"VIP", "vip"}, status="subscribed",
                      attributes={"points": 12, "ratio": 0.5, "price": Decimal("1.50"), "flag": True, "plan": "gold"})
    store.add_contacts([contact])
    assert store.contact("c1") == contact


def test_events_before_their_contact_count_once_it_exists(store: Any) -> None:
    store.add_events([view("e1", "c9")])
    assert store.members(everyone(), at=NOW) == frozenset()
    store.add_contacts([Contact(id="c9", created_at=LATER)])
    assert store.members(viewed(), at=NOW) == frozenset()  # c9 does not exist yet at NOW
    assert store.members(viewed(), at=LATER) == frozenset({"c9"})


def test_forget_erases_the_contact_and_its_history(store: Any) -> None:
    store.add_contacts([Contact(id="c1", created_at=T0, tags={"vip"}), Contact(id="c2", created_at=T0)])
    store.add_events([view("e1", "c1"), view("e2", "c2"),
                      Event(id="e3", contact_id="c1", type="order", at=T0, order_id="o1", value="5",
                            currency="PLN")])
    assert store.forget("c1") is True
    assert store.contact("c1") is None
    assert store.members(everyone(), at=NOW) == frozenset({"c2"})
    assert store.forget("c1") is False
    store.add_contacts([Contact(id="c1", created_at=T0)])
    assert store.members(viewed() | ordered() | tag("vip"), at=NOW) == frozenset({"c2"})  # no history
    assert store.metrics(everyone(), at=NOW).orders == 0
    assert store.add_events([view("e1", "c1")]).added == 1  # its event ids are free again
    assert store.members(viewed(), at=NOW) == frozenset({"c1", "c2"})
