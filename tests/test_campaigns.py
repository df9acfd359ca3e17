"""Campaign results and comparisons (SPEC §10): hand-worked edges, every store against a plain
transcription of §10, the Wilson interval and the z-test against scipy and hand-worked values.

``reference_totals`` below is written independently of ``engagekit.campaigns``: contact by contact
and event by event, with datetimes, straight from SPEC §10's wording. It shares only the one place
that divides (``CampaignResult.from_totals``), as the metrics reference does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagekit import CampaignResult, Contact, EngagekitError, Event, compare
from engagekit.campaigns import (
    CampaignTotals,
    _round_surd,
    by_segment,
    event_rows,
    pool,
    totals_from_rows,
    two_proportion_p_value,
    wilson,
)
from engagekit.errors import InvalidFilter
from engagekit.money import exponent
from tests.stores import StoreFactory
from tests.strategies import question_instants, shops
from tests.support import Shop

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
DAY = timedelta(days=1)
W = timedelta(days=5)
LATER = T0 + 60 * DAY
CURRENCY = "PLN"

CAMPAIGN_TYPES = {"email_sent", "email_open", "email_click", "hard_bounce", "soft_bounce", "spam_complaint"}


# --- SPEC §10, transcribed -------------------------------------------------------------------------


def reference_totals(contacts: Iterable[Contact], events: Iterable[Event], *, at: datetime,
                     window: timedelta = W, touch: str = "click", campaigns: Iterable[str] | None = None,
                     currency: str = CURRENCY) -> list[CampaignTotals]:
    """SPEC §10 by the letter. Contacts: the last version of an id wins; events: the first of an id."""
    people = {c.id: c for c in contacts}
    first_of_id: dict[str, Event] = {}
    for e in events:
        first_of_id.setdefault(e.id, e)
    existing = {cid for cid, c in people.items() if c.created_at <= at}
    visible = [e for e in first_of_id.values() if e.at <= at and e.contact_id in existing]

    ids = sorted({e.campaign_id for e in visible if e.type in CAMPAIGN_TYPES and e.campaign_id is not None})
    if campaigns is not None:
        asked = {campaigns} if isinstance(campaigns, str) else set(campaigns)
        ids = [i for i in ids if i in asked]

    def who(types: set[str], campaign: str) -> set[str]:
        return {e.contact_id for e in visible if e.type in types and e.campaign_id == campaign}

    touching = {"email_click"} if touch == "click" else {"email_open", "email_click"}

    def attributed_to(order: Event) -> str | None:
        candidates = [e for e in visible
                      if e.contact_id == order.contact_id and e.type in touching and e.campaign_id is not None
                      and order.at - window < e.at <= order.at]
        if not candidates:
            return None
        latest = max(candidates, key=lambda e: (e.at, e.campaign_id))
        return latest.campaign_id

    attribution = [(o, attributed_to(o)) for o in visible if o.type == "order"]
    out = []
    for campaign in ids:
        sent = who({"email_sent"}, campaign)
        mine = [o for o, c in attribution if c == campaign]
        unsubscribed = 0
        for person in sent:
            first = min(e.at for e in visible
                        if e.contact_id == person and e.type == "email_sent" and e.campaign_id == campaign)
            if any(e.contact_id == person and e.type == "unsubscribe" and first < e.at <= first + window
                   for e in visible):
                unsubscribed += 1
        revenue = sum((o.value for o in mine if o.value is not None), Decimal(0))
        out.append(CampaignTotals(
            campaign,
            sent=len(sent),
            bounced=len(who({"hard_bounce", "soft_bounce"}, campaign)),
            opened=len(who({"email_open", "email_click"}, campaign)),
            clicked=len(who({"email_click"}, campaign)),
            orders=len(mine),
            revenue_minor=int(revenue.scaleb(exponent(currency))),
            converted=len({o.contact_id for o in mine}),
            unsubscribed=unsubscribed,
            complaints=len(who({"spam_complaint"}, campaign)),
        ))
    return out


def reference_results(contacts: Iterable[Contact], events: Iterable[Event], **kwargs: Any) -> list[CampaignResult]:
    touch = kwargs.get("touch", "click")
    return [CampaignResult.from_totals(t, currency=CURRENCY, touch=touch)
            for t in reference_totals(contacts, events, **kwargs)]


# --- building shops by hand -------------------------------------------------------------------------

_ids = itertools.count()


def person(cid: str, created: datetime = T0 - 30 * DAY) -> Contact:
    return Contact(id=cid, created_at=created, email=f"{cid}@example.com", status="subscribed")


def ev(kind: str, who: str, at: datetime, campaign: str | None = None, **fields: Any) -> Event:
    if kind == "order":
        fields.setdefault("order_id", f"o{next(_ids)}")
        fields.setdefault("currency", CURRENCY)
        fields["value"] = Decimal(fields.get("value", "100.00"))
    elif campaign is not None:
        fields["campaign_id"] = campaign
    return Event(id=f"h{next(_ids)}", contact_id=who, type=kind, at=at, **fields)


class Runner:
    """Loads data into one store step by step, asks it, and checks the transcription agrees."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.contacts: list[Contact] = []
        self.events: list[Event] = []

    def __call__(self, contacts: Sequence[Contact] = (), events: Sequence[Event] = (),
                 **kwargs: Any) -> dict[str, CampaignResult]:
        if contacts:
            self.store.add_contacts(list(contacts))
            self.contacts.extend(contacts)
        if events:
            self.store.add_events(list(events))
            self.events.extend(events)
        kwargs.setdefault("at", LATER)
        got = self.store.campaign_results(**kwargs)
        assert got == reference_results(self.contacts, self.events, **kwargs)
        return {r.campaign_id: r for r in got}


