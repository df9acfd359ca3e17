"""Hostile values travel through every SQL store as data, never as SQL (issue #3, point 4).

Ids, cities, tags, categories, product / campaign / form ids and custom attributes are set to
injection attempts, quote and placeholder characters of every driver, control characters, emoji,
right-to-left text and 10 kB strings (incompressible ones too: PostgreSQL B-tree entries stop at
~2.7 kB). Every answer must equal the Reference's, and the schema must be intact afterwards.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engagekit import (
    Contact,
    Event,
    Item,
    added_to_cart,
    attr,
    city,
    gender,
    language,
    opened,
    ordered,
    subscribed_via,
    tag,
    viewed,
)
from engagekit.reference import Reference
from engagekit.stores.sql.schema import TABLES
from tests.stores import STORE_KINDS, StoreFactory

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 1, 1, tzinfo=UTC)

_rng = random.Random(20260630)
_LONG_RANDOM = "".join(chr(_rng.choice([_rng.randrange(0x21, 0x7F), _rng.randrange(0x100, 0x2FFF)]))
                       for _ in range(10_000))

HOSTILE = [
    "'; DROP TABLE events; --",
    "Robert'); DROP TABLE contacts;--",
    "' OR '1'='1",
    '"; DROP TABLE "contacts"; --',
    "it's",
    "back\\slash\\",
    "\\x00not-a-nul",
    "%s",
    "%(p0)s",
    "100% off %%",
    "?",
    "$1",
    ":p0",
    "$$ dollar $$",
    "ctrl\x01\x02\x07\x1b[31mred\x7f",
    "tab\tnew\nline\rret",
    "🛒🔥 emoji 👩‍👩‍👧",
    "שלום עולם",
    "\u202eevil\u202c right-to-left override",
    "Ünïcödé ÉTÉ ß",
    "x" * 10_000,
    _LONG_RANDOM,
    "/* comment */ SELECT 1",
    "E'\\x41'",
    "NULL",
]


def _contacts() -> list[Contact]:
    out = []
    for i, value in enumerate(HOSTILE):
        out.append(Contact(
            id=value, created_at=T0 + timedelta(hours=i), email=f"c{i}@example.com", city=value,
            language=value, gender=value, tags={value, f"plain-{i}"}, status="subscribed",
            attributes={"k": value, value: i, "n": i},
        ))
    return out


def _events() -> list[Event]:
    out: list[Event] = []
    for i, value in enumerate(HOSTILE):
        at = T0 + timedelta(days=1, hours=i)
        other = HOSTILE[(i + 1) % len(HOSTILE)]
        out += [
            Event(id=f"{value}#view", contact_id=value, type="product_view", at=at, product_id=value,
                  categories=(value, "plain")),
            Event(id=f"{value}#cart", contact_id=value, type="add_to_cart", at=at, product_id=other,
                  categories=(other,)),
            Event(id=f"{value}#order", contact_id=value, type="order", at=at, order_id=value, value="10.50",
                  currency="PLN", items=(Item(product_id=value, categories=(value,), quantity=1, price="10.50"),)),
            Event(id=f"{value}#open", contact_id=value, type="email_open", at=at, campaign_id=value),
            Event(id=f"{value}#sub", contact_id=value, type="subscribe", at=at, form_id=value),
            Event(id=value, contact_id=value, type="email_click", at=at, campaign_id=value, url=value),
        ]
    return out


SQL_KINDS = [pytest.param(kind, id=kind.name) for kind in STORE_KINDS if kind.name != "memory"]


@pytest.fixture(params=SQL_KINDS, scope="module")
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    factory = StoreFactory(request.param, Path(tmp_path_factory.mktemp(request.param.name)))
    try:
        store = factory()
        contacts, events = _contacts(), _events()
        report = store.add_contacts(contacts)
        assert report.added == len(contacts)
        report = store.add_events(events)
        assert (report.added, report.duplicates) == (len(events), 0)
        again = store.add_events(events)  # re-importing is a no-op
        assert (again.added, again.duplicates) == (0, len(events))
        yield store
    finally:
        factory.close_all()


@pytest.fixture(scope="module")
def reference() -> Reference:
    return Reference(_contacts(), _events(), currency="PLN")


def _filters(value: str) -> list[Any]:
    return [
        city(value), language(value), gender(value), tag(value), ~tag(value),
        viewed(category=value), viewed(product=value), viewed(product=value, category=value),
        added_to_cart(product=value), added_to_cart(category=value), viewed(category={value, "plain"}, at_least=2),
        ordered(product=value), ordered(category=value), ordered(product=value, category=value),
        opened(campaign=value), subscribed_via(form=value),
        attr("k") == value, attr("k") != value, attr("k") < value, attr("k") >= value,
        attr("k").is_in([value, "plain"]), attr(value) == HOSTILE.index(value), attr(value).exists(),
        ~(attr("k") == value),
    ]


@pytest.mark.parametrize("index", range(len(HOSTILE)), ids=lambda i: f"v{i}")
def test_hostile_filters_match_reference(loaded: Any, reference: Reference, index: int) -> None:
    value = HOSTILE[index]
    for flt in _filters(value):
        expected = reference.members(flt, at=NOW)
        assert loaded.members(flt, at=NOW) == expected, repr(flt)[:200]
        assert loaded.count(flt, at=NOW) == len(expected)
    assert value in loaded.members(city(value) & tag(value) & viewed(product=value), at=NOW)


def test_hostile_contacts_round_trip(loaded: Any) -> None:
    for contact in _contacts():
        assert loaded.contact(contact.id) == contact


@pytest.mark.parametrize("field", ["city", "language", "gender", "tag", "category", "product"])
def test_hostile_value_counts(loaded: Any, reference: Reference, field: str) -> None:
    assert loaded.value_counts(field, at=NOW) == reference.value_counts(field, None, NOW)


def test_hostile_explain_and_metrics(loaded: Any, reference: Reference) -> None:
    value = HOSTILE[0]
    flt = viewed(product=value) & city(value)
    assert loaded.explain(flt, value, at=NOW).holds
    assert loaded.metrics(tag(value), at=NOW) == reference.metrics(tag(value), at=NOW)


def test_schema_intact(loaded: Any) -> None:
    db = loaded._db
    for table in TABLES:
        assert db.has_table(table), table
    n = len(HOSTILE)
    assert db.execute(f"SELECT COUNT(*) FROM {db.table('contacts')}")[0][0] == n
    assert db.execute(f"SELECT COUNT(*) FROM {db.table('events')}")[0][0] == 6 * n
    assert db.execute(f"SELECT COUNT(*) FROM {db.table('contact_tags')}")[0][0] == 2 * n
    assert dict(db.execute(f"SELECT key, value FROM {db.table('meta')}"))["currency"] == "PLN"


def test_hostile_forget(tmp_path: Path) -> None:
    for kind in STORE_KINDS:
        if kind.name == "memory":
            continue
        factory = StoreFactory(kind, tmp_path)
        try:
            store = factory()
            store.add_contacts(_contacts()[:3])
            store.add_events([e for e in _events() if e.contact_id in HOSTILE[:3]])
            assert store.forget(HOSTILE[0])
            assert store.contact(HOSTILE[0]) is None
            assert store.members(viewed(), at=NOW) == frozenset(HOSTILE[1:3])
            store.add_contacts(_contacts()[:1])
            assert store.members(viewed(), at=NOW) == frozenset(HOSTILE[1:3])  # no history left
        finally:
            factory.close_all()
