"""SPEC §1–§10 clause by clause: small shops worked out by hand, on every store and on the Reference.

Each expected value below is derived from SPEC.md's wording (the working is in the comments), never
computed by engagekit. Every case asks a store (the ``store`` fixture: memory, SQLite, DuckDB,
PostgreSQL, Spark) and :class:`engagekit.reference.Reference` the same question, so a wrong answer
shows which of the two strays from SPEC. Where SPEC is silent, docs/ARCHITECTURE.md "Decisions" is
what the expected values follow.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Context, Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tests.stores
from engagekit import (
    BatchRejected,
    Contact,
    EngagekitError,
    Event,
    InvalidContact,
    InvalidEvent,
    InvalidFilter,
    InvalidInstant,
    Item,
    aov,
    before,
    between,
    city,
    country,
    everyone,
    last,
    ordered,
    spent,
    status,
    tag,
    viewed,
)
from engagekit.reference import Reference
from tests.stores import StoreFactory

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
DAY = timedelta(days=1)


class Shop:
    """Loads records into one store and into a Reference, and asks both."""

    def __init__(self, store: Any, contacts: Sequence[Contact] = (), events: Sequence[Event] = (),
                 currency: str = "PLN") -> None:
        self.store = store
        self.contacts: list[Contact] = []
        self.events: list[Event] = []
        self.currency = currency
        self.add(contacts, events)

    def add(self, contacts: Sequence[Contact] = (), events: Sequence[Event] = ()) -> None:
        if contacts:
            self.store.add_contacts(list(contacts))
            self.contacts.extend(contacts)
        if events:
            self.store.add_events(list(events))
            self.events.extend(events)

    @property
    def ref(self) -> Reference:
        return Reference(self.contacts, self.events, currency=self.currency)

    def members(self, flt: Any, at: Any) -> frozenset[str]:
        """Members by the store; fails when the Reference disagrees with the store."""
        got = self.store.members(flt, at=at)
        assert got == self.ref.members(flt, at=at), f"store and Reference disagree on {flt!r} at {at}"
        return frozenset(got)

    def metrics(self, flt: Any, at: Any, **kwargs: Any) -> Any:
        got = self.store.metrics(flt, at=at, **kwargs)
        assert got == self.ref.metrics(flt, at=at, **kwargs), f"store and Reference disagree on metrics {flt!r}"
        return got

    def value_counts(self, field: str, at: Any = NOW) -> list[tuple[str, int]]:
        got = self.store.value_counts(field, at=at)
        assert got == self.ref.value_counts(field, None, at=at), f"store and Reference disagree on {field}"
        return list(got)


def person(cid: str, created: Any = T0, **fields: Any) -> Contact:
    return Contact(id=cid, created_at=created, **fields)


def view(eid: str, cid: str, at: Any, product: str = "p1", categories: Sequence[str] = ()) -> Event:
    return Event(id=eid, contact_id=cid, type="product_view", at=at, product_id=product,
                 categories=tuple(categories))


def order(eid: str, cid: str, at: Any, value: str, items: Sequence[Item] = (), currency: str = "PLN") -> Event:
    return Event(id=eid, contact_id=cid, type="order", at=at, order_id=f"o-{eid}", value=value,
                 currency=currency, items=tuple(items))


def form(eid: str, cid: str, at: Any, kind: str) -> Event:
    return Event(id=eid, contact_id=cid, type=kind, at=at)


@pytest.fixture
def store_in(store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Makes a fresh store of the parametrised kind in another currency: ``store_in("JPY")``."""
    def make(currency: str) -> Any:
        monkeypatch.setattr(tests.stores, "CURRENCY", currency)
        try:
            return store_factory()
        finally:
            monkeypatch.setattr(tests.stores, "CURRENCY", "PLN")
    yield make


# --- §1 Instants ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["2026-06-30T12:00:00", "2026-06-30", "2026-06-30T12:00:00.000001"])
def test_iso_strings_without_an_offset_are_refused_everywhere(store: Any, text: str) -> None:
    # SPEC §1: an ISO string without an offset is rejected with a clear error (models, at=, between())
    with pytest.raises(InvalidContact, match="created_at") as info:
        person("c1", created=text)
    assert text in str(info.value)
    with pytest.raises(InvalidEvent, match="at"):
        view("e1", "c1", text)
    with pytest.raises(InvalidInstant, match="between.start"):
        between(text, "2026-07-01T00:00:00+00:00")
    with pytest.raises(InvalidInstant, match="between.end"):
        between("2026-01-01T00:00:00+00:00", text)
    store.add_contacts([person("c1")])
    for ask in (store.members, store.count, store.metrics):
        with pytest.raises(InvalidInstant, match="at") as refused:
            ask(everyone(), at=text)
        assert isinstance(refused.value, EngagekitError) and text in str(refused.value)
    with pytest.raises(InvalidInstant):
        store.members(everyone(), at=datetime(2026, 6, 30, 12))  # naive datetime
    with pytest.raises(InvalidInstant):
        store.value_counts("city", at=text)
    with pytest.raises(InvalidInstant):
        store.engagement(at=text)


def test_offsets_other_than_utc_name_the_same_instant(store: Any) -> None:
    # created 14:00+02:00 = 12:00Z; the event 13:30+01:30 = 12:00Z; the second event 06:15:00.000001+05:45
    # = 00:30:00.000001Z of the same day
    shop = Shop(store, [person("c1", created="2026-06-30T14:00:00+02:00")],
                [view("e1", "c1", "2026-06-30T13:30:00+01:30"),
                 view("e2", "c1", "2026-06-30T06:15:00.000001+05:45")])
    # one microsecond before 12:00Z the contact does not exist yet
    assert shop.members(everyone(), at="2026-06-30T11:59:59.999999+00:00") == frozenset()
    # created exactly at `at` exists (created_at <= at); an event exactly at `at` is visible
    assert shop.members(viewed(exactly=2), at="2026-06-30T12:00:00Z") == {"c1"}
    assert shop.members(viewed(exactly=2), at="2026-06-30T07:00:00-05:00") == {"c1"}  # 12:00Z too
    # between(00:30:00.000001Z, 12:00Z) holds e2 (start inclusive) but not e1 (end exclusive)
    w = between("2026-06-30T00:30:00.000001+00:00", "2026-06-30T12:00:00+00:00")
    assert shop.members(viewed(exactly=1, within=w), at=NOW) == {"c1"}
    # starting one microsecond later drops e2
    w2 = between("2026-06-30T00:30:00.000002+00:00", "2026-06-30T12:00:00.000001+00:00")
    assert shop.members(viewed(exactly=1, within=w2), at=NOW) == {"c1"}  # only e1 now (end moved past it)
    w3 = between("2026-06-30T00:30:00.000002+00:00", "2026-06-30T12:00:00+00:00")
    assert shop.members(viewed(within=w3), at=NOW) == frozenset()
    assert store.contact("c1").created_at == datetime(2026, 6, 30, 12, tzinfo=UTC)


def test_microseconds_are_kept_in_windows(store: Any) -> None:
    # event at 10:00:00.000001Z; last(days=1) at `at` counts at - 1 day < event.at <= at
    e_at = datetime(2026, 6, 29, 10, 0, 0, 1, tzinfo=UTC)
    shop = Shop(store, [person("c1")], [view("e1", "c1", e_at)])
    assert shop.members(viewed(), at=e_at - US) == frozenset()  # not yet visible
    assert shop.members(viewed(), at=e_at) == {"c1"}  # visible exactly at its instant
    # expiry is exact: counted up to event.at + 1 day - 1 µs, not at event.at + 1 day
    assert shop.members(viewed(within=last(days=1)), at=e_at + DAY - US) == {"c1"}
    assert shop.members(viewed(within=last(days=1)), at=e_at + DAY) == frozenset()
    # before(days=1) is the complement: event.at <= at - 1 day
    assert shop.members(viewed(within=before(days=1)), at=e_at + DAY - US) == frozenset()
    assert shop.members(viewed(within=before(days=1)), at=e_at + DAY) == {"c1"}
    # hours are exact too
    assert shop.members(viewed(within=last(hours=3)), at=e_at + timedelta(hours=3) - US) == {"c1"}
    assert shop.members(viewed(within=last(hours=3)), at=e_at + timedelta(hours=3)) == frozenset()