# --- hand-worked edges (every store) -----------------------------------------------------------------


def test_click_without_open_counts_as_opened(store: Any) -> None:
    run = Runner(store)
    people = [person("a"), person("b"), person("c")]
    events = [ev("email_sent", p.id, T0, "k1") for p in people] + [
        ev("email_click", "a", T0 + DAY, "k1"),          # clicked, the image never loaded
        ev("email_open", "b", T0 + DAY, "k1"),
        ev("email_open", "b", T0 + 2 * DAY, "k1"),       # twice: one contact
    ]
    r = run(people, events)["k1"]
    assert (r.sent, r.delivered, r.opened, r.clicked) == (3, 3, 2, 1)
    assert r.open_rate == Decimal("0.6667")
    assert r.click_rate == Decimal("0.3333")
    assert r.click_to_open == Decimal("0.5000")


def test_later_touch_wins(store: Any) -> None:
    run = Runner(store)
    people = [person("a")]
    events = [
        ev("email_sent", "a", T0, "k1"), ev("email_sent", "a", T0, "k2"),
        ev("email_click", "a", T0 + DAY, "k2"),
        ev("email_click", "a", T0 + 2 * DAY, "k1"),      # the latest touch before the order
        ev("order", "a", T0 + 3 * DAY, value="250.00"),
    ]
    got = run(people, events)
    assert (got["k1"].orders, got["k1"].revenue, got["k1"].converted) == (1, Decimal("250.00"), 1)
    assert (got["k2"].orders, got["k2"].revenue, got["k2"].converted) == (0, Decimal("0.00"), 0)
    assert got["k1"].conversion_rate == Decimal("1.0000")
    assert got["k2"].conversion_rate == Decimal("0.0000")
    assert got["k1"].revenue_per_1000 == Decimal("250000.00")


def test_equal_instant_touches_go_to_the_larger_campaign_id(store: Any) -> None:
    run = Runner(store)
    people = [person("a")]
    events = [
        ev("email_click", "a", T0, "K1"),
        ev("email_click", "a", T0, "k1"),                # "k1" > "K1" in code-point order
        ev("email_click", "a", T0, "k0"),
        ev("order", "a", T0 + DAY),
    ]
    got = run(people, events)
    assert [r.campaign_id for r in got.values()] == ["K1", "k0", "k1"]
    assert got["k1"].orders == 1
    assert got["K1"].orders == got["k0"].orders == 0


def test_order_at_the_window_edge(store: Any) -> None:
    run = Runner(store)
    people = [person("a"), person("b"), person("c"), person("d")]
    events = [
        ev("email_click", "a", T0, "k1"), ev("order", "a", T0 + W),            # order.at - window: excluded
        ev("email_click", "b", T0, "k1"), ev("order", "b", T0 + W - US),       # one µs inside
        ev("email_click", "c", T0, "k1"), ev("order", "c", T0),                # order.at itself: included
        ev("email_click", "d", T0 + US, "k1"), ev("order", "d", T0),           # a touch after the order
    ]
    r = run(people, events)["k1"]
    assert (r.orders, r.converted, r.clicked) == (2, 2, 4)
    assert r.conversion_rate == Decimal("0.5000")
    shorter = run(window=W - US)["k1"]  # same data, a window 1 µs shorter
    assert shorter.orders == 1


