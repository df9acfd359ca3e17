"""Each builder on a hand-made shop, with answers worked out by hand (not by any code under test).

The shop, at NOW = 2026-06-30T12:00Z:
- ``a``: subscribed, Warszawa, tag VIP, e-mail and phone, points 150, plan "Gold"; orders o1 at exactly
  NOW − 30 days (10.00; three ``bluzy`` items) and o2 at NOW − 30 days + 1 µs (20.01; one ``sport``
  item ``p3``); views ``p1`` ("Bluzy") exactly at NOW and after NOW; a ``p1`` cart at NOW − 2 days.
- ``b``: unknown, " warszawa ", points 40, no e-mail; orders at NOW − 10 d (10.00, ``p2`` buty) and
  NOW − 5 d (10.01); opened ``k1`` at NOW − 1 d; sent ``k1``, ``k2``; a hard bounce after NOW.
- ``c``: created 1 µs after NOW (does not exist at NOW).
- ``d``: created exactly at NOW, no events.
- ``e``: subscribed; subscribe (form f1) and unsubscribe at one instant NOW − 3 d; spam complaint at
  NOW − 50 d; clicked ``k2`` at NOW − 40 d.
- an event of ``ghost``, a contact never stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from engagekit import (
    Contact,
    Event,
    Filter,
    Item,
    Metrics,
    added_to_cart,
    aov,
    attr,
    before,
    between,
    blocked,
    city,
    clicked,
    country,
    engaged,
    ever,
    everyone,
    gender,
    has_email,
    has_phone,
    joined,
    language,
    last,
    opened,
    ordered,
    received,
    spent,
    status,
    subscribed,
    subscribed_via,
    tag,
    unengaged,
    viewed,
)
from tests.stores import STORE_PARAMS, StoreFactory, StoreKind
from tests.support import NOW, Shop

US = timedelta(microseconds=1)
DAY = timedelta(days=1)
OLD = NOW - 180 * DAY


def _order(eid: str, cid: str, at: Any, oid: str, value: str, items: list[Item]) -> Event:
    return Event(id=eid, contact_id=cid, type="order", at=at, order_id=oid, value=value, currency="PLN",
                 items=items)


SHOP = Shop(
    contacts=(
        Contact(id="a", created_at=OLD, city="Warszawa", country="pl", language="pl", gender="f", tags={"VIP"},
                status="subscribed", email="a@example.com", phone="+48600100001",
                attributes={"points": 150, "plan": "Gold"}),
        Contact(id="b", created_at=OLD, city=" warszawa ", country="PL", language="PL", gender="m",
                status="unknown", phone="  ", attributes={"points": 40}),
        Contact(id="c", created_at=NOW + US, city="Köln", status="subscribed", email="c@example.com"),
        Contact(id="d", created_at=NOW, status="unknown"),
        Contact(id="e", created_at=OLD, status="subscribed", country="DE"),
    ),
    events=(
        _order("a1", "a", NOW - 30 * DAY, "o1", "10.00",
               [Item(product_id=p, categories=("bluzy",)) for p in ("p1", "p4", "p5")]),
        _order("a2", "a", NOW - 30 * DAY + US, "o2", "20.01", [Item(product_id="p3", categories=("sport",))]),
        Event(id="a3", contact_id="a", type="product_view", at=NOW, product_id="p1", categories=("Bluzy",)),
        Event(id="a4", contact_id="a", type="product_view", at=NOW + US, product_id="p1", categories=("Bluzy",)),
        Event(id="a5", contact_id="a", type="add_to_cart", at=NOW - 2 * DAY, product_id="p1", categories=("bluzy",)),
        _order("b1", "b", NOW - 10 * DAY, "o3", "10.00", [Item(product_id="p2", categories=("buty",))]),
        _order("b2", "b", NOW - 5 * DAY, "o4", "10.01", []),
        Event(id="b3", contact_id="b", type="email_open", at=NOW - DAY, campaign_id="k1"),
        Event(id="b4", contact_id="b", type="email_sent", at=NOW - 2 * DAY, campaign_id="k1"),
        Event(id="b5", contact_id="b", type="email_sent", at=NOW - 2 * DAY, campaign_id="k2"),
        Event(id="b6", contact_id="b", type="hard_bounce", at=NOW + DAY, campaign_id="k2"),
        Event(id="e1", contact_id="e", type="subscribe", at=NOW - 3 * DAY, form_id="f1"),
        Event(id="e2", contact_id="e", type="unsubscribe", at=NOW - 3 * DAY),
        Event(id="e3", contact_id="e", type="spam_complaint", at=NOW - 50 * DAY),
        Event(id="e4", contact_id="e", type="email_click", at=NOW - 40 * DAY, campaign_id="k2"),
        Event(id="g1", contact_id="ghost", type="product_view", at=NOW - DAY, product_id="p1"),
    ),
)
REFERENCE = SHOP.reference()


@pytest.fixture(scope="module", params=STORE_PARAMS)
def shop_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    kind: StoreKind = request.param
    factory = StoreFactory(kind, tmp_path_factory.mktemp(f"hand-{kind.name}"))
    try:
        store = factory()
        SHOP.load(store)
        yield store
    finally:
        factory.close_all()


MEMBERS: list[tuple[str, Filter, Any, set[str]]] = [
    # existence: c is created 1 µs after NOW, d exactly at NOW
    ("everyone", everyone(), NOW, {"a", "b", "d", "e"}),
    ("everyone_after_now", everyone(), NOW + US, {"a", "b", "c", "d", "e"}),
    ("everyone_before_d", everyone(), NOW - US, {"a", "b", "e"}),
    ("nobody", ~everyone(), NOW, set()),
    # windows: an order exactly at at − 30 days is outside last(30) and inside before(30)
    ("ordered_last_30", ordered(within=last(days=30)), NOW, {"a", "b"}),
    ("ordered_last_30_only_boundary", ordered(exactly=1, within=last(days=30)), NOW, {"a"}),
    ("ordered_before_30", ordered(within=before(days=30)), NOW, {"a"}),
    ("ordered_last_30_one_us_later", ordered(at_least=2, within=last(days=30)), NOW, {"b"}),
    ("ordered_last_30_boundary_expires", ordered(within=last(days=30)), NOW + US, {"b"}),
    ("ordered_last_30_both_expired", ordered(exactly=0, within=last(days=30)), NOW + 2 * US,
     {"a", "c", "d", "e"}),
    ("ordered_last_month", ordered(at_least=2, within=last(months=1)), NOW, {"a", "b"}),  # May 30 12:00 < o1
    ("ordered_between_start_included", ordered(within=between(NOW - 30 * DAY, NOW - 30 * DAY + US)), NOW, {"a"}),
    ("ordered_between_end_excluded", ordered(within=between(NOW - 31 * DAY, NOW - 30 * DAY)), NOW, set()),
    ("ordered_between_not_yet_visible", viewed(within=between(NOW, NOW + DAY)), NOW, {"a"}),
    ("viewed_at_now", viewed(exactly=1), NOW, {"a"}),  # the view after NOW is not visible
    ("viewed_before_now", viewed(), NOW - US, set()),
    ("viewed_after_now", viewed(exactly=2), NOW + US, {"a"}),
    ("viewed_last_hour", viewed(within=last(hours=1)), NOW, {"a"}),
    ("viewed_category_spelling", viewed(category=" bluzy "), NOW, {"a"}),
    ("viewed_product_exact_id", viewed(product="P1"), NOW, set()),
    # at_most / at_least defaults
    ("ordered_at_most_0_last_30", ordered(at_most=0, within=last(days=30)), NOW, {"d", "e"}),
    ("ordered_at_most_1", ordered(at_most=1), NOW, {"d", "e"}),
    ("ordered_exactly_2", ordered(exactly=2), NOW, {"a", "b"}),
    ("ordered_at_least_0", ordered(at_least=0), NOW, {"a", "b", "d", "e"}),
    # orders match by items, an order counts once
    ("ordered_category_counts_once", ordered(category="BLUZY", exactly=1), NOW, {"a"}),
    ("ordered_category_twice", ordered(category="bluzy", at_least=2), NOW, set()),
    ("ordered_product", ordered(product={"p2", "p9"}), NOW, {"b"}),
    ("ordered_product_and_category", ordered(product="p3", category="bluzy"), NOW, set()),
    ("ordered_product_and_category_same_item", ordered(product="p4", category="bluzy"), NOW, {"a"}),
    ("added_to_cart_exactly_at_start", added_to_cart(product="p1", within=last(days=2)), NOW, set()),
    ("added_to_cart", added_to_cart(product="p1", within=last(days=3)), NOW, {"a"}),
    ("added_to_cart_before", added_to_cart(within=before(days=2)), NOW, {"a"}),
    # campaigns and forms (ids match exactly)
    ("opened_k1", opened(campaign="k1"), NOW, {"b"}),
    ("opened_K1", opened(campaign="K1"), NOW, set()),
    ("received_2", received(exactly=2), NOW, {"b"}),
    ("received_k2", received(campaign="k2"), NOW, {"b"}),
    ("clicked_last_30", clicked(within=last(days=30)), NOW, set()),
    ("clicked_before_30", clicked(within=before(days=30)), NOW, {"e"}),
    ("subscribed_via_f1", subscribed_via(form="f1"), NOW, {"e"}),
    ("subscribed_via_f1_earlier", subscribed_via(form="f1"), NOW - 3 * DAY - US, set()),
    # money: a spent 30.01, b spent 20.01 (mean 10.005), d and e nothing
    ("spent_at_least", spent(at_least="30.01"), NOW, {"a"}),
    ("spent_at_most_0", spent(at_most=0), NOW, {"d", "e"}),
    ("spent_last_30", spent(at_least=20, at_most="20.01", within=last(days=30)), NOW, {"a", "b"}),
    ("aov_at_most_exact_mean", aov(at_most=Decimal("10.005")), NOW, {"b"}),
    ("aov_at_most_rounded_mean", aov(at_most=10), NOW, set()),
    ("aov_at_least_exact_mean", aov(at_least=Decimal("10.005")), NOW, {"a", "b"}),
    ("aov_needs_orders", aov(at_most=1000), NOW, {"a", "b"}),
    ("aov_window", aov(at_least=20, within=last(days=30)), NOW, {"a"}),
    # attributes
    ("city", city("WARSZAWA"), NOW, {"a", "b"}),
    ("city_missing", city(None), NOW, {"d", "e"}),
    ("city_set", city({"köln", None}), NOW + US, {"c", "d", "e"}),
    ("country", country("Pl"), NOW, {"a", "b"}),
    ("language", language("pl"), NOW, {"a", "b"}),
    ("gender", gender({"M", "x"}), NOW, {"b"}),
    ("has_email", has_email(), NOW, {"a"}),
    ("has_phone_blank_is_missing", has_phone(), NOW, {"a"}),
    ("tag", tag(" vip"), NOW, {"a"}),
    ("not_tag", ~tag("vip"), NOW, {"b", "d", "e"}),
    ("status_unsubscribe_wins_tie", status("unsubscribed"), NOW, {"e"}),
    ("status_declared_before_events", status("subscribed"), NOW - 3 * DAY - US, {"a", "e"}),
    ("subscribed", subscribed(), NOW, {"a"}),
    ("status_set", status({"unknown", "unsubscribed"}), NOW, {"b", "d", "e"}),
    ("joined_last_day", joined(within=last(days=1)), NOW, {"d"}),
    ("joined_last_day_later", joined(within=last(days=1)), NOW + US, {"c", "d"}),
    ("joined_before", joined(within=before(days=1)), NOW, {"a", "b", "e"}),
    ("attr_ge", attr("points") >= 100, NOW, {"a"}),
    ("attr_eq_normalised", attr("plan") == " gold", NOW, {"a"}),
    ("attr_ne_needs_a_value", attr("plan") != "gold", NOW, set()),
    ("attr_ne", attr("points") != 150, NOW, {"b"}),
    ("attr_ne_other_type", attr("points") != "150", NOW, {"a", "b"}),
    ("attr_lt_string_vs_number", attr("points") < "z", NOW, set()),
    ("attr_is_in", attr("points").is_in([40, 41.0]), NOW, {"b"}),
    ("attr_exists", attr("points").exists(), NOW, {"a", "b"}),
    ("attr_missing_only_under_not", ~(attr("plan") == "x"), NOW, {"a", "b", "d", "e"}),
    # engagement: e is blocked (spam complaint); b's hard bounce comes after NOW
    ("blocked", blocked(), NOW, {"e"}),
    ("blocked_later", blocked(), NOW + DAY, {"b", "e"}),
    ("engaged_30", engaged(timeframe=timedelta(days=30)), NOW, {"a", "b"}),
    ("engaged_1", engaged(timeframe=timedelta(days=1)), NOW, {"a"}),
    ("unengaged_1", unengaged(timeframe=timedelta(days=1)), NOW, {"b", "d"}),
    ("unengaged_180", unengaged(), NOW, {"d"}),
    ("combined", (city("warszawa") | country("de")) & ~blocked() & ~tag("vip"), NOW, {"b"}),
]


@pytest.mark.parametrize(("flt", "at", "expected"), [pytest.param(f, at, e, id=n) for n, f, at, e in MEMBERS])
def test_reference_members(flt: Filter, at: Any, expected: set[str]) -> None:
    assert REFERENCE.members(flt, at=at) == expected


@pytest.mark.parametrize(("flt", "at", "expected"), [pytest.param(f, at, e, id=n) for n, f, at, e in MEMBERS])
def test_store_members(shop_store: Any, flt: Filter, at: Any, expected: set[str]) -> None:
    assert shop_store.members(flt, at=at) == expected
    assert shop_store.count(flt, at=at) == len(expected)


# worked by hand: orders a 10.00 + 20.01 (1 µs apart), b 10.00 + 10.01 (5 days apart); engaged(30 d): a, b.
# ever: AOV 50.02 / 4 = 12.505 -> 12.50 (half-even); TBO (5 d + 1 µs) / 2 = 216000.0000005 s -> 216000 s.
# last(30 d) drops o1 (exactly at its start): 20.01 + 20.01 over 3 orders = 13.34.
METRICS: list[tuple[str, Any, Metrics]] = [
    ("ever", ever(), Metrics(contacts=4, customers=2, orders=4, revenue=Decimal("50.02"), aov=Decimal("12.50"),
                             acv=Decimal("25.01"), ano=Decimal("2.00"), tbo=timedelta(seconds=216000),
                             engagement_rate=Decimal("0.5000"))),
    ("last_30", last(days=30), Metrics(contacts=4, customers=2, orders=3, revenue=Decimal("40.02"),
                                       aov=Decimal("13.34"), acv=Decimal("20.01"), ano=Decimal("1.50"),
                                       tbo=timedelta(days=5), engagement_rate=Decimal("0.5000"))),
]


@pytest.mark.parametrize(("within", "expected"), [pytest.param(w, m, id=n) for n, w, m in METRICS])
def test_metrics_by_hand(shop_store: Any, within: Any, expected: Metrics) -> None:
    assert REFERENCE.metrics(everyone(), at=NOW, within=within) == expected
    assert shop_store.metrics(everyone(), at=NOW, within=within) == expected


def test_value_counts_by_hand(shop_store: Any) -> None:
    expected = {
        "city": [(" warszawa ", 2), ("UNDEFINED", 2)],  # a tie of spellings: the smallest string
        "country": [("PL", 2), ("DE", 1), ("UNDEFINED", 1)],
        "tag": [("UNDEFINED", 3), ("VIP", 1)],
        "category": [("UNDEFINED", 2), ("Bluzy", 1), ("buty", 1), ("sport", 1)],  # a: one "Bluzy", one "bluzy"
        "product": [("UNDEFINED", 2), ("p1", 1), ("p2", 1), ("p3", 1), ("p4", 1), ("p5", 1)],
    }
    for field, pairs in expected.items():
        assert REFERENCE.value_counts(field, None, at=NOW) == pairs, field
        assert [tuple(p) for p in shop_store.value_counts(field, None, at=NOW)] == pairs, field


def test_audience_by_hand(shop_store: Any) -> None:
    # newsletter: subscribed and not blocked (e unsubscribed and blocked); automation adds unknown
    assert shop_store.audience(everyone(), kind="newsletter", at=NOW) == {"a"}
    assert shop_store.audience(everyone(), kind="automation", at=NOW) == {"a", "b", "d"}
    assert shop_store.audience(everyone(), kind="automation", at=NOW + DAY) == {"a", "c", "d"}  # b bounced
    assert REFERENCE.audience(everyone(), "automation", at=NOW + DAY) == {"a", "c", "d"}