def test_days_are_24_hours_across_a_daylight_saving_change(store: Any) -> None:
    # Warsaw springs forward on 2026-03-29 (+01:00 → +02:00). at = 03:30+02:00 = 01:30Z; last(days=1)
    # starts at 2026-03-28T01:30Z = 02:30+01:00 (24 hours, UTC), not at 03:30 local time the day before
    at = "2026-03-29T03:30:00+02:00"
    shop = Shop(store, [person("edge"), person("inside"), person("local")],
                [view("e1", "edge", "2026-03-28T02:30:00+01:00"),
                 view("e2", "inside", "2026-03-28T02:30:00.000001+01:00"),
                 view("e3", "local", "2026-03-28T03:00:00+01:00")])
    assert shop.members(viewed(within=last(days=1)), at=at) == {"inside", "local"}
    assert shop.members(viewed(within=last(hours=24)), at=at) == {"inside", "local"}
    assert shop.members(viewed(within=before(days=1)), at=at) == {"edge"}


def test_last_months_clamps_at_month_ends(store: Any) -> None:
    # at = 2026-03-31 12:00Z; relativedelta(months=1) gives 2026-02-28 12:00Z (February has 28 days),
    # so last(months=1) counts 2026-02-28T12:00Z < event.at <= at
    at = datetime(2026, 3, 31, 12, tzinfo=UTC)
    start = datetime(2026, 2, 28, 12, tzinfo=UTC)
    shop = Shop(store, [person("edge"), person("inside"), person("march")],
                [view("e1", "edge", start), view("e2", "inside", start + US),
                 view("e3", "march", datetime(2026, 3, 1, tzinfo=UTC))])
    assert shop.members(viewed(within=last(months=1)), at=at) == {"inside", "march"}
    assert shop.members(viewed(within=before(months=1)), at=at) == {"edge"}
    # at 2026-03-30 12:00Z one month back is 2026-02-28 12:00Z as well (clamped): same answer
    assert shop.members(viewed(within=last(months=1)), at=datetime(2026, 3, 30, 12, tzinfo=UTC)) == \
        {"inside", "march"}
    # explain shows the window it covered (SPEC §9): (at − 1 month, at)
    leaf = store.explain(viewed(within=last(months=1)), "edge", at=at)
    assert leaf.window == (start, at) and leaf.holds is False and leaf.count == 0


def test_between_is_half_open_and_bounded_by_visibility(store: Any) -> None:
    s = datetime(2026, 6, 1, tzinfo=UTC)
    e = datetime(2026, 6, 2, tzinfo=UTC)
    shop = Shop(store, [person("at_start"), person("at_end"), person("before_end"), person("future")],
                [view("e1", "at_start", s), view("e2", "at_end", e), view("e3", "before_end", e - US),
                 view("e4", "future", datetime(2026, 6, 1, 18, tzinfo=UTC))])
    w = between(s, e)
    # start <= event.at < end, and visible (event.at <= at): at 12:00 on June 1 e4 (18:00) is not visible
    assert shop.members(viewed(within=w), at=datetime(2026, 6, 1, 12, tzinfo=UTC)) == {"at_start"}
    assert shop.members(viewed(within=w), at=NOW) == {"at_start", "before_end", "future"}
    # an empty window (start == end) counts nothing
    assert shop.members(viewed(within=between(s, s)), at=NOW) == frozenset()
    with pytest.raises(InvalidFilter, match="before start"):
        between(e, s)


# --- §1 Subscription status -------------------------------------------------------------------------


def test_unsubscribe_wins_at_equal_instants(store: Any) -> None:
    t = datetime(2026, 5, 1, tzinfo=UTC)
    shop = Shop(store, [person("a", status="subscribed"), person("b", status="unknown"),
                        person("c", status="unsubscribed"), person("d", status="unsubscribed")],
                # a: subscribe and unsubscribe at the same instant, either id order → unsubscribed
                [form("a1", "a", t, "unsubscribe"), form("a2", "a", t, "subscribe"),
                 form("b1", "b", t, "subscribe"), form("b2", "b", t, "unsubscribe"),
                 # c: a later subscribe wins over an earlier unsubscribe → subscribed
                 form("c1", "c", t, "unsubscribe"), form("c2", "c", t + US, "subscribe"),
                 # d: a subscribe in the future is not visible yet → declared (unsubscribed) until then
                 form("d1", "d", NOW + DAY, "subscribe")])
    assert shop.members(status("unsubscribed"), at=NOW) == {"a", "b", "d"}
    assert shop.members(status("subscribed"), at=NOW) == {"c"}
    # before any event: the declared status
    assert shop.members(status("subscribed"), at=t - US) == {"a"}
    assert shop.members(status("unknown"), at=t - US) == {"b"}
    assert shop.members(status("subscribed"), at=NOW + DAY) == {"c", "d"}
    # audiences: a newsletter goes to subscribed only, automation also to unknown (SPEC §7)
    assert store.audience(everyone(), kind="newsletter", at=NOW) == {"c"}
    assert store.audience(everyone(), kind="automation", at=t - US) == {"a", "b"}


def test_upserting_a_contact_changes_its_declared_status(store: Any) -> None:
    shop = Shop(store, [person("a", status="subscribed"), person("b", status="subscribed")],
                [form("b1", "b", datetime(2026, 5, 1, tzinfo=UTC), "unsubscribe")])
    assert shop.members(status("subscribed"), at=NOW) == {"a"}
    # upserting both as "unknown": a has no events, so its declared status is now unknown; b's
    # unsubscribe event still decides b's status
    shop.add([person("a", status="unknown"), person("b", status="unknown")])
    assert shop.members(status("unknown"), at=NOW) == {"a"}
    assert shop.members(status("unsubscribed"), at=NOW) == {"b"}
    assert shop.members(status("subscribed"), at=NOW) == frozenset()


# --- §1 Money ---------------------------------------------------------------------------------------


def test_orders_in_another_currency_negative_or_too_precise_are_refused(store: Any) -> None:
    store.add_contacts([person("c1")])
    cases = [
        (order("e1", "c1", T0, "5.00", currency="EUR"), "currency", "EUR"),
        ({"id": "e1", "contact_id": "c1", "type": "order", "at": "2026-01-02T00:00:00+00:00", "order_id": "o",
          "value": "-0.01", "currency": "PLN"}, "value", "-0.01"),
        (order("e1", "c1", T0, "5.001"), "value", "5.001"),
    ]
    for bad, field, value in cases:
        with pytest.raises(BatchRejected) as info:
            store.add_events([view("ok", "c1", T0), bad])
        message = str(info.value)
        assert f"events[1].{field}" in message and value in message
    # a float is not exact money: refused, and the error says what to pass instead
    with pytest.raises(InvalidEvent, match=r"value: 19\.99 is not a decimal amount \(a float .*Decimal\('19\.99'\)"):
        order("e1", "c1", T0, 19.99)  # type: ignore[arg-type]
    # trailing zeros beyond two places are harmless: 1.500 PLN is 1.50 PLN
    assert store.add_events([order("e2", "c1", T0, "1.500")]).added == 1
    assert store.metrics(everyone(), at=NOW).revenue == Decimal("1.50")
    assert store.members(viewed(), at=NOW) == frozenset()  # no refused batch left anything behind