def test_an_attributed_order_counts_once_even_when_the_contact_ordered_twice(store: Any) -> None:
    run = Runner(store)
    people = [person("a")]
    events = [ev("email_click", "a", T0, "k1"), ev("order", "a", T0 + DAY, value="10.00"),
              ev("order", "a", T0 + 2 * DAY, value="5.50"), ev("order", "a", T0 + 6 * DAY, value="1.00")]
    r = run(people, events)["k1"]
    assert (r.orders, r.revenue, r.converted) == (2, Decimal("15.50"), 1)


def test_bounce(store: Any) -> None:
    run = Runner(store)
    people = [person(c) for c in "abcd"]
    events = [ev("email_sent", p.id, T0, "k1") for p in people] + [
        ev("hard_bounce", "a", T0 + US, "k1"),
        ev("soft_bounce", "b", T0 + US, "k1"),
        ev("soft_bounce", "b", T0 + DAY, "k1"),          # one contact, bounced twice
        ev("hard_bounce", "c", T0 + US, "k2"),           # another campaign's bounce
        ev("hard_bounce", "c", T0 + US),                 # a bounce of no campaign
        ev("email_open", "c", T0 + DAY, "k1"),
    ]
    got = run(people, events)
    r = got["k1"]
    assert (r.sent, r.bounced, r.delivered, r.opened) == (4, 2, 2, 1)
    assert r.open_rate == Decimal("0.5000")
    assert (got["k2"].sent, got["k2"].bounced, got["k2"].delivered) == (0, 1, -1)
    assert got["k2"].open_rate is None and got["k2"].open_rate_ci is None
    assert got["k2"].revenue_per_1000 is None


def test_unsubscribe_window(store: Any) -> None:
    run = Runner(store)
    people = [person(c) for c in "abcdef"]
    events = [ev("email_sent", p.id, T0, "k1") for p in people] + [
        ev("unsubscribe", "a", T0 + W),                   # just inside: (sent_at, sent_at + window]
        ev("unsubscribe", "b", T0 + W + US),              # just outside
        ev("unsubscribe", "c", T0),                       # at the send itself: not after it
        ev("email_sent", "d", T0 + 3 * DAY, "k1"),        # a second send does not move the window
        ev("unsubscribe", "d", T0 + 6 * DAY),
        ev("unsubscribe", "e", T0 + US, form_id="footer"),
        ev("unsubscribe", "e", T0 + 2 * US),              # twice: one contact
        ev("unsubscribe", "g", T0 + DAY),                 # never sent this campaign
    ]
    assert run(people, events)["k1"].unsubscribed == 2


def test_an_unsubscribe_counts_for_every_campaign_whose_window_holds_it(store: Any) -> None:
    run = Runner(store)
    people = [person("a")]
    events = [ev("email_sent", "a", T0, "k1"), ev("email_sent", "a", T0 + DAY, "k2"),
              ev("email_sent", "a", T0 - 10 * DAY, "k3"), ev("unsubscribe", "a", T0 + 2 * DAY)]
    got = run(people, events)
    assert [got[k].unsubscribed for k in ("k1", "k2", "k3")] == [1, 1, 0]


def test_complaints(store: Any) -> None:
    run = Runner(store)
    people = [person("a"), person("b")]
    events = [ev("email_sent", "a", T0, "k1"), ev("spam_complaint", "a", T0 + DAY, "k1"),
              ev("spam_complaint", "a", T0 + 2 * DAY, "k1"), ev("spam_complaint", "b", T0 + DAY),
              ev("spam_complaint", "b", T0 + DAY, "k2")]
    got = run(people, events)
    assert got["k1"].complaints == 1
    assert got["k2"].complaints == 1 and got["k2"].sent == 0


