"""The demo shop: deterministic, realistic, valid; and its report."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from engagekit import Contact, Event, Item, MemoryStore, everyone
from engagekit.demo import (
    DEMO_NOW,
    SEED_SEGMENT_IDS,
    SEED_SEGMENTS,
    TARGETED,
    VIEWS,
    campaign_comparison,
    demo_report,
    generate,
    load,
    targeted_campaigns,
)
from engagekit.text import norm_key


@pytest.fixture(scope="module")
def shop():
    return generate(contacts=600, seed=3)


@pytest.fixture(scope="module")
def events(shop):
    return list(shop.events())


def test_generate_is_deterministic_per_seed(shop, events):
    again = generate(contacts=600, seed=3)
    assert again.contacts == shop.contacts
    assert list(again.events()) == events
    other = generate(contacts=600, seed=4)
    assert other.contacts != shop.contacts


def test_now_defaults_to_a_fixed_instant_and_can_be_given():
    assert generate(contacts=5).now == DEMO_NOW
    shop = generate(contacts=20, seed=1, now="2025-03-01T10:00:00+01:00")
    assert shop.now.isoformat() == "2025-03-01T09:00:00+00:00"
    assert all(e.at <= shop.now for e in shop.events())


def test_batches_are_the_events(shop, events):
    batches = list(shop.event_batches(1000))
    assert len(batches) > 1
    assert [e for b in batches for e in b] == events
    assert [r[0] for r in shop.rows()] == [e.id for e in events]


def test_contacts_and_events_equal_validated_models(shop, events):
    """The generator skips re-validation; its objects must be what validation would make."""
    for contact in shop.contacts[:200]:
        again = Contact.from_dict(contact.to_dict())
        assert again == contact
        assert again.to_dict() == contact.to_dict()
    kinds = set()
    for event in events:
        if event.type in kinds and event.type != "order":
            continue
        kinds.add(event.type)
        again = Event.from_dict(event.to_dict())
        assert again == event, event
        assert type(event.at) is type(again.at) and event.at.tzinfo == again.at.tzinfo
        event.check_currency("PLN")
        for item in event.items:
            assert Item.from_dict(item.to_dict()) == item
    assert len(kinds) == 11


def test_realistic_profile(shop):
    contacts = shop.contacts
    assert len({c.id for c in contacts}) == len(contacts)
    statuses = Counter(c.status for c in contacts)
    assert set(statuses) == {"subscribed", "unknown", "unsubscribed"}
    cities = Counter(c.city for c in contacts)
    assert cities[None] > len(contacts) * 0.2
    warsaw = {c.city for c in contacts if norm_key(c.city) == "warszawa"}
    assert "Warszawa" in warsaw and len(warsaw) > 1  # mixed spellings of one city
    assert any("vip" in {t.lower() for t in c.tags} for c in contacts)
    earliest = shop.now - timedelta(days=730)
    assert all(earliest <= c.created_at <= shop.now for c in contacts)


def test_realistic_events(shop, events):
    ids = [e.id for e in events]
    assert len(set(ids)) == len(ids)
    assert 12 <= len(events) / len(shop.contacts) <= 30
    kinds = Counter(e.type for e in events)
    for kind in ("product_view", "add_to_cart", "order", "email_sent", "email_open", "email_click",
                 "hard_bounce", "soft_bounce", "subscribe", "unsubscribe"):
        assert kinds[kind] > 0, kind
    earliest = shop.now - timedelta(days=730)
    created = {c.id: c.created_at for c in shop.contacts}
    for e in events:
        assert earliest <= e.at <= shop.now
        assert e.at >= created[e.contact_id]
    orders = [e for e in events if e.type == "order"]
    assert all(e.items and e.currency == "PLN" and e.value is not None and e.value > 0 for e in orders)
    assert all(e.value == e.value.quantize(Decimal("0.01")) for e in orders)  # type: ignore[union-attr]
    assert all(i.price == i.price.quantize(Decimal("0.01")) for e in orders for i in e.items)
    assert len({e.order_id for e in orders}) == len(orders)
    views = [e for e in events if e.type == "product_view"]
    assert any("bluzy" in {norm_key(c) for c in e.categories} for e in views)
    # heavy tail: most contacts do little, a few a lot
    per_contact = sorted(Counter(e.contact_id for e in events).get(c.id, 0) for c in shop.contacts)
    median, top = per_contact[len(per_contact) // 2], per_contact[int(len(per_contact) * 0.99)]
    assert top > 4 * median
    # Zipf: the most viewed product is viewed far more than the median product
    product_views = sorted(Counter(e.product_id for e in views).values())
    assert product_views[-1] > 5 * product_views[len(product_views) // 2]


def test_some_contacts_are_blocked_and_statuses_change(shop, events):
    store = MemoryStore(currency="PLN")
    load(store, shop)
    from engagekit import blocked, status

    assert 0 < store.count(blocked(), at=shop.now) < len(shop.contacts) * 0.1
    for value in ("subscribed", "unknown", "unsubscribed"):
        assert store.count(status(value), at=shop.now) > 0


def test_load_is_idempotent(shop, events):
    store = MemoryStore(currency="PLN")
    first = load(store, shop, batch_size=5000)
    assert first.events_added == len(events) and first.events_duplicate == 0
    again = load(store, shop)
    assert again.events_added == 0 and again.events_duplicate == len(events)
    assert again.contacts_added == 0


def test_seed_segments_are_the_six_of_the_issue():
    names = [f.describe() for f in SEED_SEGMENTS]
    assert len(names) == 6
    assert "bluzy" in names[1] and "Warszawa" in names[5] and "vip" in names[5]


def test_demo_report(shop):
    store = MemoryStore(currency="PLN")
    load(store, shop)
    text = demo_report(store, shop.now)
    lines = text.splitlines()
    for view in VIEWS:
        for state in ("engaged", "unengaged", "blocked"):
            assert any(line.split()[:2] == [view, state] for line in lines), (view, state)
    for flt in SEED_SEGMENTS:
        assert sum(line.startswith(flt.describe() + " ") for line in lines) == 1
    assert "PLN" in text
    engaged_all = store.engagement(at=shop.now, view="all").groups["engaged"].count
    row = next(line for line in lines if line.split()[:2] == ["all", "engaged"])
    assert row.split()[2] == f"{engaged_all:,}"


@pytest.mark.parametrize("kwargs", [{"contacts": -1}, {"contacts": 1.5}, {"seed": "x"}, {"now": "2026-01-01"}])
def test_bad_arguments_are_engagekit_errors(kwargs):
    from engagekit import EngagekitError

    with pytest.raises(EngagekitError):
        generate(**kwargs)


# --- campaigns (issue #10) ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded(shop):
    store = MemoryStore(currency="PLN")
    load(store, shop)
    return store


def _base_moment(campaign_id, targeted):
    """The instant a campaign starts: newsletters on their day at 08:00 UTC, targeted ones as listed."""
    if campaign_id in targeted:
        return targeted[campaign_id].start
    day = datetime.strptime(campaign_id.removeprefix("nl-"), "%Y-%m-%d")
    return day.replace(hour=8, tzinfo=UTC)


def test_the_shop_has_mass_and_targeted_campaigns(shop, events, loaded):
    targeted = targeted_campaigns(shop.now)
    assert len(targeted) == len(TARGETED) >= 4
    assert len({c.segment_id for c in targeted}) >= 3
    sent = Counter(e.campaign_id for e in events if e.type == "email_sent")
    mass = [cid for cid in sent if cid.startswith("nl-")]
    assert len(mass) > 50
    assert all(sent[c.id] > 0 for c in targeted), sent
    kinds = {(e.type, (e.campaign_id or "").startswith("promo-")) for e in events}
    for kind in ("email_sent", "email_open", "email_click"):
        assert (kind, True) in kinds and (kind, False) in kinds, kind
    # the seed segments are saved and the targeted campaigns registered with them
    assert [s.id for s in loaded.segments()] == list(SEED_SEGMENT_IDS)
    assert [s.filter for s in loaded.segments()] == list(SEED_SEGMENTS)
    assert {(c.id, c.segment_id) for c in loaded.campaigns()} == {(c.id, c.segment_id) for c in targeted}


def test_campaigns_go_to_their_audience_and_no_one_else(shop, events, loaded):
    """A targeted campaign goes to exactly its segment's newsletter audience at its start (SPEC §7);
    every campaign's recipients were subscribed and not blocked when it started."""
    targeted = {c.id: c for c in targeted_campaigns(shop.now)}
    recipients: dict[str, set[str]] = {}
    for e in events:
        if e.type == "email_sent":
            recipients.setdefault(e.campaign_id, set()).add(e.contact_id)
    for campaign_id, who in recipients.items():
        start = _base_moment(campaign_id, targeted)
        assert all(start <= e.at for e in events if e.campaign_id == campaign_id)
        if campaign_id in targeted:
            assert who == loaded.audience(targeted[campaign_id].segment_id, at=start), campaign_id
        else:
            assert who <= loaded.audience(everyone(), at=start), campaign_id