def test_zero_decimal_currency(store_in: Any) -> None:
    store = store_in("JPY")
    shop = Shop(store, [person("c1")], currency="JPY")
    with pytest.raises(BatchRejected, match=r"value: 1500\.5 .*JPY"):
        store.add_events([order("e1", "c1", T0, "1500.5", currency="JPY")])
    # 1500.0 is 1500 JPY; 1500 + 100 + 100 + 100 = 1800 over 4 orders of one customer: aov 450, acv 1800
    shop.add(events=[order("e1", "c1", T0, "1500.0", currency="JPY")] +
             [order(f"e{i}", "c1", T0 + i * DAY, "100", currency="JPY") for i in (2, 3, 4)])
    m = shop.metrics(everyone(), at=NOW)
    assert (m.revenue, m.aov, m.acv, m.orders) == (Decimal("1800"), Decimal("450"), Decimal("1800"), 4)
    # the three orders after the first: 300 / 3 = 100 exactly; with the first, 1800 >= 4 × 450
    assert shop.members(aov(at_least=450), at=NOW) == {"c1"}
    assert shop.members(aov(at_least="450.0001"), at=NOW) == frozenset()
    assert shop.members(aov(at_most=100, within=between(T0 + DAY, NOW)), at=NOW) == {"c1"}
    # adding 1 JPY: 100 + 100 + 100 + 1 = 301 over 4 orders in the window: 75.25 → 75 (0 places)
    shop.add(events=[order("e5", "c1", T0 + 5 * DAY, "1", currency="JPY")])
    m = shop.metrics(everyone(), at=NOW, within=between(T0 + DAY, NOW))
    assert (m.revenue, m.orders, m.aov) == (Decimal("301"), 4, Decimal("75"))  # 301 / 4 = 75.25 → 75


def test_three_decimal_currency(store_in: Any) -> None:
    store = store_in("KWD")
    shop = Shop(store, [person("c1")], currency="KWD")
    with pytest.raises(BatchRejected, match=r"value: 1\.2345"):
        store.add_events([order("e1", "c1", T0, "1.2345", currency="KWD")])
    shop.add(events=[order("e1", "c1", T0, "1.234", currency="KWD"),
                     order("e2", "c1", T0 + DAY, "2.001", currency="KWD")])
    # revenue 3.235; aov 3.235 / 2 = 1.6175 → half-even to 3 places → 1.618 (7 is odd: round up)
    m = shop.metrics(everyone(), at=NOW)
    assert (m.revenue, m.aov) == (Decimal("3.235"), Decimal("1.618"))
    assert shop.members(spent(at_least="3.235"), at=NOW) == {"c1"}
    assert shop.members(spent(at_least="3.2351"), at=NOW) == frozenset()


def test_huge_order_values_are_exact(store: Any) -> None:
    # 10^12 PLN and 10^12 PLN + 0.01: revenue 2000000000000.01, mean 1000000000000.005 → half-even
    # at 2 places: 1000000000000.00 (0 is even); spent compares the exact sum
    shop = Shop(store, [person("c1")], [order("e1", "c1", T0, "1000000000000.00"),
                                        order("e2", "c1", T0 + DAY, "1000000000000.01")])
    m = shop.metrics(everyone(), at=NOW)
    assert (m.revenue, m.aov, m.acv) == (Decimal("2000000000000.01"), Decimal("1000000000000.00"),
                                         Decimal("2000000000000.01"))
    assert shop.members(spent(at_least="2000000000000.01"), at=NOW) == {"c1"}
    assert shop.members(spent(at_least="2000000000000.02"), at=NOW) == frozenset()
    assert shop.members(aov(at_least="1000000000000.005"), at=NOW) == {"c1"}
    assert shop.members(aov(at_least="1000000000000.006"), at=NOW) == frozenset()


def test_an_order_too_large_for_64_bit_minor_units_is_refused(store: Any) -> None:
    # 2^63 - 1 minor units = 92233720368547758.07 PLN is the most a store keeps per order
    store.add_contacts([person("c1")])
    with pytest.raises(BatchRejected, match=r"value: 92233720368547758\.08 is too large"):
        store.add_events([order("e1", "c1", T0, "92233720368547758.08")])
    with pytest.raises(BatchRejected, match="value: .* is too large"):
        store.add_events([order("e1", "c1", T0, "1E+40")])
    report = store.add_events([order("e1", "c1", T0, "1E+40"), order("e2", "c1", T0, "92233720368547758.07")],
                              on_invalid="skip")
    assert report.added == 1 and [(r.index, r.field) for r in report.rejected] == [(0, "value")]
    assert store.metrics(everyone(), at=NOW).revenue == Decimal("92233720368547758.07")


def test_aov_compares_the_exact_mean(store: Any) -> None:
    # three orders totalling 100.00: mean 33.333…; aov(at_least=x) ⇔ 100.00 >= 3x
    shop = Shop(store, [person("c1")], [order("e1", "c1", T0, "33.33"), order("e2", "c1", T0 + DAY, "33.33"),
                                        order("e3", "c1", T0 + 2 * DAY, "33.34")])
    assert shop.members(aov(at_least="33.33"), at=NOW) == {"c1"}  # 100.00 >= 99.99
    assert shop.members(aov(at_least="33.34"), at=NOW) == frozenset()  # 100.00 >= 100.02 is false
    assert shop.members(aov(at_most="33.33"), at=NOW) == frozenset()  # 100.00 <= 99.99 is false
    assert shop.members(aov(at_most="33.34"), at=NOW) == {"c1"}
    # the displayed mean is quantized (33.33), the comparison is not
    assert shop.metrics(everyone(), at=NOW).aov == Decimal("33.33")
    # a contact with no order in the window never matches aov, even aov(at_most=...)
    assert shop.members(aov(at_most=1000, within=last(days=1)), at=NOW) == frozenset()
    # but spent is 0 with no orders: spent(at_most=0) holds
    assert shop.members(spent(at_most=0, within=last(days=1)), at=NOW) == {"c1"}


WIDE_SUMS = {
    "sqlite": "SQLite SUM(value_minor) beyond 64 bits raises sqlite3.OperationalError 'integer overflow' "
              "(not an EngagekitError) in metrics and spent",
    "spark": "Spark SUM of the bigint value_minor beyond 64 bits raises ArithmeticException ARITHMETIC_OVERFLOW "
             "(ANSI mode) in metrics and spent",
}


def xfail_on(request: pytest.FixtureRequest, store_factory: StoreFactory, reasons: dict[str, str]) -> None:
    """Mark this run as a known store bug (strict: it must fail) on the store kinds named in ``reasons``."""
    reason = reasons.get(store_factory.name)
    if reason is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def test_money_bounds_finer_than_the_currency_compare_exactly(store: Any) -> None:
    # three orders totalling 100.00 (mean 33.333…); aov(at_least=x) ⇔ 100.00 >= 3x
    shop = Shop(store, [person("c1")], [order("e1", "c1", T0, "33.33"), order("e2", "c1", T0 + DAY, "33.33"),
                                        order("e3", "c1", T0 + 2 * DAY, "33.34")])
    assert shop.members(aov(at_least="33.33333333333333333333"), at=NOW) == {"c1"}  # 3x = 99.99…99
    assert shop.members(aov(at_least="33.33333333333333333334"), at=NOW) == frozenset()  # 3x = 100.00…02
    assert shop.members(aov(at_most="33.33333333333333333334"), at=NOW) == {"c1"}
    assert shop.members(spent(at_least="99.99999999999999999999"), at=NOW) == {"c1"}
    assert shop.members(spent(at_least="100.00000000000000000001"), at=NOW) == frozenset()