def test_zero_delivered(store: Any) -> None:
    run = Runner(store)
    people = [person("a")]
    events = [ev("email_sent", "a", T0, "k1"), ev("hard_bounce", "a", T0 + US, "k1")]
    r = run(people, events)["k1"]
    assert (r.sent, r.bounced, r.delivered) == (1, 1, 0)
    assert r.open_rate is r.click_rate is r.click_to_open is r.conversion_rate is None
    assert r.open_rate_ci is r.click_rate_ci is r.click_to_open_ci is r.conversion_rate_ci is None
    assert r.revenue_per_1000 == Decimal("0.00")


def test_touch_open(store: Any) -> None:
    run = Runner(store)
    people = [person("a"), person("b"), person("c")]
    events = [ev("email_sent", p.id, T0, "k1") for p in people] + [
        ev("email_sent", "a", T0, "k2"),
        ev("email_open", "a", T0 + DAY, "k1"), ev("order", "a", T0 + 2 * DAY, value="40.00"),
        ev("email_click", "b", T0 + DAY, "k1"), ev("order", "b", T0 + 2 * DAY, value="60.00"),
        ev("email_open", "c", T0 + DAY, "k1"),
        ev("email_click", "a", T0 + DAY - US, "k2"),     # clicked k2 earlier, opened k1 later
    ]
    by_click = run(people, events)
    assert (by_click["k1"].orders, by_click["k2"].orders) == (1, 1)
    assert by_click["k1"].conversion_rate == Decimal("1.0000")          # 1 of 1 clicker
    by_open = run(touch="open")
    assert (by_open["k1"].orders, by_open["k1"].revenue, by_open["k2"].orders) == (2, Decimal("100.00"), 0)
    assert by_open["k1"].conversion_rate == Decimal("0.6667")           # 2 of 3 openers
    assert by_open["k1"].touch == "open"


def test_visibility_existence_and_selection(store: Any) -> None:
    run = Runner(store)
    people = [person("a"), person("late", created=T0 + 10 * DAY)]
    events = [
        ev("email_sent", "a", T0, "k1"), ev("email_click", "a", T0 + DAY, "k2"),
        ev("order", "a", T0 + 2 * DAY),
        ev("email_sent", "late", T0, "k3"),               # exists only from T0 + 10 days
        ev("email_sent", "ghost", T0, "k4"),              # a contact never stored
        ev("email_sent", "a", T0 + 20 * DAY, "k5"),
    ]
    everything = run(people, events)
    assert list(everything) == ["k1", "k2", "k3", "k5"]
    assert list(run(at=T0 + 5 * DAY)) == ["k1", "k2"]
    assert store.campaign_results(at=T0 - US) == []
    # a campaign's results do not depend on which others were asked for: the order stays k2's
    only = run(campaigns=["k1", "nope"])
    assert list(only) == ["k1"] and only["k1"].orders == 0
    assert run(campaigns="k2")["k2"].orders == 1
    assert store.campaign_results([], at=LATER) == []
    assert store.campaign_results(["k2", "k1"], at=LATER) == [everything["k1"], everything["k2"]]
    store.forget("a")
    assert [r.campaign_id for r in store.campaign_results(at=LATER)] == ["k3"]


def test_default_at_uses_the_store_clock() -> None:
    from engagekit import MemoryStore

    store = MemoryStore(currency=CURRENCY, clock=lambda: T0 + DAY)
    store.add_contacts([person("a")])
    store.add_events([ev("email_sent", "a", T0, "k1"), ev("email_sent", "a", T0 + 2 * DAY, "k2")])
    assert [r.campaign_id for r in store.campaign_results()] == ["k1"]


def test_bad_arguments(store: Any) -> None:
    with pytest.raises(InvalidFilter, match="touch"):
        store.campaign_results(touch="view")
    with pytest.raises(InvalidFilter, match="window"):
        store.campaign_results(window=timedelta(0))
    with pytest.raises(InvalidFilter, match="window"):
        store.campaign_results(window=5)
    with pytest.raises(InvalidFilter, match=r"campaigns\[1\]"):
        store.campaign_results(["k1", ""])
    with pytest.raises(EngagekitError, match="naive"):
        store.campaign_results(at=datetime(2026, 1, 1))


# --- every store equals the transcription -----------------------------------------------------------

GRID = [T0 + d for d in (timedelta(0), US, timedelta(hours=1), DAY, 2 * DAY, W - US, W, W + US, 6 * DAY,
                         10 * DAY, 10 * DAY + W)]