def test_nobody_gets_a_message_after_being_blocked(events):
    blocked_at: dict[str, datetime] = {}
    for e in events:
        if e.type in ("hard_bounce", "spam_complaint"):
            blocked_at[e.contact_id] = min(e.at, blocked_at.get(e.contact_id, e.at))
    assert blocked_at
    late = [e for e in events if e.type == "email_sent" and e.contact_id in blocked_at
            and e.at > blocked_at[e.contact_id]]
    assert late == []


def test_each_contacts_events_are_in_time_order(events):
    last_seen: dict[str, datetime] = {}
    for e in events:
        assert e.at >= last_seen.get(e.contact_id, e.at), e
        last_seen[e.contact_id] = e.at


def test_targeted_campaigns_do_better(shop, loaded):
    results, comparison = campaign_comparison(loaded, shop.now)
    assert comparison is not None
    targeted, mass = comparison.a, comparison.b
    assert targeted.sent > 100 and mass.sent > 1000
    assert targeted.click_rate > mass.click_rate
    assert comparison["click_rate"].p_value < 0.001
    assert targeted.open_rate > mass.open_rate and targeted.conversion_rate > mass.conversion_rate
    assert targeted.revenue_per_1000 > mass.revenue_per_1000
    assert targeted.orders > 0
    # the pooled groups are the sums of their campaigns
    registered = {c.id for c in loaded.campaigns()}
    assert targeted.sent == sum(r.sent for r in results if r.campaign_id in registered)
    assert mass.clicked == sum(r.clicked for r in results if r.campaign_id not in registered)


