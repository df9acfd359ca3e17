"""Hypothesis strategies that compose: instants, contacts, events, shops, windows and filters.

Data is tiny (≤ 8 contacts, ≤ 40 events) and drawn from small sets on purpose, so that the edges of
SPEC get hit: instants exactly at NOW − 30 days, NOW, NOW + 1 µs…; spellings that differ only in case,
whitespace or NFC/NFD; subscribe and unsubscribe at one instant; duplicate event ids; contact upserts.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from hypothesis import strategies as st

from engagekit import (
    Contact,
    Event,
    Filter,
    Item,
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
from tests.support import NOW, Shop

US = timedelta(microseconds=1)
DAY = timedelta(days=1)

# Instants around NOW: the boundaries of the usual windows, each also 1 µs either side.
_EDGES = [timedelta(0), 1 * DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 45 * DAY, 60 * DAY, 90 * DAY, 180 * DAY]
EVENT_INSTANTS: list[datetime] = sorted(
    {NOW - d for d in _EDGES}
    | {NOW - 30 * DAY + US, NOW - 30 * DAY - US, NOW + US, NOW - US, NOW + DAY,
       NOW - relativedelta(months=1), NOW - 60 * DAY - US, NOW - 7 * DAY + timedelta(hours=5),
       NOW - 400 * DAY}
)
QUESTION_INSTANTS: list[datetime] = [NOW, NOW - 30 * DAY, NOW - 45 * DAY, NOW + US, NOW - US, NOW - 60 * DAY,
                                     NOW - 30 * DAY - US, NOW + DAY]
ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]

CITIES = ["Warszawa", " warszawa", "WARSZAWA", "warszawa  ", "Köln", unicodedata.normalize("NFD", "Köln"), "KÖLN",
          "Kraków", "Nowy  Sącz", "nowy sącz", "  ", None]
COUNTRIES = ["PL", "pl", "DE", "de", "GB", None]
LANGUAGES = ["pl", "PL", " pl", "de", "en", None]
GENDERS = ["f", "F", "m", "M ", None]
TAGS = ["vip", "VIP", " vip ", "newsletter", "b2b", "Über", unicodedata.normalize("NFD", "über"), "a  b", "a b"]
CATEGORIES = ["bluzy", "Bluzy", " BLUZY ", "buty", "Äpfel", unicodedata.normalize("NFD", "äpfel"), "sport",
              "nowe  kolekcje", "nowe kolekcje", "  "]
PRODUCTS = ["p1", "p2", "P1", "p3"]
CAMPAIGNS = ["k1", "k2", "K1"]
FORMS = ["f1", "f2"]
CONTACT_IDS = [f"c{i}" for i in range(1, 9)]
EVENT_TYPES = ["product_view", "add_to_cart", "order", "email_sent", "email_open", "email_click", "hard_bounce",
               "soft_bounce", "spam_complaint", "subscribe", "unsubscribe"]
ATTR_NAMES = ["points", "plan", "flag"]
ATTR_VALUES: list[Any] = [0, 1, 40, 100, 100.0, 99.5, Decimal("100"), Decimal("12.50"), -3, True, False, "gold",
                          "Gold", " GOLD ", "silver", "bronze", "ä", unicodedata.normalize("NFD", "ä"), "b", "", "  ",
                          None]


@st.composite
def instants(draw: st.DrawFn, pool: list[datetime] | None = None) -> datetime:
    """An instant from a small set around NOW (edges included), in one of a few UTC offsets."""
    moment = draw(st.sampled_from(pool or EVENT_INSTANTS))
    return moment.astimezone(draw(st.sampled_from(ZONES)))


def question_instants() -> st.SearchStrategy[datetime]:
    """Instants to ask questions at: NOW, NOW − 30 days, … each with 1 µs neighbours."""
    return instants(QUESTION_INSTANTS)


def _sample(values: list[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from(values)


@st.composite
def contacts(draw: st.DrawFn, ids: list[str] | None = None) -> Contact:
    """A contact with spellings that differ in case/whitespace/normal form, and custom attributes."""
    attributes = draw(st.dictionaries(_sample(ATTR_NAMES), _sample(ATTR_VALUES), max_size=3))
    return Contact(
        id=draw(_sample(ids or CONTACT_IDS)),
        created_at=draw(st.one_of(instants([NOW - 400 * DAY, NOW - 180 * DAY, NOW - 60 * DAY]), instants())),
        email=draw(_sample([None, "", "  ", "a@example.com"])),
        phone=draw(_sample([None, "", "+48600100001"])),
        city=draw(_sample(CITIES)),
        country=draw(_sample(COUNTRIES)),
        language=draw(_sample(LANGUAGES)),
        gender=draw(_sample(GENDERS)),
        tags=draw(st.frozensets(_sample(TAGS), max_size=3)),
        status=draw(_sample(["subscribed", "unknown", "unsubscribed"])),
        attributes=attributes,
    )


def money() -> st.SearchStrategy[Decimal]:
    """Amounts with 0, 1 or 2 decimals (0 included), as a PLN store accepts them."""
    return st.one_of(
        st.integers(0, 400).map(Decimal),
        st.integers(0, 4000).map(lambda n: Decimal(n).scaleb(-1)),
        st.integers(0, 40000).map(lambda n: Decimal(n).scaleb(-2)),
        _sample([Decimal("10.00"), Decimal("10.01"), Decimal("20.01"), Decimal("0.00")]),
    )


def _categories() -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(_sample(CATEGORIES), max_size=3).map(tuple)


def items() -> st.SearchStrategy[Item]:
    return st.builds(Item, product_id=_sample(PRODUCTS), categories=_categories(),
                     quantity=st.integers(1, 3), price=money())


@st.composite
def events(draw: st.DrawFn, contact_ids: list[str], event_id: str | None = None) -> Event:
    """One event of any type for one of ``contact_ids`` (or, rarely, for a contact not stored)."""
    kind = draw(_sample(EVENT_TYPES))
    fields: dict[str, Any] = {}
    if kind in ("product_view", "add_to_cart"):
        fields = {"product_id": draw(_sample(PRODUCTS)), "categories": draw(_categories())}
    elif kind == "order":
        fields = {"order_id": f"o{draw(st.integers(1, 99))}", "value": draw(money()), "currency": "PLN",
                  "items": tuple(draw(st.lists(items(), max_size=3)))}
    elif kind in ("email_sent", "email_open", "email_click"):
        fields = {"campaign_id": draw(_sample(CAMPAIGNS))}
        if kind == "email_click":
            fields["url"] = draw(_sample([None, "https://shop.example/p1"]))
    elif kind in ("hard_bounce", "soft_bounce", "spam_complaint"):
        fields = {"campaign_id": draw(_sample([None, *CAMPAIGNS]))}
    else:
        fields = {"form_id": draw(_sample([None, *FORMS]))}
    who = draw(_sample([*contact_ids, "ghost"]))  # "ghost" is never stored: its events count for no one
    return Event(id=event_id or f"e{draw(st.integers(0, 999)):03d}", contact_id=who, type=kind,
                 at=draw(instants()), **fields)


@st.composite
def shops(draw: st.DrawFn, max_contacts: int = 8, max_events: int = 40) -> Shop:
    """≤ 8 contacts (an id may repeat: the last version wins) and ≤ 40 events (some ids repeat)."""
    people = draw(st.lists(contacts(), min_size=1, max_size=max_contacts))
    ids = sorted({c.id for c in people}) or CONTACT_IDS[:1]
    n = draw(st.integers(0, max_events))
    drawn: list[Event] = []
    for i in range(n):
        if drawn and draw(st.integers(0, 9)) == 0:  # a repeated id: the first one stored wins
            again = draw(_sample(drawn)).id
            drawn.append(draw(events(ids, event_id=again)))
        elif drawn and draw(st.integers(0, 9)) == 0:  # subscribe and unsubscribe at one instant
            other = draw(_sample(drawn))
            kind = draw(_sample(["subscribe", "unsubscribe"]))
            drawn.append(Event(id=f"e{i:03d}", contact_id=other.contact_id, type=kind, at=other.at))
        else:
            drawn.append(draw(events(ids, event_id=f"e{i:03d}")))
    split = draw(st.integers(0, len(drawn)))
    return Shop(tuple(people), tuple(drawn), split)


_DURATIONS: list[dict[str, int]] = [{"days": 1}, {"days": 7}, {"days": 14}, {"days": 30}, {"days": 45},
                                    {"days": 60}, {"hours": 1}, {"hours": 48}, {"weeks": 1}, {"weeks": 2},
                                    {"months": 1}, {"months": 2}, {"days": 29, "hours": 24}]


@st.composite
def windows(draw: st.DrawFn) -> Any:
    """ever(), last(…), before(…) (days, hours, weeks, months) or between(start, end)."""
    kind = draw(_sample(["ever", "last", "before", "between"]))
    if kind == "ever":
        return ever()
    if kind in ("last", "before"):
        duration = draw(_sample(_DURATIONS))
        return last(**duration) if kind == "last" else before(**duration)
    a, b = sorted([draw(instants()), draw(instants())])
    return between(a, b)


def _bounds() -> st.SearchStrategy[dict[str, int]]:
    small = st.integers(0, 3)
    return st.one_of(
        st.just({}),
        small.map(lambda n: {"at_least": n}),
        small.map(lambda n: {"at_most": n}),
        small.map(lambda n: {"exactly": n}),
        st.tuples(small, small).map(lambda p: {"at_least": min(p), "at_most": max(p)}),
    )


def _subset(values: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), _sample(values), st.frozensets(_sample(values), min_size=1, max_size=2))


@st.composite
def count_filters(draw: st.DrawFn) -> Filter:
    """One count condition of any kind, with matches, bounds and a window."""
    kind = draw(_sample(["viewed", "added_to_cart", "ordered", "opened", "clicked", "received",
                         "subscribed_via"]))
    args: dict[str, Any] = {**draw(_bounds()), "within": draw(windows())}
    if kind in ("viewed", "added_to_cart", "ordered"):
        args["product"] = draw(_subset(PRODUCTS))
        args["category"] = draw(_subset([c for c in CATEGORIES if c.strip()]))
        builder = {"viewed": viewed, "added_to_cart": added_to_cart, "ordered": ordered}[kind]
    elif kind in ("opened", "clicked", "received"):
        args["campaign"] = draw(_subset(CAMPAIGNS))
        builder = {"opened": opened, "clicked": clicked, "received": received}[kind]
    else:
        args["form"] = draw(_subset(FORMS))
        builder = subscribed_via
    result: Filter = builder(**args)
    return result


@st.composite
def money_filters(draw: st.DrawFn) -> Filter:
    amounts = [Decimal(0), Decimal(10), Decimal("10.005"), Decimal("10.01"), Decimal(50), Decimal("99.99"),
               Decimal(150), Decimal(400)]
    lo = draw(st.one_of(st.none(), _sample(amounts)))
    hi = draw(st.one_of(st.none(), _sample(amounts)))
    if lo is None and hi is None:
        lo = Decimal(10)
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    builder = draw(_sample([spent, aov]))
    result: Filter = builder(at_least=lo, at_most=hi, within=draw(windows()))
    return result


@st.composite
def attr_filters(draw: st.DrawFn) -> Filter:
    ref = attr(draw(_sample(ATTR_NAMES)))
    values = [v for v in ATTR_VALUES if v is not None]
    op = draw(_sample(["eq", "ne", "lt", "le", "gt", "ge", "in", "exists"]))
    if op == "exists":
        return ref.exists()
    if op == "in":
        return ref.is_in(draw(st.lists(_sample(values), min_size=1, max_size=3)))
    value = draw(_sample(values))
    result: Filter = {"eq": ref.__eq__, "ne": ref.__ne__, "lt": ref.__lt__, "le": ref.__le__, "gt": ref.__gt__,
                      "ge": ref.__ge__}[op](value)
    return result


def _profile(builder: Any, values: list[Any]) -> st.SearchStrategy[Filter]:
    usable = [v for v in values if v is None or v.strip()]
    return st.one_of(_sample(usable), st.frozensets(_sample(usable), min_size=1, max_size=2)).map(builder)


TIMEFRAMES = [timedelta(days=1), timedelta(days=30), timedelta(days=180), timedelta(days=7, hours=1),
              timedelta(days=45)]


def leaf_filters() -> st.SearchStrategy[Filter]:
    """Every builder of SPEC §3."""
    return st.one_of(
        count_filters(),
        money_filters(),
        _profile(city, CITIES),
        _profile(country, COUNTRIES),
        _profile(language, LANGUAGES),
        _profile(gender, GENDERS),
        st.just(has_email()),
        st.just(has_phone()),
        _sample([t for t in TAGS if t.strip()]).map(tag),
        st.one_of(_sample(["subscribed", "unknown", "unsubscribed"]),
                  st.frozensets(_sample(["subscribed", "unknown", "unsubscribed"]), min_size=1)).map(status),
        st.just(subscribed()),
        windows().map(lambda w: joined(within=w)),
        attr_filters(),
        _sample(TIMEFRAMES).map(lambda t: engaged(timeframe=t)),
        _sample(TIMEFRAMES).map(lambda t: unengaged(timeframe=t)),
        st.just(engaged()),
        st.just(blocked()),
        st.just(everyone()),
    )


def filters(max_leaves: int = 5) -> st.SearchStrategy[Filter]:
    """Nested ``&``, ``|`` and ``~`` of every builder."""
    return st.recursive(
        leaf_filters(),
        lambda kids: st.one_of(
            st.tuples(kids, kids).map(lambda p: p[0] & p[1]),
            st.tuples(kids, kids).map(lambda p: p[0] | p[1]),
            kids.map(lambda f: ~f),
        ),
        max_leaves=max_leaves,
    )
