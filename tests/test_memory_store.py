"""What only the memory store can get wrong: its lazily rebuilt indexes, forgetting, and explain's text.

The conformance suite compares every store with the Reference on whole shops loaded at once; here
the memory store is asked questions *between* writes (indexes built, then extended or re-sorted),
with shops large enough to take the per-product and per-campaign sub-indexes.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagekit import (
    Contact,
    EngagekitError,
    Event,
    Explanation,
    Filter,
    MemoryStore,
    Preview,
    UnknownContact,
    city,
    engaged,
    everyone,
    last,
    opened,
    ordered,
    spent,
    tag,
    viewed,
)
from engagekit.demo import VIEWS
from engagekit.model import Item
from engagekit.reference import Reference
from tests.strategies import filters, question_instants, shops
from tests.support import NOW, Shop

T0 = "2026-01-01T00:00:00+00:00"


def _store(contacts: list[Contact] | None = None, events: list[Event] | None = None) -> MemoryStore:
    store = MemoryStore(currency="PLN")
    if contacts:
        store.add_contacts(contacts)
    if events:
        store.add_events(events)
    return store


def _view(i: int, contact: str, at: str, product: str = "p1", categories: tuple[str, ...] = ("bluzy",)) -> Event:
    return Event(id=f"v{i}", contact_id=contact, type="product_view", at=at, product_id=product,
                 categories=categories)


@given(shop=shops(), flt=filters(max_leaves=4), at=question_instants(),
       cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=3))
def test_questions_between_batches_agree_with_reference(shop: Shop, flt: Filter, at: object,
                                                         cuts: list[int]) -> None:
    """Indexes built by a question stay right when later batches extend or reorder them."""
    store = _store(list(shop.contacts))
    bounds = sorted({0, *(min(c, len(shop.events)) for c in cuts), len(shop.events)})
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        store.add_events(list(shop.events[lo:hi]))
        ref = Reference(shop.contacts, shop.events[:hi], currency="PLN")
        assert store.members(flt, at=at) == ref.members(flt, at=at), (flt, hi)
        assert store.metrics(flt, at=at) == ref.metrics(flt, at=at)


@given(shop=shops(), at=question_instants(), view=st.sampled_from(VIEWS),
       timeframe=st.sampled_from([timedelta(days=1), timedelta(days=30), timedelta(days=180)]),
       cut=st.integers(min_value=0, max_value=40), forget=st.integers(min_value=0, max_value=7))
def test_dashboards_between_writes_agree_with_reference(shop: Shop, at: object, view: str, timeframe: timedelta,
                                                         cut: int, forget: int) -> None:
    """The dashboard's cached per-slot states are rebuilt after every write: events, contacts, forget."""
    contacts, events = list(shop.contacts[:len(shop.contacts) // 2]), list(shop.events[:cut])
    forgotten: set[str] = set()
    store = _store(contacts, events)

    def add_events() -> None:
        store.add_events(list(shop.events[cut:]))
        events.extend(shop.events[cut:])

    def add_contacts() -> None:
        store.add_contacts(list(shop.contacts))
        contacts.extend(shop.contacts)

    def forget_one() -> None:
        victim = shop.contacts[forget % len(shop.contacts)].id
        store.forget(victim)
        forgotten.add(victim)

    for step in (lambda: None, add_events, add_contacts, *([forget_one] if shop.contacts else [])):
        step()
        stored: dict[str, Event] = {}
        for event in events:
            stored.setdefault(event.id, event)  # a repeated id is a no-op: the first one stays
        ref = Reference([c for c in contacts if c.id not in forgotten],
                        [e for e in stored.values() if e.contact_id not in forgotten], currency="PLN")
        got, expected = store.engagement(at=at, timeframe=timeframe, view=view), \
            ref.engagement(at=at, timeframe=timeframe, view=view)
        assert dict(got.groups) == dict(expected.groups)
        assert dict(got.flows) == {pair: n for pair, n in expected.flows.items() if n}


def test_cached_dashboard_changes_after_each_write() -> None:
    """The same question, asked again after each write, sees the write (hand-worked states)."""
    at, view = "2026-06-30T12:00:00+00:00", "subscribed+unknown"
    store = _store([Contact(id="a", status="subscribed", created_at=T0),
                    Contact(id="b", status="unknown", created_at=T0),
                    Contact(id="c", status="subscribed", created_at=T0)])

    def counts() -> tuple[int, int, int]:
        groups = store.engagement(at=at, view=view).groups
        return groups["engaged"].count, groups["unengaged"].count, groups["blocked"].count

    assert counts() == (0, 3, 0)
    store.add_events([Event(id="o1", contact_id="a", type="order", at="2026-06-20T10:00:00+00:00",
                            order_id="o1", value="100.00", currency="PLN")])
    assert counts() == (1, 2, 0)
    engaged_group = store.engagement(at=at, view=view).groups["engaged"].metrics
    assert (engaged_group.orders, engaged_group.revenue, engaged_group.engagement_rate) == \
        (1, Decimal("100.00"), Decimal("1.0000"))
    store.add_events([Event(id="u1", contact_id="c", type="unsubscribe", at="2026-06-25T10:00:00+00:00",
                            form_id="footer")])
    assert counts() == (1, 1, 0)
    # c was unengaged 30 days before and has left the view since
    assert store.engagement(at=at, view=view).flows[("unengaged", "outside")] == 1
    store.add_events([Event(id="x1", contact_id="b", type="hard_bounce", at="2026-06-26T10:00:00+00:00",
                            campaign_id="cmp")])
    assert counts() == (1, 0, 1)
    store.add_contacts([Contact(id="b", status="unsubscribed", created_at=T0)])  # an update leaves the view
    assert counts() == (1, 0, 0)
    assert store.forget("a") is True
    assert counts() == (0, 0, 0)
    assert store.engagement(at=at, view=view).groups["engaged"].metrics.orders == 0
    assert store.engagement(at=at, view="all").groups["blocked"].count == 1
    assert store.engagement(at=at, view="all").flows == {("unengaged", "unengaged"): 1, ("unengaged", "blocked"): 1}


def test_late_and_in_order_batches_after_a_question() -> None:
    store = _store([Contact(id="a", created_at=T0), Contact(id="b", created_at=T0)])
    question = viewed(within=last(days=30))
    at = "2026-06-30T12:00:00+00:00"
    assert store.members(question, at=at) == frozenset()
    store.add_events([_view(1, "a", "2026-06-20T00:00:00+00:00")])  # appended in time order
    assert store.members(question, at=at) == {"a"}
    store.add_events([_view(2, "b", "2026-06-10T00:00:00+00:00")])  # earlier than the last row: re-sort
    assert store.members(question, at=at) == {"a", "b"}
    assert store.members(viewed(at_least=2), at=at) == frozenset()
    store.add_events([_view(3, "b", "2026-02-01T00:00:00+00:00")])
    assert store.members(viewed(at_least=2), at=at) == {"b"}
    assert store.members(question, at="2026-06-15T00:00:00+00:00") == {"b"}


def test_contact_upsert_moves_it_between_indexes() -> None:
    store = _store([Contact(id="a", city="Kraków", tags={"vip"}, created_at=T0)])
    at = "2026-06-30T12:00:00+00:00"
    assert store.members(city("krakow") | city("KRAKÓW"), at=at) == {"a"}
    report = store.add_contacts([Contact(id="a", city="Gdańsk", created_at="2026-06-01T00:00:00+00:00")])
    assert (report.added, report.updated) == (0, 1)
    assert store.members(city("Kraków"), at=at) == frozenset()
    assert store.members(city("gdańsk") & ~tag("vip"), at=at) == {"a"}
    assert store.members(everyone(), at="2026-05-01T00:00:00+00:00") == frozenset()


def test_product_and_campaign_sub_indexes_agree_with_reference() -> None:
    """Many products and campaigns, so a condition about one takes the per-payload sub-index."""
    contacts = [Contact(id=f"c{i:03d}", created_at=T0) for i in range(60)]
    events: list[Event] = []
    for i in range(3000):
        cid = f"c{(i * 7) % 60:03d}"
        at = f"2026-{1 + i % 6:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00+00:00"
        if i % 3 == 0:
            events.append(Event(id=f"o{i}", contact_id=cid, type="order", at=at, order_id=f"o{i}",
                                value=Decimal(i % 50) + Decimal("0.99"), currency="PLN",
                                items=[Item(product_id=f"p{i % 40}", categories=("Bluzy" if i % 2 else "buty",))]))
        elif i % 3 == 1:
            events.append(_view(i, cid, at, product=f"p{i % 40}", categories=(f"kat {i % 9}", "Sport")))
        else:
            events.append(Event(id=f"m{i}", contact_id=cid, type="email_open", at=at, campaign_id=f"cmp-{i % 30}"))
    questions = (viewed(product="p7", within=last(days=90)), viewed(product={"p1", "p4"}, at_least=2),
                 viewed(category="KAT 3", within=last(days=60)), opened(campaign="cmp-5", at_most=1),
                 ordered(category="bluzy", product="p3"), ordered(product="p39", exactly=0),
                 spent(at_least=100, within=last(days=90)), engaged(timeframe=timedelta(days=30)))
    at = "2026-06-30T12:00:00+00:00"
    store = _store(contacts)
    late = [_view(10_000 + i, f"c{i:03d}", f"2026-0{1 + i % 5}-15T06:00:00+00:00", product="p7",
                  categories=("kat 3",)) for i in range(0, 60, 3)]
    later = [_view(20_000 + i, f"c{i:03d}", "2026-06-29T06:00:00+00:00", product="p7") for i in range(0, 60, 5)]
    for batch in (events, late, later):  # in bulk, then late rows into built sub-indexes, then in order
        store.add_events(batch)
        ref = Reference(contacts, [*events, *late, *later][:len(store._ev_id)], currency="PLN")
        for flt in questions:
            assert store.members(flt, at=at) == ref.members(flt, at=at), flt
        for field in ("category", "product"):
            assert store.value_counts(field, at=at) == ref.value_counts(field, None, at=at)


def test_forget_erases_contact_and_history() -> None:
    orders = [Event(id=f"e{i}", contact_id="a", type="order", at=f"2026-06-0{i}T10:00:00+00:00",
                    order_id=f"o{i}", value="10.00", currency="PLN") for i in range(1, 4)]
    store = _store([Contact(id="a", tags={"vip"}, created_at=T0), Contact(id="b", created_at=T0)], orders)
    at = "2026-06-30T12:00:00+00:00"
    assert store.members(ordered(at_least=3), at=at) == {"a"}
    assert store.forget("a") is True
    assert store.forget("a") is False
    assert store.contact("a") is None
    assert store.members(everyone(), at=at) == {"b"}
    assert store.metrics(everyone(), at=at).orders == 0
    store.add_contacts([Contact(id="a", created_at=T0)])
    assert store.members(ordered(), at=at) == frozenset()
    assert store.members(tag("vip"), at=at) == frozenset()
    assert store.value_counts("tag", at=at) == [("UNDEFINED", 2)]
    # the erased events' ids are free again: adding them back is not a duplicate
    assert store.add_events(orders[:1]).added == 1
    assert store.members(ordered(exactly=1), at=at) == {"a"}


def test_events_before_their_contact_count_once_it_exists() -> None:
    store = _store(events=[_view(1, "late", "2026-06-01T00:00:00+00:00")])
    at = "2026-06-30T12:00:00+00:00"
    assert store.members(viewed(), at=at) == frozenset()
    store.add_contacts([Contact(id="late", created_at="2026-06-20T00:00:00+00:00")])
    assert store.members(viewed(), at=at) == {"late"}
    assert store.members(viewed(), at="2026-06-10T00:00:00+00:00") == frozenset()


def _explained_shop() -> MemoryStore:
    contacts = [Contact(id="a", city="Warszawa", tags={"vip", "newsletter"}, created_at=T0)]
    events = [Event(id=f"e{i}", contact_id="a", type="order", at=f"2026-06-1{i}T14:03:00+00:00",
                    order_id=f"o{i}", value="100.00", currency="PLN") for i in range(3)]
    return _store(contacts, events)


def test_explain_text_tree() -> None:
    store = _explained_shop()
    flt = (ordered(at_least=5, within=last(days=365)) | spent(at_least=300)) & ~tag("vip") & engaged()
    explanation = store.explain(flt, "a", at="2026-06-30T12:00:00+00:00")
    assert isinstance(explanation, Explanation)
    lines = str(explanation).splitlines()
    assert lines[0] == "✗ all of:"
    assert lines[1] == "  ✓ any of:"
    assert lines[2].startswith("    ✗ ordered at least 5 times")
    assert lines[2].endswith(": found 3 (last at 2026-06-12 14:03 UTC)")
    assert lines[3].startswith("    ✓ spent") and lines[3].endswith("total: 300.00")
    assert lines[4] == "  ✗ not:"
    assert lines[5].startswith("    ✓ ") and "'newsletter', 'vip'" in lines[5]
    assert lines[6].startswith("  ✓ ") and lines[6].endswith("engaged")
    polish = explanation.render("pl").splitlines()
    assert polish[0] == "✗ wszystkie z:"
    assert "znaleziono 3" in polish[2]
    leaf = explanation.children[0].children[0]
    assert leaf.count == 3
    assert [m.isoformat() for m in leaf.matches or ()] == [
        "2026-06-12T14:03:00+00:00", "2026-06-11T14:03:00+00:00", "2026-06-10T14:03:00+00:00"]


def test_explain_segment_and_missing_contact() -> None:
    store = _explained_shop()
    segment = store.create_segment(ordered(at_least=2) & city("warszawa"), name="regulars")
    explanation = store.explain(segment.id, "a", at="2026-06-30T12:00:00+00:00")
    assert explanation.filter.node == "in_segment"
    assert explanation.holds
    assert [c.holds for c in explanation.children[0].children] == [True, True]
    assert explanation.children[0].children[1].value == "Warszawa"
    for who, at in (("nobody", "2026-06-30T12:00:00+00:00"), ("a", "2025-12-31T00:00:00+00:00")):
        with pytest.raises(UnknownContact) as info:
            store.explain(everyone(), who, at=at)
        assert isinstance(info.value, KeyError) and isinstance(info.value, EngagekitError)


def test_preview_examples_are_the_smallest_ids() -> None:
    contacts = [Contact(id=f"c{i:02d}", city="Kraków" if i % 2 else None, created_at=T0) for i in range(30)]
    store = _store(contacts)
    preview = store.preview(everyone(), against=city("kraków"), at=NOW)
    assert isinstance(preview, Preview)
    assert (preview.count, preview.entering, preview.leaving, preview.staying) == (30, 15, 0, 15)
    assert preview.examples["entering"] == tuple(f"c{i:02d}" for i in range(0, 20, 2))
    assert preview.examples["leaving"] == ()


def test_build_indexes_up_front_changes_no_answer_and_later_writes_still_count():
    lazy, eager = MemoryStore(currency="PLN"), MemoryStore(currency="PLN")
    contacts = [Contact(id=f"c{i}", created_at="2026-01-01T00:00:00+00:00") for i in range(3)]
    first = [Event(id=f"e{i}", contact_id=f"c{i}", type="email_open", at=f"2026-06-0{i + 1}T00:00:00+00:00",
                   campaign_id="nl") for i in range(3)]
    late = Event(id="late", contact_id="c0", type="email_open", at="2026-05-01T00:00:00+00:00", campaign_id="nl")
    for store in (lazy, eager):
        store.add_contacts(contacts)
        store.add_events(first)
    eager.build_indexes()
    at = "2026-06-30T00:00:00+00:00"
    flt = opened(at_least=2, within=last(days=90))
    assert lazy.members(flt, at=at) == eager.members(flt, at=at) == frozenset()
    for store in (lazy, eager):
        store.add_events([late])  # earlier than every indexed row: merged into the sorted tail
    eager.build_indexes()
    assert lazy.members(flt, at=at) == eager.members(flt, at=at) == {"c0"}