def test_demo_report_prints_the_campaigns_and_the_comparison(shop, loaded):
    text = demo_report(loaded, shop.now)
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("campaign ") and "CTR" in line)
    for campaign in targeted_campaigns(shop.now):
        assert sum(line.startswith(campaign.id + " ") for line in lines[head:]) == 1, campaign.id
    assert any(line.startswith("all targeted (") for line in lines)
    assert any(line.startswith("all mass (") for line in lines)
    i = lines.index("Targeted vs mass")
    ctr = lines[i + 2]
    match = re.fullmatch(r"CTR (\d+\.\d)% vs (\d+\.\d)%: higher, and unlikely to be chance, p < 0\.001", ctr)
    assert match, ctr
    assert float(match.group(1)) > float(match.group(2))
    assert any(line.startswith("revenue per 1000 messages") for line in lines[i:])


def test_reloading_registers_nothing_twice(shop, loaded):
    again = load(loaded, shop)
    assert again.events_added == 0
    assert len(loaded.segments()) == len(SEED_SEGMENT_IDS)
    assert len(loaded.campaigns()) == len(TARGETED)


def test_targeted_campaigns_bring_bounces_unsubscribes_and_orders():
    shop = generate(contacts=3000, seed=5)
    kinds = Counter(row[3] for row in shop.rows() if "-t" in row[0])  # targeted events have ids c…-tN
    # (hard bounces come from the first newsletter a bad address gets, seldom from a targeted one)
    for kind in ("email_sent", "email_open", "email_click", "product_view", "order", "unsubscribe", "soft_bounce"):
        assert kinds[kind] > 0, (kind, kinds)