CAMPAIGNS = ["k1", "k2", "K1", "é"]
PEOPLE = ["c1", "c2", "c3", "c4"]
KINDS = ["email_sent", "email_sent", "email_open", "email_click", "email_click", "hard_bounce", "soft_bounce",
         "spam_complaint", "order", "order", "unsubscribe", "subscribe"]


@st.composite
def campaign_shops(draw: st.DrawFn) -> Shop:
    """Few contacts, events dense around window edges, several campaigns touching the same orders."""
    people = [Contact(id=cid, created_at=draw(st.sampled_from([T0 - DAY, T0 - DAY, T0 + DAY, T0 + W])))
              for cid in draw(st.lists(st.sampled_from(PEOPLE), unique=True, max_size=4))]
    events = []
    for i in range(draw(st.integers(0, 30))):
        kind = draw(st.sampled_from(KINDS))
        fields: dict[str, Any] = {}
        if kind == "order":
            fields = {"order_id": f"o{i}", "currency": CURRENCY,
                      "value": draw(st.sampled_from([Decimal("0"), Decimal("10.01"), Decimal("99.99")]))}
        elif kind in ("hard_bounce", "soft_bounce", "spam_complaint"):
            fields = {"campaign_id": draw(st.sampled_from([None, *CAMPAIGNS]))}
        elif kind.startswith("email"):
            fields = {"campaign_id": draw(st.sampled_from(CAMPAIGNS))}
        events.append(Event(id=f"e{i:03d}", contact_id=draw(st.sampled_from([*PEOPLE, "ghost"])), type=kind,
                            at=draw(st.sampled_from(GRID)), **fields))
    return Shop(tuple(people), tuple(events), draw(st.integers(0, len(events))))


ASK_AT = [T0 + d for d in (timedelta(0), DAY, W, W + US, 30 * DAY)]
WINDOWS = [W, DAY, W - US, timedelta(hours=1), 10 * DAY]


@given(shop=campaign_shops(), at=st.sampled_from(ASK_AT), window=st.sampled_from(WINDOWS),
       touch=st.sampled_from(["click", "open"]),
       asked=st.one_of(st.none(), st.lists(st.sampled_from([*CAMPAIGNS, "zz"]), max_size=3)))
def test_every_store_equals_the_reference(store_factory: StoreFactory, shop: Shop, at: datetime,
                                          window: timedelta, touch: str, asked: list[str] | None) -> None:
    expected = reference_results(shop.contacts, shop.events, at=at, window=window, touch=touch, campaigns=asked)
    with store_factory.fresh() as store:
        shop.load(store)
        got = store.campaign_results(asked, at=at, window=window, touch=touch)
        assert got == expected
        if asked:  # asking one at a time gives the same answers
            alone = [r for cid in sorted(set(asked)) for r in store.campaign_results([cid], at=at, window=window,
                                                                                     touch=touch)]
            assert alone == expected


@given(shop=shops(), at=question_instants(), touch=st.sampled_from(["click", "open"]))
def test_every_store_equals_the_reference_on_general_shops(store_factory: StoreFactory, shop: Shop, at: datetime,
                                                            touch: str) -> None:
    expected = reference_results(shop.contacts, shop.events, at=at, window=timedelta(days=30), touch=touch)
    with store_factory.fresh() as store:
        shop.load(store)
        assert store.campaign_results(at=at, window=timedelta(days=30), touch=touch) == expected