def test_money_bounds_above_64_bits(store: Any) -> None:
    # 10^20 PLN is more than any store holds: nobody spent at least that, everybody at most that
    shop = Shop(store, [person("c1"), person("c2")], [order("e1", "c1", T0, "100.00")])
    assert shop.members(spent(at_least=10**20), at=NOW) == frozenset()
    assert shop.members(spent(at_most=10**20), at=NOW) == {"c1", "c2"}
    assert shop.members(aov(at_most=10**20), at=NOW) == {"c1"}  # c2 has no order: never matches aov
    assert shop.members(aov(at_least=10**20), at=NOW) == frozenset()
    # the largest order a store keeps is its own mean: bounds at, just under and just over it
    top = "92233720368547758.07"
    shop.add([person("c3")], [order("e2", "c3", T0, top)])
    assert shop.members(aov(at_least=top), at=NOW) == {"c3"}
    assert shop.members(aov(at_least=top + "0000000001"), at=NOW) == frozenset()
    assert shop.members(aov(at_most="92233720368547758.0699999999"), at=NOW) == {"c1"}
    assert shop.members(spent(at_least="92233720368547758.0700000001"), at=NOW) == frozenset()
    assert shop.members(spent(at_least="1E+39"), at=NOW) == frozenset()  # past DECIMAL(38, 0)
    assert shop.members(spent(at_most="1E+39"), at=NOW) == {"c1", "c2", "c3"}


# means with denominators 1, 2, 3, 7 and 11, and the largest order a store keeps
FINE_ORDERS = {"c1": ["33.33", "33.33", "33.34"], "c2": ["0.01", "0.02"], "c3": ["92233720368547758.07"],
               "c4": ["10.00", "0.01", "0.01", "0.01", "0.01", "0.01", "0.03"],
               "c5": ["123456789.99", "0.01", "7.77", "1.00", "2.00", "3.00", "4.00", "5.00", "6.00", "7.00",
                      "8.00"],
               "c6": ["5.00"], "c7": []}


