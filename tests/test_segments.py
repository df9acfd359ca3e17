"""Saved segments, campaigns, the membership log and audiences (SPEC §6, §7) on every store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engagekit import (
    Campaign,
    Contact,
    EngagekitError,
    Event,
    InvalidFilter,
    LogEntry,
    Segment,
    SegmentCycle,
    SegmentInUse,
    UnknownSegment,
    city,
    in_segment,
    last,
    ordered,
    tag,
    viewed,
)

T0 = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
US = timedelta(microseconds=1)


@pytest.fixture
def clocked(store: Any) -> Any:
    store.clock = lambda: T0
    return store


def test_create_and_read(clocked: Any) -> None:
    store = clocked
    f = viewed(category="bluzy", within=last(days=14)) & city("Warszawa") & ~tag("vip")
    seg = store.create_segment(f)
    assert isinstance(seg, Segment)
    assert seg.id == "seg-1"
    assert seg.name == f.describe()
    assert seg.filter == f
    assert (seg.created_at, seg.updated_at, seg.active) == (T0, T0, True)
    assert (seg.last_generated_at, seg.member_count) == (None, None)
    other = store.create_segment(ordered(), name="buyers", active=False)
    assert (other.id, other.name, other.active) == ("seg-2", "buyers", False)
    assert store.segment("seg-1") == seg
    assert [s.id for s in store.segments()] == ["seg-1", "seg-2"]
    mine = store.create_segment(ordered(), id="my-segment")
    assert store.segment("my-segment") == mine
    with pytest.raises(InvalidFilter):
        store.create_segment(ordered(), id="my-segment")
    with pytest.raises(UnknownSegment) as info:
        store.segment("nope")
    assert isinstance(info.value, KeyError) and isinstance(info.value, EngagekitError)
    assert "nope" in str(info.value)


def test_ids_keep_counting_in_code_point_order(clocked: Any) -> None:
    ids = [clocked.create_segment(ordered(at_least=n + 1)).id for n in range(11)]
    assert ids[-2:] == ["seg-10", "seg-11"]
    assert [s.id for s in clocked.segments()] == ids  # creation order, not string order


def test_update(clocked: Any) -> None:
    store = clocked
    seg = store.create_segment(ordered(within=last(days=30)))
    store.clock = lambda: T0 + DAY
    new = ordered(within=last(days=60))
    updated = store.update_segment(seg.id, filter=new)
    assert updated.filter == new and updated.name == new.describe()  # a default name follows the filter
    assert (updated.created_at, updated.updated_at) == (T0, T0 + DAY)
    store.update_segment(seg.id, name="buyers")
    kept = store.update_segment(seg.id, filter=ordered(), active=False)
    assert (kept.name, kept.active, kept.filter) == ("buyers", False, ordered())
    assert store.segment(seg.id) == kept
    with pytest.raises(UnknownSegment):
        store.update_segment("nope", name="x")
    with pytest.raises(InvalidFilter):
        store.update_segment(seg.id, name="  ")


def test_hostile_names_and_ids_round_trip(store: Any) -> None:
    name = "'; DROP TABLE segments; -- \"%s ? \\ 🎉 שלום"
    store.create_segment(city(name), name=name, id=name)
    assert store.segment(name).name == name
    assert store.segment(name).filter == city(name)
    store.add_campaign(Campaign(name, name))
    assert store.campaigns() == [Campaign(name, name)]


def test_in_segment_members_and_cycles(store: Any) -> None:
    store.add_contacts([Contact(id="c1", city="Warszawa", created_at=T0 - DAY),
                        Contact(id="c2", city="Kraków", tags={"vip"}, created_at=T0 - DAY)])
    a = store.create_segment(city("Warszawa") | tag("vip"))
    b = store.create_segment(in_segment(a.id) & ~tag("vip"))
    assert store.members(in_segment(b.id), at=T0) == {"c1"}
    assert store.members(~in_segment(a.id), at=T0) == frozenset()
    with pytest.raises(SegmentCycle):
        store.update_segment(a.id, filter=in_segment(b.id) | city("Kraków"))
    with pytest.raises(SegmentCycle):
        store.update_segment(a.id, filter=in_segment(a.id))
    with pytest.raises(SegmentCycle):
        store.create_segment(in_segment("self"), id="self")
    with pytest.raises(UnknownSegment):
        store.create_segment(in_segment("missing"))
    assert store.segment(a.id).filter == city("Warszawa") | tag("vip")  # nothing was saved


def test_delete(store: Any) -> None:
    a = store.create_segment(ordered())
    b = store.create_segment(in_segment(a.id) & city("Warszawa"))
    store.add_campaign(Campaign("cmp-1", b.id, kind="automation"))
    with pytest.raises(SegmentInUse) as info:
        store.delete_segment(b.id)
    assert "cmp-1" in str(info.value)
    with pytest.raises(SegmentInUse):
        store.delete_segment(a.id)  # b refers to it
    store.add_campaign(Campaign("cmp-1", b.id, kind="automation", active=False))
    store._append_log([(b.id, "c1", "added", 5, False)])
    store.delete_segment(b.id)
    store.delete_segment(a.id)
    assert store.segments() == []
    with pytest.raises(UnknownSegment):
        store.delete_segment(a.id)
    fresh = store.create_segment(ordered())
    assert fresh.id not in (a.id, b.id)  # the inactive campaign still names b: its id is not reused
    assert store.log(fresh.id) == []


def test_campaign_validation(store: Any) -> None:
    with pytest.raises(UnknownSegment):
        store.add_campaign(Campaign("cmp", "nope"))
    with pytest.raises(InvalidFilter):
        Campaign("cmp", "seg-1", kind="sms")
    with pytest.raises(InvalidFilter):
        Campaign("", "seg-1")


def test_log_filters_and_order(store: Any) -> None:
    seg = store.create_segment(ordered())
    other = store.create_segment(city("x"))
    us = [int((T0 + n * DAY - datetime(1970, 1, 1, tzinfo=UTC)) / US) for n in range(4)]
    store._append_log([
        (seg.id, "b", "added", us[1], False), (seg.id, "a", "added", us[1], True),
        (seg.id, "B", "added", us[1], False), (seg.id, "é", "added", us[0], False),
        (seg.id, "a", "removed", us[3], False), (other.id, "a", "added", us[0], False),
    ])
    entries = store.log(seg.id)
    assert all(isinstance(e, LogEntry) for e in entries)
    assert [(e.contact_id, e.change, e.at, e.late) for e in entries] == [
        ("é", "added", T0, False), ("B", "added", T0 + DAY, False), ("a", "added", T0 + DAY, True),
        ("b", "added", T0 + DAY, False), ("a", "removed", T0 + 3 * DAY, False)]
    assert [e.contact_id for e in store.log(seg.id, since=T0 + DAY)] == ["B", "a", "b", "a"]
    assert [e.contact_id for e in store.log(seg.id, until=T0 + DAY)] == ["é"]
    assert [e.contact_id for e in store.log(seg.id, since=T0 + DAY, until=T0 + DAY + US)] == ["B", "a", "b"]
    assert [(e.change, e.at) for e in store.log(seg.id, contact_id="a")] == [
        ("added", T0 + DAY), ("removed", T0 + 3 * DAY)]
    assert store.log(seg.id, since="2026-06-02T02:00:00+02:00", until=T0 + 2 * DAY, contact_id="b")[0].at == T0 + DAY
    assert [e.segment_id for e in store.log(other.id)] == [other.id]
    with pytest.raises(UnknownSegment):
        store.log("nope")
    with pytest.raises(EngagekitError):
        store.log(seg.id, since=datetime(2026, 6, 1))  # naive


def test_forget_erases_log_entries(store: Any) -> None:
    store.add_contacts([Contact(id="c1", created_at=T0)])
    seg = store.create_segment(ordered())
    store._append_log([(seg.id, "c1", "added", 1, False), (seg.id, "c2", "added", 1, False)])
    store.forget("c1")
    assert [e.contact_id for e in store.log(seg.id)] == ["c2"]


def test_audience_of_a_segment(store: Any) -> None:
    people = [Contact(id="sub", status="subscribed", created_at=T0 - DAY),
              Contact(id="unk", status="unknown", created_at=T0 - DAY),
              Contact(id="uns", status="unsubscribed", created_at=T0 - DAY),
              Contact(id="blk", status="subscribed", created_at=T0 - DAY),
              Contact(id="late", status="subscribed", created_at=T0 - DAY)]
    store.add_contacts(people)
    store.add_events([Event(id="b1", contact_id="blk", type="hard_bounce", at=T0 - DAY),
                      Event(id="u1", contact_id="late", type="unsubscribe", at=T0 + DAY)])
    everyone_seg = store.create_segment(~ordered())
    nested = store.create_segment(in_segment(everyone_seg.id))
    for sid in (everyone_seg.id, nested.id):
        assert store.audience(sid, at=T0) == {"sub", "late"}
        assert store.audience(sid, kind="automation", at=T0) == {"sub", "unk", "late"}
        assert store.audience(sid, kind="automation", at=T0 + DAY) == {"sub", "unk"}
        assert store.audience(in_segment(sid), at=T0) == {"sub", "late"}
    with pytest.raises(UnknownSegment):
        store.audience("nope")


def test_sqlite_segments_persist(tmp_path: Any) -> None:
    sqlite = pytest.importorskip("engagekit.stores.sql.sqlite")
    path = str(tmp_path / "shop.sqlite")
    store = sqlite.SQLiteStore(path, currency="PLN")
    seg = store.create_segment(ordered(within=last(days=30)), name="buyers")
    store.add_campaign(Campaign("cmp", seg.id))
    store._append_log([(seg.id, "c1", "added", 7, True)])
    store.close()
    again = sqlite.SQLiteStore(path, currency="PLN")
    assert again.segment(seg.id) == seg
    assert again.campaigns() == [Campaign("cmp", seg.id)]
    assert [(e.contact_id, e.late) for e in again.log(seg.id)] == [("c1", True)]
    again.close()


def test_update_dry_run_previews_without_saving(clocked: Any) -> None:
    clocked.add_contacts([
        Contact(id=cid, city=c, created_at=T0 - 10 * DAY)
        for cid, c in (("a", "Warszawa"), ("b", "Kraków"), ("c", " warszawa"), ("d", None))
    ])
    seg = clocked.create_segment(city("Warszawa"))
    preview = clocked.update_segment(seg.id, filter=city({"Kraków", "warszawa"}), dry_run=True, at=T0)
    # worked by hand: saved {a, c}; new {a, b, c}
    assert (preview.count, preview.entering, preview.leaving, preview.staying) == (3, 1, 0, 2)
    assert preview.examples["entering"] == ("b",)
    assert preview.examples["staying"] == ("a", "c")
    assert clocked.segment(seg.id).filter == city("Warszawa")
    assert clocked.members(in_segment(seg.id), at=T0) == frozenset({"a", "c"})
    with pytest.raises(SegmentCycle):
        clocked.update_segment(seg.id, filter=in_segment(seg.id), dry_run=True, at=T0)