@given(shop=campaign_shops(), at=st.sampled_from(ASK_AT))
def test_rows_function_equals_the_reference(shop: Shop, at: datetime) -> None:
    people = {c.id: c for c in shop.contacts}
    first: dict[str, Event] = {}
    for e in shop.events:
        first.setdefault(e.id, e)
    at_us = (at - datetime(1970, 1, 1, tzinfo=UTC)) // US
    got = totals_from_rows(event_rows(first.values(), CURRENCY),
                           exists=lambda c: c in people and people[c].created_at <= at,
                           campaign_ids=None, at_us=at_us, window_us=W // US, touch="click")
    assert got == reference_totals(shop.contacts, shop.events, at=at)


# --- the one place that divides ---------------------------------------------------------------------


def test_from_totals_rounds_half_even_and_quantizes_money() -> None:
    t = CampaignTotals("k", sent=3, bounced=0, opened=1, clicked=1, orders=1, revenue_minor=1, converted=1)
    r = CampaignResult.from_totals(t, currency="PLN")
    assert r.revenue == Decimal("0.01")
    assert r.revenue_per_1000 == Decimal("3.33")                 # 10 / 3 PLN
    assert r.open_rate == Decimal("0.3333")
    half = CampaignResult.from_totals(CampaignTotals("k", sent=20000, opened=1), currency="PLN")
    assert half.open_rate == Decimal("0.0000")                   # 0.00005 → even
    half3 = CampaignResult.from_totals(CampaignTotals("k", sent=20000, opened=3), currency="PLN")
    assert half3.open_rate == Decimal("0.0002")                  # 0.00015 → even
    yen = CampaignResult.from_totals(CampaignTotals("k", sent=3, revenue_minor=5), currency="JPY")
    assert (yen.revenue, yen.revenue_per_1000) == (Decimal("5"), Decimal("1667"))
    assert r.totals() == t
    assert r.to_dict()["open_rate_ci"] == [str(v) for v in r.open_rate_ci or ()]


def test_pool_sums_totals() -> None:
    a = CampaignResult.from_totals(CampaignTotals("a", sent=10, bounced=1, opened=5, clicked=2, orders=1,
                                                  revenue_minor=1000, converted=1, unsubscribed=1), currency="PLN")
    b = CampaignResult.from_totals(CampaignTotals("b", sent=30, opened=6, clicked=2, complaints=2), currency="PLN")
    p = pool([a, b], label="segment")
    assert p.totals() == CampaignTotals("segment", sent=40, bounced=1, opened=11, clicked=4, orders=1,
                                        revenue_minor=1000, converted=1, unsubscribed=1, complaints=2)
    assert p.click_rate == Decimal("0.1026")                      # 4 / 39
    with pytest.raises(InvalidFilter):
        pool([])
    with pytest.raises(InvalidFilter, match="currencies"):
        pool([a, CampaignResult.from_totals(CampaignTotals("c", sent=1), currency="EUR")])


# --- the Wilson interval ----------------------------------------------------------------------------


def _wilson_float(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_wilson_worked_by_hand() -> None:
    # k=15, n=100: centre (0.15 + 0.019208) / 1.038416 = 0.162948; half 1.887491 × √0.00137104 = 0.069890
    assert wilson(15, 100) == (Decimal("0.0931"), Decimal("0.2328"))
    # k=0: the lower bound is exactly 0, the upper z²/(n + z²) = 3.8416 / 13.8416 = 0.27754…
    assert wilson(0, 10) == (Decimal("0.0000"), Decimal("0.2775"))
    # k=n=1: lower 1/(1 + z²) = 0.20654…, upper exactly 1
    assert wilson(1, 1) == (Decimal("0.2065"), Decimal("1.0000"))
    assert wilson(0, 0) is None
    assert wilson(5, 4) is None                                  # inconsistent data: no interval


def test_wilson_against_scipy() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    for k, n in [(0, 1), (1, 2), (3, 7), (15, 100), (150, 1000), (61, 1000), (999, 1000), (12345, 67890)]:
        lo, hi = wilson(k, n) or (Decimal(-1), Decimal(-1))
        ci = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        # scipy uses z = 1.95996…, engagekit SPEC's z = 1.96: agree to well within a unit of 0.0001
        assert abs(float(lo) - ci.low) < 0.00015 and abs(float(hi) - ci.high) < 0.00015, (k, n)
        flo, fhi = _wilson_float(k, n)
        assert abs(float(lo) - flo) <= 0.00005 + 1e-12 and abs(float(hi) - fhi) <= 0.00005 + 1e-12, (k, n)


@given(k=st.integers(0, 3000), extra=st.integers(0, 3000))
def test_wilson_matches_the_float_formula(k: int, extra: int) -> None:
    n = k + extra
    if n == 0:
        assert wilson(k, n) is None
        return
    lo, hi = wilson(k, n) or (Decimal(-1), Decimal(-1))
    flo, fhi = _wilson_float(k, n)
    assert abs(float(lo) - flo) <= 0.00005 + 1e-9 and abs(float(hi) - fhi) <= 0.00005 + 1e-9
    assert Decimal(0) <= lo <= hi <= Decimal(1)


def test_exact_rounding_of_surds() -> None:
    assert _round_surd(0, 1, 25, 10) == 0        # 0.5: a tie, to even
    assert _round_surd(10, 1, 25, 10) == 2       # 1.5 → 2
    assert _round_surd(30, -1, 25, 10) == 2      # 2.5 → 2
    assert _round_surd(0, 1, 9, 2) == 2          # 1.5 → 2
    assert _round_surd(0, 1, 8, 2) == 1          # √8 / 2 = 1.414…
    assert _round_surd(0, 1, 10, 2) == 2         # √10 / 2 = 1.581…
    assert _round_surd(0, 1, 2 * 10**8, 1) == 14142          # 14142.1356…
    assert _round_surd(20000, -1, 2 * 10**8, 1) == 5858      # 5857.864…
    assert _round_surd(0, -1, 2, 1) == -1                    # -1.414…
    assert _round_surd(0, -1, 3, 1) == -2                    # -1.732…


def _wilson_decimal(k: int, n: int) -> tuple[Decimal, Decimal]:
    """The Wilson bounds by Decimal arithmetic at 80 digits, independently of engagekit's integer method."""
    with localcontext() as ctx:
        ctx.prec = 80
        z = Decimal("1.96")
        kd, nd = Decimal(k), Decimal(n)
        root = (kd * (nd - kd) / nd + z * z / 4).sqrt()
        lo = (kd + z * z / 2 - z * root) / (nd + z * z)
        hi = (kd + z * z / 2 + z * root) / (nd + z * z)
        q = Decimal("0.0001")
        return lo.quantize(q, rounding=ROUND_HALF_EVEN), hi.quantize(q, rounding=ROUND_HALF_EVEN)


@given(k=st.integers(0, 10**6), extra=st.integers(0, 10**6))
def test_wilson_digits_equal_high_precision_decimal(k: int, extra: int) -> None:
    n = k + extra
    if n:
        assert wilson(k, n) == _wilson_decimal(k, n)


def test_wilson_digits_on_a_grid() -> None:
    for n in range(1, 120):
        for k in range(n + 1):
            assert wilson(k, n) == _wilson_decimal(k, n), (k, n)


# --- the z-test and compare -------------------------------------------------------------------------


def test_z_test_worked_by_hand() -> None:
    # 150/1000 vs 61/1000: pooled p = 0.1055, se = √(0.1055 × 0.8945 × 0.002) = 0.013738, z = 6.478
    p = two_proportion_p_value(150, 1000, 61, 1000)
    assert p is not None and 9.0e-11 < p < 9.6e-11
    # 50/100 vs 50/100: z = 0, p = 1
    assert two_proportion_p_value(50, 100, 50, 100) == pytest.approx(1.0)
    # 12/200 vs 11/220: pooled 23/420, z = 0.4497…, p = 0.6529…
    assert two_proportion_p_value(12, 200, 11, 220) == pytest.approx(0.6528, abs=1e-4)
    assert two_proportion_p_value(0, 10, 0, 20) is None
    assert two_proportion_p_value(5, 0, 1, 2) is None
    assert two_proportion_p_value(3, 2, 1, 2) is None


def test_z_test_against_scipy_chi_square() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    for k1, n1, k2, n2 in [(150, 1000, 61, 1000), (12, 200, 11, 220), (1, 3, 2, 3), (40, 41, 30, 41),
                           (7, 5000, 19, 5100)]:
        table = [[k1, n1 - k1], [k2, n2 - k2]]
        chi2, expected_p, _, _ = scipy_stats.chi2_contingency(table, correction=False)  # χ² = z²
        assert two_proportion_p_value(k1, n1, k2, n2) == pytest.approx(expected_p, rel=1e-9)


def _result(cid: str, **totals: int) -> CampaignResult:
    return CampaignResult.from_totals(CampaignTotals(cid, **totals), currency="PLN")


def test_compare_sentences() -> None:
    a = _result("segment", sent=1000, opened=400, clicked=150, converted=30, orders=31, revenue_minor=282400)
    b = _result("mass", sent=1000, opened=300, clicked=61, converted=6, orders=6, revenue_minor=27800)
    c = compare(a, b)
    assert c.sentence("click_rate") == "CTR 15.0% vs 6.1%: higher, and unlikely to be chance, p < 0.001"
    assert c["open_rate"].difference == Decimal("0.1000")
    assert c["click_rate"].difference == Decimal("0.0890")
    assert c["conversion_rate"].a == Decimal("0.2000") and c["conversion_rate"].b == Decimal("0.0984")
    assert c.revenue_per_1000_difference == Decimal("2546.00")
    assert c.sentences()[-1] == "revenue per 1000 messages 2824.00 PLN vs 278.00 PLN: higher by 2546.00 PLN"
    back = compare(b, a)
    assert back.sentence("click_rate") == "CTR 6.1% vs 15.0%: lower, and unlikely to be chance, p < 0.001"
    assert back["click_rate"].difference == Decimal("-0.0890")
    small = compare(_result("x", sent=200, opened=60, clicked=12), _result("y", sent=220, opened=59, clicked=11))
    assert small.sentence("click_rate") == "CTR 6.0% vs 5.0%: higher, but could be chance, p = 0.65"
    same = compare(_result("x", sent=10, opened=5), _result("y", sent=20, opened=10))
    assert same.sentence("open_rate") == "open rate 50.0% vs 50.0%: the same"
    empty = compare(_result("x", sent=1, bounced=1), _result("y", sent=20, opened=10))
    assert empty["open_rate"].p_value is None and empty["open_rate"].difference is None
    assert "nothing to compare" in empty.sentence("open_rate")
    assert str(c).startswith("segment vs mass\nopen rate 40.0% vs 30.0%")


def test_compare_p_value_display_never_contradicts_the_verdict() -> None:
    # find counts with 0.0495 <= p < 0.05 and check the sentence does not print "p = 0.050"
    for k in range(40, 80):
        p = two_proportion_p_value(k, 400, 40, 400)
        if p is not None and 0.0495 <= p < 0.05:
            text = compare(_result("a", sent=400, clicked=k, opened=k), _result("b", sent=400, clicked=40,
                                                                                  opened=40)).sentence("click_rate")
            assert text.endswith("unlikely to be chance, p < 0.05")
            break


def test_compare_pools_groups(store: Any) -> None:
    run = Runner(store)
    people = [person(f"p{i}") for i in range(6)]
    events = [ev("email_sent", p.id, T0, "seg-1") for p in people[:2]]
    events += [ev("email_sent", p.id, T0, "seg-2") for p in people[2:4]]
    events += [ev("email_sent", p.id, T0, "mass") for p in people]
    events += [ev("email_click", "p0", T0 + DAY, "seg-1"), ev("email_click", "p2", T0 + DAY, "seg-2"),
               ev("email_click", "p3", T0 + DAY, "seg-2"), ev("email_click", "p5", T0 + DAY, "mass")]
    got = run(people, events)
    c = compare([got["seg-1"], got["seg-2"]], got["mass"])
    assert c.a.campaign_id == "seg-1+seg-2"
    assert (c.a.sent, c.a.clicked, c.a.click_rate) == (4, 3, Decimal("0.7500"))
    assert c.b.click_rate == Decimal("0.1667")
    assert c["click_rate"].p_value == pytest.approx(two_proportion_p_value(3, 4, 1, 6))
    with pytest.raises(InvalidFilter):
        compare("seg-1", got["mass"])  # type: ignore[arg-type]
    with pytest.raises(InvalidFilter, match="touches"):
        compare(got["mass"], CampaignResult.from_totals(got["mass"].totals(), currency="PLN", touch="open"))


def test_compare_campaigns_grouped_by_their_segment(store: Any) -> None:
    from engagekit import Campaign, city

    run = Runner(store)
    people = [person(f"p{i}") for i in range(4)]
    events = [ev("email_sent", p.id, T0, "vip-1") for p in people[:2]]
    events += [ev("email_sent", p.id, T0, "all-1") for p in people]
    events += [ev("email_click", "p0", T0 + DAY, "vip-1"), ev("email_click", "p1", T0 + DAY, "vip-1"),
               ev("email_click", "p3", T0 + DAY, "all-1")]
    results = run(people, events)
    segment = store.create_segment(city("Warszawa"), name="Warszawa")
    store.add_campaign(Campaign("vip-1", segment.id))
    groups = by_segment(results.values(), store.campaigns())
    assert [r.campaign_id for r in groups[segment.id]] == ["vip-1"]
    assert [r.campaign_id for r in groups[None]] == ["all-1"]
    c = compare(groups[segment.id], groups[None])
    assert (c.a.click_rate, c.b.click_rate) == (Decimal("1.0000"), Decimal("0.2500"))