def near_bounds() -> st.SearchStrategy[Decimal]:
    """Bounds at, just under and just over a contact's exact mean or total, to 0–30 decimal places."""
    targets = [sum(map(Fraction, v), Fraction(0)) / (len(v) if per_order else 1)
               for v in FINE_ORDERS.values() if v for per_order in (True, False)]

    def bound(target: Fraction, places: int, nudge: int) -> Decimal:
        unit = Fraction(1, 10**places)
        near = (target // unit + (nudge > 0)) * unit + (nudge if abs(nudge) > 1 else 0) * unit
        return max(Decimal(0), Decimal(near.numerator) / Decimal(near.denominator)).quantize(
            Decimal(1).scaleb(-places), context=Context(prec=80))

    return st.builds(bound, st.sampled_from(targets), st.integers(0, 30), st.integers(-2, 2))


@given(low=near_bounds(), high=near_bounds(), measure=st.sampled_from(["aov", "spent"]),
       side=st.sampled_from(["at_least", "at_most", "both"]))
def test_money_bounds_of_any_precision_compare_exactly(store: Any, low: Decimal, high: Decimal, measure: str,
                                                      side: str) -> None:
    # one shop per test: the examples only ask
    if not store.count(everyone(), at=NOW):
        store.add_contacts([person(cid) for cid in FINE_ORDERS])
        store.add_events([order(f"{cid}-{i}", cid, T0 + i * DAY, value)
                          for cid, values in FINE_ORDERS.items() for i, value in enumerate(values)])
    ref = Reference([person(cid) for cid in FINE_ORDERS],
                    [order(f"{cid}-{i}", cid, T0 + i * DAY, value)
                     for cid, values in FINE_ORDERS.items() for i, value in enumerate(values)], currency="PLN")
    low, high = min(low, high), max(low, high)
    bounds = {"at_least": {"at_least": low}, "at_most": {"at_most": high},
              "both": {"at_least": low, "at_most": high}}[side]
    flt = (aov if measure == "aov" else spent)(**bounds)
    assert store.members(flt, at=NOW) == ref.members(flt, at=NOW), flt


def test_revenue_sums_beyond_64_bits_stay_exact(store: Any, store_factory: StoreFactory,
                                               request: pytest.FixtureRequest) -> None:
    xfail_on(request, store_factory, WIDE_SUMS)
    # two orders of 5·10^16 PLN each fit 64-bit minor units (5·10^18 each); their sum 10^17 PLN does not
    shop = Shop(store, [person("c1")], [order("e1", "c1", T0, "50000000000000000.00"),
                                        order("e2", "c1", T0 + DAY, "50000000000000000.01")])
    m = shop.metrics(everyone(), at=NOW)
    # revenue 100000000000000000.01; aov 50000000000000000.005 → half-even → …000.00
    assert (m.revenue, m.aov) == (Decimal("100000000000000000.01"), Decimal("50000000000000000.00"))
    assert shop.members(spent(at_least="100000000000000000.01"), at=NOW) == {"c1"}
    assert shop.members(spent(at_least="100000000000000000.02"), at=NOW) == frozenset()


# --- §1 Normalised keys -------------------------------------------------------------------------------


def test_city_keys_nfc_casefold_and_whitespace(store: Any) -> None:
    nfd = unicodedata.normalize("NFD", "Kraków")
    assert nfd != "Kraków"
    shop = Shop(store, [
        person("nfd", city=nfd), person("nfc", city="KRAKÓW"),
        person("strasse", city="STRASSE"), person("sz", city="Straße"),
        person("tabs", city="Nowy\tSącz"), person("nbsp", city="nowy\u00a0 sącz"), person("spaces", city="  Nowy   Sącz "),
        person("blank", city="   "), person("none"),
    ])
    assert shop.members(city("kraków"), at=NOW) == {"nfd", "nfc"}
    assert shop.members(city(nfd.upper()), at=NOW) == {"nfd", "nfc"}
    # "ß".casefold() == "ss", so Straße and STRASSE are one city
    assert shop.members(city("strasse"), at=NOW) == {"strasse", "sz"}
    # inner runs of whitespace (tab, no-break space, spaces) collapse to one space
    assert shop.members(city("NOWY SĄCZ"), at=NOW) == {"tabs", "nbsp", "spaces"}
    # a blank city is a missing city
    assert shop.members(city(None), at=NOW) == {"blank", "none"}
    assert shop.members(city({None, "Straße"}), at=NOW) == {"blank", "none", "strasse", "sz"}
    assert store.contact("blank").city is None
    assert store.contact("nfd").city == nfd  # kept as written


def test_country_is_stored_upper_case(store: Any) -> None:
    shop = Shop(store, [person("pl", country="pl"), person("de", country=" De "), person("none")])
    assert store.contact("pl").country == "PL" and store.contact("de").country == "DE"
    assert shop.members(country("PL"), at=NOW) == {"pl"}
    assert shop.members(country("de"), at=NOW) == {"de"}
    assert shop.members(country(None), at=NOW) == {"none"}
    assert shop.value_counts("country") == [("DE", 1), ("PL", 1), ("UNDEFINED", 1)]
    # a code is two ASCII letters, in a contact and in a filter alike ("ßa" would casefold to "SSA")
    with pytest.raises(InvalidContact, match="country: 'ßa'"):
        person("x", country="ßa")
    with pytest.raises(InvalidFilter, match="country: 'ßa'"):
        country("ßa")


def test_categories_are_normalised_and_product_ids_exact(store: Any) -> None:
    shop = Shop(store, [person("a"), person("b"), person("c")],
                [view("e1", "a", T0, product="P1", categories=("Bluzy ",)),
                 view("e2", "b", T0, product="p1", categories=(unicodedata.normalize("NFD", "Swetry Męskie"),)),
                 view("e3", "c", T0, product="p1 ", categories=("  ",))])
    assert shop.members(viewed(category="BLUZY"), at=NOW) == {"a"}
    assert shop.members(viewed(category="swetry  męskie"), at=NOW) == {"b"}
    assert shop.members(viewed(product="p1"), at=NOW) == {"b"}  # identifiers match exactly
    assert shop.members(viewed(product="P1"), at=NOW) == {"a"}
    assert shop.members(viewed(product="p1 "), at=NOW) == {"c"}
    assert shop.members(tag("x") | viewed(category={"bluzy", "swetry męskie"}), at=NOW) == {"a", "b"}


def test_tags_are_normalised(store: Any) -> None:
    shop = Shop(store, [person("a", tags={"VIP "}), person("b", tags={"vip"}), person("c", tags={"Stammkunde"}),
                        person("d", tags={"STAMMKUNDE", "vıp"})])
    assert shop.members(tag("vip"), at=NOW) == {"a", "b"}  # dotless ı is another letter
    assert shop.members(tag(" stammKunde"), at=NOW) == {"c", "d"}


# --- §3 Count conditions --------------------------------------------------------------------------------


def test_an_order_with_three_matching_items_counts_once(store: Any) -> None:
    items = [Item(product_id=f"p{i}", categories=("Bluzy",)) for i in range(3)]
    shop = Shop(store, [person("a"), person("b"), person("never")],
                [order("e1", "a", T0, "10.00", items),
                 order("e2", "b", T0, "10.00", items[:1]), order("e3", "b", T0 + DAY, "10.00", items[1:2])])
    assert shop.members(ordered(category="bluzy", exactly=1), at=NOW) == {"a"}
    assert shop.members(ordered(category="bluzy", at_least=2), at=NOW) == {"b"}
    assert shop.members(ordered(product={"p0", "p1", "p2"}, exactly=1), at=NOW) == {"a"}
    # exactly=0 and at_most without at_least include contacts with no event at all
    assert shop.members(ordered(category="bluzy", exactly=0), at=NOW) == {"never"}
    assert shop.members(ordered(at_most=1), at=NOW) == {"a", "never"}
    assert shop.members(ordered(at_most=0, within=last(days=30)), at=NOW) == \
        shop.members(~ordered(within=last(days=30)), at=NOW) == {"a", "b", "never"}


def test_product_and_category_must_match_on_one_item(store: Any) -> None:
    # docs/ARCHITECTURE.md: with both product and category, one item must match both
    shop = Shop(store, [person("a"), person("b")],
                [order("e1", "a", T0, "1.00", [Item(product_id="p1", categories=("x",)),
                                               Item(product_id="p2", categories=("y",))]),
                 order("e2", "b", T0, "1.00", [Item(product_id="p1", categories=("y",))])])
    assert shop.members(ordered(product="p1", category="y"), at=NOW) == {"b"}
    assert shop.members(ordered(product="p2", category="Y"), at=NOW) == {"a"}


# --- §4 Metrics ----------------------------------------------------------------------------------------


def test_metrics_rounding_half_even(store: Any) -> None:
    # tbo: "half" orders 2.5 s apart → 2 s (half-even); "odd" 3.5 s apart → 4 s; both: 6 s / 2 gaps = 3 s
    # aov of "half": (0.10 + 0.15) / 2 = 0.125 → 0.12; of "odd": (0.10 + 0.25) / 2 = 0.175 → 0.18
    t = datetime(2026, 5, 1, tzinfo=UTC)
    half = timedelta(seconds=2, microseconds=500_000)
    odd = timedelta(seconds=3, microseconds=500_000)
    shop = Shop(store, [person("h", tags={"half"}), person("o", tags={"odd"})],
                [order("h1", "h", t, "0.10"), order("h2", "h", t + half, "0.15"),
                 order("o1", "o", t, "0.10"), order("o2", "o", t + odd, "0.25")])
    mh = shop.metrics(tag("half"), at=NOW)
    assert (mh.tbo, mh.aov, mh.acv, mh.ano) == (timedelta(seconds=2), Decimal("0.12"), Decimal("0.25"), Decimal("2.00"))
    mo = shop.metrics(tag("odd"), at=NOW)
    assert (mo.tbo, mo.aov, mo.acv) == (timedelta(seconds=4), Decimal("0.18"), Decimal("0.35"))
    both = shop.metrics(everyone(), at=NOW)
    assert (both.tbo, both.revenue, both.aov, both.acv) == \
        (timedelta(seconds=3), Decimal("0.60"), Decimal("0.15"), Decimal("0.30"))


def test_tbo_is_exact_to_the_microsecond_before_rounding(store: Any) -> None:
    # 2.500001 s between two orders: just over the half, so 3 s (a span truncated to milliseconds,
    # 2.500 s, would round half-even to 2 s); 1.499999 s rounds to 1 s
    t = datetime(2026, 5, 1, tzinfo=UTC)
    shop = Shop(store, [person("a", tags={"a"}), person("b", tags={"b"})],
                [order("a1", "a", t, "1.00"), order("a2", "a", t + timedelta(seconds=2, microseconds=500_001), "1.00"),
                 order("b1", "b", t, "1.00"), order("b2", "b", t + timedelta(seconds=1, microseconds=499_999), "1.00")])
    assert shop.metrics(tag("a"), at=NOW).tbo == timedelta(seconds=3)
    assert shop.metrics(tag("b"), at=NOW).tbo == timedelta(seconds=1)
    # both: (2.500001 + 1.499999) / 2 = 2.0 s exactly
    assert shop.metrics(everyone(), at=NOW).tbo == timedelta(seconds=2)


def test_ano_and_engagement_rate_half_even(store: Any) -> None:
    # 8 customers, 9 orders: ano 9/8 = 1.125 → 1.12. 32 contacts of which 1 engaged in the last 30 days:
    # 1/32 = 0.03125 → 0.0312; with 3 engaged 3/32 = 0.09375 → 0.0938
    t = NOW - 10 * DAY
    old = NOW - 100 * DAY  # orders long ago do not engage (30-day timeframe)
    contacts = [person(f"c{i:02d}") for i in range(32)]
    events = [order(f"e{i}", f"c{i:02d}", old, "1.00") for i in range(8)] + [order("e8", "c00", old + DAY, "1.00")]
    shop = Shop(store, contacts, events + [view("v1", "c31", t)])
    m = shop.metrics(everyone(), at=NOW)
    assert (m.contacts, m.customers, m.orders, m.ano) == (32, 8, 9, Decimal("1.12"))
    assert m.engagement_rate == Decimal("0.0312")
    shop.add(events=[view("v2", "c30", t), view("v3", "c29", t)])
    assert shop.metrics(everyone(), at=NOW).engagement_rate == Decimal("0.0938")
    # within= restricts the orders: none in the last 30 days; the rate is over members, unchanged
    w = shop.metrics(everyone(), at=NOW, within=last(days=30))
    assert (w.customers, w.orders, w.revenue, w.aov, w.acv, w.ano, w.tbo) == (0, 0, Decimal("0.00"), None, None,
                                                                             None, None)
    assert w.engagement_rate == Decimal("0.0938")
    # only c00 has 2 orders, one day apart: tbo 1 day
    assert m.tbo == DAY


def test_metrics_of_nobody_are_none(store: Any) -> None:
    shop = Shop(store, [person("a")])
    m = shop.metrics(tag("nobody"), at=NOW)
    assert (m.contacts, m.customers, m.orders, m.revenue) == (0, 0, 0, Decimal("0.00"))
    assert (m.aov, m.acv, m.ano, m.tbo, m.engagement_rate) == (None, None, None, None, None)
    m = shop.metrics(everyone(), at=NOW)
    assert (m.contacts, m.aov, m.tbo, m.engagement_rate) == (1, None, None, Decimal("0.0000"))


def test_metrics_within_between(store: Any) -> None:
    # orders on June 1, 2, 3 (10, 20, 30); between(June 2, June 3) holds only June 2: revenue 20
    june = [datetime(2026, 6, d, tzinfo=UTC) for d in (1, 2, 3)]
    shop = Shop(store, [person("a")], [order(f"e{i}", "a", t, v) for i, (t, v) in
                                       enumerate(zip(june, ("10.00", "20.00", "30.00"), strict=True))])
    m = shop.metrics(everyone(), at=NOW, within=between(june[1], june[2]))
    assert (m.orders, m.revenue, m.tbo) == (1, Decimal("20.00"), None)
    m = shop.metrics(everyone(), at=june[1], within=last(days=1))  # June 1 < t <= June 2 (visible)
    assert (m.orders, m.revenue) == (1, Decimal("20.00"))


# --- §5 Dashboard ----------------------------------------------------------------------------------------


def test_dashboard_flows_absent_outside_and_empty_view(store: Any) -> None:
    before_ = NOW - 30 * DAY
    shop = Shop(store, [
        person("old_engaged", status="subscribed"),  # viewed recently → engaged at both instants
        person("new", created=NOW - 5 * DAY, status="unknown"),  # absent before, unengaged now
        person("gone", status="unsubscribed"),  # outside both times
        person("left", status="subscribed"),  # unsubscribes between the two instants
        person("future", created=NOW + DAY),  # exists at neither instant: in no pair
    ], [view("v1", "old_engaged", before_ - DAY), view("v2", "old_engaged", NOW - DAY),
        form("u1", "left", NOW - 10 * DAY, "unsubscribe")])
    dash = store.engagement(at=NOW, timeframe=timedelta(days=30))
    # at before_: old_engaged viewed 1 day earlier → engaged; left: unengaged; gone: outside
    assert {k: v for k, v in dash.flows.items() if v} == {
        ("engaged", "engaged"): 1, ("absent", "unengaged"): 1, ("outside", "outside"): 1,
        ("unengaged", "outside"): 1,
    }
    g = dash.groups
    assert (g["engaged"].count, g["engaged"].count_before, g["engaged"].change, g["engaged"].change_pct) == \
        (1, 1, 0, Decimal("0.00"))
    # unengaged: 1 now (new), 1 before (left): change 0 %
    assert (g["unengaged"].count, g["unengaged"].count_before, g["unengaged"].change_pct) == (1, 1, Decimal("0.00"))
    # blocked: 0 before → change_pct None; shares 1/2, 1/2, 0/2
    assert (g["blocked"].count, g["blocked"].change_pct) == (0, None)
    assert (g["engaged"].share, g["unengaged"].share, g["blocked"].share) == \
        (Decimal("0.5000"), Decimal("0.5000"), Decimal("0.0000"))
    ref = shop.ref.engagement(at=NOW, timeframe=timedelta(days=30))
    assert dict(dash.groups) == dict(ref.groups)
    # a view with nobody in it: every share is None
    empty = store.engagement(at=T0 - DAY, view="subscribed")
    assert all(group.share is None and group.count == 0 for group in empty.groups.values())
    assert {k: v for k, v in empty.flows.items() if v} == {}
    # the subscribed view: "new" is unknown, so outside; before_: left was subscribed and unengaged
    sub = store.engagement(at=NOW, timeframe=timedelta(days=30), view="subscribed")
    assert {k: v for k, v in sub.flows.items() if v} == {
        ("engaged", "engaged"): 1, ("absent", "outside"): 1, ("outside", "outside"): 1, ("unengaged", "outside"): 1,
    }
    assert sub.groups["unengaged"].change_pct == Decimal("-100.00")


# --- §8 Value counts -------------------------------------------------------------------------------------


def test_value_count_labels_and_code_point_ties(store: Any) -> None:
    shop = Shop(store, [
        person("k1", city="Kraków"), person("k2", city="Kraków"), person("k3", city="KRAKÓW"),
        person("w1", city="warszawa"), person("w2", city="WARSZAWA"),  # tie: "WARSZAWA" < "warszawa"
        person("a", city="a"), person("B", city="B"), person("E", city="É"), person("z", city="z"),
        person("blank", city=" \t "), person("none"),
    ])
    # counts: kraków 3, warszawa 2, UNDEFINED 2 (blank and none), then a, B, É, z with 1 each; ties by
    # label in code-point order: "B" (U+0042) < "UNDEFINED" < "a" < "z" < "É" (U+00C9)
    assert shop.value_counts("city") == [
        ("Kraków", 3), ("UNDEFINED", 2), ("WARSZAWA", 2), ("B", 1), ("a", 1), ("z", 1), ("É", 1),
    ]


def test_value_count_spelling_frequency_is_by_contacts(store: Any) -> None:
    # "Bluzy" is viewed 3 times by one contact, "bluzy" once each by two: the label is "bluzy" (2 > 1)
    shop = Shop(store, [person("a", tags={"Émile"}), person("b", tags={"émile"}), person("c")],
                [view("e1", "a", T0, categories=("Bluzy",)), view("e2", "a", T0 + DAY, categories=("Bluzy",)),
                 view("e3", "a", T0 + 2 * DAY, categories=("Bluzy",)),
                 view("e4", "b", T0 + DAY, product="P1", categories=("bluzy",)),
                 view("e5", "c", T0 + DAY, product="p1", categories=("bluzy", "  "))])
    assert shop.value_counts("category") == [("bluzy", 3)]
    # products group exactly: p1 (a and c), P1 (b); ties by code point: "P1" < "p1"
    assert shop.value_counts("product") == [("p1", 2), ("P1", 1)]
    # tag labels tie 1–1: "Émile" (U+00C9) < "émile" (U+00E9); c has no tag → UNDEFINED
    assert shop.value_counts("tag") == [("Émile", 2), ("UNDEFINED", 1)]
    # at T0 only e1 is visible: b and c have no visible matching event, so they are UNDEFINED
    assert shop.value_counts("category", at=T0) == [("UNDEFINED", 2), ("Bluzy", 1)]


# --- §1 Stores: forget and re-import --------------------------------------------------------------------


def test_forget_then_events_of_the_same_ids_start_afresh(store: Any) -> None:
    shop = Shop(store, [person("c1", city="Kraków", tags={"vip"}), person("c2")],
                [order("e1", "c1", T0, "10.00"), view("e2", "c1", T0 + DAY), view("e3", "c2", T0)])
    assert store.forget("c1") is True
    # events for the forgotten id that arrive before the contact is added again count for no one yet
    assert store.add_events([view("e2", "c1", T0 + 2 * DAY)]).added == 1  # e2 is a free id again
    assert store.members(viewed(), at=NOW) == {"c2"}
    store.add_contacts([person("c1")])
    assert store.members(viewed(exactly=1), at=NOW) == {"c1", "c2"}  # only the new e2
    assert store.members(ordered() | tag("vip") | city("Kraków"), at=NOW) == frozenset()
    assert store.metrics(everyone(), at=NOW).orders == 0
    assert store.value_counts("city", at=NOW) == [("UNDEFINED", 2)]
    assert store.explain(viewed(), "c1", at=NOW).matches == (T0 + 2 * DAY,)
    del shop


def test_re_import_is_idempotent(store: Any) -> None:
    store.add_contacts([person("c1")])
    first = store.add_events([view("e1", "c1", T0), view("e1", "c1", T0 + DAY), view("e2", "c1", T0)])
    assert (first.added, first.duplicates) == (2, 1)
    again = store.add_events([view("e2", "c1", T0), view("e3", "c1", T0), view("e3", "c1", T0)])
    assert (again.added, again.duplicates) == (1, 2)
    # e1 kept its first instant (T0), so 3 views in total, none on T0 + 1 day
    assert store.members(viewed(exactly=3), at=NOW) == {"c1"}
    assert store.members(viewed(within=between(T0 + DAY, T0 + 2 * DAY)), at=NOW) == frozenset()


def test_an_invalid_record_stores_nothing_and_skip_reports_it(store: Any) -> None:
    store.add_contacts([person("c1", city="Kraków")])
    bad_contact = {"id": "c2", "created_at": "2026-01-01T00:00:00+00:00", "country": "Polska"}
    with pytest.raises(BatchRejected, match=r"contacts\[1\]\.country: 'Polska'"):
        store.add_contacts([person("c1", city="Gdańsk"), bad_contact, person("c3")])
    # nothing stored: c1 not updated, c3 not added
    assert store.contact("c1").city == "Kraków" and store.contact("c3") is None
    assert store.count(everyone(), at=NOW) == 1
    bad_event = {"id": "e2", "contact_id": "c1", "type": "product_view", "at": "2026-02-01T00:00:00",
                 "product_id": "p1"}
    with pytest.raises(BatchRejected, match=r"events\[1\]\.at: '2026-02-01T00:00:00'"):
        store.add_events([view("e1", "c1", T0), bad_event])
    assert store.count(viewed(), at=NOW) == 0
    report = store.add_events([view("e1", "c1", T0), bad_event, view("e3", "c1", T0)], on_invalid="skip")
    assert report.added == 2 and len(report.rejected) == 1
    rejection = report.rejected[0]
    assert (rejection.index, rejection.record_id, rejection.field) == (1, "e2", "at")
    assert "2026-02-01T00:00:00" in rejection.reason
    assert store.members(viewed(exactly=2), at=NOW) == {"c1"}
    skipped = store.add_contacts([bad_contact, person("c3")], on_invalid="skip")
    assert (skipped.added, [(r.field, r.record_id) for r in skipped.rejected]) == (1, [("country", "c2")])
    assert "'Polska'" in skipped.rejected[0].reason


# --- models: hostile values SPEC's storage forms cannot keep ------------------------------------------


def test_models_refuse_values_no_store_can_keep() -> None:
    from engagekit import attr

    with pytest.raises(InvalidEvent, match="quantity: 2147483648"):
        Item(product_id="p", quantity=2**31)
    assert Item(product_id="p", quantity=2**31 - 1).quantity == 2**31 - 1
    for number in (Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("1e400"), 10**400):
        with pytest.raises(InvalidContact, match="attributes.x"):
            person("c", attributes={"x": number})
        with pytest.raises(InvalidFilter):
            attr("x") == number  # noqa: B015 - the comparison builds (and here refuses) a filter
    assert person("c", attributes={"x": 2**70}).attributes["x"] == 2**70  # finite as float64
    # "-0.00" is not negative: it is zero, kept without its sign
    assert str(order("e", "c", T0, "-0.00").value) == "0.00"


def test_instants_from_any_fixed_offset_timezone() -> None:
    warsaw_summer = timezone(timedelta(hours=2))
    c = person("c", created=datetime(2026, 6, 30, 14, 0, 0, 7, tzinfo=warsaw_summer))
    assert c.created_at == datetime(2026, 6, 30, 12, 0, 0, 7, tzinfo=UTC)
    assert c.created_at.utcoffset() == timedelta(0)


# --- Order of strings, attributes, existence, audiences ----------------------------------------------


def test_attribute_strings_order_by_code_point_of_their_keys(store: Any) -> None:
    from engagekit import attr

    # keys: "é" (U+00E9), "zebra", "b"; code-point order: "b" < "f" < "zebra" < "é"
    # (a locale collation would put "é" before "f": SPEC says the database's collation must not decide)
    shop = Shop(store, [person("e", attributes={"name": "É"}), person("z", attributes={"name": "Zebra"}),
                        person("b", attributes={"name": "B"}), person("n", attributes={"name": 5})])
    assert shop.members(attr("name") < "f", at=NOW) == {"b"}
    assert shop.members(attr("name") > "zebra", at=NOW) == {"e"}
    assert shop.members(attr("name") >= "ZEBRA", at=NOW) == {"e", "z"}
    assert shop.members(attr("name") == "é", at=NOW) == {"e"}
    # a number never compares with a string; != holds only where the attribute exists and differs
    assert shop.members(attr("name") != "b", at=NOW) == {"e", "z", "n"}
    # docs/ARCHITECTURE.md: a blank string still exists and compares as the empty key; None is missing
    shop.add([person("blank", attributes={"name": "  "}), person("none", attributes={"name": None})])
    assert shop.members(attr("name").exists(), at=NOW) == {"e", "z", "b", "n", "blank"}
    assert shop.members(attr("name") == "", at=NOW) == {"blank"}
    assert shop.members(attr("name") < "a", at=NOW) == {"blank"}
    assert shop.members(~attr("name").exists(), at=NOW) == {"none"}


def test_tag_spellings_of_one_contact_count_it_once(store: Any) -> None:
    # x uses "VIP" and "vip"; y uses "vip": one group of 2 contacts, "vip" used by 2, "VIP" by 1
    shop = Shop(store, [person("x", tags={"VIP", "vip"}), person("y", tags={"vip"}), person("w", tags={"Vip", "b2b"})])
    assert shop.value_counts("tag") == [("vip", 3), ("b2b", 1)]


def test_events_count_by_their_own_instant_once_the_contact_exists(store: Any) -> None:
    # docs/ARCHITECTURE.md: an event before the contact's created_at still counts, from created_at on
    created = NOW - DAY
    shop = Shop(store, [person("late", created=created)], [view("e1", "late", NOW - 10 * DAY)])
    assert shop.members(viewed(within=last(days=30)), at=NOW) == {"late"}
    assert shop.members(viewed(), at=created - US) == frozenset()  # the contact does not exist yet
    assert shop.members(viewed(within=last(days=5)), at=NOW) == frozenset()


def test_joined_window_is_half_open(store: Any) -> None:
    from engagekit import joined

    shop = Shop(store, [person("edge", created=NOW - 7 * DAY), person("in", created=NOW - 7 * DAY + US),
                        person("now", created=NOW)])
    # last(days=7): at − 7 days < created_at <= at
    assert shop.members(joined(within=last(days=7)), at=NOW) == {"in", "now"}
    assert shop.members(joined(within=before(days=7)), at=NOW) == {"edge"}


def test_blocked_contacts_receive_nothing(store: Any) -> None:
    from engagekit import blocked, engaged, unengaged

    t = NOW - DAY
    shop = Shop(store, [person("spam", status="subscribed"), person("hard", status="subscribed"),
                        person("soft", status="subscribed"), person("ok", status="subscribed")],
                [Event(id="s1", contact_id="spam", type="spam_complaint", at=NOW - 300 * DAY),  # no campaign
                 Event(id="h1", contact_id="hard", type="hard_bounce", at=t, campaign_id="k1"),
                 Event(id="b1", contact_id="soft", type="soft_bounce", at=t, campaign_id="k1"),
                 view("v1", "spam", t), view("v2", "ok", t)])
    # blocked is ever (300 days ago still blocks); a soft bounce does not block
    assert shop.members(blocked(), at=NOW) == {"spam", "hard"}
    assert shop.members(engaged(), at=NOW) == {"ok"}  # spam viewed, but blocked wins
    assert shop.members(unengaged(), at=NOW) == {"soft"}
    assert store.audience(everyone(), kind="newsletter", at=NOW) == {"soft", "ok"}
    # before the hard bounce is visible, "hard" may still receive; "spam" complained long ago
    assert store.audience(everyone(), kind="newsletter", at=t - US) == {"hard", "soft", "ok"}


# --- windows longer than the calendar -------------------------------------------------------------------


def test_windows_reaching_before_year_one_count_from_the_beginning(store: Any) -> None:
    # 2026-06-30 is day 739797 of the proleptic Gregorian calendar (0001-01-01 is day 1), so at midnight
    # at − 739796 days = 0001-01-01T00:00Z, and anything longer reaches before year 1
    at = datetime(2026, 6, 30, tzinfo=UTC)
    first = datetime(1, 1, 1, tzinfo=UTC)
    shop = Shop(store, [person("c")], [view("e", "c", first)])
    assert shop.members(viewed(within=last(days=739796)), at=at) == frozenset()  # at − N < event.at fails
    assert shop.members(viewed(within=before(days=739796)), at=at) == {"c"}  # event.at <= at − N
    for longer in ({"days": 739797}, {"days": 10**6}, {"weeks": 10**9}, {"months": 10**5},
                   {"months": 24_305, "days": 30}):
        assert shop.members(viewed(within=last(**longer)), at=at) == {"c"}, longer
        assert shop.members(viewed(within=before(**longer)), at=at) == frozenset(), longer
    # 24305 months before 2026-06-30 is 0001-01-30; 29 days more is exactly 0001-01-01 (the event's instant)
    assert shop.members(viewed(within=last(months=24_305, days=29)), at=at) == frozenset()
    assert shop.members(viewed(within=before(months=24_305, days=29)), at=at) == {"c"}
    leaf = store.explain(viewed(within=last(days=10**6)), "c", at=at)
    assert (leaf.window, leaf.count) == ((None, at), 1)  # a start before year 1 shows as an open side


def test_engagement_timeframe_reaching_before_year_one(store: Any, store_factory: StoreFactory,
                                                      request: pytest.FixtureRequest) -> None:
    from engagekit import engaged

    shop = Shop(store, [person("c"), person("idle")], [view("e", "c", datetime(1, 1, 1, tzinfo=UTC))])
    assert shop.members(engaged(timeframe=timedelta(days=10**6)), at=NOW) == {"c"}


def test_dashboard_in_the_first_month_of_the_calendar(store: Any) -> None:
    # at 0001-01-10 the instant 30 days earlier precedes the calendar: nobody existed then, so the one
    # contact (created 0001-01-01, ordered then: engaged within 180 days) flows absent → engaged
    first = datetime(1, 1, 1, tzinfo=UTC)
    at = datetime(1, 1, 10, tzinfo=UTC)
    shop = Shop(store, [person("c", created=first)], [order("e", "c", first, "1.00")])
    expected = shop.ref.engagement(at=at)
    assert {k: v for k, v in expected.flows.items() if v} == {("absent", "engaged"): 1}
    g = expected.groups["engaged"]
    assert (g.count, g.count_before, g.change, g.change_pct, g.share) == (1, 0, 1, None, Decimal("1.0000"))
    got = store.engagement(at=at)
    assert dict(got.groups) == dict(expected.groups)
    assert {k: v for k, v in got.flows.items() if v} == {("absent", "engaged"): 1}


# --- bounds and amounts at the edges of what can be compared exactly -------------------------------------


def test_decimal_places_are_counted_beyond_28_digits(store: Any) -> None:
    # 1.0000000000000000000000000000001 has 31 decimal places (Decimal's default context keeps 28 digits,
    # so normalising it first would hide the last one and store 1.00)
    store.add_contacts([person("c1")])
    with pytest.raises(BatchRejected, match=r"value: 1\.0000000000000000000000000000001 has more decimal places"):
        store.add_events([order("e1", "c1", T0, "1.0000000000000000000000000000001")])
    # trailing zeros are still harmless, however many
    assert store.add_events([order("e1", "c1", T0, "1." + "0" * 40)]).added == 1
    assert store.metrics(everyone(), at=NOW).revenue == Decimal("1.00")


def test_count_bounds_up_to_64_bits(store: Any) -> None:
    shop = Shop(store, [person("a")], [view("e1", "a", T0)])
    assert shop.members(viewed(at_most=2**63 - 1), at=NOW) == {"a"}
    assert shop.members(viewed(at_least=2**63 - 1), at=NOW) == frozenset()
    assert shop.members(~viewed(exactly=2**63 - 1), at=NOW) == {"a"}


def test_out_of_range_bounds_are_refused_when_built() -> None:
    with pytest.raises(InvalidFilter, match=r"viewed\.at_least: 9223372036854775808 is more than"):
        viewed(at_least=2**63)
    with pytest.raises(InvalidFilter, match=r"ordered\.exactly"):
        ordered(exactly=10**30)
    # scaling 1E+999999999 to an integer for an exact comparison would never finish: refused at once
    for bound in ("1E+999999999", "1E+40", "1E-41"):
        with pytest.raises(InvalidFilter, match=r"spent\.at_least: .* is out of range"):
            spent(at_least=bound)
        with pytest.raises(InvalidFilter, match=r"aov\.at_most: .* is out of range"):
            aov(at_most=bound)
    assert spent(at_least="9.999E+39") == spent(at_least=Decimal("9999E+36"))
    assert aov(at_least="1E-40").at_least == Decimal("1E-40")  # type: ignore[attr-defined]


# --- text no store can keep -------------------------------------------------------------------------------


def test_text_that_is_not_unicode_is_refused_naming_the_field(store: Any) -> None:
    # json.loads('"\\ud800"') gives a lone surrogate: not Unicode text, no driver can encode it as UTF-8
    lone = "Krak\ud800w"
    bad_contacts = [
        {"id": "c\ud800", "created_at": "2026-01-01T00:00:00+00:00"},
        {"id": "c2", "created_at": "2026-01-01T00:00:00+00:00", "city": lone},
        {"id": "c3", "created_at": "2026-01-01T00:00:00+00:00", "tags": [lone]},
        {"id": "c4", "created_at": "2026-01-01T00:00:00+00:00", "attributes": {"plan": lone}},
        {"id": "c5", "created_at": "2026-01-01T00:00:00+00:00", "attributes": {"pl\x00an": 1}},
    ]
    report = store.add_contacts([person("ok"), *bad_contacts], on_invalid="skip")
    assert report.added == 1
    assert [(r.index, r.field) for r in report.rejected] == [(1, "id"), (2, "city"), (3, "tags"), (4, "attributes.plan"),
                                                             (5, "attributes")]
    assert all("surrogate" in r.reason or "NUL" in r.reason for r in report.rejected)
    bad_events = [
        {"id": "e1", "contact_id": "ok", "type": "product_view", "at": "2026-01-02T00:00:00+00:00", "product_id": lone},
        {"id": "e2", "contact_id": "ok", "type": "product_view", "at": "2026-01-02T00:00:00+00:00", "product_id": "p",
         "categories": ["ok", lone]},
    ]
    with pytest.raises(BatchRejected, match=r"events\[0\]\.product_id: .* lone surrogate"):
        store.add_events([*bad_events, view("e3", "ok", T0)])
    assert store.count(viewed(), at=NOW) == 0
    for build in (lambda: city(lone), lambda: tag(lone), lambda: viewed(product=lone), lambda: viewed(category=lone),
                  lambda: viewed(product="p\x00")):
        with pytest.raises(InvalidFilter, match="surrogate|NUL"):
            build()
    assert store.members(everyone(), at=NOW) == {"ok"}


# --- §10 money in a currency without two decimal places ------------------------------------------------


def test_campaign_money_in_the_store_currency(store_in: Any) -> None:
    # 3 sent, b clicked then ordered 1000 JPY: revenue 1000; revenue_per_1000 = 1000 × 1000 / 3
    # = 333333.33… → JPY has 0 places → 333333 (half-even); conversion 1 of 1 clicker
    store = store_in("JPY")
    t = datetime(2026, 5, 1, tzinfo=UTC)
    store.add_contacts([person(c) for c in "abc"])
    store.add_events([Event(id=f"s{c}", contact_id=c, type="email_sent", at=t, campaign_id="k1") for c in "abc"] +
                     [Event(id="k", contact_id="b", type="email_click", at=t + DAY, campaign_id="k1"),
                      order("o", "b", t + 2 * DAY, "1000", currency="JPY")])
    (r,) = store.campaign_results(at=NOW)
    assert (r.campaign_id, r.sent, r.clicked, r.orders) == ("k1", 3, 1, 1)
    assert (r.revenue, r.revenue_per_1000) == (Decimal("1000"), Decimal("333333"))
    assert r.conversion_rate == Decimal("1.0000")
    # KWD: 3 places; 2.000 over 3 sent → 666.6666… → 666.667
    kwd = store_in("KWD")
    kwd.add_contacts([person(c) for c in "abc"])
    kwd.add_events([Event(id=f"s{c}", contact_id=c, type="email_sent", at=t, campaign_id="k1") for c in "abc"] +
                   [Event(id="k", contact_id="b", type="email_click", at=t + DAY, campaign_id="k1"),
                    order("o", "b", t + 2 * DAY, "2.000", currency="KWD")])
    (r,) = kwd.campaign_results(at=NOW)
    assert (r.revenue, r.revenue_per_1000) == (Decimal("2.000"), Decimal("666.667"))
